// Visiobook on Azure: the Function App (Flex Consumption, custom handler) behind API
// Management, Cosmos DB serverless, Service Bus, Storage, Key Vault, Container Registry, AKS
// with KEDA and a GPU pool, and monitoring. Deploy into a resource group:
//   az deployment group create -g RG -f bicep/main.bicep -p bicep/parameters/dev.bicepparam
// Every data-plane connection is identity-based; no account key or connection string with a
// secret is created or read.

targetScope = 'resourceGroup'

@allowed([
  'dev'
  'staging'
  'production'
])
param environmentName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Lower-case letters only; starts every resource name.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'visiobook'

@allowed([
  'Consumption'
  'Developer'
  'Basic'
  'Standard'
  'Premium'
])
param apimSku string

param apimPublisherEmail string

param apimPublisherName string = 'Visiobook'

@description('Calls each counter (caller IP; subscription on Consumption) may make per period.')
param rateLimitCalls int = 300

@description('Rate-limit period, seconds.')
param rateLimitPeriodSeconds int = 60

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param storageSku string = 'Standard_GZRS'

@description('Days deleted blobs and containers stay recoverable.')
param blobDeleteRetentionDays int = 7

@description('Days the Log Analytics workspace keeps data.')
param workspaceRetentionDays int = 30

@description('Days the app keeps its stored log records (VISIOBOOK_LOG_RETENTION_DAYS); the logs container expires documents one day later as a backstop.')
@minValue(1)
param appLogRetentionDays int = 30

@description('See modules/monitoring.bicep: on only once the app exports telemetry with Entra ID.')
param appInsightsDisableLocalAuth bool = false

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param acrSku string = 'Standard'

@allowed([
  'Free'
  'Standard'
])
param aksTier string = 'Free'

@description('AKS node OS disks are ephemeral: each pool VM size needs a local disk that holds its OS disk size below.')
param aksSystemVmSize string = 'Standard_D2ds_v5'

param aksSystemOsDiskSizeGB int = 64

param aksSystemMinCount int = 1

param aksSystemMaxCount int = 3

param aksCpuVmSize string = 'Standard_D4ds_v5'

param aksCpuOsDiskSizeGB int = 128

param aksCpuMaxCount int = 5

param aksGpuVmSize string = 'Standard_NC4as_T4_v3'

param aksGpuOsDiskSizeGB int = 128

param aksGpuMaxCount int = 2

@description('CIDRs allowed to reach the AKS API server; empty for any.')
param aksAuthorizedIpRanges array = []

param functionMaximumInstanceCount int = 100

param functionInstanceMemoryMB int = 2048

// ---------------------------------------------------------------------------------------------
// Facts the code relies on. Each list is declared once here; scripts/check-bicep compares them
// with the function bindings that `visiobook package` writes and with the container names in
// the code.

// Service Bus queues: one per pipeline stage, then the notification deliveries.
var pipelineQueues = [
  'ingestion'
  'analysis'
  'generation'
  'assembly'
  'notifications'
]

// The stages AKS runs as KEDA ScaledJobs (aks/), scaled on their queue's length: every stage,
// since OCR in ingestion needs tools the Function App's plan lacks.
var kedaScaledQueues = [
  'ingestion'
  'analysis'
  'generation'
  'assembly'
]

// The code renews message locks while a stage runs, so one minute is enough.
var queueLockDuration = 'PT1M'

var queueMaxDeliveryCount = 5

// Messages carry deterministic ids; a repeat within this window is dropped.
var queueDuplicateDetectionWindow = 'PT10M'

var queueMessageTimeToLive = 'P14D'

var cosmosDatabaseName = 'visiobook'

