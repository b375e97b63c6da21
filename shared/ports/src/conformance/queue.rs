//! The [`JobQueue`] checks. The queue must be built with
//! [`conformance_queue_specs`](super::conformance_queue_specs); waits derive from the spec of
//! [`QUEUE`], so a backend with longer minimum timings can pass the same checks (slower).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{OTHER_QUEUE, QUEUE, assert_kind, now_ms, ok};
use crate::error::ErrorKind;
use crate::queue::{
    JobQueue, LockToken, MAX_DELIVERY_COUNT_EXCEEDED, OutgoingMessage, QueueSpec, QueueStats,
    ReceivedMessage, SendOutcome,
};

/// Extra time waited past a deadline, to absorb clock granularity and scheduling.
const MARGIN: Duration = Duration::from_millis(400);

fn message(id: &str, body: &'static str) -> OutgoingMessage {
    OutgoingMessage::new(id, Bytes::from_static(body.as_bytes()))
}

fn spec(store: &dyn JobQueue) -> QueueSpec {
    ok(store.spec(QUEUE), "spec of the conformance queue")
}

async fn send(store: &dyn JobQueue, queue: &str, outgoing: OutgoingMessage) {
    let id = outgoing.message_id.clone();
    let outcome = ok(store.send(queue, outgoing).await, "send");
    assert_eq!(
        outcome,
        SendOutcome::Enqueued,
        "sending the new message {id:?} enqueues it"
    );
}

#[track_caller]
fn expect_message(received: Option<ReceivedMessage>, what: &str) -> ReceivedMessage {
    match received {
        Some(message) => message,
        None => panic!("{what}: expected a message, the queue returned none"),
    }
}

async fn receive(store: &dyn JobQueue, queue: &str, what: &str) -> ReceivedMessage {
    expect_message(ok(store.receive(queue).await, what), what)
}

async fn receive_none(store: &dyn JobQueue, queue: &str, what: &str) {
    let received = ok(store.receive(queue).await, what);
    assert!(
        received.is_none(),
        "{what}: expected no message, got {received:?}"
    );
}

async fn stats(store: &dyn JobQueue, queue: &str) -> QueueStats {
    ok(store.stats(queue).await, "stats")
}

fn bogus() -> LockToken {
    LockToken(format!("bogus-{}", uuid::Uuid::new_v4()))
}

pub async fn send_receive_complete(store: Arc<dyn JobQueue>) {
    let before = now_ms();
    send(&*store, QUEUE, message("m-1", "hello")).await;
    let received = receive(&*store, QUEUE, "receive after send").await;
    assert_eq!(received.message_id, "m-1", "message id");
    assert_eq!(received.body, Bytes::from_static(b"hello"), "body");
    assert_eq!(
        received.delivery_count, 1,
        "the first delivery has delivery count 1"
    );
    assert!(
        received.locked_until_ms > before,
        "the lock lasts into the future"
    );
    let minute = 60_000;
    assert!(
        (before - minute..=now_ms() + minute).contains(&received.enqueued_time_ms),
        "enqueued_time_ms {} is not close to now",
        received.enqueued_time_ms
    );
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "complete",
    );
    receive_none(&*store, QUEUE, "receive after complete").await;
    assert_kind(
        store.complete(QUEUE, &received.lock_token).await,
        ErrorKind::LockLost,
        "completing an already completed message",
    );
    assert_eq!(
        stats(&*store, QUEUE).await,
        QueueStats::default(),
        "stats after complete"
    );
}

pub async fn receive_on_empty_is_none(store: Arc<dyn JobQueue>) {
    receive_none(&*store, QUEUE, "receive on an empty queue").await;
    receive_none(&*store, OTHER_QUEUE, "receive on the other empty queue").await;
    assert!(
        ok(store.peek_dead_letters(QUEUE, 10).await, "peek").is_empty(),
        "no dead letters"
    );
    assert_eq!(
        stats(&*store, QUEUE).await,
        QueueStats::default(),
        "stats of an empty queue"
    );
}

