//! Login and project-read throughput and latency under concurrent load (issue 7).
//!
//! The app is started in-process exactly as `visiobook dev` serves it (the same registry and
//! router, over fresh embedded stores in a temporary directory), listening on 127.0.0.1, with the
//! per-user and per-address rate limits turned off so that the limiter does not cap what is
//! measured. `VISIOBOOK_BENCH_USERS` (default 50) accounts are registered, each with 5 projects.
//! Then `VISIOBOOK_BENCH_CLIENTS` (default 16) concurrent clients share one keep-alive
//! `reqwest::Client` and loop for `VISIOBOOK_BENCH_SECONDS` (default 10) per phase:
//!
//! 1. `GET /api/health`: the baseline, no authentication and no store. It measures what HTTP,
//!    the router's middleware and the load generator itself cost on this machine, so the other
//!    phases can be read as a ratio to it.
//! 2. `POST /api/v1/auth/login` for random users, always with the right password (failures are
//!    throttled). Each login runs one argon2id verify (m=19456 KiB, t=2, p=1) on the blocking
//!    pool, so login is CPU-bound by design; its floor is measured in the same run: one
//!    `visiobook_auth::verify_password` timed on one core, from which the best login rate this
//!    machine's cores allow follows.
//! 3. `GET /api/v1/projects/{id}`: a random user's access token and one of their projects
//!    (token verification, the ownership check and one document read).
//! 4. `GET /api/v1/projects?page_size=20`: a random user's list (a partition query).
//!
//! For each phase it reports successful requests per second and the p50, p95, p99 and maximum
//! latency (nearest rank over every request's sorted latency, measured from send to the last
//! byte of the body), and the failed requests (transport errors or any non-2xx answer), which
//! must be none: the benchmark exits non-zero otherwise.
//!
//! The load generator runs in the same process and shares the machine's cores with the server;
//! the health baseline carries that cost too, which is why the table shows each phase against it.
//!
//! `cargo bench --bench api_load` (scripts/bench runs it as its last section)

#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use visiobook_runtime::{AppState, Settings};

/// The password every benchmark user has (long enough, not a common one).
const PASSWORD: &str = "correct horse battery staple";
const PROJECTS_PER_USER: usize = 5;
/// How many times the raw argon2id verify is timed.
const VERIFY_RUNS: usize = 20;
/// A request slower than this is counted as failed rather than stalling the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the run is asked to do, from the environment.
#[derive(Debug, Clone, Copy)]
struct Config {
    users: usize,
    clients: usize,
    duration: Duration,
}

impl Config {
    fn from_env() -> Result<Self> {
        let users = env_number("VISIOBOOK_BENCH_USERS", 50)?;
        let clients = env_number("VISIOBOOK_BENCH_CLIENTS", 16)?;
        let seconds = env_number("VISIOBOOK_BENCH_SECONDS", 10)?;
        ensure!(
            users > 0 && clients > 0 && seconds > 0,
            "users, clients and seconds must be positive"
        );
        Ok(Self {
            users,
            clients,
            duration: Duration::from_secs(seconds as u64),
        })
    }
}

fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .with_context(|| format!("{name}={value:?} is not a whole number")),
        Err(_) => Ok(default),
    }
}

/// A registered user: their email, access token and the ids of their projects.
#[derive(Debug)]
struct User {
    email: String,
    access_token: String,
    projects: Vec<String>,
}

/// A small xorshift generator, one per client, so that clients pick users independently
/// without a shared lock (or a dependency) on the hot path.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// What one phase measured.
#[derive(Debug)]
struct Phase {
    name: &'static str,
    /// From the first request sent to the last answer received.
    elapsed: Duration,
    /// Every successful request's latency, sorted.
    latencies: Vec<Duration>,
    /// Failed requests by what went wrong.
    errors: BTreeMap<String, usize>,
}

impl Phase {
    fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The nearest-rank percentile `p` (0-100) of the successful requests' latencies.
    fn percentile(&self, p: f64) -> Duration {
        let count = self.latencies.len();
        if count == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * count as f64).ceil() as usize;
        self.latencies[rank.clamp(1, count) - 1]
    }

    fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// Sends one request and reads its whole body: `Ok` for a 2xx, otherwise what went wrong.
async fn exchange(request: RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(describe)?;
    let status = response.status();
    response.bytes().await.map_err(describe)?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connection refused or reset".to_owned()
    } else {
        format!("transport: {error}")
    }
}

