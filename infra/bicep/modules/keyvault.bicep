// Key Vault (RBAC mode) holding the app's six outbound secrets. A secret is written only when its
// parameter is non-empty, so a redeploy without the value never blanks a secret that was rotated
// in the vault directly. The app setting becomes a Key Vault reference when the secret is written
// here or is listed in vaultOnlySecrets; otherwise it stays empty and the integration is off.

@description('Name of the Key Vault (3-24 letters, digits and dashes).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the Key Vault.')
param location string

@description('Tags applied to the Key Vault.')
param tags object = {}

@description('Principal id of the function app identity (gets Key Vault Secrets User on this vault).')
param identityPrincipalId string

@description('PAGERDUTY_ROUTING_KEYS value: JSON object of on-call role to PagerDuty Events v2 routing key. Empty: not written.')
@secure()
param pagerdutyRoutingKeys string = ''

@description('SLACK_WEBHOOK_URL value: Slack incoming webhook for #incident-active. Empty: not written.')
@secure()
param slackWebhookUrl string = ''

@description('JIRA_API_TOKEN value: Jira Cloud API token of JIRA_USER. Empty: not written.')
@secure()
param jiraApiToken string = ''

@description('STATUSPAGE_API_KEY value: Statuspage API key. Empty: not written.')
@secure()
param statuspageApiKey string = ''

@description('SLACK_BOT_TOKEN value: Slack bot token for the Web API (chat.postMessage, chat.update). Empty: not written.')
@secure()
param slackBotToken string = ''

@description('TEAMS_WEBHOOK_URL value: Microsoft Teams Workflows webhook URL (it carries the flow\'s signature). Empty: not written.')
@secure()
param teamsWebhookUrl string = ''

@description('Setting names whose secret already lives in the vault (set or rotated there directly); their app setting is a Key Vault reference even when the parameter above is empty.')
param vaultOnlySecrets array = []

@description('Days a deleted vault stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

// Built-in role: Key Vault Secrets User (read secret contents; no list of keys, no writes).
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

var pagerdutySecretName = 'pagerduty-routing-keys'
var slackSecretName = 'slack-webhook-url'
var jiraSecretName = 'jira-api-token'
var statuspageSecretName = 'statuspage-api-key'
var slackBotSecretName = 'slack-bot-token'
var teamsSecretName = 'teams-webhook-url'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    publicNetworkAccess: 'Enabled'
  }
}

resource pagerdutySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(pagerdutyRoutingKeys)) {
  parent: vault
  name: pagerdutySecretName
  properties: {
    value: pagerdutyRoutingKeys
    contentType: 'application/json'
  }
}

resource slackSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackWebhookUrl)) {
  parent: vault
  name: slackSecretName
  properties: {
    value: slackWebhookUrl
    contentType: 'text/plain'
  }
}

resource jiraSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(jiraApiToken)) {
  parent: vault
  name: jiraSecretName
  properties: {
    value: jiraApiToken
    contentType: 'text/plain'
  }
}

resource statuspageSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(statuspageApiKey)) {
  parent: vault
  name: statuspageSecretName
  properties: {
    value: statuspageApiKey
    contentType: 'text/plain'
  }
}

resource slackBotSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackBotToken)) {
  parent: vault
  name: slackBotSecretName
  properties: {
    value: slackBotToken
    contentType: 'text/plain'
  }
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: teamsSecretName
  properties: {
    value: teamsWebhookUrl
    contentType: 'text/plain'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Versionless secret URIs: App Service picks up a rotated version without a redeploy.
var secretBase = '${vault.properties.vaultUri}secrets'
var usePagerduty = !empty(pagerdutyRoutingKeys) || contains(vaultOnlySecrets, 'PAGERDUTY_ROUTING_KEYS')
var useSlack = !empty(slackWebhookUrl) || contains(vaultOnlySecrets, 'SLACK_WEBHOOK_URL')
var useJira = !empty(jiraApiToken) || contains(vaultOnlySecrets, 'JIRA_API_TOKEN')
var useStatuspage = !empty(statuspageApiKey) || contains(vaultOnlySecrets, 'STATUSPAGE_API_KEY')
var useSlackBot = !empty(slackBotToken) || contains(vaultOnlySecrets, 'SLACK_BOT_TOKEN')
var useTeams = !empty(teamsWebhookUrl) || contains(vaultOnlySecrets, 'TEAMS_WEBHOOK_URL')

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
@description('App setting value per secret setting: a Key Vault reference, or empty when the integration is off.')
output references object = {
  PAGERDUTY_ROUTING_KEYS: usePagerduty ? '@Microsoft.KeyVault(SecretUri=${secretBase}/${pagerdutySecretName}/)' : ''
  SLACK_WEBHOOK_URL: useSlack ? '@Microsoft.KeyVault(SecretUri=${secretBase}/${slackSecretName}/)' : ''
  JIRA_API_TOKEN: useJira ? '@Microsoft.KeyVault(SecretUri=${secretBase}/${jiraSecretName}/)' : ''
  STATUSPAGE_API_KEY: useStatuspage ? '@Microsoft.KeyVault(SecretUri=${secretBase}/${statuspageSecretName}/)' : ''
  SLACK_BOT_TOKEN: useSlackBot ? '@Microsoft.KeyVault(SecretUri=${secretBase}/${slackBotSecretName}/)' : ''
  TEAMS_WEBHOOK_URL: useTeams ? '@Microsoft.KeyVault(SecretUri=${secretBase}/${teamsSecretName}/)' : ''
}
