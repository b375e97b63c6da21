// Container registry for the job image. No admin user: AKS pulls with its kubelet identity.

param location string

param registryName string

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param skuName string

@description('Object id of the AKS kubelet identity, granted AcrPull.')
param kubeletPrincipalId string

@description('Resource id of the cluster, to name the role assignment deterministically.')
param clusterId string

param tags object

var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139:AKS pulls over the public endpoint (no virtual network yet; private endpoints need Premium). Admin user and anonymous pull are off: only the kubelet identity (AcrPull) and pushers with a role get in.
  // checkov:skip=CKV_AZURE_163:Image scanning comes from Microsoft Defender for Containers, enabled per subscription, not from this resource; the SKU is a parameter (Basic dev, Standard staging, Premium production).
  // checkov:skip=CKV_AZURE_166:Quarantine needs a scanner that releases images (a Premium preview feature); images are built and pushed by CI only.
  name: registryName
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    zoneRedundancy: skuName == 'Premium' ? 'Enabled' : 'Disabled'
  }
}

resource kubeletPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, clusterId, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: kubeletPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output registryName string = registry.name
output loginServer string = registry.properties.loginServer
