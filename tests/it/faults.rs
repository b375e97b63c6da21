//! Failing stages are retried, then dead-lettered with their reason in the status document;
//! redelivered and stray messages never redo finished work.

use visiobook_host::worker::Outcome;
use visiobook_ports::OutgoingMessage;

use crate::support::{TestApp, fixture_bytes};

#[tokio::test]
async fn a_failing_stage_is_retried_then_dead_lettered_with_its_reason() {
    // A missing tool is the kind of failure a retry may fix (the node may be replaced).
    let app = TestApp::spawn_with(&[("VISIOBOOK_ESPEAK", "/nonexistent/espeak-ng")]).await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));

    for attempt in 1..=2 {
        let outcome = app.step("generation").await;
        assert!(
            matches!(outcome, Outcome::Abandoned { .. }),
            "attempt {attempt}: {outcome:?}"
        );
        let status = app.status(&id).await;
        assert_eq!(status["state"], "processing");
        assert_eq!(status["stages"]["generation"]["attempts"], attempt);
        assert!(
            status["stages"]["generation"]["last_error"]
                .as_str()
                .unwrap()
                .contains("espeak-ng")
        );
    }
    let outcome = app.step("generation").await;
    assert!(
        matches!(outcome, Outcome::DeadLettered { .. }),
        "{outcome:?}"
    );
    assert_eq!(app.step("generation").await, Outcome::Idle);

    let status = app.status(&id).await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error"]["stage"], "generation");
    assert_eq!(status["error"]["attempts"], 3);
    assert!(
        status["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/espeak-ng"),
        "{status}"
    );

    let dead = app
        .state
        .queue
        .peek_dead_letters("generation", 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, format!("generation-{id}"));
    assert_eq!(dead[0].reason, "MaxDeliveryCountExceeded");
    assert!(dead[0].description.contains("espeak-ng"));
    let media = visiobook_ports::BlobKey::parse(&format!("books/{id}/media.v1.json")).unwrap();
    assert!(
        app.state.blobs.head(&media).await.unwrap().is_none(),
        "no half-made artifact"
    );
    assert_eq!(
        app.state.queue.stats("assembly").await.unwrap().active,
        0,
        "nothing handed over"
    );
}

#[tokio::test]
async fn an_unreadable_book_fails_at_once_with_a_code_instead_of_retrying() {
    let app = TestApp::spawn().await;
    let id = app.upload_ok(b"* * *\n\n---\n\n~~~\n".to_vec()).await;
    assert!(
        matches!(app.step("ingestion").await, Outcome::Completed { .. }),
        "settled, not retried"
    );
    let status = app.status(&id).await;
    assert_eq!(status["state"], "failed");
    assert_eq!(status["error"]["code"], "no_text");
    assert_eq!(status["error"]["attempts"], 1);
    assert!(
        status["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("no readable words")
    );
    assert!(
        app.state
            .queue
            .peek_dead_letters("ingestion", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.state.queue.stats("analysis").await.unwrap().active, 0);
}

#[tokio::test]
async fn a_redelivered_message_for_a_finished_stage_only_hands_over() {
    let app = TestApp::spawn().await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));

    // The same work again under a new message id (as after a lost completion).
    let body = serde_json::json!({ "book_id": id, "correlation_id": "again" }).to_string();
    app.state
        .queue
        .send(
            "analysis",
            OutgoingMessage::new("analysis-again", body.into_bytes()),
        )
        .await
        .unwrap();
    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));

    let status = app.status(&id).await;
    assert_eq!(
        status["stages"]["analysis"]["completions"], 1,
        "analysis ran once"
    );
    assert_eq!(status["stages"]["analysis"]["attempts"], 1);
    // Its hand-over to generation was dropped by duplicate detection: one message waits.
    assert_eq!(app.state.queue.stats("generation").await.unwrap().active, 1);
}

#[tokio::test]
async fn messages_for_unknown_books_and_garbage_messages_do_not_wedge_the_queue() {
    let app = TestApp::spawn().await;
    let body =
        serde_json::json!({ "book_id": "0123456789abcdef0123456789abcdef", "correlation_id": "x" });
    app.state
        .queue
        .send(
            "analysis",
            OutgoingMessage::new("ghost", body.to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert!(
        matches!(app.step("analysis").await, Outcome::Completed { .. }),
        "dropped, not retried"
    );

    app.state
        .queue
        .send(
            "analysis",
            OutgoingMessage::new("garbage", b"{not json".to_vec()),
        )
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(matches!(
            app.step("analysis").await,
            Outcome::Abandoned { .. }
        ));
    }
    assert!(matches!(
        app.step("analysis").await,
        Outcome::DeadLettered { .. }
    ));
    assert_eq!(
        app.state.queue.stats("analysis").await.unwrap().dead_letter,
        1
    );
}