// Cosmos DB containers, every one partitioned on /pk.
var cosmosContainers = [
  'alerts'
  'analytics-daily'
  'analytics-events'
  'analytics-hourly'
  'analytics-state'
  'assembly-options'
  'audit'
  'billing-accounts'
  'billing-history'
  'books'
  'config'
  'config-versions'
  'files'
  'log-days'
  'login-throttle'
  'logs'
  'notification-deliveries'
  'notification-keys'
  'notifications'
  'overrides'
  'owned-books'
  'payments'
  'project-versions'
  'projects'
  'sessions'
  'stripe-events'
  'stripe-subscriptions'
  'subscriptions'
  'usage'
  'user-emails'
  'users'
  'webhooks'
]

// Top-level body fields the code orders queries by (order_by literals and ORDERED_FIELDS
// constants; scripts/check-bicep compares them): each needs a composite index with /id.
var cosmosOrderedFields = [
  'at'
  'created_at'
  'id'
  'name'
  'seq'
  'updated_at'
  'version'
]

// The app's retention timer deletes old log records; the TTL only backs it up.
var cosmosContainerTtls = {
  logs: (appLogRetentionDays + 1) * 86400
}

var blobContainerName = 'visiobook'

var deploymentContainerName = 'app-package'

// The jobs' service account is federated in this namespace and in visiobook-<environment>,
// the namespace the aks/ overlays use.
var jobsNamespace = 'visiobook'

var jobsServiceAccount = 'visiobook-jobs'

// ---------------------------------------------------------------------------------------------
// Names

var envShort = environmentName == 'production' ? 'prd' : (environmentName == 'staging' ? 'stg' : 'dev')
var suffix = take(uniqueString(subscription().id, resourceGroup().id, namePrefix, environmentName), 6)
var baseName = '${namePrefix}-${envShort}'
var apimName = 'apim-${baseName}-${suffix}'
var tags = {
  application: 'visiobook'
  environment: environmentName
}

// ---------------------------------------------------------------------------------------------
// Identities: the Function App, the AKS jobs, and the KEDA operator (which only reads queue
// lengths).

resource functionIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-func'
  location: location
  tags: tags
}

resource jobsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-jobs'
  location: location
  tags: tags
}

resource kedaIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-keda'
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: 'log-${baseName}-${suffix}'
    appInsightsName: 'appi-${baseName}-${suffix}'
    retentionInDays: workspaceRetentionDays
    disableLocalAuth: appInsightsDisableLocalAuth
    metricsPublisherPrincipalIds: [
      functionIdentity.properties.principalId
      jobsIdentity.properties.principalId
    ]
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    accountName: take('st${namePrefix}${envShort}${suffix}', 24)
    skuName: storageSku
    artifactsContainerName: blobContainerName
    deploymentContainerName: deploymentContainerName
    deleteRetentionDays: blobDeleteRetentionDays
    functionPrincipalId: functionIdentity.properties.principalId
    jobsPrincipalId: jobsIdentity.properties.principalId
    tags: tags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    location: location
    accountName: 'cosmos-${baseName}-${suffix}'
    databaseName: cosmosDatabaseName
    containerNames: cosmosContainers
    containerTtls: cosmosContainerTtls
    orderedFields: cosmosOrderedFields
    dataContributorPrincipalIds: [
      functionIdentity.properties.principalId
      jobsIdentity.properties.principalId
    ]
    tags: tags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    namespaceName: 'sb-${baseName}-${suffix}'
    queueNames: pipelineQueues
    lockDuration: queueLockDuration
    maxDeliveryCount: queueMaxDeliveryCount
    duplicateDetectionWindow: queueDuplicateDetectionWindow
    messageTimeToLive: queueMessageTimeToLive
    senderReceiverPrincipalIds: [
      functionIdentity.properties.principalId
      jobsIdentity.properties.principalId
    ]
    scaledQueueNames: kedaScaledQueues
    kedaPrincipalId: kedaIdentity.properties.principalId
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    vaultName: take('kv${namePrefix}${envShort}${suffix}', 24)
    secretsUserPrincipalIds: [
      functionIdentity.properties.principalId
    ]
    workspaceId: monitoring.outputs.workspaceId
    tags: tags
  }
}

