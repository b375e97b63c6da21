//! Conformance suites, written once and run against every adapter.
//!
//! Each suite is a list of named async checks taking a fresh, empty store. Adapter crates call
//! [`document_store_conformance!`](crate::document_store_conformance),
//! [`blob_store_conformance!`](crate::blob_store_conformance) and
//! [`job_queue_conformance!`](crate::job_queue_conformance) from their tests with a factory
//! expression; the macros expand to one `#[tokio::test]` per check so a failure names the rule
//! that broke.
//!
//! # Calling the macros
//!
//! The argument is an *expression that can be awaited* (an `async { .. }` block or a call to an
//! `async fn`). It is pasted into every generated test, so each test gets a fresh store. The
//! awaited value is either the store itself (`Arc<T>` or `Arc<dyn Port>`) or a pair
//! `(store, guard)`; the guard (for example a `tempfile::TempDir`) is kept alive until the check
//! has finished and then dropped.
//!
//! ```ignore
//! mod documents {
//!     visiobook_ports::document_store_conformance!(async {
//!         let dir = tempfile::tempdir().expect("temp dir");
//!         let store = MyStore::open(dir.path()).expect("open");
//!         (std::sync::Arc::new(store), dir)
//!     });
//! }
//! ```
//!
//! The calling crate needs `tokio` (features `macros` and `rt-multi-thread`) as a
//! dev-dependency: the generated tests are `#[tokio::test(flavor = "multi_thread")]`.
//! The queue factory must build its queue with [`conformance_queue_specs`].
//!
//! The checks only use real time (short sleeps) and derive the waits from the queue specs, so
//! the same suites can run against remote backends whose timings are longer.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use crate::blob::BlobStore;
use crate::document::DocumentStore;
use crate::error::{ErrorKind, StoreResult};
use crate::queue::{JobQueue, QueueSpec};

pub mod blob;
pub mod document;
pub mod queue;

/// The queue every queue check uses: 1 s lock, 3 deliveries, 2 s duplicate window.
pub const QUEUE: &str = "conformance";
/// A second queue that must stay isolated from [`QUEUE`].
pub const OTHER_QUEUE: &str = "conformance-other";

/// The queues a [`JobQueue`] under test must be built with.
pub fn conformance_queue_specs() -> Vec<QueueSpec> {
    [QUEUE, OTHER_QUEUE]
        .into_iter()
        .map(|name| QueueSpec {
            name: name.to_owned(),
            lock_duration: Duration::from_secs(1),
            max_delivery_count: 3,
            duplicate_detection_window: Duration::from_secs(2),
        })
        .collect()
}

/// Whatever a test must keep alive while the store is in use (a temporary directory, ...).
pub type SubjectGuard = Box<dyn Any + Send>;

/// What a conformance factory may produce: a store, or a store with a guard.
///
/// `P` is the port's trait object (`dyn DocumentStore`, `dyn BlobStore`, `dyn JobQueue`).
pub trait IntoSubject<P: ?Sized> {
    /// The store as the port's trait object, and the guard to drop after the check.
    fn into_subject(self) -> (Arc<P>, SubjectGuard);
}

macro_rules! subject_impls {
    ($port:path) => {
        impl<T: $port + 'static> IntoSubject<dyn $port> for Arc<T> {
            fn into_subject(self) -> (Arc<dyn $port>, SubjectGuard) {
                (self, Box::new(()))
            }
        }
        impl IntoSubject<dyn $port> for Arc<dyn $port> {
            fn into_subject(self) -> (Arc<dyn $port>, SubjectGuard) {
                (self, Box::new(()))
            }
        }
        impl<T: $port + 'static, G: Send + 'static> IntoSubject<dyn $port> for (Arc<T>, G) {
            fn into_subject(self) -> (Arc<dyn $port>, SubjectGuard) {
                (self.0, Box::new(self.1))
            }
        }
        impl<G: Send + 'static> IntoSubject<dyn $port> for (Arc<dyn $port>, G) {
            fn into_subject(self) -> (Arc<dyn $port>, SubjectGuard) {
                (self.0, Box::new(self.1))
            }
        }
    };
}

