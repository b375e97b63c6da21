//! Published JSON Schemas of the artifacts, derived from the types so that they cannot drift.

use schemars::JsonSchema;
use serde_json::Value;

/// The schema of `T`, published as `docs/schemas/{name}.schema.json`.
pub fn published<T: JsonSchema>(name: &str) -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    schema["$id"] = Value::String(format!("https://visiobook.dev/schemas/{name}.schema.json"));
    schema["title"] = Value::String(format!("visiobook {name}"));
    schema
}

/// Test helper: the committed schema file equals the generated one; with
/// `VISIOBOOK_WRITE_SCHEMAS=1` the file is rewritten first.
#[cfg(test)]
pub fn check_published(name: &str, generated: &Value, committed: &str) {
    let path = format!(
        "{}/../../docs/schemas/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("VISIOBOOK_WRITE_SCHEMAS").is_some() {
        let text = serde_json::to_string_pretty(generated).expect("serialises") + "\n";
        std::fs::write(&path, text).expect("writes the schema");
        return;
    }
    let published: Value = serde_json::from_str(committed).expect("the committed schema is JSON");
    assert_eq!(
        &published, generated,
        "regenerate with VISIOBOOK_WRITE_SCHEMAS=1 cargo test -p visiobook-domain"
    );
}