pub async fn bogus_lock_token_is_lock_lost(store: Arc<dyn JobQueue>) {
    send(&*store, QUEUE, message("m-1", "x")).await;
    let received = receive(&*store, QUEUE, "receive").await;
    assert_kind(
        store.complete(QUEUE, &bogus()).await,
        ErrorKind::LockLost,
        "complete with a bogus token",
    );
    assert_kind(
        store.abandon(QUEUE, &bogus()).await,
        ErrorKind::LockLost,
        "abandon with a bogus token",
    );
    assert_kind(
        store.renew_lock(QUEUE, &bogus()).await,
        ErrorKind::LockLost,
        "renew with a bogus token",
    );
    assert_kind(
        store
            .dead_letter(QUEUE, &bogus(), "Reason", "description")
            .await,
        ErrorKind::LockLost,
        "dead_letter with a bogus token",
    );
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "the real token still completes",
    );
}

pub async fn peek_lock_hides_until_expiry(store: Arc<dyn JobQueue>) {
    let lock = spec(&*store).lock_duration;
    send(&*store, QUEUE, message("m-1", "x")).await;
    let first = receive(&*store, QUEUE, "first receive").await;
    let received_at = Instant::now();
    let hidden = ok(store.receive(QUEUE).await, "second receive while locked");
    if received_at.elapsed() < lock {
        assert!(
            hidden.is_none(),
            "a locked message is hidden from other receivers, got {hidden:?}"
        );
    }
    tokio::time::sleep((lock + MARGIN).saturating_sub(received_at.elapsed())).await;
    assert_kind(
        store.abandon(QUEUE, &first.lock_token).await,
        ErrorKind::LockLost,
        "abandon with an expired lock",
    );
    assert_kind(
        store.complete(QUEUE, &first.lock_token).await,
        ErrorKind::LockLost,
        "complete with an expired lock",
    );
    assert_kind(
        store.renew_lock(QUEUE, &first.lock_token).await,
        ErrorKind::LockLost,
        "renew an expired lock",
    );
    let second = receive(&*store, QUEUE, "receive after the lock expired").await;
    assert_eq!(
        second.message_id, "m-1",
        "the same message is delivered again"
    );
    assert_eq!(
        second.delivery_count, 2,
        "the redelivery has delivery count 2"
    );
    assert_ne!(
        second.lock_token, first.lock_token,
        "a redelivery has a new lock token"
    );
    assert_eq!(
        second.sequence_number, first.sequence_number,
        "a redelivery keeps the sequence number"
    );
    assert_kind(
        store.complete(QUEUE, &first.lock_token).await,
        ErrorKind::LockLost,
        "complete with the old token",
    );
    assert_kind(
        store.renew_lock(QUEUE, &first.lock_token).await,
        ErrorKind::LockLost,
        "renew with the old token",
    );
    ok(
        store.complete(QUEUE, &second.lock_token).await,
        "complete with the new token",
    );
    receive_none(&*store, QUEUE, "receive after complete").await;
}

pub async fn renew_lock_extends_the_lock(store: Arc<dyn JobQueue>) {
    let lock = spec(&*store).lock_duration;
    send(&*store, QUEUE, message("m-1", "x")).await;
    let received = receive(&*store, QUEUE, "receive").await;
    let received_at = Instant::now();
    tokio::time::sleep(lock.mul_f64(0.6)).await;
    let renewed_until = ok(
        store.renew_lock(QUEUE, &received.lock_token).await,
        "renew_lock",
    );
    let renewed_at = Instant::now();
    assert!(
        renewed_until > received.locked_until_ms,
        "renew_lock extends the lock: {renewed_until} is not after {}",
        received.locked_until_ms
    );
    // Sleep past the original expiry but not past the renewed one.
    tokio::time::sleep((lock + MARGIN / 2).saturating_sub(received_at.elapsed())).await;
    if renewed_at.elapsed() + MARGIN / 2 < lock {
        receive_none(
            &*store,
            QUEUE,
            "receive after the original expiry of a renewed lock",
        )
        .await;
        ok(
            store.complete(QUEUE, &received.lock_token).await,
            "complete under the renewed lock",
        );
    } else {
        eprintln!(
            "renew_lock_extends_the_lock: the machine was too slow to check the renewed lock window"
        );
    }
}

