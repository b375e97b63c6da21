// AKS for the heavy pipeline stages: a system pool for add-ons only, a CPU pool and a tainted
// GPU pool for the KEDA ScaledJobs (both autoscaling from zero), the KEDA add-on, workload
// identity with the OIDC issuer, Entra ID authentication with Azure RBAC and no local accounts.
// The jobs' and the KEDA operator's service accounts get federated credentials here.
// Every pool encrypts at host: the subscription needs the Microsoft.Compute/EncryptionAtHost
// feature registered once (az feature register --namespace Microsoft.Compute --name EncryptionAtHost).

param location string

param clusterName string

@allowed([
  'Free'
  'Standard'
])
@description('Free has no uptime SLA; Standard does.')
param tier string

@description('System pool VM size; its local (temp or cache) disk must hold systemOsDiskSizeGB, the OS disks being ephemeral.')
param systemVmSize string

@description('Ephemeral OS disk size of the system pool (75 GiB fit a Standard_D2ds_v5).')
param systemOsDiskSizeGB int

@minValue(1)
param systemMinCount int

@minValue(1)
param systemMaxCount int

param cpuVmSize string

param cpuOsDiskSizeGB int

@minValue(1)
param cpuMaxCount int

@description('GPU VM size for the generation jobs (an NVIDIA SKU; AKS installs the driver).')
param gpuVmSize string

@description('Ephemeral OS disk of the GPU nodes; CUDA images are large.')
param gpuOsDiskSizeGB int

@minValue(1)
param gpuMaxCount int

@description('CIDRs allowed to reach the API server; empty leaves it open to the internet (Entra ID still authenticates every call).')
param authorizedIpRanges array

@description('Log Analytics workspace for Container Insights and the control-plane audit log.')
param workspaceId string

@description('Name of the user-assigned identity the jobs run as.')
param jobsIdentityName string

@description('Name of the user-assigned identity the KEDA operator authenticates to Service Bus with.')
param kedaIdentityName string

@description('Kubernetes namespace of the jobs.')
param jobsNamespace string

@description('A second namespace the jobs may run in: the aks/ overlays deploy to visiobook-<environment>.')
param jobsEnvironmentNamespace string

@description('Kubernetes service account of the jobs.')
param jobsServiceAccount string

param tags object

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' = {
  // checkov:skip=CKV_AZURE_8:The Kubernetes dashboard add-on no longer exists (removed with Kubernetes 1.19); there is nothing to disable.
  // checkov:skip=CKV_AZURE_172:Rotation is on (enableSecretRotation: 'true'); the API takes add-on config values as strings while the check expects a boolean.
  name: clusterName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  sku: {
    name: 'Base'
    tier: tier
  }
  properties: {
    dnsPrefix: clusterName
    enableRBAC: true
    disableLocalAccounts: true
    aadProfile: {
      managed: true
      enableAzureRBAC: true
      tenantID: subscription().tenantId
    }
    oidcIssuerProfile: {
      enabled: true
    }
    securityProfile: {
      workloadIdentity: {
        enabled: true
      }
      imageCleaner: {
        enabled: true
        intervalHours: 168
      }
    }
    workloadAutoScalerProfile: {
      keda: {
        enabled: true
      }
    }
    autoUpgradeProfile: {
      upgradeChannel: 'patch'
      nodeOSUpgradeChannel: 'NodeImage'
    }
    apiServerAccessProfile: {
      authorizedIPRanges: authorizedIpRanges
    }
    networkProfile: {
      networkPlugin: 'azure'
      networkPluginMode: 'overlay'
      networkDataplane: 'cilium'
      networkPolicy: 'cilium'
      loadBalancerSku: 'standard'
      outboundType: 'loadBalancer'
    }
    addonProfiles: {
      omsagent: {
        enabled: true
        config: {
          logAnalyticsWorkspaceResourceID: workspaceId
          useAADAuth: 'true'
        }
      }
      azurepolicy: {
        enabled: true
      }
      azureKeyvaultSecretsProvider: {
        enabled: true
        config: {
          enableSecretRotation: 'true'
          rotationPollInterval: '2m'
        }
      }
    }
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        vmSize: systemVmSize
        osType: 'Linux'
        osSKU: 'AzureLinux'
        type: 'VirtualMachineScaleSets'
        count: systemMinCount
        enableAutoScaling: true
        minCount: systemMinCount
        maxCount: systemMaxCount
        maxPods: 110
        osDiskType: 'Ephemeral'
        osDiskSizeGB: systemOsDiskSizeGB
        enableEncryptionAtHost: true
        nodeTaints: [
          'CriticalAddonsOnly=true:NoSchedule'
        ]
      }
      {
        name: 'cpu'
        mode: 'User'
        vmSize: cpuVmSize
        osType: 'Linux'
        osSKU: 'AzureLinux'
        type: 'VirtualMachineScaleSets'
        count: 0
        enableAutoScaling: true
        minCount: 0
        maxCount: cpuMaxCount
        maxPods: 110
        osDiskType: 'Ephemeral'
        osDiskSizeGB: cpuOsDiskSizeGB
        enableEncryptionAtHost: true
        nodeLabels: {
          'visiobook.io/pool': 'cpu'
        }
      }
      {
        name: 'gpu'
        mode: 'User'
        vmSize: gpuVmSize
        osType: 'Linux'
        osSKU: 'Ubuntu'
        type: 'VirtualMachineScaleSets'
        count: 0
        enableAutoScaling: true
        minCount: 0
        maxCount: gpuMaxCount
        maxPods: 110
        osDiskType: 'Ephemeral'
        osDiskSizeGB: gpuOsDiskSizeGB
        enableEncryptionAtHost: true
        nodeTaints: [
          'sku=gpu:NoSchedule'
        ]
        nodeLabels: {
          'visiobook.io/pool': 'gpu'
        }
      }
    ]
  }
}