module aks 'modules/aks.bicep' = {
  name: 'aks'
  params: {
    location: location
    clusterName: 'aks-${baseName}'
    tier: aksTier
    systemVmSize: aksSystemVmSize
    systemOsDiskSizeGB: aksSystemOsDiskSizeGB
    systemMinCount: aksSystemMinCount
    systemMaxCount: aksSystemMaxCount
    cpuVmSize: aksCpuVmSize
    cpuOsDiskSizeGB: aksCpuOsDiskSizeGB
    cpuMaxCount: aksCpuMaxCount
    gpuVmSize: aksGpuVmSize
    gpuOsDiskSizeGB: aksGpuOsDiskSizeGB
    gpuMaxCount: aksGpuMaxCount
    authorizedIpRanges: aksAuthorizedIpRanges
    workspaceId: monitoring.outputs.workspaceId
    jobsIdentityName: jobsIdentity.name
    kedaIdentityName: kedaIdentity.name
    jobsNamespace: jobsNamespace
    jobsEnvironmentNamespace: '${jobsNamespace}-${environmentName}'
    jobsServiceAccount: jobsServiceAccount
    tags: tags
  }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: {
    location: location
    registryName: 'acr${namePrefix}${envShort}${suffix}'
    skuName: acrSku
    kubeletPrincipalId: aks.outputs.kubeletObjectId
    clusterId: aks.outputs.clusterId
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    planName: 'plan-${baseName}-${suffix}'
    siteName: 'func-${baseName}-${suffix}'
    identityId: functionIdentity.id
    identityClientId: functionIdentity.properties.clientId
    storageAccountName: storage.outputs.accountName
    blobEndpoint: storage.outputs.blobEndpoint
    artifactsContainerName: storage.outputs.artifactsContainerName
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    keyVaultUri: keyVault.outputs.vaultUri
    publicUrl: 'https://${apimName}.azure-api.net'
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    logRetentionDays: appLogRetentionDays
    tags: tags
  }
}

module apim 'modules/apim.bicep' = {
  name: 'apim'
  params: {
    location: location
    serviceName: apimName
    skuName: apimSku
    publisherEmail: apimPublisherEmail
    publisherName: apimPublisherName
    backendUrl: 'https://${functionApp.outputs.defaultHostName}/api'
    rateLimitCalls: rateLimitCalls
    rateLimitPeriodSeconds: rateLimitPeriodSeconds
    tags: tags
  }
}

// ---------------------------------------------------------------------------------------------
// What the app, the AKS manifests and the deploy scripts need.

output apiGatewayUrl string = apim.outputs.gatewayUrl
output functionAppName string = functionApp.outputs.siteName
output functionAppHostName string = functionApp.outputs.defaultHostName
output functionIdentityClientId string = functionIdentity.properties.clientId
output jobsIdentityClientId string = jobsIdentity.properties.clientId
output kedaIdentityClientId string = kedaIdentity.properties.clientId
output tenantId string = subscription().tenantId
output cosmosEndpoint string = cosmos.outputs.endpoint
output cosmosDatabase string = cosmos.outputs.databaseName
output blobEndpoint string = 'https://${storage.outputs.accountName}.blob.${environment().suffixes.storage}'
output blobContainer string = storage.outputs.artifactsContainerName
output storageAccountName string = storage.outputs.accountName
output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output serviceBusNamespaceName string = serviceBus.outputs.namespaceName
output keyVaultName string = keyVault.outputs.vaultName
output keyVaultUri string = keyVault.outputs.vaultUri
output registryLoginServer string = registry.outputs.loginServer
output aksClusterName string = aks.outputs.clusterName
output aksOidcIssuerUrl string = aks.outputs.oidcIssuerUrl
output jobsNamespace string = jobsNamespace
output jobsServiceAccount string = jobsServiceAccount
output appInsightsConnectionString string = monitoring.outputs.connectionString
