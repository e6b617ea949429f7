// The function app identity's custom roles on the remediated resources, assigned in a deployment
// of their own, after the deployments that define them (access-*.bicep).
//
// Why apart: a custom role definition is usable for assignments only once it has replicated
// through Azure RBAC. Created and assigned in one deployment, the assignment can fail with
// RoleDefinitionDoesNotExist (or PrincipalNotFound for a new identity) although the definition
// exists; ARM caches RBAC data and changes can take minutes to apply (Microsoft Learn,
// "Troubleshoot Azure RBAC"; "a transient error ... yet to complete replication of the newly
// created Role Definition", Azure/terraform-azurerm-caf-enterprise-scale wiki, Troubleshooting).
// main.bicep deploys this after the definitions (dependsOn); azd deploys it from the postprovision
// hook instead (infra/assign_roles.py), which retries while the definitions replicate.
// Deployable on its own at the app's resource group; every assignment is idempotent.

@description('Principal id of the function app identity.')
param principalId string

@description('Short token of the deployment environment (part of the nested deployment names).')
param nameSuffix string

@description('ARM id of the API container app. Empty: nothing assigned on it.')
param apiContainerAppId string = ''

@description('ARM id of the API\'s Container Apps environment. Empty: nothing assigned on it.')
param apiManagedEnvironmentId string = ''

@description('ARM id of the PostgreSQL flexible server. Empty: nothing assigned on it.')
param postgresServerId string = ''

@description('ARM id of the Azure Cache for Redis. Empty: nothing assigned on it.')
param redisCacheId string = ''

@description('Role definition name (GUID) of the container app operator role. Empty: not assigned.')
param apiRoleName string = ''

@description('Role definition name (GUID) of the environment joiner role. Empty: not assigned.')
param apiEnvironmentRoleName string = ''

@description('Role definition name (GUID) of the PostgreSQL restarter role. Empty: not assigned.')
param postgresRoleName string = ''

@description('Role definition name (GUID) of the Redis rebooter role. Empty: not assigned.')
param redisRoleName string = ''

@description('Role definition name (GUID) of the Microsoft.App operation-status reader role (API\'s subscription). Empty: not assigned.')
param appOperationsRoleName string = ''

@description('Role definition name (GUID) of the Microsoft.DBforPostgreSQL operation-status reader role (server\'s subscription). Empty: not assigned.')
param postgresOperationsRoleName string = ''

// An empty id is replaced by a well-formed placeholder so that split() never indexes past the end;
// every use below is guarded by !empty() of the real id.
var placeholderId = '${resourceGroup().id}/providers/none/none/none'
var apiParts = split(empty(apiContainerAppId) ? placeholderId : apiContainerAppId, '/')
var envParts = split(empty(apiManagedEnvironmentId) ? placeholderId : apiManagedEnvironmentId, '/')
var postgresParts = split(empty(postgresServerId) ? placeholderId : postgresServerId, '/')
var redisParts = split(empty(redisCacheId) ? placeholderId : redisCacheId, '/')

module onApi 'assign-target.bicep' = if (!empty(apiContainerAppId) && !empty(apiRoleName)) {
  name: 'ir-assign-api-${nameSuffix}'
  scope: resourceGroup(apiParts[2], apiParts[4])
  params: {
    kind: 'containerApp'
    resourceName: last(apiParts)
    principalId: principalId
    roleName: apiRoleName
  }
}

module onEnvironment 'assign-target.bicep' = if (!empty(apiManagedEnvironmentId) && !empty(apiEnvironmentRoleName)) {
  name: 'ir-assign-env-${nameSuffix}'
  scope: resourceGroup(envParts[2], envParts[4])
  params: {
    kind: 'managedEnvironment'
    resourceName: last(envParts)
    principalId: principalId
    roleName: apiEnvironmentRoleName
  }
}

module onPostgres 'assign-target.bicep' = if (!empty(postgresServerId) && !empty(postgresRoleName)) {
  name: 'ir-assign-postgres-${nameSuffix}'
  scope: resourceGroup(postgresParts[2], postgresParts[4])
  params: {
    kind: 'postgres'
    resourceName: last(postgresParts)
    principalId: principalId
    roleName: postgresRoleName
  }
}

module onRedis 'assign-target.bicep' = if (!empty(redisCacheId) && !empty(redisRoleName)) {
  name: 'ir-assign-redis-${nameSuffix}'
  scope: resourceGroup(redisParts[2], redisParts[4])
  params: {
    kind: 'redis'
    resourceName: last(redisParts)
    principalId: principalId
    roleName: redisRoleName
  }
}

module onAppOperations 'assign-subscription.bicep' = if (!empty(apiContainerAppId) && !empty(appOperationsRoleName)) {
  name: 'ir-assign-opstatus-containerapp-${nameSuffix}'
  scope: subscription(apiParts[2])
  params: {
    principalId: principalId
    roleName: appOperationsRoleName
  }
}

module onPostgresOperations 'assign-subscription.bicep' = if (!empty(postgresServerId) && !empty(postgresOperationsRoleName)) {
  name: 'ir-assign-opstatus-postgres-${nameSuffix}'
  scope: subscription(postgresParts[2])
  params: {
    principalId: principalId
    roleName: postgresOperationsRoleName
  }
}

// ---- Azure Monitor alert instances (modules/access-alerts.bicep) -------------------------------

@description('Comma-separated subscription ids where access-alerts.bicep defined the alert-state role. Empty: not assigned.')
param alertsSubscriptionIds string = ''

var alertsSubscriptions = empty(alertsSubscriptionIds) ? [] : map(split(alertsSubscriptionIds, ','), s => trim(s))

// The role's name is computed as access-alerts.bicep names it: guid(lower-cased subscription id, ...).
module onAlerts 'assign-subscription.bicep' = [for sub in alertsSubscriptions: {
  name: 'ir-assign-alerts-${uniqueString(sub)}-${nameSuffix}'
  scope: subscription(sub)
  params: {
    principalId: principalId
    roleName: guid(toLower('/subscriptions/${sub}'), 'incident-response-alerts', nameSuffix)
  }
}]
