//! The [`DocumentStore`] checks.
//!
//! Query ordering rule checked here: without `order_by` items come sorted by id ascending; with
//! `order_by` they come sorted by that field, ties broken by id *in the same direction*.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{assert_kind, ok};
use crate::document::{DocumentStore, ETag, Order, Query};
use crate::error::ErrorKind;

const CONTAINER: &str = "conformance";
const OTHER_CONTAINER: &str = "conformance-other";
const PARTITION: &str = "partition-a";
const OTHER_PARTITION: &str = "partition-b";

async fn body_of(
    store: &dyn DocumentStore,
    container: &str,
    partition: &str,
    id: &str,
) -> Option<Value> {
    ok(store.read(container, partition, id).await, "read").map(|document| document.body)
}

/// Runs a query to the end, asserting page sizes, and returns the ids in order.
async fn query_all(store: &dyn DocumentStore, partition: &str, query: &Query) -> Vec<String> {
    let mut ids = Vec::new();
    let mut continuation: Option<String> = None;
    for _ in 0..10_000 {
        let page = ok(
            store
                .query(CONTAINER, partition, query, continuation.as_deref())
                .await,
            "query page",
        );
        assert!(
            page.items.len() <= query.page_size,
            "a page holds {} items, more than the page size {}",
            page.items.len(),
            query.page_size
        );
        for item in &page.items {
            assert_eq!(
                item.partition_key, partition,
                "query returned an item of another partition"
            );
        }
        ids.extend(page.items.into_iter().map(|item| item.id));
        match page.continuation {
            Some(next) => continuation = Some(next),
            None => return ids,
        }
    }
    panic!("query never returned a page without continuation");
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

pub async fn create_then_read_round_trips(store: Arc<dyn DocumentStore>) {
    let body = json!({"title": "Moby Dick", "pages": 635, "nested": {"ok": true, "list": [1, "two", null]}});
    let etag = ok(
        store
            .create(CONTAINER, PARTITION, "doc-1", body.clone())
            .await,
        "create",
    );
    let document = ok(store.read(CONTAINER, PARTITION, "doc-1").await, "read")
        .expect("created document must be readable");
    assert_eq!(document.id, "doc-1", "read returns the id");
    assert_eq!(
        document.partition_key, PARTITION,
        "read returns the partition key"
    );
    assert_eq!(
        document.body, body,
        "read returns the body exactly as written"
    );
    assert_eq!(document.etag, etag, "read returns the ETag create returned");
    let again = ok(
        store.read(CONTAINER, PARTITION, "doc-1").await,
        "second read",
    )
    .expect("still there");
    assert_eq!(
        again.etag, etag,
        "two reads of an unchanged document return equal ETags"
    );
}

pub async fn create_twice_conflicts(store: Arc<dyn DocumentStore>) {
    ok(
        store
            .create(CONTAINER, PARTITION, "dup", json!({"v": 1}))
            .await,
        "first create",
    );
    assert_kind(
        store
            .create(CONTAINER, PARTITION, "dup", json!({"v": 2}))
            .await,
        ErrorKind::Conflict,
        "creating an existing id",
    );
    assert_eq!(
        body_of(&*store, CONTAINER, PARTITION, "dup").await,
        Some(json!({"v": 1})),
        "a conflicting create leaves the stored body unchanged"
    );
}

pub async fn read_missing_is_none(store: Arc<dyn DocumentStore>) {
    let read = ok(
        store.read(CONTAINER, PARTITION, "missing").await,
        "read of a missing document",
    );
    assert!(
        read.is_none(),
        "reading a missing document returns None, got {read:?}"
    );
}

pub async fn upsert_creates_then_overwrites(store: Arc<dyn DocumentStore>) {
    let first = ok(
        store
            .upsert(CONTAINER, PARTITION, "u", json!({"v": 1}))
            .await,
        "upsert (create)",
    );
    let read = ok(store.read(CONTAINER, PARTITION, "u").await, "read").expect("upsert creates");
    assert_eq!(read.body, json!({"v": 1}), "upsert stores the body");
    assert_eq!(read.etag, first, "read returns the ETag upsert returned");
    let second = ok(
        store
            .upsert(CONTAINER, PARTITION, "u", json!({"v": 2}))
            .await,
        "upsert (overwrite)",
    );
    assert_ne!(first, second, "every write returns a new ETag");
    let read = ok(store.read(CONTAINER, PARTITION, "u").await, "read").expect("still there");
    assert_eq!(read.body, json!({"v": 2}), "upsert overwrites the body");
    assert_eq!(read.etag, second, "read returns the latest ETag");
}

pub async fn replace_with_matching_etag_succeeds(store: Arc<dyn DocumentStore>) {
    let first = ok(
        store
            .create(CONTAINER, PARTITION, "r", json!({"v": 1}))
            .await,
        "create",
    );
    let second = ok(
        store
            .replace(CONTAINER, PARTITION, "r", json!({"v": 2}), Some(&first))
            .await,
        "replace with the current ETag",
    );
    assert_ne!(first, second, "replace returns a new ETag");
    let third = ok(
        store
            .replace(CONTAINER, PARTITION, "r", json!({"v": 3}), None)
            .await,
        "unconditional replace",
    );
    assert_ne!(second, third, "replace returns a new ETag");
    let read = ok(store.read(CONTAINER, PARTITION, "r").await, "read").expect("still there");
    assert_eq!(read.body, json!({"v": 3}), "replace overwrites the body");
    assert_eq!(read.etag, third, "read returns the latest ETag");
}

pub async fn replace_with_stale_etag_fails(store: Arc<dyn DocumentStore>) {
    let stale = ok(
        store
            .create(CONTAINER, PARTITION, "s", json!({"v": 1}))
            .await,
        "create",
    );
    let current = ok(
        store
            .upsert(CONTAINER, PARTITION, "s", json!({"v": 2}))
            .await,
        "upsert",
    );
    assert_kind(
        store
            .replace(CONTAINER, PARTITION, "s", json!({"v": 3}), Some(&stale))
            .await,
        ErrorKind::PreconditionFailed,
        "replace with a stale ETag",
    );
    assert_kind(
        store
            .replace(
                CONTAINER,
                PARTITION,
                "s",
                json!({"v": 3}),
                Some(&ETag("bogus".to_owned())),
            )
            .await,
        ErrorKind::PreconditionFailed,
        "replace with a made-up ETag",
    );
    let read = ok(store.read(CONTAINER, PARTITION, "s").await, "read").expect("still there");
    assert_eq!(
        read.body,
        json!({"v": 2}),
        "a failed replace leaves the stored body unchanged"
    );
    assert_eq!(
        read.etag, current,
        "a failed replace leaves the ETag unchanged"
    );
}

pub async fn replace_missing_is_not_found(store: Arc<dyn DocumentStore>) {
    assert_kind(
        store
            .replace(CONTAINER, PARTITION, "nope", json!({}), None)
            .await,
        ErrorKind::NotFound,
        "unconditional replace of a missing document",
    );
    assert_kind(
        store
            .replace(
                CONTAINER,
                PARTITION,
                "nope",
                json!({}),
                Some(&ETag("x".to_owned())),
            )
            .await,
        ErrorKind::NotFound,
        "conditional replace of a missing document",
    );
    assert!(
        body_of(&*store, CONTAINER, PARTITION, "nope")
            .await
            .is_none(),
        "replace never creates a document"
    );
}

pub async fn delete_with_mismatched_etag_fails(store: Arc<dyn DocumentStore>) {
    let stale = ok(
        store
            .create(CONTAINER, PARTITION, "d", json!({"v": 1}))
            .await,
        "create",
    );
    let current = ok(
        store
            .upsert(CONTAINER, PARTITION, "d", json!({"v": 2}))
            .await,
        "upsert",
    );
    assert_kind(
        store.delete(CONTAINER, PARTITION, "d", Some(&stale)).await,
        ErrorKind::PreconditionFailed,
        "delete with a stale ETag",
    );
    assert_eq!(
        body_of(&*store, CONTAINER, PARTITION, "d").await,
        Some(json!({"v": 2})),
        "a failed delete leaves the document in place"
    );
    ok(
        store
            .delete(CONTAINER, PARTITION, "d", Some(&current))
            .await,
        "delete with the current ETag",
    );
    assert!(
        body_of(&*store, CONTAINER, PARTITION, "d").await.is_none(),
        "delete removes the document"
    );
    ok(
        store
            .create(CONTAINER, PARTITION, "d", json!({"v": 3}))
            .await,
        "re-create after delete",
    );
    ok(
        store.delete(CONTAINER, PARTITION, "d", None).await,
        "unconditional delete",
    );
    assert!(
        body_of(&*store, CONTAINER, PARTITION, "d").await.is_none(),
        "delete removes the document"
    );
}

pub async fn delete_missing_is_not_found(store: Arc<dyn DocumentStore>) {
    assert_kind(
        store.delete(CONTAINER, PARTITION, "missing", None).await,
        ErrorKind::NotFound,
        "delete of a missing document",
    );
    assert_kind(
        store
            .delete(CONTAINER, PARTITION, "missing", Some(&ETag("x".to_owned())))
            .await,
        ErrorKind::NotFound,
        "conditional delete of a missing document",
    );
}

pub async fn partitions_and_containers_are_isolated(store: Arc<dyn DocumentStore>) {
    ok(
        store
            .create(CONTAINER, PARTITION, "same", json!({"where": "a"}))
            .await,
        "create in partition a",
    );
    ok(
        store
            .create(CONTAINER, OTHER_PARTITION, "same", json!({"where": "b"}))
            .await,
        "create in partition b",
    );
    ok(
        store
            .create(
                OTHER_CONTAINER,
                PARTITION,
                "same",
                json!({"where": "other"}),
            )
            .await,
        "create in the other container",
    );
    assert_eq!(
        body_of(&*store, CONTAINER, PARTITION, "same").await,
        Some(json!({"where": "a"})),
        "partition a"
    );
    assert_eq!(
        body_of(&*store, CONTAINER, OTHER_PARTITION, "same").await,
        Some(json!({"where": "b"})),
        "partition b"
    );
    assert_eq!(
        body_of(&*store, OTHER_CONTAINER, PARTITION, "same").await,
        Some(json!({"where": "other"})),
        "other container"
    );
    assert!(
        body_of(&*store, OTHER_CONTAINER, OTHER_PARTITION, "same")
            .await
            .is_none(),
        "nothing in the other container's partition b"
    );

    let only_a = query_all(&*store, PARTITION, &Query::default()).await;
    assert_eq!(
        only_a,
        strings(&["same"]),
        "a query sees only its own container and partition"
    );

    ok(
        store.delete(CONTAINER, PARTITION, "same", None).await,
        "delete in partition a",
    );
    assert!(
        body_of(&*store, CONTAINER, PARTITION, "same")
            .await
            .is_none(),
        "deleted in partition a"
    );
    assert!(
        body_of(&*store, CONTAINER, OTHER_PARTITION, "same")
            .await
            .is_some(),
        "delete in one partition leaves the other"
    );
    assert!(
        body_of(&*store, OTHER_CONTAINER, PARTITION, "same")
            .await
            .is_some(),
        "delete in one container leaves the other"
    );
}

pub async fn query_filters_by_equality(store: Arc<dyn DocumentStore>) {
    let documents = [
        (
            "a1",
            json!({"kind": "book", "n": 1, "flag": true, "owner": {"id": "u1"}}),
        ),
        (
            "a2",
            json!({"kind": "book", "n": 2, "flag": false, "owner": {"id": "u2"}}),
        ),
        (
            "a3",
            json!({"kind": "page", "n": 1, "flag": true, "owner": {"id": "u1"}}),
        ),
        (
            "a4",
            json!({"kind": "book", "n": "1", "flag": "true", "owner": {"id": "u1"}}),
        ),
        ("a5", json!({"kind": "book", "n": 2.5, "flag": false})),
    ];
    for (id, body) in documents {
        ok(store.create(CONTAINER, PARTITION, id, body).await, "create");
    }
    ok(
        store
            .create(
                CONTAINER,
                OTHER_PARTITION,
                "a0",
                json!({"kind": "book", "n": 1, "flag": true, "owner": {"id": "u1"}}),
            )
            .await,
        "create in another partition",
    );
    ok(
        store
            .create(
                OTHER_CONTAINER,
                PARTITION,
                "a0",
                json!({"kind": "book", "n": 1, "flag": true, "owner": {"id": "u1"}}),
            )
            .await,
        "create in another container",
    );

    let cases: Vec<(Query, Vec<&str>, &str)> = vec![
        (
            Query::default(),
            vec!["a1", "a2", "a3", "a4", "a5"],
            "no filter returns the partition sorted by id",
        ),
        (
            Query::default().filter("kind", "book"),
            vec!["a1", "a2", "a4", "a5"],
            "string equality",
        ),
        (
            Query::default().filter("owner.id", "u1"),
            vec!["a1", "a3", "a4"],
            "dotted path",
        ),
        (
            Query::default().filter("n", 1),
            vec!["a1", "a3"],
            "number equality is type-strict",
        ),
        (
            Query::default().filter("n", 2.5),
            vec!["a5"],
            "fractional number",
        ),
        (
            Query::default().filter("n", "1"),
            vec!["a4"],
            "a string never equals a number",
        ),
        (
            Query::default().filter("flag", true),
            vec!["a1", "a3"],
            "bool equality is type-strict",
        ),
        (
            Query::default().filter("flag", false),
            vec!["a2", "a5"],
            "false",
        ),
        (
            Query::default()
                .filter("kind", "book")
                .filter("owner.id", "u1"),
            vec!["a1", "a4"],
            "all filters must hold",
        ),
        (Query::default().filter("kind", "none"), vec![], "no match"),
        (
            Query::default().filter("missing", "x"),
            vec![],
            "a missing field never matches",
        ),
        (
            Query::default().filter("owner.id.deeper", "u1"),
            vec![],
            "a path through a scalar never matches",
        ),
    ];
    for (query, expected, what) in cases {
        let ids = query_all(&*store, PARTITION, &query).await;
        assert_eq!(ids, strings(&expected), "{what}: {query:?}");
    }
}

pub async fn query_orders_with_ties_broken_by_id(store: Arc<dyn DocumentStore>) {
    let documents = [
        ("d1", 3, "c"),
        ("d2", 1, "e"),
        ("d3", 2, "a"),
        ("d4", 1, "f"),
        ("d5", 3, "b"),
        ("d6", 2, "d"),
    ];
    for (id, rank, title) in documents {
        ok(
            store
                .create(
                    CONTAINER,
                    PARTITION,
                    id,
                    json!({"rank": rank, "meta": {"title": title}}),
                )
                .await,
            "create",
        );
    }
    let ascending = strings(&["d2", "d4", "d3", "d6", "d1", "d5"]);
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    for page_size in [100, 4, 1] {
        let ids = query_all(
            &*store,
            PARTITION,
            &Query::default()
                .order_by("rank", Order::Ascending)
                .page_size(page_size),
        )
        .await;
        assert_eq!(
            ids, ascending,
            "ascending by rank, ties by id ascending (page size {page_size})"
        );
        let ids = query_all(
            &*store,
            PARTITION,
            &Query::default()
                .order_by("rank", Order::Descending)
                .page_size(page_size),
        )
        .await;
        assert_eq!(
            ids, descending,
            "descending by rank, ties by id descending (page size {page_size})"
        );
    }
    let ids = query_all(
        &*store,
        PARTITION,
        &Query::default()
            .order_by("meta.title", Order::Ascending)
            .page_size(2),
    )
    .await;
    assert_eq!(
        ids,
        strings(&["d3", "d5", "d1", "d6", "d2", "d4"]),
        "ascending by a dotted string field"
    );
    let ids = query_all(
        &*store,
        PARTITION,
        &Query::default()
            .order_by("meta.title", Order::Descending)
            .page_size(5),
    )
    .await;
    assert_eq!(
        ids,
        strings(&["d4", "d2", "d6", "d1", "d5", "d3"]),
        "descending by a dotted string field"
    );
    let ids = query_all(
        &*store,
        PARTITION,
        &Query::default()
            .filter("rank", 2)
            .order_by("meta.title", Order::Descending),
    )
    .await;
    assert_eq!(ids, strings(&["d6", "d3"]), "filter combined with order");
}

pub async fn query_pages_with_continuation(store: Arc<dyn DocumentStore>) {
    let mut expected = Vec::new();
    for index in 0..25 {
        let id = format!("item-{index:03}");
        ok(
            store
                .create(
                    CONTAINER,
                    PARTITION,
                    &id,
                    json!({"group": index % 3, "index": index}),
                )
                .await,
            "create",
        );
        expected.push(id);
    }
    for page_size in [1, 7, 25, 1000] {
        let ids = query_all(&*store, PARTITION, &Query::default().page_size(page_size)).await;
        assert_eq!(
            ids, expected,
            "paging by id returns every item exactly once, in order (page size {page_size})"
        );
    }
    // Pages are full until the last one.
    let first = ok(
        store
            .query(CONTAINER, PARTITION, &Query::default().page_size(7), None)
            .await,
        "first page",
    );
    assert_eq!(first.items.len(), 7, "the first page is full");
    assert!(
        first.continuation.is_some(),
        "more items follow, so there is a continuation"
    );

    let ordered = Query::default()
        .order_by("group", Order::Ascending)
        .page_size(4);
    let ids = query_all(&*store, PARTITION, &ordered).await;
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 25, "ordered paging returns 25 items");
    assert_eq!(
        unique.len(),
        25,
        "ordered paging returns each item exactly once"
    );
    let mut sorted = expected.clone();
    sorted.sort_by_key(|id| {
        let index: usize = id.trim_start_matches("item-").parse().unwrap_or_default();
        (index % 3, id.clone())
    });
    assert_eq!(ids, sorted, "ordered paging keeps the order across pages");

    let filtered = Query::default().filter("group", 1).page_size(3);
    let ids = query_all(&*store, PARTITION, &filtered).await;
    let expected_group: Vec<String> = expected
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 == 1)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        ids, expected_group,
        "filtered paging returns each match exactly once"
    );
}

