//! The Media Generation service: remote speech and image engines against a local server that
//! speaks their documented protocols (OpenAI `/v1/audio/speech` and `/v1/images/generations`,
//! Azure Speech `/cognitiveservices/v1`, Azure OpenAI deployments), quality checks on a planted
//! silent sentence, the media routes, and Piper's voices.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use visiobook_domain::artifacts::{MediaManifest, media_key};
use visiobook_generation::audio::{self, Pcm};
use visiobook_ports::BlobKey;

use crate::support::{TestApp, error_code, fixture_bytes};

/// What the fake provider saw.
#[derive(Debug, Default)]
struct Seen {
    /// `(voice, text)` of every speech request.
    speech: Vec<(String, String)>,
    /// Every image request body.
    images: Vec<Value>,
}

#[derive(Clone)]
struct Provider {
    seen: Arc<Mutex<Seen>>,
    png: Arc<Vec<u8>>,
}

/// A voice-like test signal: a tone per voice (so voices are told apart), 280 ms a word, with a
/// syllable envelope; silence for any text that asks for it (the planted fault).
fn speech_samples(voice: &str, text: &str) -> Vec<u8> {
    let rate = 24_000.0;
    let words = text.split_whitespace().count().max(1);
    let silent = text.to_lowercase().contains("silence");
    let pitch = 110.0 + f32::from(voice.bytes().fold(0_u8, |a, b| a.wrapping_add(b)) % 16) * 15.0;
    let samples = words * 280 * 24;
    let mut bytes = Vec::with_capacity(samples * 2);
    for i in 0..samples {
        let t = i as f32 / rate;
        let envelope = (std::f32::consts::PI * t * 4.0).sin().abs();
        let value = if silent {
            0.0
        } else {
            0.4 * envelope * (2.0 * std::f32::consts::PI * pitch * t).sin()
        };
        bytes.extend_from_slice(&((value * 32767.0) as i16).to_le_bytes());
    }
    bytes
}

async fn openai_speech(
    State(provider): State<Provider>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-speech") {
        return (AxumStatus::UNAUTHORIZED, "bad key").into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (AxumStatus::BAD_REQUEST, "not JSON").into_response();
    };
    let (Some(model), Some(input), Some(voice), Some("pcm"), Some(_speed)) = (
        request["model"].as_str(),
        request["input"].as_str(),
        request["voice"].as_str(),
        request["response_format"].as_str(),
        request["speed"].as_f64(),
    ) else {
        return (AxumStatus::BAD_REQUEST, "missing fields").into_response();
    };
    assert_eq!(model, "tts-1");
    provider
        .seen
        .lock()
        .unwrap()
        .speech
        .push((voice.to_owned(), input.to_owned()));
    speech_samples(voice, input).into_response()
}