pub async fn abandon_redelivers_at_once(store: Arc<dyn JobQueue>) {
    send(&*store, QUEUE, message("m-1", "x")).await;
    let first = receive(&*store, QUEUE, "receive").await;
    ok(store.abandon(QUEUE, &first.lock_token).await, "abandon");
    let second = receive(&*store, QUEUE, "receive right after abandon").await;
    assert_eq!(
        second.message_id, "m-1",
        "the abandoned message is delivered again"
    );
    assert_eq!(
        second.delivery_count, 2,
        "the delivery count grows on redelivery"
    );
    assert_kind(
        store.complete(QUEUE, &first.lock_token).await,
        ErrorKind::LockLost,
        "complete with the abandoned token",
    );
    ok(store.complete(QUEUE, &second.lock_token).await, "complete");
}

#[track_caller]
fn assert_max_delivery_dead_letter(dead: &[crate::queue::DeadLetter], max: u32) {
    assert_eq!(dead.len(), 1, "one message is dead-lettered: {dead:?}");
    assert_eq!(
        dead[0].message_id, "m-1",
        "the dead letter keeps the message id"
    );
    assert_eq!(
        dead[0].body,
        Bytes::from_static(b"poison"),
        "the dead letter keeps the body"
    );
    assert_eq!(
        dead[0].reason, MAX_DELIVERY_COUNT_EXCEEDED,
        "the dead-letter reason"
    );
    assert_eq!(
        dead[0].delivery_count, max,
        "the dead letter records the delivery count"
    );
}

pub async fn max_delivery_count_dead_letters(store: Arc<dyn JobQueue>) {
    let max = spec(&*store).max_delivery_count;
    send(&*store, QUEUE, message("m-1", "poison")).await;
    for delivery in 1..=max {
        let received = receive(&*store, QUEUE, &format!("delivery {delivery}")).await;
        assert_eq!(
            received.delivery_count, delivery,
            "delivery count of delivery {delivery}"
        );
        ok(store.abandon(QUEUE, &received.lock_token).await, "abandon");
    }
    receive_none(
        &*store,
        QUEUE,
        "receive after the last allowed delivery was abandoned",
    )
    .await;
    let dead = ok(
        store.peek_dead_letters(QUEUE, 10).await,
        "peek_dead_letters",
    );
    assert_max_delivery_dead_letter(&dead, max);
    let counts = stats(&*store, QUEUE).await;
    assert_eq!(
        counts,
        QueueStats {
            active: 0,
            scheduled: 0,
            dead_letter: 1
        },
        "stats after dead-lettering"
    );
}

pub async fn expired_lock_at_max_delivery_dead_letters(store: Arc<dyn JobQueue>) {
    let spec = spec(&*store);
    let max = spec.max_delivery_count;
    send(&*store, QUEUE, message("m-1", "poison")).await;
    for delivery in 1..max {
        let received = receive(&*store, QUEUE, &format!("delivery {delivery}")).await;
        ok(store.abandon(QUEUE, &received.lock_token).await, "abandon");
    }
    let last = receive(&*store, QUEUE, "the last allowed delivery").await;
    assert_eq!(last.delivery_count, max, "the last allowed delivery");
    tokio::time::sleep(spec.lock_duration + MARGIN).await;
    receive_none(&*store, QUEUE, "receive after the last lock expired").await;
    let dead = ok(
        store.peek_dead_letters(QUEUE, 10).await,
        "peek_dead_letters",
    );
    assert_max_delivery_dead_letter(&dead, max);
    assert_kind(
        store.complete(QUEUE, &last.lock_token).await,
        ErrorKind::LockLost,
        "complete after dead-lettering",
    );
}

