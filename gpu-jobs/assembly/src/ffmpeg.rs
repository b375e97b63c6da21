//! Running the system ffmpeg through `ffmpeg-sidecar` (no downloader), with its progress
//! events turned into fractions of the expected output duration.

use std::path::Path;

use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};

use crate::AssemblyError;

/// Runs ffmpeg with `args`; `progress` gets 0..=1 of `seconds` of output as ffmpeg reports
/// them. Errors carry ffmpeg's own error lines.
pub async fn run(
    ffmpeg: &Path,
    args: Vec<String>,
    seconds: f64,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<(), AssemblyError> {
    let mut command = FfmpegCommand::new_with_path(ffmpeg);
    command.hide_banner().overwrite().args(args);
    let mut child = command
        .spawn()
        .map_err(|error| AssemblyError::Ffmpeg(format!("{}: {error}", ffmpeg.display())))?;
    // The event iterator blocks on ffmpeg's output, so it runs on a blocking thread and
    // sends progress back over a channel.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let watcher = tokio::task::spawn_blocking(move || -> Result<(), AssemblyError> {
        let iterator = child
            .iter()
            .map_err(|error| AssemblyError::Ffmpeg(error.to_string()))?;
        let mut errors = Vec::new();
        for event in iterator {
            match event {
                FfmpegEvent::Progress(report) => {
                    if let Some(done) = parse_clock(&report.time)
                        && seconds > 0.0
                    {
                        // A closed receiver only means nobody listens to progress any more.
                        let _ = sender.send((done / seconds).clamp(0.0, 1.0));
                    }
                }
                FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line)
                | FfmpegEvent::Error(line) => errors.push(line),
                _ => {}
            }
        }
        let status = child
            .wait()
            .map_err(|error| AssemblyError::Ffmpeg(error.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(AssemblyError::Ffmpeg(format!(
                "exit {status}: {}",
                errors.join("; ")
            )))
        }
    });
    while let Some(fraction) = receiver.recv().await {
        progress(fraction);
    }
    watcher
        .await
        .map_err(|error| AssemblyError::Ffmpeg(format!("ffmpeg watcher stopped: {error}")))??;
    progress(1.0);
    Ok(())
}

/// `"00:01:02.50"` to 62.5 seconds.
pub fn parse_clock(text: &str) -> Option<f64> {
    let mut seconds = 0.0;
    for part in text.trim().split(':') {
        seconds = seconds * 60.0 + part.parse::<f64>().ok()?;
    }
    seconds.is_finite().then_some(seconds)
}

/// An ffconcat list of files (paths quoted for the concat demuxer).
pub fn concat_list(paths: &[&Path]) -> String {
    let mut list = String::from("ffconcat version 1.0\n");
    for path in paths {
        list.push_str(&concat_entry(path));
    }
    list
}

/// An ffconcat list where each file lasts exactly its given milliseconds: the next file starts
/// there, whatever the frames of the previous one add up to.
pub fn timed_concat_list(entries: &[(&Path, u64)]) -> String {
    let mut list = String::from("ffconcat version 1.0\n");
    for (path, ms) in entries {
        list.push_str(&concat_entry(path));
        list.push_str(&format!("duration {}\n", seconds(*ms)));
    }
    list
}

fn concat_entry(path: &Path) -> String {
    let quoted = path.display().to_string().replace('\'', "'\\''");
    format!("file '{quoted}'\n")
}

/// Seconds with millisecond precision, as ffmpeg options take them.
pub fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_parse() {
        assert_eq!(parse_clock("00:01:02.50"), Some(62.5));
        assert_eq!(parse_clock("N/A"), None);
        assert_eq!(seconds(62_005), "62.005");
    }

    #[test]
    fn concat_lists_quote_paths() {
        let list = concat_list(&[Path::new("/tmp/a b.wav"), Path::new("/tmp/it's.wav")]);
        assert_eq!(
            list,
            "ffconcat version 1.0\nfile '/tmp/a b.wav'\nfile '/tmp/it'\\''s.wav'\n"
        );
    }
}
