// Deployed into the API container app's resource group. A custom role holding only what the
// API playbook, diagnostics and verification call. Only the definition: role-assignments.bicep assigns it to the
// function app identity on that one app, in a later deployment (see that file for why).

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
  // Azure Monitor metrics of the app: the Requests metric by statusCodeCategory (verification's 5xx rate)
  'Microsoft.Insights/metrics/read'
  // No revisions/activate, deactivate or restart: the playbooks never call them.
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'incident-response-containerapp-operator', nameSuffix)
  properties: {
    roleName: 'Incident response container app operator (${nameSuffix}-${uniqueString(resourceGroup().id)})'
    description: 'Read a container app, its revisions and its metrics; change its traffic weights, template and scale. Used by the incident-response function app.'
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

// Polling the traffic and scale updates: the operation-status URLs live at subscription scope.
module operationStatus 'access-operationstatus.bicep' = if (grantOperationStatusRead) {
  name: 'ir-opstatus-containerapp-${nameSuffix}'
  scope: subscription()
  params: {
    nameSuffix: nameSuffix
    providerLabel: 'Microsoft.App'
    actions: [
      'Microsoft.App/locations/containerAppOperationStatuses/read'
      'Microsoft.App/locations/containerAppOperationResults/read'
    ]
  }
}

output actions array = actions
@description('Name (a GUID) of the custom role definition, for role-assignments.bicep.')
output roleName string = role.name
@description('Name of the operation-status reader role definition; empty when not granted.')
output operationStatusRoleName string = grantOperationStatusRead ? operationStatus.outputs.roleName : ''
