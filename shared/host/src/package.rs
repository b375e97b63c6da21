//! `visiobook package`: the deployable Function App folder.
//!
//! Layout (what the Functions host expects of a custom-handler app):
//! ```text
//! OUT/host.json                      customHandler.description.defaultExecutablePath = "visiobook"
//! OUT/visiobook                      the binary, started as `visiobook serve`
//! OUT/<FunctionName>/function.json   one per declared function
//! ```

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use crate::registry::Registry;

/// The executable name inside the package.
pub const EXECUTABLE: &str = "visiobook";

/// The `host.json` of the Function App. Forwarding is on so that HTTP functions receive the
/// original request at `/api/...` and answer it directly.
pub fn host_json() -> Value {
    json!({
        "version": "2.0",
        "logging": {
            "applicationInsights": {
                "samplingSettings": { "isEnabled": true, "excludedTypes": "Request" }
            }
        },
        "extensionBundle": {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            "version": "[4.*, 5.0.0)"
        },
        "customHandler": {
            "description": {
                "defaultExecutablePath": EXECUTABLE,
                "workingDirectory": "",
                "arguments": ["serve"]
            },
            "enableForwardingHttpRequest": true
        },
        "extensions": {
            "http": { "routePrefix": crate::ROUTE_PREFIX },
            "serviceBus": {
                "maxConcurrentCalls": 4,
                "autoCompleteMessages": true
            }
        },
        "functionTimeout": "00:10:00"
    })
}

/// Writes the package into `out` (created if needed, existing function folders replaced, the
/// folders of [`local_only`](crate::FunctionDef::local_only) functions removed) and copies
/// `binary` in as [`EXECUTABLE`]. Returns the names of the functions written.
pub fn write_package<S: Clone + Send + Sync + 'static>(
    registry: &Registry<S>,
    out: &Path,
    binary: &Path,
) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_json(&out.join("host.json"), &host_json())?;
    let mut written = Vec::new();
    for function in &registry.functions {
        let folder = out.join(function.name);
        if !function.in_package {
            if folder.exists() {
                std::fs::remove_dir_all(&folder)
                    .with_context(|| format!("removing {}", folder.display()))?;
            }
            continue;
        }
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        write_json(&folder.join("function.json"), &function.function_json())?;
        written.push(function.name.to_owned());
    }
    let target = out.join(EXECUTABLE);
    let temporary = out.join(format!(".{EXECUTABLE}.tmp"));
    std::fs::copy(binary, &temporary)
        .with_context(|| format!("copying {} into the package", binary.display()))?;
    std::fs::rename(&temporary, &target)
        .with_context(|| format!("placing {}", target.display()))?;
    Ok(written)
}

fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text + "\n")
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("placing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The repository's `host.json` is the one `visiobook package` writes.
    #[test]
    fn the_committed_host_json_matches_the_generated_one() {
        let committed: serde_json::Value =
            serde_json::from_str(include_str!("../../../host.json")).expect("host.json is JSON");
        assert_eq!(
            committed,
            super::host_json(),
            "regenerate host.json with `visiobook package`"
        );
    }
}
