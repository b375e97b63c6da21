//! The `llm` engine against a local server that speaks the chat-completions protocol.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use visiobook_analysis::llm::{LlmConfig, enrich};
use visiobook_domain::analysis::Gender;
use visiobook_domain::{Analysis, Book, Warning};
use visiobook_ingestion::{IngestOptions, ingest};

const KEY: &str = "sk-test-0123456789-secret";
const MODEL: &str = "test-model";
const DEPLOYMENT: &str = "gpt-test";
const API_VERSION: &str = "2024-10-21";

const STORY: &str = r#"The Lantern Keeper

Chapter 1. The Storm

Mara climbed the lighthouse stairs at night while the storm howled outside. Mara carried the old brass lantern in both hands.

"The light must not go out tonight," said Mara to her brother Tomas.

Tomas shook his head. "Father always said the sea keeps its own counsel," said Tomas, and he bolted the iron door.

Mara laughed at him, but she was afraid. The wind screamed against the glass and the whole tower trembled.

* * *

In the morning the storm had passed. Mara and Tomas walked down to the harbour where the fishermen were mending their nets.

"Did you see the ship?" asked old Wendel, the harbour master. Wendel pointed at the broken mast on the rocks.

Tomas ran along the beach. Mara followed him slowly, thinking of the lantern and of the ship that had not seen it.

Chapter 2. The Stranger

A stranger arrived at the lighthouse in the evening. He said his name was Corvin and that he had been the captain of the wrecked ship.

"Your light saved half my crew," said Corvin. Mara gave him bread and a warm blanket by the fire.

Wendel came later and looked at Corvin for a long time. "I know that face," said Wendel quietly. Tomas listened from the stairs.

Corvin smiled and said nothing. Outside, the sea was calm again, and Mara lit the lantern once more.
"#;

fn book() -> (Book, Analysis) {
    let book = ingest(STORY.as_bytes(), &IngestOptions::default(), &|_, _| {}).unwrap();
    let analysis = visiobook_analysis::analyse(&book);
    assert!(analysis.scenes.len() >= 3, "{:?}", analysis.scenes);
    assert!(analysis.characters.len() >= 3, "{:?}", analysis.characters);
    (book, analysis)
}

