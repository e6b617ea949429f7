// The function app on the Flex Consumption plan (FC1), Python 3.11, running as the user-assigned
// identity. Every setting in shared/config.py SETTINGS is set below (infra/check_infra.py checks
// it); secrets arrive as Key Vault references.

@description('Name of the function app (also its default host name prefix).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region of the plan and the app.')
param location string

@description('Tags applied to the plan and the app (the app also gets azd-service-name).')
param tags object = {}

@description('azd service name in azure.yaml that deploys its code to this app.')
param azdServiceName string = 'api'

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID, host storage and App Insights auth).')
param identityClientId string

@description('Name of the app storage account (AzureWebJobsStorage__accountName).')
param storageAccountName string

@description('Blob container URL Flex Consumption deploys the package to.')
param deploymentContainerUrl string

@description('Table endpoint of the app storage account (TABLES_ENDPOINT).')
param tablesEndpoint string

@description('Application Insights connection string (local auth is disabled, so it grants nothing; kept secure anyway).')
@secure()
param appInsightsConnectionString string

@description('Maximum instances the app scales out to.')
param maximumInstanceCount int = 40

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('TABLE_NAME: table the incidents live in.')
param tableName string

@description('PUBLIC_BASE_URL: base URL used in links the app sends out. Empty: https://<default host name>.')
param publicBaseUrl string = ''

@description('ESCALATION_SCHEDULE: six-field NCRONTAB schedule of the escalation sweep.')
param escalationSchedule string

@description('PAGERDUTY_EVENTS_URL: PagerDuty Events API v2 endpoint.')
param pagerdutyEventsUrl string

@description('JIRA_BASE_URL: Jira Cloud site URL. Empty: no tickets.')
param jiraBaseUrl string = ''

@description('JIRA_USER: Jira account (e-mail) of the API token.')
param jiraUser string = ''

@description('JIRA_PROJECT_KEY: project incident tickets are created in.')
param jiraProjectKey string = ''

@description('STATUSPAGE_API_URL: Statuspage API base URL.')
param statuspageApiUrl string

@description('STATUSPAGE_PAGE_ID: Statuspage page id. Empty: no status page updates.')
param statuspagePageId string = ''

@description('AZURE_SUBSCRIPTION_ID: subscription of the remediated resources.')
param remediationSubscriptionId string

@description('AZURE_ARM_ENDPOINT: Azure Resource Manager endpoint.')
param armEndpoint string

@description('API_CONTAINER_APP_ID: ARM id of the API container app. Empty: none.')
param apiContainerAppId string = ''

@description('POSTGRES_SERVER_ID: ARM id of the PostgreSQL flexible server. Empty: none.')
param postgresServerId string = ''

@description('REDIS_CACHE_ID: ARM id of the Azure Cache for Redis. Empty: none.')
param redisCacheId string = ''

@description('REMEDIATION_MODE: off, dry-run, approval or auto.')
@allowed([
  'off'
  'dry-run'
  'approval'
  'auto'
])
param remediationMode string

@description('RUNBOOK_FILE: path of the runbook policy file in the package. Empty: the shipped runbook.toml.')
param runbookFile string = ''

