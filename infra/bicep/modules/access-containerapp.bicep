// Deployed into the API container app's resource group. A custom role holding only what the
// API playbook and diagnostics call, assigned to the function app identity on that one app.

@description('Name of the existing API container app (last segment of API_CONTAINER_APP_ID).')
param containerAppName string

@description('Principal id of the function app identity.')
param principalId string

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

@description('Also grant reading the status of Microsoft.App long-running operations (traffic and scale updates) at this subscription.')
param grantOperationStatusRead bool = true

var actions = [
  // az containerapp show: runningStatus, provisioningState, traffic, scale (diagnostics)
  'Microsoft.App/containerApps/read'
  // az containerapp revision list / revision show: rollback target and its template (diagnostics)
  'Microsoft.App/containerApps/revisions/read'
  // PATCH of traffic weights (rollback, multiple-revision mode), of the template (rollback by
  // redeploying an old revision's template, single-revision mode) and of scale min/max replicas
  'Microsoft.App/containerApps/write'
  // No revisions/activate, deactivate or restart: the playbooks never call them.
]

resource app 'Microsoft.App/containerApps@2024-03-01' existing = {
  name: containerAppName
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'incident-response-containerapp-operator', nameSuffix)
  properties: {
    roleName: 'Incident response container app operator (${nameSuffix}-${uniqueString(resourceGroup().id)})'
    description: 'Read a container app and its revisions; change its traffic weights, template and scale. Used by the incident-response function app.'
    type: 'CustomRole'
    permissions: [
      {
        actions: actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(app.id, principalId, role.name)
  scope: app
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.name)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
  // the role is referenced by name only, so state the ordering explicitly
  dependsOn: [
    role
  ]
}


// Polling the traffic and scale updates: the operation-status URLs live at subscription scope.
module operationStatus 'access-operationstatus.bicep' = if (grantOperationStatusRead) {
  name: 'ir-opstatus-containerapp-${nameSuffix}'
  scope: subscription()
  params: {
    principalId: principalId
    nameSuffix: nameSuffix
    providerLabel: 'Microsoft.App'
    actions: [
      'Microsoft.App/locations/containerAppOperationStatuses/read'
      'Microsoft.App/locations/containerAppOperationResults/read'
    ]
  }
}

output actions array = actions
