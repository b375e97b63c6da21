//! `visiobook`: one binary, every face of the product (see `docs/ARCHITECTURE.md`).

use visiobook::{commands, telemetry};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use visiobook_runtime::Settings;
use visiobook_runtime::settings::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "visiobook",
    version,
    about = "Turns books into audiovisual experiences"
)]
struct Cli {
    /// Data directory of the embedded stores (overrides VISIOBOOK_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a book into DIR in one process: ingest, analyse, generate, assemble.
    Render {
        /// The book file (plain text for now).
        book: PathBuf,
        /// Output folder (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Video preset (overrides VISIOBOOK_RENDER_PRESET).
        #[arg(long, value_enum)]
        preset: Option<Preset>,
        /// The book's language (en, fr...); detected when absent.
        #[arg(long)]
        lang: Option<String>,
        /// Exports to make, comma-separated: mp4, webm, gif, m4b, srt, vtt, epub, storyboard,
        /// or all (overrides VISIOBOOK_EXPORT_FORMATS; default all).
        #[arg(long, value_parser = parse_formats)]
        formats: Option<String>,
        /// Draw the subtitles into the picture too (overrides VISIOBOOK_BURN_SUBTITLES).
        #[arg(long)]
        burn_subtitles: bool,
    },
    /// Run the local estate: every HTTP function, the queue workers and the timers.
    Dev {
        /// Port on 127.0.0.1 (overrides VISIOBOOK_PORT).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Custom-handler mode for the Azure Functions host (port from FUNCTIONS_CUSTOMHANDLER_PORT).
    Serve,
    /// KEDA job mode: process messages of one stage's queue.
    Job {
        #[arg(value_enum)]
        stage: JobStage,
        /// Process at most one message, then exit (the default).
        #[arg(long, conflicts_with = "run_loop")]
        once: bool,
        /// Keep processing until SIGTERM.
        #[arg(long = "loop")]
        run_loop: bool,
    },
    /// Write the deployable Function App folder.
    Package {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the book.v1 JSON of a book file (TXT, Markdown, HTML, EPUB, PDF or a scanned page).
    Ingest {
        book: PathBuf,
        /// The book's language (en, fr...); detected when absent.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Print the analysis.v1 JSON of a book file.
    Analyze {
        book: PathBuf,
        #[arg(long)]
        lang: Option<String>,
    },
    /// Rotate a key in the keys directory (VISIOBOOK_KEYS_DIR); running services pick it up
    /// when they restart. Old keys stay: tokens they signed verify until they expire, data
    /// they encrypted still decrypts.
    RotateKey {
        #[arg(value_enum)]
        key: KeyKind,
    },
    /// Print the keys of the keys directory (made if missing) as the settings that carry them
    /// elsewhere, one JSON object: store each value as a Key Vault secret that the Function
    /// App's settings reference, so that every instance holds the same keys (docs/DEPLOY.md).
    ExportKeys,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KeyKind {
    /// The ES256 key that signs access tokens.
    Signing,
    /// The key-encryption key of envelope encryption.
    Data,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Preset {
    /// 640x360, 12 fps, fastest encode.
    Preview,
    /// 1280x720, 25 fps, x264 veryfast.
    Standard,
    /// 1920x1080, 30 fps, x264 medium.
    Final,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum JobStage {
    Ingestion,
    Analysis,
    Generation,
    Assembly,
}

fn rotate_key(settings: &Settings, key: KeyKind) -> anyhow::Result<()> {
    use std::io::Write as _;
    use visiobook_runtime::auth::Authority;
    let line = match key {
        KeyKind::Signing => format!(
            "new signing key {}; restart the services to sign with it",
            Authority::rotate_signing_key(&settings.keys_dir)?
        ),
        KeyKind::Data => format!(
            "data key version {} is current; restart the services to encrypt with it",
            Authority::rotate_data_key(&settings.keys_dir)?
        ),
    };
    writeln!(std::io::stdout(), "{line}")?;
    Ok(())
}

fn export_keys(settings: &Settings) -> anyhow::Result<()> {
    use std::io::Write as _;
    let pairs = visiobook_runtime::auth::Authority::export(&settings.keys_dir)?;
    let object: serde_json::Map<String, serde_json::Value> = pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), serde_json::Value::String(value)))
        .collect();
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&object)?
    )?;
    Ok(())
}

/// Checks an export list as clap parses it, so a typo is refused before any work.
fn parse_formats(list: &str) -> Result<String, String> {
    visiobook_assembly::Format::parse_list(list).map(|_| list.to_owned())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut variables: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(dir) = &cli.data_dir {
        variables.insert("VISIOBOOK_DATA_DIR".into(), dir.display().to_string());
    }
    match &cli.command {
        Command::Dev { port: Some(port) } => {
            variables.insert("VISIOBOOK_PORT".into(), port.to_string());
        }
        Command::Render {
            preset,
            formats,
            burn_subtitles,
            ..
        } => {
            if let Some(preset) = preset {
                let name = match preset {
                    Preset::Preview => "preview",
                    Preset::Standard => "standard",
                    Preset::Final => "final",
                };
                variables.insert("VISIOBOOK_RENDER_PRESET".into(), name.into());
            }
            if let Some(formats) = formats {
                variables.insert("VISIOBOOK_EXPORT_FORMATS".into(), formats.clone());
            }
            if *burn_subtitles {
                variables.insert("VISIOBOOK_BURN_SUBTITLES".into(), "true".into());
            }
        }
        _ => {}
    }
    let settings = match Settings::from_map(&variables) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("visiobook: invalid setting {error}");
            return ExitCode::from(2);
        }
    };
    let default_format = match cli.command {
        Command::Dev { .. } | Command::Serve | Command::Job { .. } => LogFormat::Json,
        _ => LogFormat::Pretty,
    };
    let _telemetry = telemetry::init(
        settings.log_format.unwrap_or(default_format),
        &settings.log_filter,
        settings
            .application_insights
            .as_ref()
            .map(visiobook_runtime::settings::Secret::expose),
    );

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("visiobook: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir_given = cli.data_dir.is_some() || variables.contains_key("VISIOBOOK_DATA_DIR");
    let command = match &cli.command {
        Command::Render { .. } => "render",
        Command::Dev { .. } => "dev",
        Command::Serve => "serve",
        Command::Job { .. } => "job",
        Command::Package { .. } => "package",
        Command::Ingest { .. } => "ingest",
        Command::Analyze { .. } => "analyze",
        Command::RotateKey { .. } => "rotate-key",
        Command::ExportKeys => "export-keys",
    };
    // One span per run: the root of a CLI command's trace.
    let span = tracing::info_span!("visiobook", command);
    let result = runtime.block_on(tracing::Instrument::instrument(
        async move {
            match cli.command {
                Command::Render {
                    book, out, lang, ..
                } => commands::render::run(settings, data_dir_given, &book, &out, lang).await,
                Command::Dev { .. } => commands::dev::run(settings).await,
                Command::Serve => commands::serve::run(settings).await,
                Command::Job {
                    stage, run_loop, ..
                } => {
                    let stage = match stage {
                        JobStage::Ingestion => visiobook_domain::Stage::Ingestion,
                        JobStage::Analysis => visiobook_domain::Stage::Analysis,
                        JobStage::Generation => visiobook_domain::Stage::Generation,
                        JobStage::Assembly => visiobook_domain::Stage::Assembly,
                    };
                    commands::job::run(settings, stage, run_loop).await
                }
                Command::Package { out } => commands::package::run(settings, &out),
                Command::Ingest { book, lang } => commands::inspect::ingest(&settings, &book, lang),
                Command::Analyze { book, lang } => {
                    commands::inspect::analyze(&settings, &book, lang)
                }
                Command::RotateKey { key } => rotate_key(&settings, key),
                Command::ExportKeys => export_keys(&settings),
            }
        },
        span,
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("visiobook: {error:#}");
            ExitCode::FAILURE
        }
    }
}