async fn azure_speech(
    State(provider): State<Provider>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("ocp-apim-subscription-key") != Some("azure-key") {
        return (AxumStatus::UNAUTHORIZED, "bad key").into_response();
    }
    if header("content-type") != Some("application/ssml+xml")
        || header("x-microsoft-outputformat") != Some("raw-24khz-16bit-mono-pcm")
    {
        return (AxumStatus::BAD_REQUEST, "bad headers").into_response();
    }
    let Some(voice) = body
        .split("<voice name=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    else {
        return (AxumStatus::BAD_REQUEST, "no voice").into_response();
    };
    if !body.starts_with("<speak version=\"1.0\"") || !body.contains("<prosody pitch=") {
        return (AxumStatus::BAD_REQUEST, "not SSML").into_response();
    }
    let text = body
        .split("rate=\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_default()
        .to_owned();
    provider
        .seen
        .lock()
        .unwrap()
        .speech
        .push((voice.to_owned(), text.clone()));
    speech_samples(voice, &text).into_response()
}

async fn images(
    State(provider): State<Provider>,
    headers: HeaderMap,
    deployment: Option<Path<String>>,
    query: Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorised = match deployment {
        Some(_) => header("api-key") == Some("azure-images") && query.contains_key("api-version"),
        None => header("authorization") == Some("Bearer sk-images"),
    };
    if !authorised {
        return (AxumStatus::UNAUTHORIZED, "bad key").into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (AxumStatus::BAD_REQUEST, "not JSON").into_response();
    };
    if request["prompt"].as_str().is_none() || request["size"].as_str().is_none() {
        return (AxumStatus::BAD_REQUEST, "missing fields").into_response();
    }
    provider.seen.lock().unwrap().images.push(request);
    axum::Json(json!({ "created": 0, "data": [{ "b64_json": base64(&provider.png) }] }))
        .into_response()
}

async fn openai_images(
    state: State<Provider>,
    headers: HeaderMap,
    query: Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    images(state, headers, None, query, body).await
}

async fn azure_images(
    state: State<Provider>,
    headers: HeaderMap,
    deployment: Path<String>,
    query: Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    images(state, headers, Some(deployment), query, body).await
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A 1792x1024 PNG made by ffmpeg, as an image API would return.
fn provider_png() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.png");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1792x1024",
            "-frames:v",
            "1",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(path).unwrap()
}

async fn spawn_provider() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let provider = Provider {
        seen: seen.clone(),
        png: Arc::new(provider_png()),
    };
    let app = Router::new()
        .route("/v1/audio/speech", post(openai_speech))
        .route("/cognitiveservices/v1", post(azure_speech))
        .route("/v1/images/generations", post(openai_images))
        .route(
            "/openai/deployments/{deployment}/images/generations",
            post(azure_images),
        )
        .with_state(provider);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

async fn manifest(app: &TestApp, id: &str) -> MediaManifest {
    let bytes = app
        .state
        .blobs
        .get(&BlobKey::parse(&media_key(id)).unwrap())
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn generation_status(app: &TestApp, id: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/media/generation-status/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

const PLANTED: &str = "CHAPTER I\n\nThe Silent Clock\n\n\"Good morning,\" said Alice. The clock on the wall struck nine, and the kitten purred by the fire.\n\n\"Good morning to you,\" said the Hatter. Then the room fell into silence for a while.\n\nAlice looked at the Hatter, and the Hatter looked at Alice. \"Is it always tea-time here?\" asked Alice.\n\n\"Always,\" said the Hatter. \"Alice, you must have some tea.\"\n\nAlice laughed, and the Hatter poured the tea, and Alice drank it, and the morning went on.\n";

#[tokio::test]
async fn a_remote_voice_reads_the_book_and_a_silent_sentence_is_flagged() {
    let (provider, seen) = spawn_provider().await;
    let endpoint = format!("http://{provider}/v1");
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_SPEECH_ENGINE", "openai"),
        ("VISIOBOOK_SPEECH_ENDPOINT", endpoint.as_str()),
        ("VISIOBOOK_SPEECH_API_KEY", "sk-speech"),
    ])
    .await;
    let id = app.upload_ok(PLANTED.as_bytes().to_vec()).await;
    app.drain().await;
    assert_eq!(app.status(&id).await["state"], "ready");

    let manifest = manifest(&app, &id).await;
    assert_eq!(manifest.speech_engine, "openai");
    // The planted sentence came back silent twice (a retry), and is flagged, not hidden.
    assert_eq!(manifest.flagged.len(), 1, "{:?}", manifest.flagged);
    let flag = &manifest.flagged[0];
    assert!(flag.text.contains("silence"), "{flag:?}");
    assert_eq!(flag.problems, ["silent"]);
    let calls = seen.lock().unwrap().speech.clone();
    let planted_calls = calls
        .iter()
        .filter(|(_, text)| text.contains("silence"))
        .count();
    assert_eq!(planted_calls, 2, "one try and one retry");
    // The narrator and the two speakers each have their own voice.
    let voice_of = |needle: &str| {
        calls
            .iter()
            .find(|(_, text)| text.contains(needle))
            .map(|(voice, _)| voice.clone())
            .unwrap()
    };
    let narrator = voice_of("The clock on the wall");
    assert_eq!(narrator, "alloy");
    assert_ne!(voice_of("Good morning to you"), narrator);
    assert_ne!(voice_of("Good morning to you"), voice_of("Good morning,"));

    let status = generation_status(&app, &id).await;
    let counts = &status["generation"]["counts"];
    assert_eq!(counts["sentences_flagged"], 1, "{status}");
    assert_eq!(
        counts["sentences_synthesised"].as_u64().unwrap(),
        calls.len() as u64 - 1,
        "{status}"
    );
    assert_eq!(status["flagged"][0]["problems"][0], "silent");
    // Only the flagged sentence is left to synthesise: it was not cached.
    assert_eq!(status["estimate"]["sentences_to_synthesise"], 1, "{status}");
    assert_eq!(status["estimate"]["images_to_draw"], 0);
}

#[tokio::test]
async fn azure_speech_auditions_a_voice_with_ssml_and_caches_it() {
    let (provider, seen) = spawn_provider().await;
    let endpoint = format!("http://{provider}");
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_SPEECH_ENGINE", "azure-speech"),
        ("VISIOBOOK_AZURE_SPEECH_ENDPOINT", endpoint.as_str()),
        ("VISIOBOOK_AZURE_SPEECH_KEY", "azure-key"),
    ])
    .await;
    let audition = || async {
        app.client
            .post(app.url("/api/v1/media/synthesize-voice"))
            .json(&json!({ "text": "Curiouser and curiouser! Said Alice.", "voice": "female-1", "pitch": 10 }))
            .send()
            .await
            .unwrap()
    };
    let first = audition().await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["content-type"], "audio/wav");
    assert_eq!(first.headers()["x-visiobook-engine"], "azure-speech");
    assert_eq!(first.headers()["x-visiobook-voice"], "en-US-JennyNeural");
    assert_eq!(first.headers()["x-visiobook-sentences-synthesised"], "2");
    let pcm = audio::decode_wav(&first.bytes().await.unwrap()).unwrap();
    assert!(pcm.duration_ms() > 800, "{}", pcm.duration_ms());
    // Sentences are synthesised concurrently: the provider may see them in either order.
    let mut texts: Vec<String> = seen
        .lock()
        .unwrap()
        .speech
        .iter()
        .map(|(_, text)| text.clone())
        .collect();
    texts.sort();
    assert_eq!(texts, ["Curiouser and curiouser!", "Said Alice."]);

    let second = audition().await;
    assert_eq!(second.headers()["x-visiobook-sentences-reused"], "2");
    assert_eq!(
        seen.lock().unwrap().speech.len(),
        2,
        "served from the cache"
    );
}

