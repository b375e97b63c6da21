//! The OpenAPI 3.1 document: generated from the declarations, covering every HTTP function,
//! and fuzzed by schemathesis (someone else's client) without a single server error.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;
use visiobook_host::Trigger;

use crate::support::TestApp;

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                if key == "$ref"
                    && let Some(reference) = item.as_str()
                {
                    found.insert(reference.to_owned());
                }
                references(item, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_covers_every_http_function_and_resolves() {
    let app = TestApp::spawn().await;
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut operations = 0;
    for function in &app.registry.functions {
        let Trigger::Http { route, methods } = &function.trigger else {
            continue;
        };
        let path = &document["paths"][format!("/api/{route}")];
        for method in methods {
            let operation = &path[method.as_str().to_ascii_lowercase()];
            assert!(
                operation.is_object(),
                "{} {method} /api/{route} is missing from the document",
                function.name
            );
            assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()));
            operations += 1;
        }
    }
    assert!(operations >= 50, "only {operations} operations");
    // Typed bodies come from the Rust types: the sign-up body refuses unknown fields.
    let register = &document["paths"]["/api/v1/auth/register"]["post"];
    assert_eq!(register["security"], serde_json::json!([]));
    let schema_ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap();
    let name = schema_ref.rsplit('/').next().unwrap();
    let schema = &document["components"]["schemas"][name];
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    assert_eq!(schema["required"], serde_json::json!(["email", "password"]));
    // Query parameters are listed one by one.
    let list = &document["paths"]["/api/v1/projects"]["get"]["parameters"];
    let names: BTreeSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["continuation", "order", "page_size", "sort"])
    );
    let mut found = BTreeSet::new();
    references(&document, &mut found);
    for reference in found {
        let pointer = reference.trim_start_matches('#');
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error() {
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_RATE_LIMIT_USER", "0"),
        ("VISIOBOOK_RATE_LIMIT_ADDRESS", "0"),
        // As deployed: the webhook has its secret (without one it answers 503 on purpose).
        ("STRIPE_WEBHOOK_SECRET", "whsec_schemathesis"),
    ])
    .await;
    let directory = std::env::var("VISIOBOOK_SCHEMATHESIS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/visiobook/schemathesis",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let examples = std::env::var("VISIOBOOK_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let work = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new("python3")
        .current_dir(work.path())
        .env("PYTHONPATH", &directory)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "schemathesis.cli", "run"])
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--checks", "not_a_server_error"])
        .args(["--max-examples", &examples])
        .args(["--generation-database", "none"])
        .args(["--seed", "7"])
        .args(["--no-color"])
        // Signing out would end the session the rest of the run uses.
        .args(["--exclude-path", "/api/v1/auth/logout"])
        .arg("-H")
        .arg(format!(
            "Authorization: Bearer {}",
            app.session.access_token
        ))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named schemathesis"),
        "schemathesis is not installed in {directory} (scripts/test installs it)"
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Open API 3.1"), "{stdout}");
    // "1957 generated, 1957 passed": every generated case passed the check.
    let counts = stdout
        .lines()
        .find(|line| line.contains(" generated, "))
        .unwrap_or_else(|| panic!("no test-case count in:\n{stdout}"));
    let numbers: Vec<u64> = counts
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        numbers.len() == 2 && numbers[0] == numbers[1] && numbers[0] > 500,
        "{counts}\n{stdout}"
    );
}
