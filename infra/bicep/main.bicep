// Incident-response function app: composition only. Every resource lives in modules/; this file
// names things, parses the target ids and wires module outputs to module inputs.
//
// Deploy with `azd up` (azure.yaml at the repo root; resource-group scope, AZURE_RESOURCE_GROUP)
// or `az deployment group create -g <rg> -f infra/bicep/main.bicep -p infra/bicep/main.parameters.json`
// after replacing the ${...} placeholders. See README.md, "Deploy".
targetScope = 'resourceGroup'

// ---- environment -----------------------------------------------------------------------------

@description('azd environment name; part of every resource name and the azd-env-name tag.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of every resource (must offer Flex Consumption).')
param location string = resourceGroup().location

@description('Extra tags for every resource.')
param extraTags object = {}

// ---- app settings (shared/config.py SETTINGS) ----------------------------------------------

@description('TABLE_NAME: Table Storage table of the incidents.')
param tableName string = 'incidents'

@description('PUBLIC_BASE_URL: base URL in links the app sends out. Empty: https://<function app host>.')
param publicBaseUrl string = ''

@description('ESCALATION_SCHEDULE: six-field NCRONTAB schedule of the escalation sweep.')
param escalationSchedule string = '*/10 * * * * *'

@description('PAGERDUTY_EVENTS_URL: PagerDuty Events API v2 endpoint.')
param pagerdutyEventsUrl string = 'https://events.pagerduty.com/v2/enqueue'

@description('JIRA_BASE_URL: Jira Cloud site, e.g. https://example.atlassian.net. Empty: no tickets.')
param jiraBaseUrl string = ''

@description('JIRA_USER: Jira account e-mail the API token belongs to.')
param jiraUser string = ''

@description('JIRA_PROJECT_KEY: Jira project incident tickets go to.')
param jiraProjectKey string = ''

@description('STATUSPAGE_API_URL: Statuspage API base URL.')
param statuspageApiUrl string = 'https://api.statuspage.io/v1'

@description('STATUSPAGE_PAGE_ID: Statuspage page id. Empty: no Statuspage updates.')
param statuspagePageId string = ''

@description('REMEDIATION_MODE for every playbook unless the runbook file says otherwise.')
@allowed([
  'off'
  'dry-run'
  'approval'
  'auto'
])
param remediationMode string = 'dry-run'

@description('RUNBOOK_FILE: runbook policy file inside the deployed package. Empty: the shipped runbook.toml.')
param runbookFile string = ''

@description('API_CONTAINER_APP_ID: ARM id of the API container app (not created here; may be in another resource group or subscription). Empty: none.')
param apiContainerAppId string = ''

@description('POSTGRES_SERVER_ID: ARM id of the PostgreSQL flexible server (not created here). Empty: none.')
param postgresServerId string = ''

@description('REDIS_CACHE_ID: ARM id of the Azure Cache for Redis (not created here). Empty: none.')
param redisCacheId string = ''

@description('AZURE_SUBSCRIPTION_ID: subscription of the remediated resources. Empty: taken from the first target id, else this subscription.')
param remediationSubscriptionId string = ''

// ---- secrets (Key Vault) ----------------------------------------------------------------------

@description('PAGERDUTY_ROUTING_KEYS: JSON object of on-call role to routing key. Written to Key Vault when non-empty.')
@secure()
param pagerdutyRoutingKeys string = ''

@description('SLACK_WEBHOOK_URL: Slack incoming webhook of #incident-active. Written to Key Vault when non-empty.')
@secure()
param slackWebhookUrl string = ''

@description('JIRA_API_TOKEN: Jira Cloud API token. Written to Key Vault when non-empty.')
@secure()
param jiraApiToken string = ''

@description('STATUSPAGE_API_KEY: Statuspage API key. Written to Key Vault when non-empty.')
@secure()
param statuspageApiKey string = ''

@description('Comma-separated setting names whose secret is kept in the vault directly (for example rotated with az keyvault secret set); they stay Key Vault references when the parameter is empty.')
param vaultOnlySecrets string = ''

// ---- access to the remediated resources ------------------------------------------------------

