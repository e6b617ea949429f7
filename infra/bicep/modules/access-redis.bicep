// Deployed into the Redis cache's resource group. A custom role holding only what the Redis
// playbook and diagnostics call, assigned on that one cache. No listKeys: the app never reads
// the cache's access keys.

@description('Name of the existing Azure Cache for Redis (last segment of REDIS_CACHE_ID).')
param cacheName string

@description('Principal id of the function app identity.')
param principalId string

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

var actions = [
  // az redis show: provisioningState (diagnostics)
  'Microsoft.Cache/redis/read'
  // az redis force-reboot --reboot-type AllNodes (playbook step 5)
  'Microsoft.Cache/redis/forceReboot/action'
]

resource cache 'Microsoft.Cache/redis@2023-08-01' existing = {
  name: cacheName
}

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'incident-response-redis-rebooter', nameSuffix)
  properties: {
    roleName: 'Incident response Redis rebooter (${nameSuffix}-${uniqueString(resourceGroup().id)})'
    description: 'Read an Azure Cache for Redis and force-reboot it. Used by the incident-response function app.'
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
  name: guid(cache.id, principalId, role.name)
  scope: cache
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

output actions array = actions
