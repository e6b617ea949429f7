// Deployed into the PostgreSQL flexible server's resource group. A custom role holding only what
// the database playbook and diagnostics call. Only the definition: role-assignments.bicep assigns
// it on that one server, in a later deployment.

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

@description('Also grant reading the status of Microsoft.DBforPostgreSQL long-running operations (restarts) at this subscription.')
param grantOperationStatusRead bool = true

var actions = [
  // az postgres flexible-server show: state, HA state, maintenance window (diagnostics)
  'Microsoft.DBforPostgreSQL/flexibleServers/read'
  // az postgres flexible-server restart [--failover Forced] (playbook step 5)
  'Microsoft.DBforPostgreSQL/flexibleServers/restart/action'
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'incident-response-postgres-restarter', nameSuffix)
  properties: {
    roleName: 'Incident response PostgreSQL restarter (${nameSuffix}-${uniqueString(resourceGroup().id)})'
    description: 'Read a PostgreSQL flexible server and restart it (with or without forced failover). Used by the incident-response function app.'
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

// Polling the restarts: the operation-status URLs live at subscription scope.
module operationStatus 'access-operationstatus.bicep' = if (grantOperationStatusRead) {
  name: 'ir-opstatus-postgres-${nameSuffix}'
  scope: subscription()
  params: {
    nameSuffix: nameSuffix
    providerLabel: 'Microsoft.DBforPostgreSQL'
    actions: [
      'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read'
      'Microsoft.DBforPostgreSQL/locations/operationResults/read'
    ]
  }
}

output actions array = actions
@description('Name (a GUID) of the custom role definition, for role-assignments.bicep.')
output roleName string = role.name
@description('Name of the operation-status reader role definition; empty when not granted.')
output operationStatusRoleName string = grantOperationStatusRead ? operationStatus.outputs.roleName : ''
