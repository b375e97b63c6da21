// Staging: production's shape at a smaller scale; API Management on Developer (no SLA) so the
// per-IP rate limit is exercised before production.
using '../main.bicep'

param environmentName = 'staging'
param apimSku = 'Developer'
param apimPublisherEmail = 'platform@visiobook.example'
param rateLimitCalls = 300
param rateLimitPeriodSeconds = 60
param storageSku = 'Standard_ZRS'
param blobDeleteRetentionDays = 14
param workspaceRetentionDays = 30
param appLogRetentionDays = 30
param acrSku = 'Standard'
param aksTier = 'Free'
param aksSystemVmSize = 'Standard_D2ds_v5'
param aksSystemMinCount = 1
param aksSystemMaxCount = 3
param aksCpuMaxCount = 4
param aksGpuMaxCount = 2
param functionMaximumInstanceCount = 100
param functionInstanceMemoryMB = 2048
