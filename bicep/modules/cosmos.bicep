// Cosmos DB for NoSQL, serverless, keys off: one database and one container per document
// collection of the app. Every document is stored as {"id", "pk", "body"}, so every container
// is partitioned on /pk.

param location string

param accountName string

@description('Database name (VISIOBOOK_COSMOS_DATABASE).')
param databaseName string

@description('Container names; each is partitioned on /pk.')
param containerNames array

@description('Top-level body fields the app orders queries by; each gets a composite index (/body/FIELD, /id) in both directions in every container, which Cosmos DB needs to order by two properties.')
param orderedFields array

@description('Default time to live (seconds) per container name; containers not named here keep documents until the app deletes them.')
param containerTtls object

@description('Principals granted the built-in Cosmos DB Data Contributor role on the database (data plane).')
param dataContributorPrincipalIds array

param tags object

// The app's ordered queries sort by "ORDER BY c.body.FIELD DIR, c.id DIR". Cosmos DB serves the
// reverse of a composite index too, so the descending ones are only for emulators, which do
// not; they cost a little on each write and keep the tests and the estate alike.
var ascendingIndexes = [for field in orderedFields: [
  {
    path: '/body/${field}'
    order: 'ascending'
  }
  {
    path: '/id'
    order: 'ascending'
  }
]]
var descendingIndexes = [for field in orderedFields: [
  {
    path: '/body/${field}'
    order: 'descending'
  }
  {
    path: '/id'
    order: 'descending'
  }
]]

// Built-in data-plane role "Cosmos DB Built-in Data Contributor".
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  // checkov:skip=CKV_AZURE_99:No virtual network yet: the Function App and AKS reach Cosmos DB over its public endpoint. Keys are disabled (disableLocalAuth), so only Entra ID principals with a data-plane role assignment can read or write.
  // checkov:skip=CKV_AZURE_101:Same as CKV_AZURE_99: public network access stays on until private endpoints exist; key-based auth is off.
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for name in containerNames: {
  parent: database
  name: name
  properties: {
    resource: union({
      id: name
      partitionKey: {
        paths: [
          '/pk'
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        compositeIndexes: concat(ascendingIndexes, descendingIndexes)
      }
    }, contains(containerTtls, name) ? {
      defaultTtl: containerTtls[name]
    } : {})
  }
}]

resource dataContributors 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [for principalId in dataContributorPrincipalIds: {
  parent: account
  name: guid(database.id, principalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: principalId
    scope: '${account.id}/dbs/${databaseName}'
  }
}]

output endpoint string = account.properties.documentEndpoint
output accountName string = account.name
output databaseName string = database.name