subject_impls!(DocumentStore);
subject_impls!(BlobStore);
subject_impls!(JobQueue);

/// Expands to one test per check, each awaiting `$factory` for a fresh store.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($port:path, $module:ident, $factory:expr, [$($check:ident),* $(,)?]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (store, guard) = <_ as $crate::conformance::IntoSubject<dyn $port>>::into_subject(
                    $factory.await,
                );
                $crate::conformance::$module::$check(store).await;
                drop(guard);
            }
        )*
    };
}

/// Generates the document-store conformance tests; see the [module docs](crate::conformance).
#[macro_export]
macro_rules! document_store_conformance {
    ($factory:expr $(,)?) => {
        $crate::__conformance_tests!(
            $crate::DocumentStore,
            document,
            $factory,
            [
                create_then_read_round_trips,
                create_twice_conflicts,
                read_missing_is_none,
                upsert_creates_then_overwrites,
                replace_with_matching_etag_succeeds,
                replace_with_stale_etag_fails,
                replace_missing_is_not_found,
                delete_with_mismatched_etag_fails,
                delete_missing_is_not_found,
                partitions_and_containers_are_isolated,
                query_filters_by_equality,
                query_orders_with_ties_broken_by_id,
                query_pages_with_continuation,
                query_rejects_invalid_field_paths,
                query_rejects_bad_continuation,
                query_rejects_bad_page_size,
                ping_answers,
            ]
        );
    };
}

/// Generates the blob-store conformance tests; see the [module docs](crate::conformance).
#[macro_export]
macro_rules! blob_store_conformance {
    ($factory:expr $(,)?) => {
        $crate::__conformance_tests!(
            $crate::BlobStore,
            blob,
            $factory,
            [
                put_then_get_round_trips,
                overwrite_changes_etag_and_size,
                missing_objects_are_reported,
                range_reads,
                put_stream_large_round_trips,
                put_file_round_trips,
                open_returns_meta_and_stream,
                delete_reports_existence,
                list_by_prefix_is_sorted,
                keys_are_validated,
                failed_put_stream_keeps_previous_object,
                ping_answers,
            ]
        );
    };
}

/// Generates the job-queue conformance tests; see the [module docs](crate::conformance).
/// The factory must build the queue with [`conformance_queue_specs`].
#[macro_export]
macro_rules! job_queue_conformance {
    ($factory:expr $(,)?) => {
        $crate::__conformance_tests!(
            $crate::JobQueue,
            queue,
            $factory,
            [
                send_receive_complete,
                receive_on_empty_is_none,
                bogus_lock_token_is_lock_lost,
                peek_lock_hides_until_expiry,
                renew_lock_extends_the_lock,
                abandon_redelivers_at_once,
                max_delivery_count_dead_letters,
                expired_lock_at_max_delivery_dead_letters,
                explicit_dead_letter_is_peekable,
                scheduled_message_waits,
                duplicate_detection,
                fifo_by_sequence,
                properties_and_correlation_round_trip,
                stats_count_messages,
                unknown_queue_is_not_found,
                queues_are_isolated,
                concurrent_receivers_never_share,
                ping_answers,
            ]
        );
    };
}

/// Panics unless `result` failed with `kind`.
#[track_caller]
pub(crate) fn assert_kind<T: Debug>(result: StoreResult<T>, kind: ErrorKind, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected {kind:?}, got Ok({value:?})"),
        Err(error) => assert_eq!(error.kind, kind, "{what}: expected {kind:?}, got {error}"),
    }
}

/// Unwraps `result` or panics naming the step.
#[track_caller]
pub(crate) fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: unexpected error {error}"),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
