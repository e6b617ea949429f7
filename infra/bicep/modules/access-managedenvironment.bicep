// Deployed into the resource group of the API's Container Apps environment. ARM checks
// Microsoft.App/managedEnvironments/join/action on the environment (linked authorization) when a
// container app write carries the environment id, as a full PUT does. The app's playbooks PATCH
// only the changed parts, so this grant is optional: set apiManagedEnvironmentId when ARM answers
// a playbook with LinkedAuthorizationFailed. Only the definition: role-assignments.bicep assigns it.

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

var actions = [
  'Microsoft.App/managedEnvironments/read'
  'Microsoft.App/managedEnvironments/join/action'
]

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'incident-response-environment-joiner', nameSuffix)
  properties: {
    roleName: 'Incident response environment joiner (${nameSuffix}-${uniqueString(resourceGroup().id)})'
    description: 'Read a Container Apps environment and join apps to it, needed when the incident-response function app updates a container app in it.'
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
