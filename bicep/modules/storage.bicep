// Storage account: the app's blob container (every artifact) and the Flex Consumption
// deployment container. No shared keys: every client authenticates with Entra ID.

param location string

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param accountName string

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string

@description('Container of every artifact the app writes (VISIOBOOK_BLOB_CONTAINER).')
param artifactsContainerName string

@description('Container the Flex Consumption app deploys its package from.')
param deploymentContainerName string

@description('Days deleted blobs and containers stay recoverable.')
@minValue(1)
@maxValue(365)
param deleteRetentionDays int

@description('Principal granted Storage Blob Data Owner on the account: the Function App (its host keeps leases and timers in azure-webjobs-* containers).')
param functionPrincipalId string

@description('Principal granted Storage Blob Data Contributor on the artifacts container only: the AKS jobs.')
param jobsPrincipalId string

param tags object

var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:No virtual network yet: the Function App (Flex Consumption without VNet integration) and the AKS jobs reach the account over its public endpoint. Shared keys and anonymous access are off, so only Entra ID principals holding a data role get in. Private endpoints are the follow-up.
  // checkov:skip=CKV_AZURE_59:Same as CKV_AZURE_35: the public endpoint stays reachable for the Function App and AKS; every request must carry an Entra ID token.
  // checkov:skip=CKV_AZURE_206:Replication is chosen per environment (storageSku): LRS in dev, ZRS in staging, GZRS in production; the module sees only the parameter.
  // checkov:skip=CKV_AZURE_43:The name is computed (take('st<prefix><env><uniqueString>', 24), lower-case letters and digits), which checkov cannot evaluate.
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource artifacts 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: artifactsContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deployment 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, functionPrincipalId, blobDataOwner)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwner)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource jobsBlobContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(artifacts.id, jobsPrincipalId, blobDataContributor)
  scope: artifacts
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: jobsPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output accountName string = account.name
output accountId string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output artifactsContainerName string = artifacts.name
output deploymentContainerName string = deployment.name
