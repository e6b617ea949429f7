// The alert rules the runbook implies, all notifying the incident-response action group. Each rule
// carries customProperties (webhook properties) in the vocabulary the classifier reads: impact
// (core|degraded|minor), scope (all|some|one), optional severity (SEV-1..SEV-4), category and
// tenants. Metric names are the Azure Monitor names for each resource type.

@description('Prefix of every alert rule name.')
param namePrefix string

@description('Tags applied to the alert rules.')
param tags object = {}

@description('Resource id of the incident-response action group; its webhook gets the custom properties.')
param actionGroupId string

@description('Existing action groups that also receive every rule (without custom properties).')
param additionalActionGroupIds array = []

@description('ARM id of the API container app. Empty: no API rules.')
param apiContainerAppId string = ''

@description('ARM id of the PostgreSQL flexible server. Empty: no database rules.')
param postgresServerId string = ''

@description('ARM id of the Azure Cache for Redis. Empty: no cache rules.')
param redisCacheId string = ''

@description('Comma-separated tenant ids added as the tenants custom property. Empty: not added.')
param alertTenants string = ''

@description('API: 5xx responses in 5 minutes above which the Sev1 rule fires.')
@minValue(1)
param api5xxThreshold int = 25

@description('API: average response time in milliseconds above which the Sev2 rule fires (runbook: slow response > 5 s).')
@minValue(1)
param apiResponseTimeMs int = 5000

@description('ARM id of the Log Analytics workspace that receives the system logs of the API\'s Container Apps environment (its appLogsConfiguration, or its diagnostic setting). Empty: no replica-restart rule.')
param apiLogsWorkspaceId string = ''

@description('Table of those system logs: ContainerAppSystemLogs_CL when the environment sends logs to Log Analytics directly, ContainerAppSystemLogs when it sends them through Azure Monitor diagnostic settings.')
@allowed([
  'ContainerAppSystemLogs_CL'
  'ContainerAppSystemLogs'
])
param apiSystemLogsTable string = 'ContainerAppSystemLogs_CL'

@description('API: restart and crash events of its replicas in 15 minutes above which the rule fires.')
@minValue(1)
param apiRestartEventsThreshold int = 3

@description('Azure region of the log search alert rule (log alerts are regional; the workspace\'s region is the safe choice).')
param logAlertLocation string = resourceGroup().location

@description('PostgreSQL: failed connections in 5 minutes above which the rule fires.')
@minValue(1)
param postgresFailedConnectionsThreshold int = 10

@description('Redis: server load percent above which the rule fires.')
@minValue(1)
@maxValue(100)
param redisServerLoadPercent int = 90

var tenantProps = empty(alertTenants) ? {} : {
  tenants: alertTenants
}
var extraActions = [for groupId in additionalActionGroupIds: {
  actionGroupId: groupId
}]

