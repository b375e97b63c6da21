// The Function App on Flex Consumption with the custom-handler runtime (the visiobook binary
// in `serve` mode). Every connection is identity-based through one user-assigned identity; no
// key or connection string with a secret appears in its settings.

param location string

param planName string

param siteName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID and the *__clientId settings).')
param identityClientId string

param storageAccountName string

@description('Primary blob endpoint, ending with a slash.')
param blobEndpoint string

param artifactsContainerName string

param deploymentContainerName string

param appInsightsConnectionString string

@description('Service Bus namespace host name, <ns>.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

param cosmosEndpoint string

param cosmosDatabaseName string

@description('Key Vault URI, ending with a slash.')
param keyVaultUri string

@description('Public URL of the API (the API Management gateway).')
param publicUrl string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Days stored log records are kept (VISIOBOOK_LOG_RETENTION_DAYS).')
param logRetentionDays int

param tags object

// Queue-triggered functions and the code connect to Service Bus through this prefix.
var serviceBusConnection = 'ServiceBusConnection'

var appSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'VISIOBOOK_DOCUMENT_STORE'
    value: 'azure'
  }
  {
    name: 'VISIOBOOK_BLOB_STORE'
    value: 'azure'
  }
  {
    name: 'VISIOBOOK_QUEUE'
    value: 'azure'
  }
  {
    name: 'VISIOBOOK_COSMOS_ENDPOINT'
    value: cosmosEndpoint
  }
  {
    name: 'VISIOBOOK_COSMOS_DATABASE'
    value: cosmosDatabaseName
  }
  {
    name: 'VISIOBOOK_BLOB_ENDPOINT'
    value: 'https://${storageAccountName}.blob.${environment().suffixes.storage}'
  }
  {
    name: 'VISIOBOOK_BLOB_CONTAINER'
    value: artifactsContainerName
  }
  {
    name: 'VISIOBOOK_SERVICEBUS_NAMESPACE'
    value: serviceBusFullyQualifiedNamespace
  }
  {
    name: 'VISIOBOOK_TRUST_FORWARDED_FOR'
    value: 'true'
  }
  {
    name: 'VISIOBOOK_PUBLIC_URL'
    value: publicUrl
  }
  {
    name: 'STRIPE_WEBHOOK_SECRET'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/stripe-webhook-secret/)'
  }
  {
    name: 'STRIPE_API_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/stripe-api-key/)'
  }
  // The keys every instance shares (tokens, download links, envelope encryption), from
  // `visiobook export-keys` (docs/DEPLOY.md): without them each instance would make its own.
  {
    name: 'VISIOBOOK_SIGNING_KEY_PEM'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/visiobook-signing-key/)'
  }
  {
    name: 'VISIOBOOK_LINK_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/visiobook-link-key/)'
  }
  {
    name: 'VISIOBOOK_DATA_KEYS'
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/visiobook-data-keys/)'
  }
  {
    // The Function App runs no stage (they run on AKS) and has no media tools to check.
    name: 'VISIOBOOK_READY_TOOLS'
    value: 'false'
  }
  {
    name: 'VISIOBOOK_LOG_FORMAT'
    value: 'json'
  }
  {
    name: 'VISIOBOOK_STORE_LOGS'
    value: 'warn'
  }
  {
    name: 'VISIOBOOK_LOG_RETENTION_DAYS'
    value: string(logRetentionDays)
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption zone redundancy depends on the region and needs always-ready instances; the serverless plan stays single-zone for now.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:API Management (Consumption/Developer, outside any virtual network) calls the app over its public endpoint; restricting it to the gateway needs VNet integration (follow-up).
  // checkov:skip=CKV_AZURE_17:Callers authenticate with bearer tokens and Stripe signs its webhooks; neither presents a client certificate.
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales instances itself (from zero); there is no worker count to pin.
  // checkov:skip=CKV_AZURE_213:Flex Consumption has no App Service health-check eviction; the app serves /api/health and /api/ready for monitoring instead.
  name: siteName
  location: location
  tags: tags
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
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
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
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output siteName string = site.name
output defaultHostName string = site.properties.defaultHostName
output serviceBusConnectionName string = serviceBusConnection
