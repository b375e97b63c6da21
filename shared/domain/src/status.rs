//! The pipeline's status document for one book, and the message that drives each stage.
//!
//! The status document is the single place a user (through `GET /api/v1/content/status/{id}`)
//! and an operator learn where a book is: which stage runs, how far along, how many attempts,
//! what failed and why, and where the outputs are. Its transitions are pure functions here so
//! that they can be tested without any store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The pipeline stages in order. Each has its own queue of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Ingestion,
    Analysis,
    Generation,
    Assembly,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Ingestion,
        Stage::Analysis,
        Stage::Generation,
        Stage::Assembly,
    ];

    /// The queue that feeds this stage.
    pub fn queue(self) -> &'static str {
        match self {
            Stage::Ingestion => "ingestion",
            Stage::Analysis => "analysis",
            Stage::Generation => "generation",
            Stage::Assembly => "assembly",
        }
    }

    pub fn from_queue(queue: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.queue() == queue)
    }

    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Ingestion => Some(Stage::Analysis),
            Stage::Analysis => Some(Stage::Generation),
            Stage::Generation => Some(Stage::Assembly),
            Stage::Assembly => None,
        }
    }

    /// The share of overall progress at which this stage starts and ends, in percent.
    fn progress_span(self) -> (u8, u8) {
        match self {
            Stage::Ingestion => (0, 10),
            Stage::Analysis => (10, 20),
            Stage::Generation => (20, 75),
            Stage::Assembly => (75, 100),
        }
    }

    /// Overall percent when this stage is `fraction` (0..=1) done.
    pub fn overall_percent(self, fraction: f64) -> u8 {
        let (start, end) = self.progress_span();
        let fraction = fraction.clamp(0.0, 1.0);
        // Bounded by `end` (at most 100), so the cast cannot truncate.
        (f64::from(start) + f64::from(end - start) * fraction).round() as u8
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.queue())
    }
}

/// Whether `id` has the shape of a book id (32 lowercase hex digits, as `submit_book` makes
/// them); anything else cannot name a book and is answered as not found.
pub fn is_book_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The body of every pipeline queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMessage {
    pub book_id: String,
    /// Travels through every stage so that logs of one book can be joined.
    pub correlation_id: String,
}

impl StageMessage {
    /// The message id used for duplicate detection: one message per book and stage.
    pub fn message_id(&self, stage: Stage) -> String {
        format!("{}-{}", stage.queue(), self.book_id)
    }
}

/// Where the book is, as a user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookState {
    Queued,
    Processing,
    Ready,
    Failed,
}

/// Where one stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Pending,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub state: StageState,
    /// Deliveries of this stage's message that started work.
    pub attempts: u32,
    /// How many times the stage ran to completion (1 unless something re-drove it).
    pub completions: u32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub last_error: Option<String>,
    /// Stage-specific counts (chapters, scenes, items generated and reused).
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// Work units done while the stage runs (`12 of 86 pages`); the last count stays after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<UnitProgress>,
    /// Seconds the running stage still needs, estimated from its pace so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
}

/// Units of a stage's work done so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitProgress {
    pub done: u32,
    pub total: u32,
    /// `pages`, `items`, `scenes`.
    pub unit: String,
}

impl StageRecord {
    fn pending() -> Self {
        Self {
            state: StageState::Pending,
            attempts: 0,
            completions: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            last_error: None,
            counts: BTreeMap::new(),
            progress: None,
            eta_seconds: None,
        }
    }
}

/// The uploaded original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub blob_key: String,
    pub file_name: Option<String>,
    pub size_bytes: u64,
    pub content_type: String,
    /// The format identified from the bytes (`text`, `epub`, `pdf`, `image`...).
    #[serde(default)]
    pub format: Option<String>,
    /// The book's language as the uploader gave it; detected when absent.
    #[serde(default)]
    pub language: Option<String>,
}

/// A produced file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRef {
    pub blob_key: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub duration_ms: Option<u64>,
}

/// Why a book failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub stage: Stage,
    /// Stable snake_case code when the failure is a known one (`zip_bomb`, `no_text`...).
    #[serde(default)]
    pub code: Option<String>,
    pub reason: String,
    pub attempts: u32,
}