#[tokio::test]
async fn remote_images_keep_each_character_the_same_across_scenes() {
    let (provider, seen) = spawn_provider().await;
    let endpoint = format!("http://{provider}/v1");
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_IMAGE_ENGINE", "openai"),
        ("VISIOBOOK_IMAGES_ENDPOINT", endpoint.as_str()),
        ("VISIOBOOK_IMAGES_API_KEY", "sk-images"),
    ])
    .await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    assert_eq!(app.status(&id).await["state"], "ready");
    let manifest = manifest(&app, &id).await;
    assert_eq!(manifest.image_engine, "openai");
    let requests = seen.lock().unwrap().images.clone();
    assert_eq!(requests.len(), manifest.scenes.len() * 2);
    assert!(requests.iter().any(|r| r["size"] == "1792x1024"));
    assert!(requests.iter().any(|r| r["size"] == "1024x1792"));
    assert!(requests.iter().all(|r| r["model"] == "gpt-image-1"));
    // Alice is described by the same words in every prompt she is in.
    let alice: Vec<&str> = requests
        .iter()
        .filter_map(|r| r["prompt"].as_str())
        .filter_map(|prompt| prompt.split("Characters: ").nth(1))
        .filter_map(|cast| cast.split("; ").find(|c| c.starts_with("Alice")))
        .map(|c| {
            c.trim_end_matches('.')
                .split(". Scene:")
                .next()
                .unwrap_or(c)
        })
        .collect();
    assert!(alice.len() >= 2, "{requests:?}");
    assert!(alice.windows(2).all(|pair| pair[0] == pair[1]), "{alice:?}");
    assert!(alice[0].contains("signature colour #"), "{}", alice[0]);

    // The stored pictures were fitted to the render frame; asking again is a cache hit.
    let analysis = app
        .post_json("/api/v1/analysis/extract-scenes", &json!({ "book_id": id }))
        .await;
    let scene_id = analysis["scenes"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .client
        .post(app.url("/api/v1/media/generate-images"))
        .json(&json!({ "book_id": id, "scene_id": scene_id, "orientation": "portrait" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-visiobook-cache"], "hit");
    let png = response.bytes().await.unwrap();
    let (width, height) = png_size(&png);
    let (frame_width, frame_height) = app.state.settings.render_preset.size();
    assert_eq!((width, height), (frame_height, frame_width));
    assert_eq!(seen.lock().unwrap().images.len(), requests.len());
}

#[tokio::test]
async fn azure_openai_images_use_the_deployment_route_and_key() {
    let (provider, seen) = spawn_provider().await;
    let endpoint = format!("http://{provider}");
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_IMAGE_ENGINE", "openai"),
        ("VISIOBOOK_IMAGES_ENDPOINT", endpoint.as_str()),
        ("VISIOBOOK_IMAGES_API_KEY", "azure-images"),
        ("VISIOBOOK_IMAGES_MODEL", "dalle3-deployment"),
        ("VISIOBOOK_IMAGES_API_VERSION", "2024-02-01"),
    ])
    .await;
    let id = app.upload_ok(PLANTED.as_bytes().to_vec()).await;
    app.drain().await;
    assert_eq!(app.status(&id).await["state"], "ready");
    let requests = seen.lock().unwrap().images.clone();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.get("model").is_none()),
        "{requests:?}"
    );
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

