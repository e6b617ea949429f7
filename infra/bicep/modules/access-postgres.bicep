// Deployed into the PostgreSQL flexible server's resource group. A custom role holding only what
// the database playbook and diagnostics call, assigned on that one server.

@description('Name of the existing PostgreSQL flexible server (last segment of POSTGRES_SERVER_ID).')
param serverName string

@description('Principal id of the function app identity.')
param principalId string

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

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2022-12-01' existing = {
  name: serverName
}

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

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(server.id, principalId, role.name)
  scope: server
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


// Polling the restarts: the operation-status URLs live at subscription scope.
module operationStatus 'access-operationstatus.bicep' = if (grantOperationStatusRead) {
  name: 'ir-opstatus-postgres-${nameSuffix}'
  scope: subscription()
  params: {
    principalId: principalId
    nameSuffix: nameSuffix
    providerLabel: 'Microsoft.DBforPostgreSQL'
    actions: [
      'Microsoft.DBforPostgreSQL/locations/azureAsyncOperation/read'
      'Microsoft.DBforPostgreSQL/locations/operationResults/read'
    ]
  }
}

output actions array = actions