/// How the fake server answers one request.
#[derive(Debug, Clone)]
enum Reply {
    /// A valid answer built from the request.
    Good,
    /// A valid answer with some top-level fields replaced.
    Tweak(Value),
    /// The good cast answer plus an id that is not in the cast.
    GoodPlusUnknown,
    /// A status with an error body, and a `Retry-After` in seconds.
    Status(u16, Option<u64>),
    /// Content that is not JSON.
    InvalidJson,
    /// A refusal instead of content.
    Refusal,
    /// Waits this long, then answers well.
    Slow(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flavour {
    OpenAi,
    Azure,
}

#[derive(Debug)]
struct Fake {
    flavour: Flavour,
    /// Replies per request key (a scene id, or `cast`), used before [`Reply::Good`].
    script: HashMap<String, VecDeque<Reply>>,
    /// Requests seen per key.
    requests: HashMap<String, usize>,
    /// Every way a request broke the protocol.
    violations: Vec<String>,
    /// The longest scene text seen, in characters.
    longest_text: usize,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// Counts a request in flight until dropped.
struct InFlight(Shared);

impl InFlight {
    fn new(fake: &Shared) -> Self {
        let mut state = fake.lock().unwrap();
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        Self(fake.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.lock() {
            state.in_flight -= 1;
        }
    }
}

type Shared = Arc<Mutex<Fake>>;

/// Starts the fake server; returns the config that reaches it and its shared state.
async fn start(flavour: Flavour, script: &[(&str, Vec<Reply>)]) -> (LlmConfig, Shared) {
    let fake = Arc::new(Mutex::new(Fake {
        flavour,
        script: script
            .iter()
            .map(|(key, replies)| ((*key).to_owned(), replies.iter().cloned().collect()))
            .collect(),
        requests: HashMap::new(),
        violations: Vec::new(),
        longest_text: 0,
        in_flight: 0,
        max_in_flight: 0,
    }));
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = match flavour {
        Flavour::OpenAi => LlmConfig {
            endpoint: format!("http://{address}/v1"),
            api_key: Some(KEY.into()),
            model: MODEL.into(),
            azure_api_version: None,
            max_attempts: 3,
            timeout: Duration::from_secs(10),
        },
        Flavour::Azure => LlmConfig {
            endpoint: format!("http://{address}/openai/deployments/{DEPLOYMENT}/"),
            api_key: Some(KEY.into()),
            model: String::new(),
            azure_api_version: Some(API_VERSION.into()),
            max_attempts: 3,
            timeout: Duration::from_secs(10),
        },
    };
    (config, fake)
}

async fn handle(
    State(fake): State<Shared>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_flight = InFlight::new(&fake);
    let mut violations = Vec::new();
    let flavour = fake.lock().unwrap().flavour;
    if method != Method::POST {
        violations.push(format!("method {method}"));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match flavour {
        Flavour::OpenAi => {
            if uri.path() != "/v1/chat/completions" || uri.query().is_some() {
                violations.push(format!("OpenAI URL {uri}"));
            }
            if header("authorization") != Some(&format!("Bearer {KEY}")) {
                violations.push("OpenAI Authorization header".into());
            }
            if header("api-key").is_some() {
                violations.push("api-key header sent to OpenAI".into());
            }
        }
        Flavour::Azure => {
            let expected_path = format!("/openai/deployments/{DEPLOYMENT}/chat/completions");
            let expected_query = format!("api-version={API_VERSION}");
            if uri.path() != expected_path || uri.query() != Some(expected_query.as_str()) {
                violations.push(format!("Azure URL {uri}"));
            }
            if header("api-key") != Some(KEY) {
                violations.push("Azure api-key header".into());
            }
            if header("authorization").is_some() {
                violations.push("Authorization header sent to Azure".into());
            }
        }
    }
    if !header("content-type").is_some_and(|t| t.starts_with("application/json")) {
        violations.push("content-type".into());
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            fake.lock()
                .unwrap()
                .violations
                .push(format!("body: {error}"));
            return (StatusCode::BAD_REQUEST, "bad body").into_response();
        }
    };
    if flavour == Flavour::OpenAi && request["model"] != MODEL {
        violations.push(format!("model {}", request["model"]));
    }
    if request["temperature"] != 0 {
        violations.push("temperature".into());
    }
    let format = &request["response_format"];
    if format["type"] != "json_schema"
        || format["json_schema"]["strict"] != true
        || !format["json_schema"]["name"].is_string()
        || !format["json_schema"]["schema"].is_object()
    {
        violations.push(format!("response_format {format}"));
    }
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    if messages.len() != 2 || messages[0]["role"] != "system" || messages[1]["role"] != "user" {
        violations.push("messages".into());
    }
    let user = messages
        .get(1)
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    let is_cast = format["json_schema"]["name"] == "cast";
    let key = if is_cast {
        "cast".to_owned()
    } else {
        scene_id(&user).unwrap_or_else(|| {
            violations.push("no scene id in the user message".into());
            String::new()
        })
    };
    let reply = {
        let mut fake = fake.lock().unwrap();
        fake.violations.extend(violations);
        *fake.requests.entry(key.clone()).or_default() += 1;
        if !is_cast {
            let length = scene_text(&user).chars().count();
            fake.longest_text = fake.longest_text.max(length);
        }
        fake.script
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::Good)
    };
    let good = || {
        if is_cast {
            cast_answer(&user)
        } else {
            scene_answer(&key, &user)
        }
    };
    match reply {
        Reply::Good => completion(Some(good().to_string()), None),
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            completion(Some(good().to_string()), None)
        }
        Reply::Tweak(fields) => {
            let mut answer = good();
            for (name, value) in fields.as_object().unwrap() {
                answer[name] = value.clone();
            }
            completion(Some(answer.to_string()), None)
        }
        Reply::GoodPlusUnknown => {
            let mut answer = good();
            answer["characters"].as_array_mut().unwrap().push(json!({
                "id": "nobody", "description": "Not in this book.", "gender": null
            }));
            completion(Some(answer.to_string()), None)
        }
        Reply::InvalidJson => completion(Some("{\"summary\": \"cut off".into()), None),
        Reply::Refusal => completion(None, Some("I'm sorry, I can't help with that.")),
        Reply::Status(status, retry_after) => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({"error": {"code": status.to_string(), "message": "try later"}})),
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
    }
}

fn completion(content: Option<String>, refusal: Option<&str>) -> Response {
    axum::Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": "stop"
        }]
    }))
    .into_response()
}

/// `c1-s2` from `Scene c1-s2 (chapter ...`.
fn scene_id(user: &str) -> Option<String> {
    let rest = &user[user.find("Scene c")? + "Scene ".len()..];
    Some(rest.split_whitespace().next()?.to_owned())
}