/// The status document, stored in the `books` container with the book id as partition key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookStatus {
    pub id: String,
    pub state: BookState,
    /// The stage running or next to run; `None` once ready.
    pub stage: Option<Stage>,
    pub percent: u8,
    pub title: Option<String>,
    pub source: SourceRef,
    pub stages: BTreeMap<Stage, StageRecord>,
    /// Outputs by name (`video`, `book`, `analysis`, `timeline`, `report`).
    pub outputs: BTreeMap<String, OutputRef>,
    pub error: Option<Failure>,
    pub correlation_id: String,
    /// The user who uploaded the book; `None` for books rendered from the command line, which
    /// only administrators reach through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The project this book was rendered from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl BookStatus {
    pub fn new(id: String, source: SourceRef, correlation_id: String, now: String) -> Self {
        Self {
            id,
            state: BookState::Queued,
            stage: Some(Stage::Ingestion),
            percent: 0,
            title: None,
            source,
            stages: Stage::ALL
                .into_iter()
                .map(|stage| (stage, StageRecord::pending()))
                .collect(),
            outputs: BTreeMap::new(),
            error: None,
            correlation_id,
            owner: None,
            project_id: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    pub fn record(&self, stage: Stage) -> Option<&StageRecord> {
        self.stages.get(&stage)
    }

    fn record_mut(&mut self, stage: Stage) -> &mut StageRecord {
        self.stages
            .entry(stage)
            .or_insert_with(StageRecord::pending)
    }

    /// Whether the stage already ran to completion (a redelivered message then only re-sends
    /// the next stage's message instead of redoing the work).
    pub fn is_done(&self, stage: Stage) -> bool {
        self.record(stage)
            .is_some_and(|record| record.state == StageState::Done)
    }

    /// A delivery of the stage's message starts work.
    pub fn start_stage(&mut self, stage: Stage, now: &str) {
        self.state = BookState::Processing;
        self.stage = Some(stage);
        self.percent = self.percent.max(stage.overall_percent(0.0));
        self.error = None;
        let record = self.record_mut(stage);
        record.state = StageState::Running;
        record.attempts += 1;
        if record.started_at.is_none() {
            record.started_at = Some(now.to_owned());
        }
        self.updated_at = now.to_owned();
    }

    /// Progress inside a running stage (`fraction` in 0..=1). Never moves backwards.
    pub fn progress(&mut self, stage: Stage, fraction: f64, now: &str) {
        self.percent = self.percent.max(stage.overall_percent(fraction));
        self.updated_at = now.to_owned();
    }

    /// Progress with the time the stage still needs.
    pub fn progress_with_eta(
        &mut self,
        stage: Stage,
        fraction: f64,
        eta_seconds: Option<u64>,
        now: &str,
    ) {
        self.progress(stage, fraction, now);
        self.record_mut(stage).eta_seconds = eta_seconds;
    }

    /// Progress counted in units (`done` of `total` pages); also moves the percent.
    pub fn progress_units(&mut self, stage: Stage, done: u32, total: u32, unit: &str, now: &str) {
        self.progress(stage, f64::from(done) / f64::from(total.max(1)), now);
        self.record_mut(stage).progress = Some(UnitProgress {
            done,
            total,
            unit: unit.to_owned(),
        });
    }

    /// The stage finished; `counts` replace the stage's counts.
    pub fn finish_stage(
        &mut self,
        stage: Stage,
        now: &str,
        duration_ms: u64,
        counts: BTreeMap<String, u64>,
    ) {
        let record = self.record_mut(stage);
        record.state = StageState::Done;
        record.eta_seconds = None;
        record.completions += 1;
        record.finished_at = Some(now.to_owned());
        record.duration_ms = Some(duration_ms);
        record.last_error = None;
        record.counts = counts;
        match stage.next() {
            Some(next) => {
                self.stage = Some(next);
                self.percent = self.percent.max(stage.overall_percent(1.0));
            }
            None => {
                self.stage = None;
                self.state = BookState::Ready;
                self.percent = 100;
            }
        }
        self.updated_at = now.to_owned();
    }

    /// An attempt failed. With `final_attempt`, the book is failed for good (its message is
    /// dead-lettered); otherwise it will be retried.
    pub fn fail_attempt(&mut self, stage: Stage, reason: &str, final_attempt: bool, now: &str) {
        self.fail(stage, None, reason, final_attempt, now);
    }

    /// Like [`BookStatus::fail_attempt`], with a stable error code.
    /// Runs a finished (or failed) stage again, from the next delivery of its message: the
    /// book is processing again; outputs stay until the new ones replace them.
    pub fn reopen_stage(&mut self, stage: Stage, now: &str) {
        self.state = BookState::Processing;
        self.stage = Some(stage);
        self.error = None;
        let record = self.record_mut(stage);
        record.state = StageState::Pending;
        record.last_error = None;
        record.progress = None;
        record.eta_seconds = None;
        self.updated_at = now.to_owned();
    }

    pub fn fail(
        &mut self,
        stage: Stage,
        code: Option<&str>,
        reason: &str,
        final_attempt: bool,
        now: &str,
    ) {
        let record = self.record_mut(stage);
        record.last_error = Some(reason.to_owned());
        let attempts = record.attempts;
        if final_attempt {
            record.state = StageState::Failed;
            self.state = BookState::Failed;
            self.error = Some(Failure {
                stage,
                code: code.map(str::to_owned),
                reason: reason.to_owned(),
                attempts,
            });
        }
        self.updated_at = now.to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> BookStatus {
        BookStatus::new(
            "b1".into(),
            SourceRef {
                blob_key: "uploads/b1/original".into(),
                file_name: Some("alice.txt".into()),
                size_bytes: 10,
                content_type: "text/plain".into(),
                format: Some("text".into()),
                language: None,
            },
            "corr".into(),
            "t0".into(),
        )
    }

    #[test]
    fn a_book_walks_through_every_stage_to_ready() {
        let mut status = status();
        assert_eq!(status.state, BookState::Queued);
        let mut last_percent = 0;
        for stage in Stage::ALL {
            status.start_stage(stage, "t1");
            assert_eq!(status.stage, Some(stage));
            status.progress_units(stage, 1, 2, "pages", "t1");
            assert_eq!(
                status
                    .record(stage)
                    .and_then(|r| r.progress.as_ref())
                    .map(|p| p.done),
                Some(1)
            );
            assert!(status.percent >= last_percent);
            status.finish_stage(stage, "t2", 5, BTreeMap::new());
            assert!(status.is_done(stage));
            last_percent = status.percent;
        }
        assert_eq!(status.state, BookState::Ready);
        assert_eq!(status.stage, None);
        assert_eq!(status.percent, 100);
    }

    #[test]
    fn failures_are_recorded_then_final() {
        let mut status = status();
        status.start_stage(Stage::Ingestion, "t1");
        status.fail_attempt(Stage::Ingestion, "boom", false, "t1");
        assert_eq!(status.state, BookState::Processing);
        assert_eq!(status.error, None);
        status.start_stage(Stage::Ingestion, "t2");
        status.fail_attempt(Stage::Ingestion, "boom again", true, "t2");
        assert_eq!(status.state, BookState::Failed);
        let failure = status.error.expect("final failure is recorded");
        assert_eq!(failure.attempts, 2);
        assert_eq!(failure.reason, "boom again");
    }

    #[test]
    fn status_round_trips_through_json_with_stage_keys_as_names() {
        let status = status();
        let json = serde_json::to_value(&status).expect("serialises");
        assert!(json["stages"]["generation"].is_object());
        let back: BookStatus = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, status);
    }

    #[test]
    fn message_ids_are_stable_per_book_and_stage() {
        let message = StageMessage {
            book_id: "b1".into(),
            correlation_id: "c".into(),
        };
        assert_eq!(message.message_id(Stage::Analysis), "analysis-b1");
        assert_eq!(Stage::from_queue("assembly"), Some(Stage::Assembly));
        assert_eq!(Stage::from_queue("nope"), None);
    }
}
