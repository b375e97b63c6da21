//! `@vercel/cosmosdb-server` for tests (feature `emulators`): starts an in-memory instance on a
//! loopback port, creates a database and containers partitioned on `/pk` as the Bicep does, and
//! connects a [`CosmosDocumentStore`] to it. The executable comes from
//! `VISIOBOOK_COSMOSDB_SERVER`, which `scripts/test` sets after installing the pinned server
//! (`scripts/lib/cosmos.sh`); it serves HTTPS with a self-signed certificate and corrects two of
//! the library's answers (`scripts/cosmos-tools/serve.cjs`).

use std::process::Command;

use azure_core::credentials::Secret;

use crate::cosmos::{CosmosAuth, CosmosConfig, CosmosDocumentStore};
use crate::emulator_process::{EmulatorProcess, executable};

/// A running emulator, stopped when dropped.
#[derive(Debug)]
pub struct CosmosEmulator {
    process: EmulatorProcess,
}

impl CosmosEmulator {
    /// Starts the emulator on a free loopback port and waits until it listens.
    pub async fn start() -> Self {
        let executable = executable(
            "VISIOBOOK_COSMOSDB_SERVER",
            "cosmosdb-server/cosmosdb-server",
        );
        let process = EmulatorProcess::start("cosmosdb-server", |port| {
            let mut command = Command::new(executable);
            command.arg(port.to_string());
            command
        })
        .await;
        Self { process }
    }

    /// `https://127.0.0.1:PORT/`.
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}/", self.process.port)
    }

    /// Creates `database` and, in it, `containers` partitioned on `/pk` with a composite index
    /// per field of `ordered_fields` in each direction, as the Bicep does (over REST: the SDK
    /// builds without its control plane, as the estate's identities have none). Like Cosmos DB,
    /// the emulator refuses an ordered query that no composite index serves.
    pub async fn create_containers(
        &self,
        database: &str,
        containers: &[&str],
        ordered_fields: &[&str],
    ) {
        let composite_indexes: Vec<serde_json::Value> = ordered_fields
            .iter()
            .flat_map(|field| {
                let path = format!("/body/{}", field.replace('.', "/"));
                ["ascending", "descending"].map(|order| {
                    serde_json::json!([
                        { "path": path, "order": order },
                        { "path": "/id", "order": order },
                    ])
                })
            })
            .collect();
        // The emulator's certificate is self-signed and expired; this client talks only to it.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("an HTTP client");
        let create = |path: String, body: serde_json::Value| {
            let request = client
                .post(format!("{}{path}", self.endpoint()))
                .json(&body);
            async move {
                let created = request.send().await.expect("cosmosdb-server answers");
                assert_eq!(created.status().as_u16(), 201, "creating {body}");
            }
        };
        create("dbs".into(), serde_json::json!({ "id": database })).await;
        for container in containers {
            create(
                format!("dbs/{database}/colls"),
                serde_json::json!({
                    "id": container,
                    "partitionKey": { "paths": ["/pk"], "kind": "Hash", "version": 2 },
                    "indexingPolicy": { "compositeIndexes": composite_indexes },
                }),
            )
            .await;
        }
    }

    /// A store on `database` (created beforehand with [`Self::create_containers`]); the key is
    /// arbitrary, as the emulator checks none.
    pub async fn store(&self, database: &str, ping_container: &str) -> CosmosDocumentStore {
        CosmosDocumentStore::connect(CosmosConfig {
            endpoint: self.endpoint(),
            database: database.to_owned(),
            auth: CosmosAuth::Key(Secret::new("ZW11bGF0b3Ita2V5")),
            ping_container: ping_container.to_owned(),
        })
        .await
        .expect("the Cosmos DB client connects to the emulator")
    }
}