@description('Key Vault references (or empty strings) for PAGERDUTY_ROUTING_KEYS, SLACK_WEBHOOK_URL, SLACK_BOT_TOKEN, TEAMS_WEBHOOK_URL, JIRA_API_TOKEN, STATUSPAGE_API_KEY.')
param secretReferences object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': azdServiceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity, not a system identity.
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Flex Consumption takes the runtime from functionAppConfig: FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION are deliberately absent (they are deprecated on FC1).
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: {
    // Functions host storage, identity-based.
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Telemetry with Entra ID auth.
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // DefaultAzureCredential picks the user-assigned identity by this client id.
    AZURE_CLIENT_ID: identityClientId
    // The app's own settings (shared/config.py SETTINGS), in that order.
    TABLES_CONNECTION_STRING: '' // identity-based access through TABLES_ENDPOINT instead
    TABLES_ENDPOINT: tablesEndpoint
    TABLE_NAME: tableName
    FUNCTIONS_KEY: '' // local host only; on Azure the Functions host's own keys apply
    PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${site.properties.defaultHostName}' : publicBaseUrl
    ESCALATION_SCHEDULE: escalationSchedule
    PAGERDUTY_EVENTS_URL: pagerdutyEventsUrl
    PAGERDUTY_ROUTING_KEYS: secretReferences.PAGERDUTY_ROUTING_KEYS
    SLACK_WEBHOOK_URL: secretReferences.SLACK_WEBHOOK_URL
    JIRA_BASE_URL: jiraBaseUrl
    JIRA_USER: jiraUser
    JIRA_API_TOKEN: secretReferences.JIRA_API_TOKEN
    JIRA_PROJECT_KEY: jiraProjectKey
    STATUSPAGE_API_URL: statuspageApiUrl
    STATUSPAGE_PAGE_ID: statuspagePageId
    STATUSPAGE_API_KEY: secretReferences.STATUSPAGE_API_KEY
    AZURE_SUBSCRIPTION_ID: remediationSubscriptionId
    AZURE_ARM_ENDPOINT: armEndpoint
    API_CONTAINER_APP_ID: apiContainerAppId
    POSTGRES_SERVER_ID: postgresServerId
    REDIS_CACHE_ID: redisCacheId
    REMEDIATION_MODE: remediationMode
    RUNBOOK_FILE: runbookFile
    RECONCILE_SCHEDULE: reconcileSchedule
    REVIEW_SCHEDULE: reviewSchedule
    // Entra ID bearer tokens on the operator routes (on when tenant and audience are both set), and
    // Azure Monitor's secure-webhook token on POST alerts (README, Security).
    AUTH_TENANT_ID: authTenantId
    AUTH_AUDIENCE: authAudience
    AUTH_OPENID_CONFIG_URL: authOpenIdConfigUrl
    ALERT_WEBHOOK_AUTH: alertWebhookAuth
    // Runbook step 2's Application Insights query and step 4's verification probes.
    LOG_ANALYTICS_WORKSPACE_ID: logAnalyticsWorkspaceId
    LOG_ANALYTICS_ENDPOINT: logAnalyticsEndpoint
    API_HEALTH_URL: apiHealthUrl
    SMOKE_TEST_URLS: smokeTestUrls
    // Communications (README, Communications): Slack Web API threads, Teams, Jira issue type and
    // resolve transition, Statuspage components.
    SLACK_BOT_TOKEN: secretReferences.SLACK_BOT_TOKEN
    SLACK_CHANNEL: slackChannel
    SLACK_API_URL: slackApiUrl
    TEAMS_WEBHOOK_URL: secretReferences.TEAMS_WEBHOOK_URL
    JIRA_ISSUE_TYPE: jiraIssueType
    JIRA_DONE_TRANSITION: jiraDoneTransition
    STATUSPAGE_COMPONENTS: statuspageComponents
  }
}

// Declared after the other settings' params, with the contract's default, so that the line
// references of README.md ("Where each runbook resource and each setting lives") stay valid.
@description('RECONCILE_SCHEDULE: six-field NCRONTAB schedule of the alert-reconciliation timer.')
param reconcileSchedule string = '0 */2 * * * *'

@description('REVIEW_SCHEDULE: six-field NCRONTAB schedule of the review-reminder timer (the daily digest goes out once, at 09:00 in the runbook calendar\'s time zone on working days).')
param reviewSchedule string = '0 */15 * * * *'

@description('AUTH_TENANT_ID: Entra ID tenant (GUID) whose access tokens the operator routes accept. Empty: function keys only.')
param authTenantId string = ''

@description('AUTH_AUDIENCE: comma-separated audiences of those tokens (the app registration\'s application id URI and/or client id). Empty: function keys only.')
param authAudience string = ''

@description('AUTH_OPENID_CONFIG_URL: OpenID configuration of the tenant (signing keys). Empty: https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration.')
param authOpenIdConfigUrl string = ''

@description('ALERT_WEBHOOK_AUTH: entra makes POST alerts require Azure Monitor\'s secure-webhook token (needs AUTH_TENANT_ID and AUTH_AUDIENCE). Empty: the function key only.')
@allowed([
  ''
  'entra'
])
param alertWebhookAuth string = ''

@description('LOG_ANALYTICS_WORKSPACE_ID: workspace id (customerId, a GUID) of the API\'s Application Insights workspace, for the runbook\'s error-spike query. Empty: the query is skipped.')
param logAnalyticsWorkspaceId string = ''

@description('LOG_ANALYTICS_ENDPOINT: Log Analytics query API endpoint.')
param logAnalyticsEndpoint string = 'https://api.loganalytics.io/v1'

@description('API_HEALTH_URL: the API\'s health endpoint; a remediation is verified only while it answers 200. Empty: not probed.')
param apiHealthUrl string = ''

@description('SMOKE_TEST_URLS: JSON list of smoke-test URLs or {"url", "status"} objects, probed while a remediation is verified. Empty: none.')
param smokeTestUrls string = ''

@description('SLACK_CHANNEL: channel id (or name) the Slack Web API posts to; used with SLACK_BOT_TOKEN instead of SLACK_WEBHOOK_URL. Empty: the webhook, if any.')
param slackChannel string = ''

@description('SLACK_API_URL: Slack Web API base URL.')
param slackApiUrl string = 'https://slack.com/api'

@description('JIRA_ISSUE_TYPE: Jira issue type of incident tickets.')
param jiraIssueType string = 'Task'

@description('JIRA_DONE_TRANSITION: name of the Jira transition applied when an incident resolves.')
param jiraDoneTransition string = 'Done'

@description('STATUSPAGE_COMPONENTS: JSON object of core role (api, postgres, redis) to Statuspage component id. Empty: no component status is set.')
param statuspageComponents string = ''

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
output hostUrl string = 'https://${site.properties.defaultHostName}'