@description('ARM id of the Container Apps environment of the API app. When set, the identity may join apps to it (ARM checks that on container app writes that carry the environment id). Empty: not granted.')
param apiManagedEnvironmentId string = ''

@description('Grant read access to the long-running-operation status of Microsoft.App and Microsoft.DBforPostgreSQL at the targets\' subscription (needs rights to create roles there).')
param grantOperationStatusRead bool = true

@description('Assign the custom roles in this deployment, after their definitions. azd passes false and assigns them in its postprovision hook (infra/assign_roles.py), which retries while new role definitions replicate.')
param assignCustomRoles bool = true

// ---- alerting ---------------------------------------------------------------------------------

@description('Add the webhook receiver to the action group. Reading the function key needs the app host running, so the first azd provision (before any code deploy) leaves it false.')
param wireAlertWebhook bool = true

@description('Action group short name (at most 12 characters).')
@maxLength(12)
param actionGroupShortName string = 'incidents'

@description('Secure webhook: Azure Monitor sends an Entra ID token with every alert.')
param useAadAuth bool = false

@description('Secure webhook: object id of the Entra ID application the token is issued for.')
param aadObjectId string = ''

@description('Secure webhook: identifier URI of that Entra ID application.')
param aadIdentifierUri string = ''

@description('Secure webhook: tenant of that Entra ID application. Empty: this deployment\'s tenant.')
param aadTenantId string = ''

@description('ARM id of the Log Analytics workspace that receives the API\'s Container Apps system logs (for the replica-restart log alert). Empty: no such rule.')
param apiLogsWorkspaceId string = ''

@description('Table of the API\'s system logs in that workspace: ContainerAppSystemLogs_CL (environment logs destination log-analytics) or ContainerAppSystemLogs (destination azure-monitor, through a diagnostic setting).')
@allowed([
  'ContainerAppSystemLogs_CL'
  'ContainerAppSystemLogs'
])
param apiSystemLogsTable string = 'ContainerAppSystemLogs_CL'

@description('Existing action groups that also receive every alert rule created here (without the custom properties).')
param additionalActionGroupIds array = []

@description('Comma-separated tenants added to every alert as the tenants custom property. Empty: not added.')
param alertTenants string = ''

@description('Maximum instances of the function app.')
param maximumInstanceCount int = 40

// ---- names --------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = union(extraTags, {
  'azd-env-name': environmentName
})
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

// A target id is /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}. An empty
// id is replaced by a well-formed placeholder so that split() never indexes past the end; every
// use below is guarded by !empty() of the real id.
var placeholderId = '${resourceGroup().id}/providers/none/none/none'
var apiParts = split(empty(apiContainerAppId) ? placeholderId : apiContainerAppId, '/')
var envParts = split(empty(apiManagedEnvironmentId) ? placeholderId : apiManagedEnvironmentId, '/')
var postgresParts = split(empty(postgresServerId) ? placeholderId : postgresServerId, '/')
var redisParts = split(empty(redisCacheId) ? placeholderId : redisCacheId, '/')
var firstTargetParts = !empty(apiContainerAppId) ? apiParts : (!empty(postgresServerId) ? postgresParts : (!empty(redisCacheId) ? redisParts : split('${subscription().id}/resourceGroups/none', '/')))

// ---- the app -----------------------------------------------------------------------------------

