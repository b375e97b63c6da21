// Key Vault with Azure RBAC authorization, soft delete and purge protection. Secrets (the
// Stripe keys) are set by an operator after deployment and never pass through a template.

param location string

param vaultName string

@description('Principals granted Key Vault Secrets User on the vault (they read secrets, never write them).')
param secretsUserPrincipalIds array

@description('Log Analytics workspace that receives the vault audit log.')
param workspaceId string

param tags object

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:The Function App resolves its Key Vault references from Flex Consumption without VNet integration, which a firewall would block (App Service is not a trusted service for the bypass). Access is RBAC-only: one identity holds Key Vault Secrets User.
  // checkov:skip=CKV_AZURE_189:Same as CKV_AZURE_109: public network access stays on until the app has VNet integration and the vault a private endpoint.
  name: vaultName
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
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource secretsUsers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in secretsUserPrincipalIds: {
  name: guid(vault.id, principalId, secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