var metricRules = [
  {
    key: 'api-5xx'
    targetId: apiContainerAppId
    description: 'API answers 5xx: more than ${api5xxThreshold} in 5 minutes. Runbook playbook: API unresponsive.'
    severity: 1
    windowSize: 'PT5M'
    criterion: {
      criterionType: 'StaticThresholdCriterion'
      name: 'Http5xx'
      metricNamespace: 'Microsoft.App/containerApps'
      metricName: 'Requests'
      dimensions: [
        {
          name: 'statusCodeCategory'
          operator: 'Include'
          values: [
            '5xx'
          ]
        }
      ]
      operator: 'GreaterThan'
      threshold: api5xxThreshold
      timeAggregation: 'Total'
    }
    properties: {
      impact: 'core'
      scope: 'all'
      category: 'api'
    }
  }
  {
    key: 'api-response-time'
    targetId: apiContainerAppId
    description: 'API average response time over ${apiResponseTimeMs} ms for 5 minutes. Runbook: slow response (> 5 s) is SEV-2.'
    severity: 2
    windowSize: 'PT5M'
    criterion: {
      criterionType: 'StaticThresholdCriterion'
      name: 'SlowResponses'
      metricNamespace: 'Microsoft.App/containerApps'
      metricName: 'ResponseTime'
      dimensions: []
      operator: 'GreaterThan'
      threshold: apiResponseTimeMs
      timeAggregation: 'Average'
    }
    properties: {
      impact: 'degraded'
      scope: 'all'
      category: 'api'
    }
  }
  {
    key: 'postgres-down'
    targetId: postgresServerId
    description: 'PostgreSQL is not alive (is_db_alive below 1 for 5 minutes). Runbook: database down is SEV-1; playbook: database connection failures.'
    severity: 0
    windowSize: 'PT5M'
    criterion: {
      criterionType: 'StaticThresholdCriterion'
      name: 'DatabaseNotAlive'
      metricNamespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
      metricName: 'is_db_alive'
      dimensions: []
      operator: 'LessThan'
      threshold: 1
      timeAggregation: 'Maximum'
    }
    properties: {
      impact: 'core'
      scope: 'all'
      severity: 'SEV-1'
      category: 'database'
    }
  }
  {
    key: 'postgres-connection-failures'
    targetId: postgresServerId
    description: 'PostgreSQL refuses connections: more than ${postgresFailedConnectionsThreshold} failed in 5 minutes. Runbook playbook: database connection failures.'
    severity: 1
    windowSize: 'PT5M'
    criterion: {
      criterionType: 'StaticThresholdCriterion'
      name: 'FailedConnections'
      metricNamespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
      metricName: 'connections_failed'
      dimensions: []
      operator: 'GreaterThan'
      threshold: postgresFailedConnectionsThreshold
      timeAggregation: 'Total'
    }
    properties: {
      impact: 'degraded'
      scope: 'all'
      category: 'database'
    }
  }
  {
    key: 'redis-server-load'
    targetId: redisCacheId
    description: 'Redis server load above ${redisServerLoadPercent}%. Runbook playbook: Redis failure.'
    severity: 2
    windowSize: 'PT5M'
    criterion: {
      criterionType: 'StaticThresholdCriterion'
      name: 'ServerLoad'
      metricNamespace: 'Microsoft.Cache/redis'
      metricName: 'serverLoad'
      dimensions: []
      operator: 'GreaterThan'
      threshold: redisServerLoadPercent
      timeAggregation: 'Maximum'
    }
    properties: {
      impact: 'degraded'
      scope: 'some'
      category: 'cache'
    }
  }
  {
    key: 'redis-errors'
    targetId: redisCacheId
    description: 'Redis failover or data loss reported by the cache. Runbook playbook: Redis failure (the app falls back to the database).'
    severity: 1
    windowSize: 'PT5M'
    criterion: {
      criterionType: 'StaticThresholdCriterion'
      name: 'FailoverOrDataloss'
      metricNamespace: 'Microsoft.Cache/redis'
      metricName: 'errors'
      dimensions: [
        {
          name: 'ErrorType'
          operator: 'Include'
          values: [
            'Failover'
            'Dataloss'
          ]
        }
      ]
      operator: 'GreaterThan'
      threshold: 0
      timeAggregation: 'Maximum'
    }
    properties: {
      impact: 'degraded'
      scope: 'all'
      category: 'cache'
    }
  }
]

resource metricAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = [for rule in metricRules: if (!empty(rule.targetId)) {
  name: '${namePrefix}-${rule.key}'
  location: 'global'
  tags: tags
  properties: {
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      rule.targetId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: rule.windowSize
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        rule.criterion
      ]
    }
    actions: concat([
      {
        actionGroupId: actionGroupId
        webHookProperties: union(rule.properties, tenantProps)
      }
    ], extraActions)
  }
}]

// API replicas restarting: a log search alert on the environment's system logs, not a metric rule.
// RestartCount (Microsoft Learn, "Supported metrics for Microsoft.App/containerApps": "Restart count
// of container app replicas") is the replica's cumulative restart counter, so any threshold on its
// Maximum stays crossed for as long as the replica lives: the alert fires once and never resolves,
// and a second crash loop on the same replica never fires again. The system logs carry one row
// per restart or crash event (Reason ContainerTerminated, BackOff, ProbeFailed, ...); counting the
// rows of the last 15 minutes rises with a crash loop and falls back to zero when it stops, so the
// rule resolves itself (autoMitigate). Columns: ContainerAppName_s / Reason_s in the
// Log-Analytics-destination table, ContainerAppName / Reason in the resource-specific one
// (Microsoft Learn, Azure Monitor Logs reference: ContainerAppSystemLogs).
var apiName = empty(apiContainerAppId) ? '' : last(split(apiContainerAppId, '/'))
var columnSuffix = apiSystemLogsTable == 'ContainerAppSystemLogs_CL' ? '_s' : ''
var restartReasons = '"ContainerTerminated", "ContainerCrashing", "ContainerRestarted", "BackOff", "CrashLoopBackOff", "OOMKilled", "ProbeFailed"'
var restartQuery = '${apiSystemLogsTable} | where ContainerAppName${columnSuffix} =~ "${apiName}" | where Reason${columnSuffix} has_any (${restartReasons})'