module identity 'modules/identity.bicep' = {
  name: 'ir-identity-${resourceToken}'
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'ir-monitoring-${resourceToken}'
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'ir-storage-${resourceToken}'
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    tableName: tableName
    identityPrincipalId: identity.outputs.principalId
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'ir-keyvault-${resourceToken}'
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    pagerdutyRoutingKeys: pagerdutyRoutingKeys
    slackWebhookUrl: slackWebhookUrl
    jiraApiToken: jiraApiToken
    statuspageApiKey: statuspageApiKey
    slackBotToken: slackBotToken
    teamsWebhookUrl: teamsWebhookUrl
    vaultOnlySecrets: empty(vaultOnlySecrets) ? [] : map(split(vaultOnlySecrets, ','), s => trim(s))
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'ir-functionapp-${resourceToken}'
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    azdServiceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    tablesEndpoint: storage.outputs.tableEndpoint
    appInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    tableName: tableName
    publicBaseUrl: publicBaseUrl
    escalationSchedule: escalationSchedule
    pagerdutyEventsUrl: pagerdutyEventsUrl
    jiraBaseUrl: jiraBaseUrl
    jiraUser: jiraUser
    jiraProjectKey: jiraProjectKey
    statuspageApiUrl: statuspageApiUrl
    statuspagePageId: statuspagePageId
    remediationSubscriptionId: empty(remediationSubscriptionId) ? firstTargetParts[2] : remediationSubscriptionId
    armEndpoint: environment().resourceManager
    apiContainerAppId: apiContainerAppId
    postgresServerId: postgresServerId
    redisCacheId: redisCacheId
    remediationMode: remediationMode
    runbookFile: runbookFile
    secretReferences: vault.outputs.references
    authTenantId: authTenantId
    authAudience: authAudience
    authOpenIdConfigUrl: authOpenIdConfigUrl
    alertWebhookAuth: alertWebhookAuth
    logAnalyticsWorkspaceId: empty(apiInsightsWorkspaceId) ? '' : insightsWorkspaceAccess.outputs.customerId
    logAnalyticsEndpoint: logAnalyticsEndpoint
    apiHealthUrl: apiHealthUrl
    smokeTestUrls: smokeTestUrls
    slackChannel: slackChannel
    slackApiUrl: slackApiUrl
    jiraIssueType: jiraIssueType
    jiraDoneTransition: jiraDoneTransition
    statuspageComponents: statuspageComponents
  }
}

// ---- least-privilege access to the remediated resources (in their own resource groups) ------
// Definitions first, each in its target's resource group; the assignments follow in a deployment
// of their own (modules/role-assignments.bicep says why).

module apiAccess 'modules/access-containerapp.bicep' = if (!empty(apiContainerAppId)) {
  name: 'ir-access-api-${resourceToken}'
  scope: resourceGroup(apiParts[2], apiParts[4])
  params: {
    nameSuffix: resourceToken
    grantOperationStatusRead: grantOperationStatusRead
  }
}

module apiEnvironmentAccess 'modules/access-managedenvironment.bicep' = if (!empty(apiManagedEnvironmentId)) {
  name: 'ir-access-env-${resourceToken}'
  scope: resourceGroup(envParts[2], envParts[4])
  params: {
    nameSuffix: resourceToken
  }
}

module postgresAccess 'modules/access-postgres.bicep' = if (!empty(postgresServerId)) {
  name: 'ir-access-postgres-${resourceToken}'
  scope: resourceGroup(postgresParts[2], postgresParts[4])
  params: {
    nameSuffix: resourceToken
    grantOperationStatusRead: grantOperationStatusRead
  }
}

module redisAccess 'modules/access-redis.bicep' = if (!empty(redisCacheId)) {
  name: 'ir-access-redis-${resourceToken}'
  scope: resourceGroup(redisParts[2], redisParts[4])
  params: {
    nameSuffix: resourceToken
  }
}

var roleNames = {
  api: !empty(apiContainerAppId) ? apiAccess.outputs.roleName : ''
  apiEnvironment: !empty(apiManagedEnvironmentId) ? apiEnvironmentAccess.outputs.roleName : ''
  postgres: !empty(postgresServerId) ? postgresAccess.outputs.roleName : ''
  redis: !empty(redisCacheId) ? redisAccess.outputs.roleName : ''
  appOperations: !empty(apiContainerAppId) ? apiAccess.outputs.operationStatusRoleName : ''
  postgresOperations: !empty(postgresServerId) ? postgresAccess.outputs.operationStatusRoleName : ''
}

module roleAssignments 'modules/role-assignments.bicep' = if (assignCustomRoles) {
  name: 'ir-role-assignments-${resourceToken}'
  params: {
    principalId: identity.outputs.principalId
    nameSuffix: resourceToken
    apiContainerAppId: apiContainerAppId
    apiManagedEnvironmentId: apiManagedEnvironmentId
    postgresServerId: postgresServerId
    redisCacheId: redisCacheId
    apiRoleName: roleNames.api
    apiEnvironmentRoleName: roleNames.apiEnvironment
    postgresRoleName: roleNames.postgres
    redisRoleName: roleNames.redis
    appOperationsRoleName: roleNames.appOperations
    postgresOperationsRoleName: roleNames.postgresOperations
    alertsSubscriptionIds: join(alertSubscriptions, ',')
  }
  // Stated although the role names already order it: the assignments never start before every
  // definition deployment has finished, whatever the params come to reference.
  dependsOn: [
    apiAccess
    apiEnvironmentAccess
    postgresAccess
    redisAccess
    alertsAccess
  ]
}

