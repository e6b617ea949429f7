// The action group every alert rule notifies: one webhook receiver that posts the Common Alert
// Schema to POST /api/alerts with the host's default function key. The key is read at deployment
// time with listKeys on the app's host/default keys and never leaves ARM.

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

@description('Secure webhook: tenant id of that application.')
param aadTenantId string = tenant().tenantId

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// Flex Consumption serves host keys through the same ARM action as other plans:
// POST {site}/host/default/listkeys.
var alertsUrl = wireWebhook ? 'https://${site.properties.defaultHostName}/api/alerts?code=${listKeys('${site.id}/host/default', '2024-04-01').functionKeys.default}' : ''

var plainReceiver = {
  name: 'incident-response-alerts'
  serviceUri: alertsUrl
  useCommonAlertSchema: true
}
var aadReceiver = union(plainReceiver, {
  useAadAuth: true
  objectId: aadObjectId
  identifierUri: aadIdentifierUri
  tenantId: aadTenantId
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