/// Runs `config.clients` clients, each sending the requests `make` builds one after the other,
/// until `config.duration` has passed (requests in flight then are waited for and counted).
async fn load<F>(name: &'static str, client: &Client, config: Config, make: F) -> Result<Phase>
where
    F: Fn(&Client, &mut Rng) -> RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..config.clients {
        let (client, make) = (client.clone(), make.clone());
        tasks.spawn(async move {
            let mut rng = Rng::new(index as u64);
            let mut latencies = Vec::new();
            let mut errors = BTreeMap::<String, usize>::new();
            while Instant::now() < deadline {
                let request = make(&client, &mut rng);
                let sent = Instant::now();
                match exchange(request).await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(problem) => *errors.entry(problem).or_default() += 1,
                }
            }
            (latencies, errors)
        });
    }
    let mut phase = Phase {
        name,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        errors: BTreeMap::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        let (latencies, errors) = joined.context("a load client panicked")?;
        phase.latencies.extend(latencies);
        for (problem, count) in errors {
            *phase.errors.entry(problem).or_default() += count;
        }
    }
    phase.elapsed = started.elapsed();
    phase.latencies.sort_unstable();
    Ok(phase)
}

/// Starts the app on 127.0.0.1:0 over `data_dir`, rate limits off; returns its address and
/// the server task.
async fn spawn_app(
    data_dir: &std::path::Path,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let variables: BTreeMap<String, String> = [
        ("VISIOBOOK_DATA_DIR", data_dir.display().to_string()),
        ("VISIOBOOK_RATE_LIMIT_USER", "0".to_owned()),
        ("VISIOBOOK_RATE_LIMIT_ADDRESS", "0".to_owned()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect();
    let state = AppState::open(Settings::from_map(&variables)?)?;
    let registry = visiobook::registry::functions()?;
    let app = visiobook_runtime::http::finish_router(registry.http_router(), state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, service).await {
            eprintln!("the server stopped: {error}");
        }
    });
    Ok((address, server))
}

/// Sends one set-up request and returns its JSON body, failing unless the status is `expected`.
async fn setup_call(request: RequestBuilder, expected: StatusCode, what: &str) -> Result<Value> {
    let response = request.send().await.with_context(|| what.to_owned())?;
    let status = response.status();
    let body: Value = response.json().await.with_context(|| what.to_owned())?;
    if status != expected {
        bail!("{what}: HTTP {status} {body}");
    }
    Ok(body)
}

/// Registers user `index` and creates their projects.
async fn make_user(client: &Client, base: &str, index: usize) -> Result<User> {
    let email = format!("reader{index}@example.com");
    let body = setup_call(
        client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": PASSWORD })),
        StatusCode::CREATED,
        &format!("registering {email}"),
    )
    .await?;
    let access_token = body["access_token"]
        .as_str()
        .context("register answered no access_token")?
        .to_owned();
    let mut projects = Vec::with_capacity(PROJECTS_PER_USER);
    for number in 1..=PROJECTS_PER_USER {
        let body = setup_call(
            client
                .post(format!("{base}/api/v1/projects"))
                .bearer_auth(&access_token)
                .json(&json!({ "name": format!("Benchmark project {number}") })),
            StatusCode::CREATED,
            &format!("creating a project for {email}"),
        )
        .await?;
        let id = body["id"].as_str().context("create answered no id")?;
        projects.push(id.to_owned());
    }
    Ok(User {
        email,
        access_token,
        projects,
    })
}

/// Registers `config.users` users, `config.clients` at a time.
async fn make_users(client: &Client, base: &str, config: Config) -> Result<Vec<User>> {
    let mut tasks = tokio::task::JoinSet::new();
    for first in 0..config.clients.min(config.users) {
        let (client, base) = (client.clone(), base.to_owned());
        tasks.spawn(async move {
            let mut users = Vec::new();
            for index in (first..config.users).step_by(config.clients) {
                users.push((index, make_user(&client, &base, index).await?));
            }
            anyhow::Ok(users)
        });
    }
    let mut users = Vec::with_capacity(config.users);
    while let Some(joined) = tasks.join_next().await {
        users.extend(joined.context("a set-up task panicked")??);
    }
    users.sort_by_key(|(index, _)| *index);
    Ok(users.into_iter().map(|(_, user)| user).collect())
}

