// Deployed at the subscription of a remediated resource. Long-running ARM writes (container app
// update, PostgreSQL restart) answer with an Azure-AsyncOperation / Location URL under
// /subscriptions/{id}/providers/{namespace}/locations/{region}/..., outside the resource's own
// scope, so polling them needs these read-only actions at subscription scope. They reveal the
// status of operations only, not resources. Only the definition: role-assignments.bicep assigns it.
targetScope = 'subscription'

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

@description('Operation-status read actions to grant (one resource provider\'s set per remediated resource type).')
param actions array

@description('Which resource provider these actions belong to (part of the role name).')
param providerLabel string

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'incident-response-operation-status', providerLabel, nameSuffix)
  properties: {
    roleName: 'Incident response ${providerLabel} operation status reader (${nameSuffix}-${uniqueString(subscription().id)})'
    description: 'Read the status of long-running operations the incident-response function app started.'
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
      subscription().id
    ]
  }
}

@description('Name (a GUID) of the custom role definition, for role-assignments.bicep.')
output roleName string = role.name