pub async fn query_rejects_invalid_field_paths(store: Arc<dyn DocumentStore>) {
    ok(
        store
            .create(CONTAINER, PARTITION, "x", json!({"a": 1}))
            .await,
        "create",
    );
    for path in [
        "", "a..b", ".a", "a.", "a b", "$.a", "a'b", "a\"b", "a[0]", "a-b", "a;DROP",
    ] {
        assert_kind(
            store
                .query(
                    CONTAINER,
                    PARTITION,
                    &Query::default().filter(path, 1),
                    None,
                )
                .await,
            ErrorKind::Invalid,
            &format!("filter on field path {path:?}"),
        );
        assert_kind(
            store
                .query(
                    CONTAINER,
                    PARTITION,
                    &Query::default().order_by(path, Order::Ascending),
                    None,
                )
                .await,
            ErrorKind::Invalid,
            &format!("order by field path {path:?}"),
        );
    }
}

pub async fn query_rejects_bad_continuation(store: Arc<dyn DocumentStore>) {
    for index in 0..3 {
        ok(
            store
                .create(
                    CONTAINER,
                    PARTITION,
                    &format!("c{index}"),
                    json!({"i": index}),
                )
                .await,
            "create",
        );
    }
    for token in ["", "garbage", "not a token!", "%%%", "0000"] {
        assert_kind(
            store
                .query(CONTAINER, PARTITION, &Query::default(), Some(token))
                .await,
            ErrorKind::Invalid,
            &format!("continuation {token:?}"),
        );
    }
}

pub async fn query_rejects_bad_page_size(store: Arc<dyn DocumentStore>) {
    for page_size in [0, 1001] {
        assert_kind(
            store
                .query(
                    CONTAINER,
                    PARTITION,
                    &Query::default().page_size(page_size),
                    None,
                )
                .await,
            ErrorKind::Invalid,
            &format!("page size {page_size}"),
        );
    }
    ok(
        store
            .query(
                CONTAINER,
                PARTITION,
                &Query::default().page_size(1000),
                None,
            )
            .await,
        "page size 1000",
    );
    ok(
        store
            .query(CONTAINER, PARTITION, &Query::default().page_size(1), None)
            .await,
        "page size 1",
    );
}

pub async fn ping_answers(store: Arc<dyn DocumentStore>) {
    ok(store.ping().await, "ping");
}
