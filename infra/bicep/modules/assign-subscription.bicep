// Deployed at the subscription of a remediated resource: assigns the operation-status reader role
// (defined by access-operationstatus.bicep in an earlier deployment) to the function app identity.
targetScope = 'subscription'

@description('Principal id of the function app identity.')
param principalId string

@description('Name (a GUID) of the custom role definition in this subscription.')
param roleName string

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, roleName)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
