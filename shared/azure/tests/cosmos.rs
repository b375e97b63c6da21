//! The Cosmos DB adapter, through `azure_data_cosmos` 1.x, passes the DocumentStore conformance
//! suite (every check stays inside one partition) against `@vercel/cosmosdb-server`, installed
//! pinned by `scripts/test` and started per test on loopback (`scripts/cosmos-tools/serve.cjs`
//! says which two of its answers are corrected for the SDK).

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::sync::Arc;

use serde_json::json;
use visiobook_azure::cosmos_emulator::CosmosEmulator;
use visiobook_ports::{DocumentStore, ErrorKind, Order, Query};

const DATABASE: &str = "visiobook";

/// The fields the conformance checks (and the tests below) order by, each of which needs a
/// composite index, as in Azure.
const ORDERED_FIELDS: &[&str] = &["rank", "meta.title", "group", "value"];

/// An emulator with the conformance containers, and the adapter on it.
async fn emulator_store() -> (Arc<dyn DocumentStore>, CosmosEmulator) {
    let emulator = CosmosEmulator::start().await;
    emulator
        .create_containers(
            DATABASE,
            &["conformance", "conformance-other"],
            ORDERED_FIELDS,
        )
        .await;
    let store = emulator.store(DATABASE, "conformance").await;
    (Arc::new(store), emulator)
}

visiobook_ports::document_store_conformance!(emulator_store());

#[tokio::test(flavor = "multi_thread")]
async fn ids_cosmos_refuses_are_stored_encoded_and_come_back_as_written() {
    let (store, _emulator) = emulator_store().await;
    for id in ["a/b", "what?", "#1", "back\\slash", "100%"] {
        store
            .create("conformance", "p", id, json!({ "id": id }))
            .await
            .unwrap();
        let document = store.read("conformance", "p", id).await.unwrap().unwrap();
        assert_eq!(document.id, id);
        assert_eq!(document.body, json!({ "id": id }));
    }
    let page = store
        .query("conformance", "p", &Query::default().page_size(10), None)
        .await
        .unwrap();
    let mut ids: Vec<String> = page.items.into_iter().map(|item| item.id).collect();
    ids.sort();
    assert_eq!(ids, ["#1", "100%", "a/b", "back\\slash", "what?"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn field_names_that_are_sql_keywords_can_be_filtered_and_ordered() {
    let (store, _emulator) = emulator_store().await;
    for (id, value) in [("x", 2), ("y", 1), ("z", 2)] {
        store
            .create(
                "conformance",
                "p",
                id,
                json!({ "value": value, "select": "s" }),
            )
            .await
            .unwrap();
    }
    let query = Query::default()
        .filter("select", "s")
        .order_by("value", Order::Descending);
    let page = store.query("conformance", "p", &query, None).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|item| item.id.as_str()).collect();
    assert_eq!(ids, ["z", "x", "y"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_continuation_from_another_query_is_refused() {
    let (store, _emulator) = emulator_store().await;
    for index in 0..4 {
        store
            .create(
                "conformance",
                "p",
                &format!("i{index}"),
                json!({ "n": index }),
            )
            .await
            .unwrap();
    }
    let first = store
        .query("conformance", "p", &Query::default().page_size(2), None)
        .await
        .unwrap();
    let token = first.continuation.unwrap();
    let error = store
        .query(
            "conformance",
            "p",
            &Query::default().filter("n", 1).page_size(2),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    let error = store
        .query(
            "conformance",
            "other",
            &Query::default().page_size(2),
            Some(&token),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
}

#[tokio::test(flavor = "multi_thread")]
async fn ordering_by_a_field_without_a_composite_index_is_refused_as_in_azure() {
    let (store, _emulator) = emulator_store().await;
    store
        .create("conformance", "p", "x", json!({ "unindexed": 1 }))
        .await
        .unwrap();
    let error = store
        .query(
            "conformance",
            "p",
            &Query::default().order_by("unindexed", Order::Ascending),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid, "{error}");
    assert!(error.message.contains("composite index"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_container_is_unavailable_not_a_missing_document() {
    let (store, _emulator) = emulator_store().await;
    let error = store.read("no-such-container", "p", "x").await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable, "{error}");
    assert!(error.message.contains("no-such-container"), "{error}");
}