pub async fn explicit_dead_letter_is_peekable(store: Arc<dyn JobQueue>) {
    let properties: BTreeMap<String, String> = [("book", "b-1"), ("stage", "ingest")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut first = message("m-1", "first");
    first.correlation_id = Some("corr-1".to_owned());
    first.properties = properties.clone();
    send(&*store, QUEUE, first).await;
    send(&*store, QUEUE, message("m-2", "second")).await;

    let before = now_ms();
    let received = receive(&*store, QUEUE, "receive the first").await;
    ok(
        store
            .dead_letter(QUEUE, &received.lock_token, "BadInput", "the book is empty")
            .await,
        "dead_letter",
    );
    assert_kind(
        store
            .dead_letter(QUEUE, &received.lock_token, "BadInput", "again")
            .await,
        ErrorKind::LockLost,
        "dead_letter twice",
    );
    assert_kind(
        store.complete(QUEUE, &received.lock_token).await,
        ErrorKind::LockLost,
        "complete after dead_letter",
    );
    let second = receive(&*store, QUEUE, "receive the second").await;
    assert_eq!(
        second.message_id, "m-2",
        "a dead-lettered message is never received again"
    );
    ok(
        store
            .dead_letter(QUEUE, &second.lock_token, "Other", "")
            .await,
        "dead_letter the second",
    );
    receive_none(&*store, QUEUE, "receive after dead-lettering both").await;

    let dead = ok(
        store.peek_dead_letters(QUEUE, 10).await,
        "peek_dead_letters",
    );
    assert_eq!(dead.len(), 2, "both messages are dead-lettered: {dead:?}");
    assert_eq!(dead[0].message_id, "m-1", "oldest first");
    assert_eq!(dead[0].body, Bytes::from_static(b"first"), "body");
    assert_eq!(
        dead[0].correlation_id.as_deref(),
        Some("corr-1"),
        "correlation id"
    );
    assert_eq!(dead[0].properties, properties, "application properties");
    assert_eq!(dead[0].reason, "BadInput", "reason");
    assert_eq!(dead[0].description, "the book is empty", "description");
    assert_eq!(dead[0].delivery_count, 1, "delivery count");
    assert!(
        (before - 60_000..=now_ms() + 60_000).contains(&dead[0].dead_lettered_time_ms),
        "dead_lettered_time_ms {} is not close to now",
        dead[0].dead_lettered_time_ms
    );
    assert_eq!(dead[1].message_id, "m-2", "second dead letter");
    assert_eq!(dead[1].reason, "Other", "second reason");

    let again = ok(store.peek_dead_letters(QUEUE, 10).await, "peek again");
    assert_eq!(again, dead, "peeking removes nothing");
    let one = ok(store.peek_dead_letters(QUEUE, 1).await, "peek one");
    assert_eq!(one.len(), 1, "peek honours max");
    assert_eq!(one[0].message_id, "m-1", "peek returns the oldest first");
    assert_eq!(
        stats(&*store, QUEUE).await.dead_letter,
        2,
        "stats count dead letters"
    );
    assert!(
        ok(store.peek_dead_letters(OTHER_QUEUE, 10).await, "peek other").is_empty(),
        "dead letters stay in their queue"
    );
}

pub async fn scheduled_message_waits(store: Arc<dyn JobQueue>) {
    let delay = spec(&*store).lock_duration.max(Duration::from_secs(1));
    let at = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    let mut outgoing = message("m-late", "later");
    outgoing.scheduled_enqueue_time_ms = Some(at);
    send(&*store, QUEUE, outgoing).await;
    let mut past = message("m-past", "now");
    past.scheduled_enqueue_time_ms = Some(now_ms() - 10_000);
    send(&*store, QUEUE, past).await;

    let counts = stats(&*store, QUEUE).await;
    let early = ok(
        store.receive(QUEUE).await,
        "receive before the scheduled time",
    );
    if now_ms() + 300 < at {
        assert_eq!(
            counts.scheduled, 1,
            "the future message counts as scheduled: {counts:?}"
        );
        assert_eq!(
            counts.active, 1,
            "the past-scheduled message counts as active: {counts:?}"
        );
        let early = expect_message(
            early.clone(),
            "a message scheduled in the past is visible at once",
        );
        assert_eq!(
            early.message_id, "m-past",
            "only the past-scheduled message is visible before the time"
        );
        receive_none(&*store, QUEUE, "receive before the scheduled time").await;
    }
    let mut delivered = Vec::new();
    if let Some(early) = early {
        delivered.push(early.message_id);
        ok(store.complete(QUEUE, &early.lock_token).await, "complete");
    }
    let wait = u64::try_from((at - now_ms()).max(0)).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait) + MARGIN).await;
    while let Some(late) = ok(
        store.receive(QUEUE).await,
        "receive after the scheduled time",
    ) {
        assert_eq!(
            late.delivery_count, 1,
            "first delivery of {}",
            late.message_id
        );
        delivered.push(late.message_id);
        ok(store.complete(QUEUE, &late.lock_token).await, "complete");
    }
    delivered.sort();
    assert_eq!(
        delivered,
        ["m-late", "m-past"],
        "both messages are delivered once, the scheduled one after its time"
    );
    assert_eq!(
        stats(&*store, QUEUE).await,
        QueueStats::default(),
        "stats at the end"
    );
}