#[tokio::test]
async fn the_media_routes_check_their_input_and_report_the_generation() {
    let app = TestApp::spawn().await;
    let post = |path: &str, body: Value| {
        let request = app.client.post(app.url(path)).json(&body);
        async move { request.send().await.unwrap() }
    };
    let voice = "/api/v1/media/synthesize-voice";
    let code = error_code(
        post(voice, json!({ "text": "  " })).await,
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(code.await, "empty_text");
    let long = "word ".repeat(500);
    let code = error_code(
        post(voice, json!({ "text": long })).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert_eq!(code.await, "text_too_long");
    let code = error_code(
        post(voice, json!({ "text": "Hi.", "rate": 9.0 })).await,
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(code.await, "invalid_voice");
    let response = post(voice, json!({ "text": "Hi.", "volume": 3 })).await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown field"
    );

    let images = "/api/v1/media/generate-images";
    let missing = json!({ "book_id": "0123456789abcdef0123456789abcdef", "scene_id": "c1-s1" });
    assert_eq!(post(images, missing).await.status(), StatusCode::NOT_FOUND);
    let status = app.get("/api/v1/media/generation-status/nope").await;
    assert_eq!(status.status(), StatusCode::NOT_FOUND);

    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let early = post(images, json!({ "book_id": id, "scene_id": "c1-s1" })).await;
    assert_eq!(early.status(), StatusCode::CONFLICT, "not analysed yet");
    app.drain().await;
    let unknown = post(images, json!({ "book_id": id, "scene_id": "c99-s1" })).await;
    let code = error_code(unknown, StatusCode::NOT_FOUND);
    assert_eq!(code.await, "scene_not_found");

    let status = generation_status(&app, &id).await;
    assert_eq!(status["generated"], true);
    assert_eq!(status["speech_engine"], "espeak");
    assert_eq!(status["image_engine"], "procedural");
    assert_eq!(status["generation"]["state"], "done");
    let counts = &status["generation"]["counts"];
    assert!(
        counts["sentences_synthesised"].as_u64().unwrap() > 5,
        "{status}"
    );
    assert_eq!(counts["sentences_flagged"], 0);
    assert_eq!(status["estimate"]["sentences_to_synthesise"], 0);
    assert_eq!(status["estimate"]["images_to_draw"], 0);

    let motion = app
        .post_json("/api/v1/media/create-animations", &json!({ "book_id": id }))
        .await;
    let shots = motion["shots"].as_array().unwrap();
    assert!(!shots.is_empty());
    let zoom = |shot: &Value, end: &str| shot["motion"][end]["zoom"].as_f64().unwrap();
    assert!(
        shots
            .iter()
            .all(|s| zoom(s, "from").max(zoom(s, "to")) > 1.05),
        "every shot moves: {motion}"
    );
}

#[tokio::test]
async fn piper_gives_characters_voices_unlike_the_narrator() {
    let models = std::env::var("VISIOBOOK_MODELS_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/visiobook/models",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_SPEECH_ENGINE", "piper"),
        ("VISIOBOOK_MODELS_DIR", models.as_str()),
    ])
    .await;
    let read = |voice: &'static str| {
        let request = app
            .client
            .post(app.url("/api/v1/media/synthesize-voice"))
            .json(&json!({ "text": "Would you tell me, please, which way I ought to go from here?", "voice": voice }));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers()["x-visiobook-engine"],
                "piper",
                "scripts/fetch-models installs the Piper voice"
            );
            audio::decode_wav(&response.bytes().await.unwrap()).unwrap()
        }
    };
    let narrator: Pcm = read("narrator").await;
    let girl: Pcm = read("female-1").await;
    let man: Pcm = read("male-1").await;
    let pitch = |pcm: &Pcm| audio::median_pitch_hz(pcm).unwrap();
    let (n, f, m) = (pitch(&narrator), pitch(&girl), pitch(&man));
    assert!(f > n * 1.2, "narrator {n} Hz, female-1 {f} Hz");
    assert!(m < n * 0.95, "narrator {n} Hz, male-1 {m} Hz");
    // Same words, similar pace: the pitch changed, not the speed.
    let ratio = girl.duration_ms() as f64 / narrator.duration_ms() as f64;
    assert!((0.75..1.33).contains(&ratio), "{ratio}");
}