/// One argon2id verify on this thread: the median and the fastest of `VERIFY_RUNS`.
fn argon2_verify_cost() -> Result<(Duration, Duration)> {
    let hash = visiobook_auth::hash_password(PASSWORD)?;
    let mut times = Vec::with_capacity(VERIFY_RUNS);
    for _ in 0..VERIFY_RUNS {
        let started = Instant::now();
        let verified = visiobook_auth::verify_password(PASSWORD, &hash);
        times.push(started.elapsed());
        ensure!(verified, "argon2id did not verify its own hash");
    }
    times.sort_unstable();
    Ok((times[VERIFY_RUNS / 2], times[0]))
}

/// A latency with as many decimals as it needs to be read.
fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

async fn run(config: Config) -> Result<ExitCode> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (verify, verify_fastest) = argon2_verify_cost()?;
    let login_ceiling = cores as f64 / verify.as_secs_f64();

    let data_dir = tempfile::tempdir()?;
    let (address, server) = spawn_app(data_dir.path()).await?;
    let base = format!("http://{address}");
    let client = Client::builder()
        .pool_max_idle_per_host(config.clients)
        .timeout(REQUEST_TIMEOUT)
        .build()?;

    let started = Instant::now();
    let users = Arc::new(make_users(&client, &base, config).await?);
    let setup = started.elapsed();
    let sample = &users[0];
    let listed = setup_call(
        client
            .get(format!("{base}/api/v1/projects?page_size=20"))
            .bearer_auth(&sample.access_token),
        StatusCode::OK,
        "listing the first user's projects",
    )
    .await?;
    let listed = listed["items"].as_array().map_or(0, Vec::len);
    ensure!(
        listed == PROJECTS_PER_USER,
        "the first user lists {listed} projects, not {PROJECTS_PER_USER}"
    );

    let url = format!("{base}/api/health");
    let health = load("health (baseline)", &client, config, move |client, _| {
        client.get(&url)
    })
    .await?;

    let (url, all) = (format!("{base}/api/v1/auth/login"), users.clone());
    let login = load("login", &client, config, move |client, rng| {
        let user = &all[rng.below(all.len())];
        client
            .post(&url)
            .json(&json!({ "email": user.email, "password": PASSWORD }))
    })
    .await?;

    let (base_url, all) = (base.clone(), users.clone());
    let read = load("project read", &client, config, move |client, rng| {
        let user = &all[rng.below(all.len())];
        let project = &user.projects[rng.below(user.projects.len())];
        client
            .get(format!("{base_url}/api/v1/projects/{project}"))
            .bearer_auth(&user.access_token)
    })
    .await?;

    let (url, all) = (
        format!("{base}/api/v1/projects?page_size=20"),
        users.clone(),
    );
    let list = load("project list", &client, config, move |client, rng| {
        let user = &all[rng.below(all.len())];
        client.get(&url).bearer_auth(&user.access_token)
    })
    .await?;

    server.abort();
    let phases = [&health, &login, &read, &list];
    let seconds = config.duration.as_secs();
    println!();
    println!(
        "api_load: in-process app on {address}, {} clients, {seconds} s per phase, {} users with \
         {PROJECTS_PER_USER} projects each (set up in {:.1} s), {cores} cores",
        config.clients,
        users.len(),
        setup.as_secs_f64()
    );
    println!();
    println!("| phase | requests | req/s | p50 | p95 | p99 | max | errors | vs health |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for phase in phases {
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {:.3}x |",
            phase.name,
            phase.latencies.len(),
            phase.rate(),
            ms(phase.percentile(50.0)),
            ms(phase.percentile(95.0)),
            ms(phase.percentile(99.0)),
            ms(phase.max()),
            phase.error_count(),
            phase.rate() / health.rate(),
        );
    }
    println!();
    for phase in phases {
        println!(
            "{}: {} clients, {seconds} s: {:.1} req/s, p50 {}, p99 {}, errors {}",
            phase.name,
            config.clients,
            phase.rate(),
            ms(phase.percentile(50.0)),
            ms(phase.percentile(99.0)),
            phase.error_count()
        );
    }
    println!(
        "argon2id verify alone: {} median, {} fastest of {VERIFY_RUNS} on one core; {cores} cores \
         allow at most {login_ceiling:.1} logins/s, login reached {:.0}% of that",
        ms(verify),
        ms(verify_fastest),
        100.0 * login.rate() / login_ceiling
    );

    let failed: usize = phases.iter().map(|phase| phase.error_count()).sum();
    if failed == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    for phase in phases {
        for (problem, count) in &phase.errors {
            eprintln!("{}: {count} failed: {problem}", phase.name);
        }
    }
    eprintln!("api_load: {failed} requests failed");
    Ok(ExitCode::FAILURE)
}

fn main() -> Result<ExitCode> {
    let config = Config::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(config))
}
