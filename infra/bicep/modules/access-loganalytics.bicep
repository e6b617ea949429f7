// Deployed into the resource group of the Log Analytics workspace behind the API's Application
// Insights (its AppRequests table). The runbook's step 2 query for error spikes runs there
// (shared/services/diagnostics.py): the function app identity gets Log Analytics Reader on that
// one workspace and nothing else, and the app gets the workspace id the query API takes (its
// customerId, not its ARM id).

@description('Name of the existing Log Analytics workspace (last segment of its ARM id).')
param workspaceName string

@description('Principal id of the function app identity (gets Log Analytics Reader on the workspace).')
param identityPrincipalId string

// Built-in role: Log Analytics Reader ("view and search all monitoring data"; query actions
// Microsoft.OperationalInsights/workspaces/analytics/query/action and .../search/action).
var logAnalyticsReaderRoleId = '73c42c96-874c-492b-b04d-ab87d138a893'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, identityPrincipalId, logAnalyticsReaderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReaderRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('The workspace id the Log Analytics query API takes (LOG_ANALYTICS_WORKSPACE_ID).')
output customerId string = workspace.properties.customerId
