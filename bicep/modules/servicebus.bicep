// Service Bus (Standard) with one queue per pipeline stage plus the notification deliveries.
// Keys off: senders and receivers authenticate with Entra ID.

param location string

param namespaceName string

@description('Queue names (VISIOBOOK_QUEUE=azure).')
param queueNames array

@description('Peek-lock duration; the code renews locks while a stage runs.')
param lockDuration string

@description('Deliveries before a message goes to the dead-letter queue.')
@minValue(1)
@maxValue(2000)
param maxDeliveryCount int

@description('Window in which a repeated message id is dropped; the code sends with deterministic message ids.')
param duplicateDetectionWindow string

@description('How long an unprocessed message lives before it is dead-lettered.')
param messageTimeToLive string

@description('Principals granted Azure Service Bus Data Sender and Data Receiver on the namespace (the Function App, the AKS jobs).')
param senderReceiverPrincipalIds array

@description('Queues the KEDA operator watches; its identity gets Azure Service Bus Data Owner on these queues only, which reading the queue length requires.')
param scaledQueueNames array

@description('Principal of the KEDA operator identity.')
param kedaPrincipalId string

param tags object

var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var dataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var dataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for name in queueNames: {
  parent: namespace
  name: name
  properties: {
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: messageTimeToLive
    requiresSession: false
    enablePartitioning: false
    enableBatchedOperations: true
    maxSizeInMegabytes: 1024
  }
}]

resource senders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in senderReceiverPrincipalIds: {
  name: guid(namespace.id, principalId, dataSender)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource receivers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in senderReceiverPrincipalIds: {
  name: guid(namespace.id, principalId, dataReceiver)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiver)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource scaledQueues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' existing = [for name in scaledQueueNames: {
  parent: namespace
  name: name
}]

resource kedaOwners 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in scaledQueueNames: {
  name: guid(namespace.id, name, kedaPrincipalId, dataOwner)
  scope: scaledQueues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataOwner)
    principalId: kedaPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    queues
  ]
}]

// Dead letters in any queue. The app's DeadLetteredMessages rule (aks/monitoring) has no data
// in Azure: the REST client cannot count messages, so Azure Monitor watches the namespace's
// metric instead (shown in the portal; attach an action group to be paged).
resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namespaceName}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A message was dead-lettered in a Visiobook queue: read it in the queue\'s dead-letter subqueue (Service Bus Explorer in the portal).'
    severity: 2
    enabled: true
    scopes: [
      namespace.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-lettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
  }
}

output namespaceName string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