/// The text between the `"""` fences.
fn scene_text(user: &str) -> &str {
    let start = user.find("\"\"\"\n").map_or(0, |i| i + 4);
    let end = user.rfind("\n\"\"\"").unwrap_or(user.len()).max(start);
    &user[start..end]
}

fn scene_answer(id: &str, user: &str) -> Value {
    // The first five words of the scene, verbatim: a quote really in the text.
    let text = scene_text(user);
    let quote = text
        .split_whitespace()
        .take(5)
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "summary": format!("LLM summary of scene {id}."),
        "mood": {"label": "eerie", "valence": -0.4, "intensity": 0.7},
        "setting": {"time_of_day": "night", "indoor": true},
        "key_quote": quote,
        "visual_brief": {"what": format!("An illustration of scene {id}.")}
    })
}

fn cast_answer(user: &str) -> Value {
    let characters: Vec<Value> = user
        .lines()
        .filter_map(|line| line.strip_prefix("- id: "))
        .filter_map(|rest| rest.split(';').next())
        .map(|id| {
            json!({"id": id, "description": format!("LLM description of {id}."), "gender": "female"})
        })
        .collect();
    json!({ "characters": characters })
}

fn requests(fake: &Shared, key: &str) -> usize {
    fake.lock().unwrap().requests.get(key).copied().unwrap_or(0)
}

fn assert_no_violations(fake: &Shared) {
    let fake = fake.lock().unwrap();
    assert!(fake.violations.is_empty(), "{:?}", fake.violations);
}

fn fallbacks(analysis: &Analysis) -> Vec<&Warning> {
    analysis
        .warnings
        .iter()
        .filter(|w| w.code == "llm_fallback")
        .collect()
}

fn assert_improved(analysis: &Analysis, index: usize) {
    let scene = &analysis.scenes[index];
    assert_eq!(scene.summary, format!("LLM summary of scene {}.", scene.id));
    assert_eq!(scene.mood.label, "eerie");
    assert_eq!(scene.visual_brief.mood, "eerie");
    assert_eq!(scene.setting.time_of_day.as_deref(), Some("night"));
    assert_eq!(scene.setting.indoor, Some(true));
    assert_eq!(
        scene.visual_brief.what,
        format!("An illustration of scene {}.", scene.id)
    );
    assert_eq!(scene.key_quote.split_whitespace().count(), 5);
}

fn assert_local(enriched: &Analysis, local: &Analysis, index: usize) {
    assert_eq!(enriched.scenes[index], local.scenes[index]);
}

#[tokio::test]
async fn every_field_is_improved_through_an_openai_compatible_server() {
    let (book, local) = book();
    let (config, fake) = start(Flavour::OpenAi, &[]).await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    assert_eq!(enriched.engine, "llm");
    for index in 0..enriched.scenes.len() {
        assert_improved(&enriched, index);
        assert_eq!(requests(&fake, &enriched.scenes[index].id), 1);
        // The structure is the local engine's.
        assert_eq!(
            enriched.scenes[index].narration,
            local.scenes[index].narration
        );
        assert_eq!(
            enriched.scenes[index].paragraph_ids,
            local.scenes[index].paragraph_ids
        );
    }
    assert_eq!(requests(&fake, "cast"), 1);
    let mut female = 0;
    for character in &enriched.characters {
        assert_eq!(
            character.description,
            format!("LLM description of {}.", character.id)
        );
        assert_eq!(character.gender, Some(Gender::Female));
        female += 1;
        assert_eq!(character.voice.voice, format!("female-{female}"));
    }
    assert!(fallbacks(&enriched).is_empty(), "{:?}", enriched.warnings);
    // The local warnings stay.
    assert_eq!(enriched.warnings, local.warnings);
    assert!(fake.lock().unwrap().max_in_flight <= 2);
}

#[tokio::test]
async fn azure_deployments_get_the_api_version_and_the_api_key_header() {
    let (book, local) = book();
    let (config, fake) = start(Flavour::Azure, &[]).await;
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    assert_eq!(enriched.engine, "llm");
    for index in 0..enriched.scenes.len() {
        assert_improved(&enriched, index);
    }
    assert!(fallbacks(&enriched).is_empty(), "{:?}", enriched.warnings);
}