// Container Insights with managed-identity auth (useAADAuth) reads what to collect from a data
// collection rule associated with the cluster.
resource containerInsightsRule 'Microsoft.Insights/dataCollectionRules@2022-06-01' = {
  name: 'MSCI-${location}-${clusterName}'
  location: location
  tags: tags
  kind: 'Linux'
  properties: {
    dataSources: {
      extensions: [
        {
          name: 'ContainerInsightsExtension'
          extensionName: 'ContainerInsights'
          streams: [
            'Microsoft-ContainerInsights-Group-Default'
          ]
          extensionSettings: {
            dataCollectionSettings: {
              interval: '1m'
              namespaceFilteringMode: 'Off'
              enableContainerLogV2: true
            }
          }
        }
      ]
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspaceId
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          'Microsoft-ContainerInsights-Group-Default'
        ]
        destinations: [
          'workspace'
        ]
      }
    ]
  }
}

resource containerInsightsAssociation 'Microsoft.Insights/dataCollectionRuleAssociations@2022-06-01' = {
  name: 'ContainerInsightsExtension'
  scope: cluster
  properties: {
    dataCollectionRuleId: containerInsightsRule.id
  }
}

resource controlPlaneLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'control-plane-to-log-analytics'
  scope: cluster
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'kube-audit-admin'
        enabled: true
      }
      {
        category: 'guard'
        enabled: true
      }
    ]
  }
}

resource jobsIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: jobsIdentityName
}

resource kedaIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: kedaIdentityName
}

resource jobsFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: jobsIdentity
  name: 'aks-${jobsNamespace}-${jobsServiceAccount}'
  properties: {
    issuer: cluster.properties.oidcIssuerProfile.issuerURL
    subject: 'system:serviceaccount:${jobsNamespace}:${jobsServiceAccount}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

// Writes of federated credentials to one identity must not overlap, hence the dependsOn.
resource jobsEnvironmentFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: jobsIdentity
  name: 'aks-${jobsEnvironmentNamespace}-${jobsServiceAccount}'
  properties: {
    issuer: cluster.properties.oidcIssuerProfile.issuerURL
    subject: 'system:serviceaccount:${jobsEnvironmentNamespace}:${jobsServiceAccount}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
  dependsOn: [
    jobsFederation
  ]
}

// The KEDA add-on runs as kube-system/keda-operator; a TriggerAuthentication with the
// azure-workload provider and this identity's client id lets it read queue lengths.
resource kedaFederation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = {
  parent: kedaIdentity
  name: 'aks-kube-system-keda-operator'
  properties: {
    issuer: cluster.properties.oidcIssuerProfile.issuerURL
    subject: 'system:serviceaccount:kube-system:keda-operator'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

output clusterName string = cluster.name
output clusterId string = cluster.id
output oidcIssuerUrl string = cluster.properties.oidcIssuerProfile.issuerURL
output kubeletObjectId string = cluster.properties.identityProfile.kubeletidentity.objectId
