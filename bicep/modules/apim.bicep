// API Management in front of the Function App: one API at /api whose wildcard operations
// forward every method of /api/* to the Function App's /api/*, rate-limited.

param location string

param serviceName string

@allowed([
  'Consumption'
  'Developer'
  'Basic'
  'Standard'
  'Premium'
])
@description('Consumption has no rate-limit-by-key, so there the limit is per subscription and the API requires a subscription key.')
param skuName string

param publisherEmail string

param publisherName string

@description('Base URL the gateway forwards to: https://<function host>/api.')
param backendUrl string

@description('Calls allowed per counter (caller IP, or subscription on Consumption) in each renewal period.')
@minValue(1)
param rateLimitCalls int

@description('Renewal period of the rate limit, in seconds.')
@minValue(1)
@maxValue(300)
param rateLimitPeriodSeconds int

param tags object

var consumption = skuName == 'Consumption'

var methods = [
  'GET'
  'POST'
  'PUT'
  'PATCH'
  'DELETE'
  'HEAD'
  'OPTIONS'
]

// Legacy protocols and ciphers off; the Consumption tier does not take these settings.
var protocolSettings = {
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10': 'false'
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11': 'false'
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Ssl30': 'false'
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10': 'false'
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11': 'false'
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30': 'false'
  'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Ciphers.TripleDes168': 'false'
}

var policyTemplate = consumption ? loadTextContent('../policies/api-by-subscription.xml') : loadTextContent('../policies/api-by-ip.xml')

resource service 'Microsoft.ApiManagement/service@2023-05-01-preview' = {
  // checkov:skip=CKV_AZURE_107:The gateway is the public entry point of the API; Consumption cannot join a virtual network and Developer would need one this estate does not have.
  // checkov:skip=CKV_AZURE_174:Same as CKV_AZURE_107: the gateway must be reachable from the internet; it rate-limits every caller.
  name: serviceName
  location: location
  tags: tags
  sku: {
    name: skuName
    capacity: consumption ? 0 : 1
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
    publicNetworkAccess: 'Enabled'
    customProperties: consumption ? {} : protocolSettings
  }
}

resource api 'Microsoft.ApiManagement/service/apis@2023-05-01-preview' = {
  parent: service
  name: 'visiobook'
  properties: {
    displayName: 'Visiobook'
    path: 'api'
    protocols: [
      'https'
    ]
    serviceUrl: backendUrl
    subscriptionRequired: consumption
    apiType: 'http'
  }
}

resource operations 'Microsoft.ApiManagement/service/apis/operations@2023-05-01-preview' = [for method in methods: {
  parent: api
  name: toLower(method)
  properties: {
    displayName: '${method} /api/*'
    method: method
    urlTemplate: '/*'
  }
}]

resource policy 'Microsoft.ApiManagement/service/apis/policies@2023-05-01-preview' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: replace(replace(policyTemplate, '__CALLS__', string(rateLimitCalls)), '__PERIOD__', string(rateLimitPeriodSeconds))
  }
}

output gatewayUrl string = service.properties.gatewayUrl
output serviceName string = service.name