#[tokio::test]
async fn server_errors_are_retried_until_one_succeeds() {
    let (book, local) = book();
    let first = local.scenes[0].id.clone();
    let (config, fake) = start(
        Flavour::OpenAi,
        &[(
            &first,
            vec![Reply::Status(500, None), Reply::Status(503, None)],
        )],
    )
    .await;
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    assert_eq!(requests(&fake, &first), 3);
    assert_improved(&enriched, 0);
    assert!(fallbacks(&enriched).is_empty(), "{:?}", enriched.warnings);
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let (book, local) = book();
    let first = local.scenes[0].id.clone();
    let (config, fake) = start(
        Flavour::OpenAi,
        &[(&first, vec![Reply::Status(502, None); 5])],
    )
    .await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_eq!(requests(&fake, &first), 3);
    assert_local(&enriched, &local, 0);
    assert_improved(&enriched, 1);
    let warnings = fallbacks(&enriched);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains(&first)
            && warnings[0].message.contains("HTTP 502")
            && warnings[0].message.contains("3 attempts"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let (book, local) = book();
    let first = local.scenes[0].id.clone();
    let (config, fake) = start(
        Flavour::OpenAi,
        &[(&first, vec![Reply::Status(429, Some(1))])],
    )
    .await;
    let started = Instant::now();
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_no_violations(&fake);
    assert_eq!(requests(&fake, &first), 2);
    assert_improved(&enriched, 0);
    assert!(fallbacks(&enriched).is_empty(), "{:?}", enriched.warnings);
}

#[tokio::test]
async fn a_request_past_its_timeout_is_retried() {
    let (book, local) = book();
    let first = local.scenes[0].id.clone();
    let (mut config, fake) = start(
        Flavour::OpenAi,
        &[(&first, vec![Reply::Slow(Duration::from_secs(3))])],
    )
    .await;
    config.timeout = Duration::from_millis(500);
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert_eq!(requests(&fake, &first), 2);
    assert_improved(&enriched, 0);
    assert!(fallbacks(&enriched).is_empty(), "{:?}", enriched.warnings);
}

#[tokio::test]
async fn invalid_json_twice_falls_back_for_that_scene_only() {
    let (book, local) = book();
    let second = local.scenes[1].id.clone();
    let (config, fake) = start(
        Flavour::OpenAi,
        &[(&second, vec![Reply::InvalidJson, Reply::InvalidJson])],
    )
    .await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    // Re-asked once, not more, although three attempts were allowed.
    assert_eq!(requests(&fake, &second), 2);
    assert_local(&enriched, &local, 1);
    assert_improved(&enriched, 0);
    assert_improved(&enriched, 2);
    assert_eq!(enriched.engine, "llm");
    let warnings = fallbacks(&enriched);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains(&second), "{warnings:?}");
    assert!(warnings[0].message.contains("not JSON"), "{warnings:?}");
}

#[tokio::test]
async fn invalid_json_once_is_re_asked() {
    let (book, local) = book();
    let second = local.scenes[1].id.clone();
    let (config, fake) = start(Flavour::OpenAi, &[(&second, vec![Reply::InvalidJson])]).await;
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert_eq!(requests(&fake, &second), 2);
    assert_improved(&enriched, 1);
    assert!(fallbacks(&enriched).is_empty(), "{:?}", enriched.warnings);
}

#[tokio::test]
async fn a_quote_not_in_the_text_and_an_out_of_range_valence_fall_back_alone() {
    let (book, local) = book();
    let first = local.scenes[0].id.clone();
    let (config, fake) = start(
        Flavour::OpenAi,
        &[(
            &first,
            vec![Reply::Tweak(json!({
                "key_quote": "The lighthouse exploded into a thousand stars.",
                "mood": {"label": "tense", "valence": 3.5, "intensity": 0.9},
                "setting": {"time_of_day": "teatime", "indoor": false}
            }))],
        )],
    )
    .await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    let (scene, before) = (&enriched.scenes[0], &local.scenes[0]);
    assert_eq!(scene.summary, format!("LLM summary of scene {first}."));
    assert_eq!(
        scene.visual_brief.what,
        format!("An illustration of scene {first}.")
    );
    assert_eq!(scene.setting.indoor, Some(false));
    assert_eq!(scene.key_quote, before.key_quote);
    assert_eq!(scene.mood, before.mood);
    assert_eq!(scene.visual_brief.mood, before.visual_brief.mood);
    assert_eq!(scene.setting.time_of_day, before.setting.time_of_day);
    let warnings = fallbacks(&enriched);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let message = &warnings[0].message;
    assert!(
        message.contains(&first)
            && message.contains("key_quote")
            && message.contains("mood (valence 3.5")
            && message.contains("setting.time_of_day")
            && !message.contains("summary"),
        "{message}"
    );
    assert_improved(&enriched, 1);
}

