// Deployed into the Redis cache's resource group. A custom role holding only what the Redis
// playbook and diagnostics call. Only the definition: role-assignments.bicep assigns it on that
// one cache, in a later deployment. No listKeys: the app never reads the cache's access keys.

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

var actions = [
  // az redis show: provisioningState (diagnostics)
  'Microsoft.Cache/redis/read'
  // az redis force-reboot --reboot-type AllNodes [--shard-id n] (playbook step 5)
  'Microsoft.Cache/redis/forceReboot/action'
  // Resource Health availabilityStatuses/current of the cache: evidence that a reboot finished
  'Microsoft.ResourceHealth/availabilityStatuses/read'
  // Azure Monitor metrics of the cache: errors, serverLoad, connectedclients after a reboot (verification)
  'Microsoft.Insights/metrics/read'
]

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

output actions array = actions
@description('Name (a GUID) of the custom role definition, for role-assignments.bicep.')
output roleName string = role.name
