//! Azurite for tests (feature `emulators`): starts an in-memory instance on loopback, creates a
//! container with an account SAS, and hands out a container SAS URL, both signed with Azurite's
//! published development key (the SDK has no shared-key auth, so a SAS is how it reaches the
//! emulator). The executable comes from `VISIOBOOK_AZURITE_BLOB`, which `scripts/test` sets
//! after installing the pinned Azurite.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::emulator_process::{EmulatorProcess, executable};

/// Azurite's development account and its published key (Azurite's documentation).
pub const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const SAS_VERSION: &str = "2021-08-06";
const EXPIRY: &str = "2099-01-01T00:00:00Z";

/// A running emulator, stopped when dropped.
#[derive(Debug)]
pub struct Azurite {
    process: EmulatorProcess,
    _dir: tempfile::TempDir,
}

fn sign(string_to_sign: &str) -> String {
    let key = STANDARD.decode(KEY).expect("the published key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    STANDARD
        .encode(mac.finalize().into_bytes())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// An account SAS that may create containers.
fn account_sas() -> String {
    let (permissions, services, types) = ("rwdlac", "b", "sco");
    let to_sign = format!(
        "{ACCOUNT}\n{permissions}\n{services}\n{types}\n\n{EXPIRY}\n\nhttp,https\n{SAS_VERSION}\n\n"
    );
    format!(
        "sv={SAS_VERSION}&ss={services}&srt={types}&sp={permissions}&se={EXPIRY}&spr=http,https&sig={}",
        sign(&to_sign)
    )
}

/// A service SAS over one container: read, add, create, write, delete, list.
pub fn container_sas(container: &str) -> String {
    let permissions = "racwdl";
    let resource = format!("/blob/{ACCOUNT}/{container}");
    let to_sign = format!(
        "{permissions}\n\n{EXPIRY}\n{resource}\n\n\nhttp,https\n{SAS_VERSION}\nc\n\n\n\n\n\n\n"
    );
    format!(
        "sv={SAS_VERSION}&sr=c&sp={permissions}&se={EXPIRY}&spr=http,https&sig={}",
        sign(&to_sign)
    )
}

impl Azurite {
    /// Starts Azurite on a free loopback port and waits until it listens.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let executable = executable("VISIOBOOK_AZURITE_BLOB", "azurite/azurite-blob");
        // In memory, so the working directory only catches what it writes besides.
        let process = EmulatorProcess::start("Azurite", |port| {
            let mut command = Command::new(executable);
            command
                .args(["--blobHost", "127.0.0.1", "--blobPort"])
                .arg(port.to_string())
                .args([
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                    "--silent",
                ])
                .current_dir(dir.path());
            command
        })
        .await;
        Self { process, _dir: dir }
    }

    /// Creates `container` and returns its URL with a container SAS.
    pub async fn container(&self, container: &str) -> String {
        let base = format!(
            "http://127.0.0.1:{}/{ACCOUNT}/{container}",
            self.process.port
        );
        let created = reqwest::Client::new()
            .put(format!("{base}?restype=container&{}", account_sas()))
            .header("x-ms-version", SAS_VERSION)
            .header("content-length", "0")
            .send()
            .await
            .expect("Azurite answers");
        assert_eq!(created.status().as_u16(), 201, "creating {container}");
        format!("{base}?{}", container_sas(container))
    }
}