resource restartAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = if (!empty(apiContainerAppId) && !empty(apiLogsWorkspaceId)) {
  name: '${namePrefix}-api-replica-restarts'
  location: logAlertLocation
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix}-api-replica-restarts'
    description: 'API replicas restarting or crashing: more than ${apiRestartEventsThreshold} restart events of ${apiName} in 15 minutes. Runbook playbook: API unresponsive, steps 2-5.'
    severity: 2
    enabled: true
    scopes: [
      apiLogsWorkspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: restartQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: apiRestartEventsThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      // a log alert has one set of custom properties for all its action groups
      actionGroups: concat([
        actionGroupId
      ], additionalActionGroupIds)
      customProperties: union({
        impact: 'degraded'
        scope: 'some'
        category: 'api'
      }, tenantProps)
    }
  }
}

// Resource Health (activity log) of the API, the database and the cache: one rule per resource, sending
// every transition to Available, Degraded or Unavailable (anyOf on properties.currentHealthStatus, as in
// Microsoft Learn "Create and configure Resource Health alerts", section "Adjusting the Resource Health
// alerts to avoid Unknown events"; each anyOf holds one field, as that article requires:
// https://learn.microsoft.com/azure/service-health/resource-health-alert-arm-template-guide).
// Activity-log alerts are stateless: they only ever arrive Fired, never Resolved, so the Available event
// is the only word that a resource is back. A rule per status (Unavailable, Degraded) dropped it, and
// would have sent it under another rule than the one that opened the incident. The app classifies each
// event by its currentHealthStatus (Unavailable core, Degraded degraded; runbook.toml may say otherwise)
// and keys it on the resource, so an Available event resolves what that resource's Unavailable or
// Degraded event opened. The webhook properties therefore carry no impact or scope: they would apply to
// every status. Unknown (and events without a status, such as some Updated ones) stay out: they say
// nothing new.
var healthRules = [
  {
    key: 'api-health'
    targetId: apiContainerAppId
    properties: {
      category: 'api'
    }
  }
  {
    key: 'postgres-health'
    targetId: postgresServerId
    properties: {
      category: 'database'
    }
  }
  {
    key: 'redis-health'
    targetId: redisCacheId
    properties: {
      category: 'cache'
    }
  }
]

resource healthAlerts 'Microsoft.Insights/activityLogAlerts@2020-10-01' = [for rule in healthRules: if (!empty(rule.targetId)) {
  name: '${namePrefix}-${rule.key}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Resource Health of ${last(split(rule.targetId, '/'))}: every change to Available, Degraded or Unavailable (Available resolves the incident).'
    enabled: true
    scopes: [
      rule.targetId
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ResourceHealth'
        }
        {
          field: 'resourceId'
          equals: rule.targetId
        }
        {
          anyOf: [
            {
              field: 'properties.currentHealthStatus'
              equals: 'Available'
            }
            {
              field: 'properties.currentHealthStatus'
              equals: 'Degraded'
            }
            {
              field: 'properties.currentHealthStatus'
              equals: 'Unavailable'
            }
          ]
        }
      ]
    }
    actions: {
      actionGroups: concat([
        {
          actionGroupId: actionGroupId
          webhookProperties: union(rule.properties, tenantProps)
        }
      ], extraActions)
    }
  }
}]

output metricRuleKeys array = [for rule in metricRules: rule.key]
output logRuleKeys array = [
  'api-replica-restarts'
]
output healthRuleKeys array = [for rule in healthRules: rule.key]
