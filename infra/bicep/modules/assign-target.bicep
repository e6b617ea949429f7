// Deployed into a remediated resource's resource group: assigns one custom role, defined by an
// access-*.bicep module in an earlier deployment, to the function app identity on that one
// resource. Names are guid(resource, principal, role), as before the definitions moved out.

@description('Kind of the resource the role is assigned on.')
@allowed([
  'containerApp'
  'managedEnvironment'
  'postgres'
  'redis'
])
param kind string

@description('Name of the existing resource (last segment of its ARM id).')
param resourceName string

@description('Principal id of the function app identity.')
param principalId string

@description('Name (a GUID) of the custom role definition in this subscription.')
param roleName string

var roleDefinitionId = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleName)

// Only the id of each is used (no read): the one of the wrong kind is never deployed against.
resource app 'Microsoft.App/containerApps@2024-03-01' existing = {
  name: resourceName
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' existing = {
  name: resourceName
}

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2022-12-01' existing = {
  name: resourceName
}

resource cache 'Microsoft.Cache/redis@2023-08-01' existing = {
  name: resourceName
}

resource onApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'containerApp') {
  name: guid(app.id, principalId, roleName)
  scope: app
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource onEnvironment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'managedEnvironment') {
  name: guid(environment.id, principalId, roleName)
  scope: environment
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource onServer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'postgres') {
  name: guid(server.id, principalId, roleName)
  scope: server
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource onCache 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (kind == 'redis') {
  name: guid(cache.id, principalId, roleName)
  scope: cache
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
