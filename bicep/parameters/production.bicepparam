// Production. API Management stays on Developer as the issue asks; Developer has no SLA, so
// moving to 'Standard' or 'Premium' (same policy, per-IP limit) is a one-line change here.
using '../main.bicep'

param environmentName = 'production'
param apimSku = 'Developer'
param apimPublisherEmail = 'platform@visiobook.example'
param rateLimitCalls = 600
param rateLimitPeriodSeconds = 60
param storageSku = 'Standard_GZRS'
param blobDeleteRetentionDays = 30
param workspaceRetentionDays = 90
param appLogRetentionDays = 30
param acrSku = 'Premium'
param aksTier = 'Standard'
param aksSystemVmSize = 'Standard_D4ds_v5'
param aksSystemMinCount = 2
param aksSystemMaxCount = 5
param aksCpuMaxCount = 10
param aksGpuMaxCount = 4
param aksAuthorizedIpRanges = []
param functionMaximumInstanceCount = 200
param functionInstanceMemoryMB = 2048