pub async fn duplicate_detection(store: Arc<dyn JobQueue>) {
    let window = spec(&*store).duplicate_detection_window;
    let first_sent = Instant::now();
    send(&*store, QUEUE, message("dup", "one")).await;
    let again = ok(store.send(QUEUE, message("dup", "two")).await, "resend");
    assert_eq!(
        again,
        SendOutcome::Duplicate,
        "the same message id inside the window is a duplicate"
    );
    send(&*store, QUEUE, message("other", "three")).await;
    send(&*store, OTHER_QUEUE, message("dup", "elsewhere")).await;

    let received = receive(&*store, QUEUE, "receive the original").await;
    assert_eq!(
        (received.message_id.as_str(), &received.body[..]),
        ("dup", &b"one"[..]),
        "the first send wins"
    );
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "complete",
    );
    let received = receive(&*store, QUEUE, "receive the other id").await;
    assert_eq!(received.message_id, "other", "a different id is delivered");
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "complete",
    );
    receive_none(&*store, QUEUE, "the duplicate is never delivered").await;
    let received = receive(&*store, OTHER_QUEUE, "receive in the other queue").await;
    assert_eq!(
        received.body,
        Bytes::from_static(b"elsewhere"),
        "duplicate detection is per queue"
    );
    ok(
        store.complete(OTHER_QUEUE, &received.lock_token).await,
        "complete",
    );

    let resent = ok(
        store.send(QUEUE, message("dup", "four")).await,
        "resend after completion",
    );
    if first_sent.elapsed() + MARGIN < window {
        assert_eq!(
            resent,
            SendOutcome::Duplicate,
            "a completed message id is still a duplicate inside the window"
        );
    }
    if window > Duration::from_secs(5) {
        return; // Too long to wait for in a test; the rest needs a short window.
    }
    tokio::time::sleep((window + MARGIN).saturating_sub(first_sent.elapsed())).await;
    let outcome = ok(
        store.send(QUEUE, message("dup", "five")).await,
        "send after the window",
    );
    assert_eq!(
        outcome,
        SendOutcome::Enqueued,
        "after the window the same id is accepted again"
    );
    let received = receive(&*store, QUEUE, "receive after the window").await;
    assert_eq!(
        received.body,
        Bytes::from_static(b"five"),
        "the resend after the window is delivered"
    );
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "complete",
    );
    receive_none(&*store, QUEUE, "nothing else").await;
}

