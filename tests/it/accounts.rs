//! Accounts and security over real HTTP: sign-up, sign-in with throttling, refresh rotation
//! with reuse detection, sign-out, forged tokens, PyJWT through our JWKS, envelope encryption,
//! the audit log, and the rate limits.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TEST_PASSWORD, TestApp, authorised_client, error_code, validators_dir};

async fn post(client: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    client.post(url).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn sign_up_checks_emails_and_passwords_and_keeps_emails_unique() {
    let app = TestApp::spawn().await;
    let anonymous = reqwest::Client::new();
    let url = app.url("/api/v1/auth/register");
    let weak = post(
        &anonymous,
        url.clone(),
        json!({ "email": "bob@example.com", "password": "short" }),
    )
    .await;
    assert_eq!(
        error_code(weak, StatusCode::UNPROCESSABLE_ENTITY).await,
        "password_too_short"
    );
    let common = post(
        &anonymous,
        url.clone(),
        json!({ "email": "bob@example.com", "password": "password1234" }),
    )
    .await;
    assert_eq!(
        error_code(common, StatusCode::UNPROCESSABLE_ENTITY).await,
        "password_too_common"
    );
    let bad_email = post(
        &anonymous,
        url.clone(),
        json!({ "email": "bob", "password": TEST_PASSWORD }),
    )
    .await;
    assert_eq!(
        error_code(bad_email, StatusCode::BAD_REQUEST).await,
        "invalid_email"
    );
    let wrong_type = post(
        &anonymous,
        url.clone(),
        json!({ "email": 42, "password": TEST_PASSWORD }),
    )
    .await;
    assert_eq!(wrong_type.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The same address in another case and with spaces is the same account.
    let again = post(
        &anonymous,
        url,
        json!({ "email": "  Reader@EXAMPLE.com ", "password": TEST_PASSWORD }),
    )
    .await;
    assert_eq!(error_code(again, StatusCode::CONFLICT).await, "email_taken");

    let profile: Value = app.get("/api/v1/users/profile").await.json().await.unwrap();
    assert_eq!(profile["email"], "reader@example.com");
    assert_eq!(profile["role"], "user");
    assert!(profile.get("password_hash").is_none(), "{profile}");
    let unauthenticated = anonymous
        .get(app.url("/api/v1/users/profile"))
        .send()
        .await
        .unwrap();
    assert!(
        unauthenticated.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        error_code(unauthenticated, StatusCode::UNAUTHORIZED).await,
        "unauthenticated"
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_with_growing_delays() {
    let app = TestApp::spawn().await;
    let anonymous = reqwest::Client::new();
    let url = app.url("/api/v1/auth/login");
    let attempt = |password: &'static str| {
        post(
            &anonymous,
            url.clone(),
            json!({ "email": "reader@example.com", "password": password }),
        )
    };
    let wrong = "not the password at all";
    // Wrong passwords until the account locks: not before the sixth failure.
    let mut failures = 0;
    let first = loop {
        let response = attempt(wrong).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
        assert_eq!(
            error_code(response, StatusCode::UNAUTHORIZED).await,
            "invalid_credentials"
        );
        failures += 1;
        assert!(failures <= 12, "no lock after {failures} failures");
    };
    assert!(failures >= 6, "locked after only {failures} failures");
    let retry_after = |response: &reqwest::Response| -> u64 {
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first_wait = retry_after(&first);
    assert_eq!(
        error_code(first, StatusCode::TOO_MANY_REQUESTS).await,
        "login_throttled"
    );
    // After the wait, one more failure locks it for longer, even for the right password.
    tokio::time::sleep(std::time::Duration::from_millis(first_wait * 1000 + 200)).await;
    assert_eq!(attempt(wrong).await.status(), StatusCode::UNAUTHORIZED);
    let locked = attempt(TEST_PASSWORD).await;
    let second_wait = retry_after(&locked);
    assert!(
        second_wait > first_wait,
        "the delay grows: {first_wait} s, then {second_wait} s"
    );
    assert_eq!(
        error_code(locked, StatusCode::TOO_MANY_REQUESTS).await,
        "login_throttled"
    );
    tokio::time::sleep(std::time::Duration::from_millis(second_wait * 1000 + 200)).await;
    // Once the delay has passed the right password works, and clears the account's count.
    let ok = post(
        &anonymous,
        url.clone(),
        json!({ "email": "READER@example.com", "password": TEST_PASSWORD }),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    // An unknown email fails the same way as a wrong password.
    let unknown = post(
        &anonymous,
        url,
        json!({ "email": "nobody@example.com", "password": TEST_PASSWORD }),
    )
    .await;
    assert_eq!(
        error_code(unknown, StatusCode::UNAUTHORIZED).await,
        "invalid_credentials"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_the_family() {
    let app = TestApp::spawn().await;
    let anonymous = reqwest::Client::new();
    let url = app.url("/api/v1/auth/refresh");
    let first = app.session.refresh_token.clone();
    let rotated: Value = post(&anonymous, url.clone(), json!({ "refresh_token": first }))
        .await
        .json()
        .await
        .unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    let fresh = authorised_client(&access);
    assert_eq!(
        fresh
            .get(app.url("/api/v1/users/profile"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Someone replays the first token: the whole family dies, the thief's and the owner's.
    let replay = post(&anonymous, url.clone(), json!({ "refresh_token": first })).await;
    assert_eq!(
        error_code(replay, StatusCode::UNAUTHORIZED).await,
        "refresh_token_reused"
    );
    let owner = post(&anonymous, url.clone(), json!({ "refresh_token": second })).await;
    assert_eq!(
        error_code(owner, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let after = fresh
        .get(app.url("/api/v1/users/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(after, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let garbage = post(&anonymous, url, json!({ "refresh_token": "a.b.c" })).await;
    assert_eq!(
        error_code(garbage, StatusCode::UNAUTHORIZED).await,
        "invalid_refresh_token"
    );
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let after = app.get("/api/v1/users/profile").await;
    assert_eq!(
        error_code(after, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let refresh = post(
        &reqwest::Client::new(),
        app.url("/api/v1/auth/refresh"),
        json!({ "refresh_token": app.session.refresh_token }),
    )
    .await;
    assert_eq!(
        error_code(refresh, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn forged_expired_alg_none_and_wrong_key_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let parts: Vec<&str> = app.session.access_token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();

    // alg none, with our kid and the real claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid })),
        parts[1]
    );
    // Claims promoted to admin, signature of the original token.
    let mut admin = claims.clone();
    admin["role"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(&admin), parts[2]);
    // HS256 keyed with our public key (the classic algorithm confusion).
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let public = serde_json::to_vec(&jwks["keys"][0]).unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    // Signed by another key: unknown kid, and our kid on a foreign signature.
    let stranger = visiobook_auth::SigningKeys::generate().unwrap();
    let now = visiobook_runtime::auth::now_unix();
    let user = &app.session.user_id;
    let sid = claims["sid"].as_str().unwrap();
    let foreign = stranger.issue_access(user, "user", sid, now, 600).unwrap();
    let foreign_parts: Vec<&str> = foreign.split('.').collect();
    let mut relabelled_header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(foreign_parts[0]).unwrap()).unwrap();
    relabelled_header["kid"] = json!(kid);
    let relabelled = format!(
        "{}.{}.{}",
        b64(&relabelled_header),
        foreign_parts[1],
        foreign_parts[2]
    );
    // Our own key, but long expired.
    let expired = app
        .state
        .auth
        .signing
        .issue_access(user, "user", sid, now - 7200, 600)
        .unwrap();

    for (token, code) in [
        (none, "token_algorithm"),
        (tampered, "token_signature"),
        (hs256, "token_algorithm"),
        (foreign, "token_unknown_key"),
        (relabelled, "token_signature"),
        (expired, "token_expired"),
        ("not-a-token".to_owned(), "token_malformed"),
    ] {
        let response = authorised_client(&token)
            .get(app.url("/api/v1/users/profile"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response, StatusCode::UNAUTHORIZED).await,
            code,
            "{token}"
        );
        let verdict: Value = post(
            &reqwest::Client::new(),
            app.url("/api/v1/security/validate-token"),
            json!({ "token": token }),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(verdict["valid"], false);
        assert_eq!(verdict["reason"], code);
    }
    let verdict: Value = post(
        &reqwest::Client::new(),
        app.url("/api/v1/security/validate-token"),
        json!({ "token": app.session.access_token }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["claims"]["sub"], app.session.user_id.as_str());
}

#[tokio::test]
async fn pyjwt_verifies_an_access_token_through_the_served_jwks() {
    let app = TestApp::spawn().await;
    let script = r#"
import sys, jwt
client = jwt.PyJWKClient(sys.argv[1])
key = client.get_signing_key_from_jwt(sys.argv[2])
claims = jwt.decode(sys.argv[2], key.key, algorithms=["ES256"], audience="visiobook-api", issuer="visiobook")
print(claims["sub"], claims["role"])
"#;
    let output = tokio::process::Command::new("python3")
        .env("PYTHONPATH", validators_dir())
        .args([
            "-c",
            script,
            &app.url("/.well-known/jwks.json"),
            &app.session.access_token,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "PyJWT (installed by scripts/test) refused the token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("{} user", app.session.user_id)
    );
    // The same document under the function's own route.
    let under_api: Value = app
        .get("/api/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(under_api["keys"][0]["alg"], "ES256");
}

#[tokio::test]
async fn encryption_round_trips_for_its_owner_only() {
    let app = TestApp::spawn().await;
    let sealed: Value = post(
        &app.client,
        app.url("/api/v1/security/encrypt"),
        json!({ "plaintext": "webhook secret «très» secret", "context": "webhook" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let ciphertext = sealed["ciphertext"].as_str().unwrap().to_owned();
    assert!(!ciphertext.contains("secret"));
    assert_eq!(sealed["key_version"], 1);
    let opened: Value = post(
        &app.client,
        app.url("/api/v1/security/decrypt"),
        json!({ "ciphertext": ciphertext, "context": "webhook" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(opened["plaintext"], "webhook secret «très» secret");
    let wrong_context = post(
        &app.client,
        app.url("/api/v1/security/decrypt"),
        json!({ "ciphertext": ciphertext, "context": "other" }),
    )
    .await;
    assert_eq!(
        error_code(wrong_context, StatusCode::UNPROCESSABLE_ENTITY).await,
        "crypto_authentication_failed"
    );
    let mallory = app.register("mallory@example.com").await;
    let stolen = post(
        &app.client_for(&mallory),
        app.url("/api/v1/security/decrypt"),
        json!({ "ciphertext": ciphertext, "context": "webhook" }),
    )
    .await;
    assert_eq!(
        error_code(stolen, StatusCode::UNPROCESSABLE_ENTITY).await,
        "crypto_authentication_failed"
    );
    let garbage = post(
        &app.client,
        app.url("/api/v1/security/decrypt"),
        json!({ "ciphertext": "vb1.AAAA" }),
    )
    .await;
    assert_eq!(
        error_code(garbage, StatusCode::BAD_REQUEST).await,
        "invalid_ciphertext"
    );
}

#[tokio::test]
async fn the_audit_log_is_for_admins_and_shows_tampering() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_ADMIN_EMAILS", "admin@example.com")]).await;
    let forbidden = app.get("/api/v1/security/audit-logs").await;
    assert_eq!(
        error_code(forbidden, StatusCode::FORBIDDEN).await,
        "admin_only"
    );
    let admin = app.register("admin@example.com").await;
    let admin_client = app.client_for(&admin);
    // A failed sign-in is recorded too.
    let failed = post(
        &reqwest::Client::new(),
        app.url("/api/v1/auth/login"),
        json!({ "email": "reader@example.com", "password": "wrong wrong wrong" }),
    )
    .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let log: Value = admin_client
        .get(app.url("/api/v1/security/audit-logs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["chain"]["verified"], true, "{log}");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["auth.login", "account.register", "account.register"],
        "{log}"
    );
    assert_eq!(log["entries"][0]["outcome"], "failure");
    let only_logins: Value = admin_client
        .get(app.url("/api/v1/security/audit-logs?action=auth.login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(only_logins["entries"].as_array().unwrap().len(), 1);

    // Someone with store access rewrites the second entry: the chain says where.
    let store = app.state.documents.as_ref();
    let mut entry = store
        .read("audit", "log", "00000000000000000002")
        .await
        .unwrap()
        .unwrap();
    entry.body["actor"] = json!("someone-else");
    store
        .replace("audit", "log", "00000000000000000002", entry.body, None)
        .await
        .unwrap();
    let log: Value = admin_client
        .get(app.url("/api/v1/security/audit-logs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["chain"]["verified"], false);
    assert_eq!(log["chain"]["problem"], "audit_hash_mismatch");
    assert_eq!(log["chain"]["at_seq"], 2);
    // Cutting off the tail is caught by the head.
    store
        .replace(
            "audit",
            "log",
            "00000000000000000002",
            json!({"kind": "gone"}),
            None,
        )
        .await
        .unwrap();
    store
        .delete("audit", "log", "00000000000000000002", None)
        .await
        .unwrap();
    store
        .delete("audit", "log", "00000000000000000003", None)
        .await
        .unwrap();
    let log: Value = admin_client
        .get(app.url("/api/v1/security/audit-logs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["chain"]["problem"], "audit_truncated", "{log}");
}

#[tokio::test]
async fn the_api_rate_limits_each_user_with_retry_after() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_RATE_LIMIT_USER", "5")]).await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/users/profile").await.status(),
            StatusCode::OK
        );
    }
    let limited = app.get("/api/v1/users/profile").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&retry_after), "{retry_after}");
    assert_eq!(
        error_code(limited, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    // Another user has their own allowance.
    let other = app.register("other@example.com").await;
    let response = app
        .client_for(&other)
        .get(app.url("/api/v1/users/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_api_rate_limits_each_address() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_RATE_LIMIT_ADDRESS", "3")]).await;
    // Registering the test user took one request from 127.0.0.1.
    for _ in 0..2 {
        assert_eq!(app.get("/api/health").await.status(), StatusCode::OK);
    }
    let limited = app.get("/api/health").await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(limited, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let second: Value = post(
        &reqwest::Client::new(),
        app.url("/api/v1/auth/login"),
        json!({ "email": app.session.email, "password": TEST_PASSWORD }),
    )
    .await
    .json()
    .await
    .unwrap();
    let other_device = authorised_client(second["access_token"].as_str().unwrap());
    let changed = app
        .client
        .put(app.url("/api/v1/users/profile"))
        .json(&json!({ "display_name": "Ada", "password": { "current": TEST_PASSWORD, "new": "a much longer passphrase now" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let profile: Value = changed.json().await.unwrap();
    assert_eq!(profile["display_name"], "Ada");
    assert_eq!(
        app.get("/api/v1/users/profile").await.status(),
        StatusCode::OK
    );
    let other = other_device
        .get(app.url("/api/v1/users/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(other, StatusCode::UNAUTHORIZED).await,
        "session_revoked"
    );
    let old_password = post(
        &reqwest::Client::new(),
        app.url("/api/v1/auth/login"),
        json!({ "email": app.session.email, "password": TEST_PASSWORD }),
    )
    .await;
    assert_eq!(old_password.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_throttled() {
    let app = TestApp::spawn().await;
    let anonymous = reqwest::Client::new();
    let guess = |n: usize| {
        post(
            &anonymous,
            app.url("/api/v1/auth/login"),
            json!({ "email": format!("victim{n}@example.com"), "password": "guessing guessing" }),
        )
    };
    // Each guess is against another account, so no account is locked; the address is. Its first
    // 20 failures are free, then each locks it for twice as long as the last (1 s, 2 s...): a
    // guess soon lands inside a lock, however slow the machine.
    let mut failures = 0;
    let throttled = loop {
        let response = guess(failures).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        failures += 1;
        assert!(
            failures <= 30,
            "30 failures from one address and no throttling"
        );
    };
    assert!(failures >= 21, "throttled after only {failures} failures");
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(
        error_code(throttled, StatusCode::TOO_MANY_REQUESTS).await,
        "login_throttled"
    );
}
