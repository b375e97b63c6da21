// Development: the cheapest tiers. API Management on Consumption limits calls per subscription
// key (the tier has no rate-limit-by-key); staging and production limit per caller IP.
using '../main.bicep'

param environmentName = 'dev'
param apimSku = 'Consumption'
param apimPublisherEmail = 'platform@visiobook.example'
param rateLimitCalls = 300
param rateLimitPeriodSeconds = 60
param storageSku = 'Standard_LRS'
param blobDeleteRetentionDays = 7
param workspaceRetentionDays = 30
param appLogRetentionDays = 14
param acrSku = 'Basic'
param aksTier = 'Free'
param aksSystemVmSize = 'Standard_D2ds_v5'
param aksSystemMinCount = 1
param aksSystemMaxCount = 2
param aksCpuMaxCount = 2
param aksGpuMaxCount = 1
param functionMaximumInstanceCount = 40
param functionInstanceMemoryMB = 2048
