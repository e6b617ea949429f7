// Deployed at each subscription the app reads Azure Monitor alerts in (AZURE_SUBSCRIPTION_ID and the
// subscriptions of the core resources). A custom role holding only what the alert reconciliation
// and the two-way alert state call:
//   GET  /subscriptions/{id}/providers/Microsoft.AlertsManagement/alerts       (list: reconciliation)
//   GET  .../alerts/{alertId}, POST .../alerts/{alertId}/changestate          (acknowledge, close)
// (Alerts Management REST API, api-version 2019-03-01: azure-rest-api-specs, specification/
// alertsmanagement/resource-manager/Microsoft.AlertsManagement/AlertsManagement/stable/2019-03-01/; the
// action names are those of its examples/Operations_List.json.)
// Why the subscription: an alert instance is not a child of the resource it fired on. Its id is
// /subscriptions/{id}/providers/Microsoft.AlertsManagement/alerts/{guid} (the Common Alert Schema's
// alertId), and the list that finds the alerts the webhook missed is a subscription-level read that
// must also see alerts on resources outside the core ones (Log Analytics, Application Insights). No
// narrower scope holds them; the role grants nothing else there. Only the definition:
// role-assignments.bicep assigns it, in a later deployment.
targetScope = 'subscription'

@description('Short token that keeps the custom role name unique per deployment environment.')
param nameSuffix string

var actions = [
  // list and read alert instances (reconciliation; the state before an acknowledgment)
  'Microsoft.AlertsManagement/alerts/read'
  // set an alert's user state: Acknowledged, Closed
  'Microsoft.AlertsManagement/alerts/changestate/action'
]

// role-assignments.bicep computes the same name from the subscription id (lower-cased here and there)
resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(toLower(subscription().id), 'incident-response-alerts', nameSuffix)
  properties: {
    roleName: 'Incident response alert state (${nameSuffix}-${uniqueString(subscription().id)})'
    description: 'Read Azure Monitor alert instances and set their state (Acknowledged, Closed). Used by the incident-response function app.'
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

output actions array = actions
@description('Name (a GUID) of the custom role definition, for role-assignments.bicep.')
output roleName string = role.name