// ---- Azure Monitor alert instances (alert reconciliation, two-way alert state) -----------------
// Declared after the lines README.md's tables point at, so that their line numbers hold.

@description('Grant the app read and changestate on Azure Monitor alert instances (a custom role at AZURE_SUBSCRIPTION_ID\'s subscription and at each core resource\'s; needs rights to create roles there). false: the app neither reconciles alerts nor sets their state.')
param grantAlertsAccess bool = true

// AZURE_SUBSCRIPTION_ID as the app gets it (functionApp above), then the core resources' subscriptions
var appSubscriptionId = empty(remediationSubscriptionId) ? firstTargetParts[2] : remediationSubscriptionId
var alertSubscriptionCandidates = [
  toLower(appSubscriptionId)
  empty(apiContainerAppId) ? '' : toLower(apiParts[2])
  empty(postgresServerId) ? '' : toLower(postgresParts[2])
  empty(redisCacheId) ? '' : toLower(redisParts[2])
]
var alertSubscriptions = grantAlertsAccess ? reduce(alertSubscriptionCandidates, [], (found, s) => empty(s) || contains(found, s) ? found : concat(found, [s])) : []

// Subscription scope: alert instances live at /subscriptions/{id}/providers/Microsoft.AlertsManagement/
// alerts/{guid}, not under the resource they fired on (modules/access-alerts.bicep says more).
module alertsAccess 'modules/access-alerts.bicep' = [for sub in alertSubscriptions: {
  name: 'ir-access-alerts-${uniqueString(sub)}-${resourceToken}'
  scope: subscription(sub)
  params: {
    nameSuffix: resourceToken
  }
}]

// ---- alerting ---------------------------------------------------------------------------------

