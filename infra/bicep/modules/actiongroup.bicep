// The action group every alert rule notifies: one webhook receiver that posts the Common Alert
// Schema to POST /api/alerts with a key of that one function, never a host key (which opens every
// route, remediation approval included). The key is read at deployment with listKeys; it stays in ARM.

@description('Name of the action group.')
param name string

@description('Short name shown in SMS and e-mail notifications (at most 12 characters).')
@maxLength(12)
param shortName string

@description('Tags applied to the action group.')
param tags object = {}

@description('Name of the function app that receives the alerts.')
param functionAppName string

@description('Add the webhook receiver. Reading the host key needs a running host, so a first azd provision before any code deploy sets this false.')
param wireWebhook bool = true

@description('Secure webhook: Azure Monitor sends an Entra ID token for the app registration below.')
param useAadAuth bool = false

@description('Secure webhook: object id of the Entra ID application (app registration) the token is issued for.')
param aadObjectId string = ''

@description('Secure webhook: identifier (application id) URI of that application.')
param aadIdentifierUri string = ''

@description('Secure webhook: tenant id of that application. Empty: this deployment\'s tenant.')
param aadTenantId string = ''

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// A function key opens only its function (Learn, "Work with access keys in Azure Functions"); ARM's
// POST {site}/functions/{name}/listkeys ("Web Apps - List Function Keys") reads post_alert's (functions/alerts.py).
var alertsUrl = wireWebhook ? 'https://${site.properties.defaultHostName}/api/alerts?code=${listKeys('${site.id}/functions/post_alert', '2024-04-01').default}' : ''

var plainReceiver = {
  name: 'incident-response-alerts'
  serviceUri: alertsUrl
  useCommonAlertSchema: true
}
// Secure webhook (Microsoft Learn, "Action groups", Configure authentication for Secure webhook):
// Azure Monitor's "AzNS AAD Webhook" service principal gets a token for the app registration
// (objectId, identifierUri) and sends it with every alert; it may, only once that principal holds
// the registration's app role ActionGroupsSecureWebhook (README, Deploy). The function key stays
// in the URL: /api/alerts is a FUNCTION-level route.
var aadReceiver = union(plainReceiver, {
  useAadAuth: true
  objectId: aadObjectId
  identifierUri: aadIdentifierUri
  tenantId: empty(aadTenantId) ? tenant().tenantId : aadTenantId
})

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    groupShortName: shortName
    enabled: true
    webhookReceivers: wireWebhook ? [
      useAadAuth ? aadReceiver : plainReceiver
    ] : []
  }
}

output id string = actionGroup.id
output name string = actionGroup.name