pub async fn fifo_by_sequence(store: Arc<dyn JobQueue>) {
    for index in 0..10 {
        send(&*store, QUEUE, message(&format!("m-{index}"), "x")).await;
    }
    let mut tokens = Vec::new();
    let mut last_sequence = i64::MIN;
    for index in 0..10 {
        let received = receive(&*store, QUEUE, "receive").await;
        assert_eq!(
            received.message_id,
            format!("m-{index}"),
            "messages come in send order"
        );
        assert!(
            received.sequence_number > last_sequence,
            "sequence numbers increase"
        );
        last_sequence = received.sequence_number;
        tokens.push(received.lock_token);
    }
    receive_none(&*store, QUEUE, "every message is locked").await;
    for token in tokens {
        ok(store.complete(QUEUE, &token).await, "complete");
    }
}

pub async fn properties_and_correlation_round_trip(store: Arc<dyn JobQueue>) {
    let body: Vec<u8> = (0..=255).collect();
    let properties: BTreeMap<String, String> = [
        ("a", "1"),
        ("unicode", "ünïcødé ✓"),
        ("empty", ""),
        ("json", "{\"x\":[1]}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut outgoing = OutgoingMessage::new("m-props", Bytes::from(body.clone()));
    outgoing.correlation_id = Some("corr-42".to_owned());
    outgoing.properties = properties.clone();
    send(&*store, QUEUE, outgoing).await;
    send(&*store, QUEUE, message("m-plain", "")).await;

    let received = receive(&*store, QUEUE, "receive").await;
    assert_eq!(&received.body[..], &body[..], "a binary body round-trips");
    assert_eq!(
        received.correlation_id.as_deref(),
        Some("corr-42"),
        "correlation id"
    );
    assert_eq!(received.properties, properties, "application properties");
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "complete",
    );
    let plain = receive(&*store, QUEUE, "receive the plain message").await;
    assert!(plain.body.is_empty(), "an empty body round-trips");
    assert_eq!(plain.correlation_id, None, "no correlation id");
    assert!(plain.properties.is_empty(), "no properties");
    ok(store.complete(QUEUE, &plain.lock_token).await, "complete");
}

pub async fn stats_count_messages(store: Arc<dyn JobQueue>) {
    assert_eq!(
        stats(&*store, QUEUE).await,
        QueueStats::default(),
        "an empty queue"
    );
    send(&*store, QUEUE, message("a", "x")).await;
    send(&*store, QUEUE, message("b", "x")).await;
    let mut later = message("c", "x");
    later.scheduled_enqueue_time_ms = Some(now_ms() + 3_600_000);
    send(&*store, QUEUE, later).await;
    let expect = |active, scheduled, dead_letter| QueueStats {
        active,
        scheduled,
        dead_letter,
    };
    assert_eq!(
        stats(&*store, QUEUE).await,
        expect(2, 1, 0),
        "two visible and one scheduled"
    );
    let a = receive(&*store, QUEUE, "receive a").await;
    assert_eq!(
        stats(&*store, QUEUE).await,
        expect(2, 1, 0),
        "a locked message is still active"
    );
    let b = receive(&*store, QUEUE, "receive b").await;
    ok(
        store
            .dead_letter(QUEUE, &b.lock_token, "Test", "stats")
            .await,
        "dead_letter b",
    );
    assert_eq!(
        stats(&*store, QUEUE).await,
        expect(1, 1, 1),
        "after dead-lettering one"
    );
    ok(store.complete(QUEUE, &a.lock_token).await, "complete a");
    assert_eq!(
        stats(&*store, QUEUE).await,
        expect(0, 1, 1),
        "after completing one"
    );
    assert_eq!(
        stats(&*store, OTHER_QUEUE).await,
        QueueStats::default(),
        "the other queue is untouched"
    );
}

pub async fn unknown_queue_is_not_found(store: Arc<dyn JobQueue>) {
    let queue = "no-such-queue";
    let token = bogus();
    assert_kind(
        store.send(queue, message("m", "x")).await,
        ErrorKind::NotFound,
        "send",
    );
    assert_kind(store.receive(queue).await, ErrorKind::NotFound, "receive");
    assert_kind(
        store.complete(queue, &token).await,
        ErrorKind::NotFound,
        "complete",
    );
    assert_kind(
        store.abandon(queue, &token).await,
        ErrorKind::NotFound,
        "abandon",
    );
    assert_kind(
        store.renew_lock(queue, &token).await,
        ErrorKind::NotFound,
        "renew_lock",
    );
    assert_kind(
        store.dead_letter(queue, &token, "r", "d").await,
        ErrorKind::NotFound,
        "dead_letter",
    );
    assert_kind(
        store.peek_dead_letters(queue, 1).await,
        ErrorKind::NotFound,
        "peek_dead_letters",
    );
    assert_kind(store.stats(queue).await, ErrorKind::NotFound, "stats");
    assert_kind(store.spec(queue), ErrorKind::NotFound, "spec");
    let specs = super::conformance_queue_specs();
    for expected in specs {
        let actual = ok(store.spec(&expected.name), "spec of a configured queue");
        assert_eq!(
            actual.name, expected.name,
            "spec returns the configured queue"
        );
    }
}

pub async fn queues_are_isolated(store: Arc<dyn JobQueue>) {
    send(&*store, QUEUE, message("iso", "x")).await;
    receive_none(&*store, OTHER_QUEUE, "the other queue stays empty").await;
    assert_eq!(
        stats(&*store, OTHER_QUEUE).await,
        QueueStats::default(),
        "the other queue's stats"
    );
    let received = receive(&*store, QUEUE, "receive").await;
    assert_kind(
        store.complete(OTHER_QUEUE, &received.lock_token).await,
        ErrorKind::LockLost,
        "a lock token is only valid in its own queue",
    );
    ok(
        store.complete(QUEUE, &received.lock_token).await,
        "complete in the right queue",
    );
    send(&*store, OTHER_QUEUE, message("iso-2", "y")).await;
    receive_none(&*store, QUEUE, "the first queue stays empty").await;
    let other = receive(&*store, OTHER_QUEUE, "receive in the other queue").await;
    assert_eq!(
        other.message_id, "iso-2",
        "the other queue delivers its own message"
    );
    ok(
        store.complete(OTHER_QUEUE, &other.lock_token).await,
        "complete",
    );
}

pub async fn concurrent_receivers_never_share(store: Arc<dyn JobQueue>) {
    const MESSAGES: usize = 50;
    for index in 0..MESSAGES {
        send(&*store, QUEUE, message(&format!("c-{index:02}"), "work")).await;
    }
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        let seen = Arc::clone(&seen);
        workers.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            while Instant::now() < deadline {
                let done = seen.lock().map_or(0, |seen| seen.len());
                if done >= MESSAGES {
                    break;
                }
                match store.receive(QUEUE).await {
                    Ok(Some(received)) => {
                        if let Ok(mut seen) = seen.lock() {
                            *seen.entry(received.message_id.clone()).or_default() += 1;
                        }
                        if let Err(error) = store.complete(QUEUE, &received.lock_token).await {
                            errors.push(format!("complete {}: {error}", received.message_id));
                        }
                    }
                    Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
                    Err(error) => errors.push(format!("receive: {error}")),
                }
            }
            errors
        }));
    }
    for worker in workers {
        let errors = match worker.await {
            Ok(errors) => errors,
            Err(error) => panic!("a receiver task failed: {error}"),
        };
        assert!(
            errors.is_empty(),
            "concurrent receivers hit errors: {errors:?}"
        );
    }
    let seen = match seen.lock() {
        Ok(seen) => seen.clone(),
        Err(error) => panic!("poisoned: {error}"),
    };
    assert_eq!(seen.len(), MESSAGES, "every message was received");
    let twice: Vec<_> = seen.iter().filter(|(_, count)| **count != 1).collect();
    assert!(
        twice.is_empty(),
        "messages delivered more than once: {twice:?}"
    );
    receive_none(&*store, QUEUE, "everything was completed").await;
}

pub async fn ping_answers(store: Arc<dyn JobQueue>) {
    ok(store.ping().await, "ping");
}