module actionGroup 'modules/actiongroup.bicep' = {
  name: 'ir-actiongroup-${resourceToken}'
  params: {
    name: 'ag-${resourceToken}'
    shortName: actionGroupShortName
    tags: tags
    functionAppName: functionApp.outputs.name
    wireWebhook: wireAlertWebhook
    useAadAuth: useAadAuth
    aadObjectId: aadObjectId
    aadIdentifierUri: aadIdentifierUri
    aadTenantId: aadTenantId
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'ir-alerts-${resourceToken}'
  params: {
    namePrefix: 'ir-${resourceToken}'
    tags: tags
    actionGroupId: actionGroup.outputs.id
    additionalActionGroupIds: additionalActionGroupIds
    apiContainerAppId: apiContainerAppId
    postgresServerId: postgresServerId
    redisCacheId: redisCacheId
    alertTenants: alertTenants
    apiLogsWorkspaceId: apiLogsWorkspaceId
    apiSystemLogsTable: apiSystemLogsTable
    logAlertLocation: location
  }
}

// ---- caller identity (README, Security) -------------------------------------------------------
// Declared here, after the lines README.md's tables point at, so that their line numbers hold.

@description('AUTH_TENANT_ID: Entra ID tenant (GUID) of the operators\' access tokens. Set with authAudience, every operator route needs a token with an Incident.* app role (function keys stay the outer gate). Empty: function keys only.')
param authTenantId string = ''

@description('AUTH_AUDIENCE: comma-separated token audiences: the app registration\'s application id URI (v1.0 tokens) and/or client id (v2.0 tokens). Empty: function keys only.')
param authAudience string = ''

@description('AUTH_OPENID_CONFIG_URL: the tenant\'s OpenID configuration (its jwks_uri gives the signing keys). Empty: the tenant\'s v2.0 configuration on login.microsoftonline.com.')
param authOpenIdConfigUrl string = ''

@description('ALERT_WEBHOOK_AUTH: entra makes POST alerts require Azure Monitor\'s secure-webhook token (tenant, audience, app role ActionGroupsSecureWebhook); set it with useAadAuth. Empty: the function key only.')
@allowed([
  ''
  'entra'
])
param alertWebhookAuth string = ''

// ---- runbook step 2's query and step 4's verification (README, Remediation) --------------------
// Declared here, after the lines README.md's tables point at, so that their line numbers hold.

@description('ARM id of the Log Analytics workspace behind the API\'s Application Insights (its AppRequests table), where the runbook\'s error-spike query runs. The app gets its workspace id as LOG_ANALYTICS_WORKSPACE_ID and Log Analytics Reader on that workspace only. Empty: the query is skipped.')
param apiInsightsWorkspaceId string = ''

@description('LOG_ANALYTICS_ENDPOINT: Log Analytics query API endpoint (another cloud\'s, for a sovereign cloud).')
param logAnalyticsEndpoint string = 'https://api.loganalytics.io/v1'

@description('API_HEALTH_URL: the API\'s health endpoint; a remediation is verified only while it answers 200. Empty: not probed.')
param apiHealthUrl string = ''

@description('SMOKE_TEST_URLS: JSON list of smoke-test URLs or {"url", "status"} objects, probed while a remediation is verified. Empty: none.')
param smokeTestUrls string = ''

var insightsWorkspaceParts = split(empty(apiInsightsWorkspaceId) ? placeholderId : apiInsightsWorkspaceId, '/')

module insightsWorkspaceAccess 'modules/access-loganalytics.bicep' = if (!empty(apiInsightsWorkspaceId)) {
  name: 'ir-access-logs-${resourceToken}'
  scope: resourceGroup(insightsWorkspaceParts[2], insightsWorkspaceParts[4])
  params: {
    workspaceName: last(insightsWorkspaceParts)
    identityPrincipalId: identity.outputs.principalId
  }
}

// ---- communications: Slack Web API, Teams, Jira, Statuspage (README, Communications) -----------
// Declared here, after the lines README.md's tables point at, so that their line numbers hold.

@description('SLACK_BOT_TOKEN: Slack bot token (scope chat:write) for the Web API: threaded updates in SLACK_CHANNEL, used instead of SLACK_WEBHOOK_URL. Set it with slackChannel. Written to Key Vault when non-empty.')
@secure()
param slackBotToken string = ''

@description('SLACK_CHANNEL: channel the Slack Web API posts to (its id, or a name the bot is in). Set it with slackBotToken. Empty: the webhook, if any.')
param slackChannel string = ''

@description('SLACK_API_URL: Slack Web API base URL.')
param slackApiUrl string = 'https://slack.com/api'

@description('TEAMS_WEBHOOK_URL: Microsoft Teams Workflows webhook (its URL carries the flow\'s signature). Written to Key Vault when non-empty. Empty: no Teams messages.')
@secure()
param teamsWebhookUrl string = ''

@description('JIRA_ISSUE_TYPE: Jira issue type of incident tickets.')
param jiraIssueType string = 'Task'

@description('JIRA_DONE_TRANSITION: name of the Jira transition applied when an incident resolves.')
param jiraDoneTransition string = 'Done'

@description('STATUSPAGE_COMPONENTS: JSON object of core role (api, postgres, redis) to Statuspage component id, e.g. {"api": "<component id>"}. Empty: no component status is set.')
param statuspageComponents string = ''

// ---- outputs (azd stores them in the environment) ---------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.hostUrl
output AZURE_IDENTITY_ID string = identity.outputs.id
output AZURE_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_ACTION_GROUP_ID string = actionGroup.outputs.id
// For the postprovision hook (infra/assign_roles.py): what modules/role-assignments.bicep needs.
output AZURE_RESOURCE_TOKEN string = resourceToken
output IR_ROLE_API string = roleNames.api
output IR_ROLE_API_ENVIRONMENT string = roleNames.apiEnvironment
output IR_ROLE_POSTGRES string = roleNames.postgres
output IR_ROLE_REDIS string = roleNames.redis
output IR_ROLE_APP_OPERATIONS string = roleNames.appOperations
output IR_ROLE_POSTGRES_OPERATIONS string = roleNames.postgresOperations
output IR_ALERTS_SUBSCRIPTIONS string = join(alertSubscriptions, ',')