#[tokio::test]
async fn a_refusal_falls_back_without_retrying() {
    let (book, local) = book();
    let third = local.scenes[2].id.clone();
    let (config, fake) = start(Flavour::OpenAi, &[(&third, vec![Reply::Refusal])]).await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    assert_eq!(requests(&fake, &third), 1);
    assert_local(&enriched, &local, 2);
    assert_improved(&enriched, 0);
    let warnings = fallbacks(&enriched);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.contains(&third) && warnings[0].message.contains("refused"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn unknown_character_ids_are_ignored_with_a_warning() {
    let (book, local) = book();
    let (config, fake) = start(Flavour::OpenAi, &[("cast", vec![Reply::GoodPlusUnknown])]).await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_no_violations(&fake);
    assert_eq!(enriched.characters.len(), local.characters.len());
    assert!(
        enriched
            .characters
            .iter()
            .all(|c| c.description.starts_with("LLM description"))
    );
    let warnings = fallbacks(&enriched);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("nobody"), "{warnings:?}");
}

#[tokio::test]
async fn a_failed_cast_request_keeps_the_local_cast() {
    let (book, local) = book();
    let (config, fake) = start(Flavour::OpenAi, &[("cast", vec![Reply::Status(400, None)])]).await;
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    // A 400 is not retried.
    assert_eq!(requests(&fake, "cast"), 1);
    assert_eq!(enriched.characters, local.characters);
    assert_eq!(enriched.engine, "llm");
    let warnings = fallbacks(&enriched);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].message.starts_with("characters") && warnings[0].message.contains("HTTP 400"),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_two_scenes_are_asked_at_once() {
    let (book, local) = book();
    let slow = Reply::Slow(Duration::from_millis(300));
    let script: Vec<(&str, Vec<Reply>)> = local
        .scenes
        .iter()
        .map(|scene| (scene.id.as_str(), vec![slow.clone()]))
        .collect();
    let (config, fake) = start(Flavour::OpenAi, &script).await;
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert_eq!(fake.lock().unwrap().max_in_flight, 2);
    for index in 0..enriched.scenes.len() {
        assert_improved(&enriched, index);
    }
}

#[tokio::test]
async fn long_scenes_are_cut_to_six_thousand_characters() {
    let long =
        "The tide rose over the black rocks and the gulls cried above the water. ".repeat(150);
    let text = format!("{STORY}\nChapter 3. The Tide\n\n{long}\n");
    let book = ingest(text.as_bytes(), &IngestOptions::default(), &|_, _| {}).unwrap();
    let local = visiobook_analysis::analyse(&book);
    assert!(local.scenes.iter().any(|s| s.word_count > 1_500));
    let (config, fake) = start(Flavour::OpenAi, &[]).await;
    let enriched = enrich(local, &book, &config, &reqwest::Client::new()).await;
    assert_eq!(fake.lock().unwrap().longest_text, 6_000);
    for index in 0..enriched.scenes.len() {
        assert_improved(&enriched, index);
    }
}

#[tokio::test]
async fn with_the_server_down_the_analysis_stays_local() {
    let (book, local) = book();
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let config = LlmConfig {
        endpoint: format!("http://{address}/v1"),
        api_key: Some(KEY.into()),
        model: MODEL.into(),
        azure_api_version: None,
        max_attempts: 2,
        timeout: Duration::from_secs(2),
    };
    let enriched = enrich(local.clone(), &book, &config, &reqwest::Client::new()).await;
    assert_eq!(enriched.engine, local.engine);
    let mut without_warnings = enriched.clone();
    without_warnings.warnings.truncate(local.warnings.len());
    assert_eq!(without_warnings, local);
    let warnings = fallbacks(&enriched);
    // One per scene, one for the cast.
    assert_eq!(warnings.len(), local.scenes.len() + 1, "{warnings:?}");
    for warning in &enriched.warnings {
        assert!(!warning.message.contains(KEY));
    }
}

#[test]
fn the_api_key_is_never_shown() {
    let config = LlmConfig {
        endpoint: "https://x.openai.azure.com/openai/deployments/gpt".into(),
        api_key: Some(KEY.into()),
        model: MODEL.into(),
        azure_api_version: Some(API_VERSION.into()),
        max_attempts: 3,
        timeout: Duration::from_secs(30),
    };
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
        assert!(shown.contains("x.openai.azure.com"), "{shown}");
    }
}
