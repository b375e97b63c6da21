//! An append-only, hash-chained audit log, as pure logic.
//!
//! Each [`AuditEntry`] carries the SHA-256 of its own fields and of the
//! previous entry's hash (`prev_hash`), so [`verify_chain`] finds an entry
//! that was edited (its hash no longer matches), deleted, inserted or moved
//! (a `prev_hash` no longer names the entry before it), or a gap in the
//! sequence numbers. The first entry has `seq` [`GENESIS_SEQ`] and
//! `prev_hash` [`GENESIS_HASH`].
//!
//! # What the chain alone does not show
//!
//! * **Truncation of the tail.** Removing the last entries leaves a shorter
//!   chain that is still valid. The store must keep the head (the last `seq`
//!   and `hash`) apart from the entries and check the chain ends there.
//! * **Rewriting from some point on.** The hash has no secret: whoever can
//!   write the log can edit an entry and re-seal every entry after it. The
//!   chain is evidence only against a head (or a past entry's hash) recorded
//!   somewhere that writer cannot change: exported, sent to another system,
//!   or printed in a report.
//!
//! # Hash
//!
//! `hash = hex(SHA-256(canonical bytes))`, lowercase, where the canonical
//! bytes are, in order: the domain tag `visiobook/audit/v1`, `seq` as 8
//! bytes big-endian, then `at`, `actor`, `action`, `target`, `outcome`, the
//! canonical JSON of `details` and `prev_hash` (the text as stored), each
//! preceded by its length in bytes as 8 bytes big-endian (the tag too). The
//! canonical JSON is compact, with object keys sorted by their UTF-8 bytes at
//! every depth (whatever the order of the map in memory) and serde_json's
//! escaping and number formatting.
//!
//! Nothing here reads the clock: the caller passes `at`.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `seq` of the first entry of a log.
pub const GENESIS_SEQ: u64 = 1;
/// `prev_hash` of the first entry of a log: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The `actor` of entries the system writes on its own behalf.
pub const ACTOR_SYSTEM: &str = "system";
/// `outcome` of an action that succeeded.
pub const OUTCOME_SUCCESS: &str = "success";
/// `outcome` of an action that failed or was refused.
pub const OUTCOME_FAILURE: &str = "failure";

/// Domain separation for the hash input.
const HASH_DOMAIN: &[u8] = b"visiobook/audit/v1";

/// What happened, as the caller describes it; [`AuditEntry::seal`] adds the
/// sequence number and the hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When, RFC 3339 (for example `2026-11-24T13:51:25Z`), given by the caller.
    pub at: String,
    /// Who: a user id, or [`ACTOR_SYSTEM`].
    pub actor: String,
    /// What, dotted: `auth.login`, `project.delete`, `config.change`,
    /// `permission.change`, `payment`...
    pub action: String,
    /// On what: a project id, a user id, a setting name...
    pub target: String,
    /// [`OUTCOME_SUCCESS`] or [`OUTCOME_FAILURE`].
    pub outcome: String,
    /// Anything else worth keeping (never a secret: the log is not encrypted).
    pub details: Value,
}

/// One sealed entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log: [`GENESIS_SEQ`] for the first entry, then +1.
    pub seq: u64,
    /// When, RFC 3339, as given by the caller.
    pub at: String,
    /// Who: a user id, or [`ACTOR_SYSTEM`].
    pub actor: String,
    /// What, for example `auth.login` or `project.delete`.
    pub action: String,
    /// On what.
    pub target: String,
    /// [`OUTCOME_SUCCESS`] or [`OUTCOME_FAILURE`].
    pub outcome: String,
    /// Free-form details.
    pub details: Value,
    /// The previous entry's `hash`, or [`GENESIS_HASH`] for the first entry.
    pub prev_hash: String,
    /// Lowercase hex SHA-256 of this entry's canonical bytes (see the
    /// [module documentation](self)).
    pub hash: String,
}

impl AuditEntry {
    /// Seals `event` as the entry after `prev` (or as the first entry of a
    /// log when `prev` is `None`): `seq` is `prev.seq + 1` (or
    /// [`GENESIS_SEQ`]), `prev_hash` is `prev.hash` (or [`GENESIS_HASH`]),
    /// and `hash` is computed over all of it.
    pub fn seal(prev: Option<&AuditEntry>, event: AuditEvent) -> AuditEntry {
        let (seq, prev_hash) = match prev {
            // At u64::MAX the seq repeats, which verify_chain reports as a gap.
            Some(prev) => (prev.seq.saturating_add(1), prev.hash.clone()),
            None => (GENESIS_SEQ, GENESIS_HASH.to_owned()),
        };
        let mut entry = AuditEntry {
            seq,
            at: event.at,
            actor: event.actor,
            action: event.action,
            target: event.target,
            outcome: event.outcome,
            details: event.details,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The hash this entry's fields (all but `hash`) call for.
    pub fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        put_field(&mut hasher, HASH_DOMAIN);
        hasher.update(self.seq.to_be_bytes());
        for field in [
            &self.at,
            &self.actor,
            &self.action,
            &self.target,
            &self.outcome,
        ] {
            put_field(&mut hasher, field.as_bytes());
        }
        let mut details = String::new();
        canonical_json(&self.details, &mut details);
        put_field(&mut hasher, details.as_bytes());
        put_field(&mut hasher, self.prev_hash.as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Feeds `bytes` to the hash, preceded by its length (8 bytes, big-endian).
fn put_field(hasher: &mut Sha256, bytes: &[u8]) {
    // usize is at most 64 bits on every supported target.
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// Compact JSON with object keys sorted at every depth.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                canonical_json(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        // Null, booleans, numbers and strings: serde_json's own compact form.
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Why a chain does not verify: the first bad entry, by its position in the
/// slice (`index`) and the `seq` it carries. [`ChainError::code`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The entry's `hash` does not match its fields: the entry was edited
    /// (any field, `seq`, `prev_hash` and `hash` included).
    #[error("audit entry {seq} (index {index}) was altered: its hash does not match")]
    HashMismatch {
        /// Position in the slice.
        index: usize,
        /// The entry's `seq`, as stored.
        seq: u64,
    },
    /// The entry's `prev_hash` is not the previous entry's `hash` (or, for
    /// the first entry, not [`GENESIS_HASH`]): entries before it were
    /// deleted, inserted or reordered.
    #[error("audit entry {seq} (index {index}) does not follow the entry before it")]
    BrokenLink {
        /// Position in the slice.
        index: usize,
        /// The entry's `seq`, as stored.
        seq: u64,
    },
    /// The entry's `seq` is not the previous one plus one (or, for the
    /// first entry, not [`GENESIS_SEQ`]).
    #[error("audit entry {seq} (index {index}) should have seq {expected}")]
    SeqGap {
        /// Position in the slice.
        index: usize,
        /// The entry's `seq`, as stored.
        seq: u64,
        /// The `seq` it should have.
        expected: u64,
    },
}

impl ChainError {
    /// Stable machine-readable code: `audit_hash_mismatch`,
    /// `audit_broken_link` or `audit_seq_gap`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HashMismatch { .. } => "audit_hash_mismatch",
            Self::BrokenLink { .. } => "audit_broken_link",
            Self::SeqGap { .. } => "audit_seq_gap",
        }
    }

    /// The `seq` of the first bad entry, as stored.
    pub fn seq(&self) -> u64 {
        match self {
            Self::HashMismatch { seq, .. }
            | Self::BrokenLink { seq, .. }
            | Self::SeqGap { seq, .. } => *seq,
        }
    }

    /// The position of the first bad entry in the slice.
    pub fn index(&self) -> usize {
        match self {
            Self::HashMismatch { index, .. }
            | Self::BrokenLink { index, .. }
            | Self::SeqGap { index, .. } => *index,
        }
    }
}

/// Verifies a whole log, from its first entry, in order, and reports the
/// first bad entry. An empty slice verifies.
///
/// Each entry is checked in this order: its own hash (edited?), its link to
/// the entry before (deleted, inserted, reordered?), its `seq` (gap?).
///
/// A log cut short at the end still verifies: compare the last entry with
/// the head the store keeps (see the [module documentation](self)).
pub fn verify_chain(entries: &[AuditEntry]) -> Result<(), ChainError> {
    verify_chain_after(None, entries)
}

/// Verifies a part of a log that continues from `anchor`, an entry already
/// verified (or trusted), or from the start of the log when `anchor` is
/// `None`; as [`verify_chain`] otherwise. `index` in errors counts in
/// `entries`. For checking a long log page by page.
pub fn verify_chain_after(
    anchor: Option<&AuditEntry>,
    entries: &[AuditEntry],
) -> Result<(), ChainError> {
    let mut prev = anchor;
    for (index, entry) in entries.iter().enumerate() {
        if entry.compute_hash() != entry.hash {
            return Err(ChainError::HashMismatch {
                index,
                seq: entry.seq,
            });
        }
        let (expected_prev_hash, expected_seq) = match prev {
            Some(prev) => (prev.hash.as_str(), prev.seq.checked_add(1)),
            None => (GENESIS_HASH, Some(GENESIS_SEQ)),
        };
        if entry.prev_hash != expected_prev_hash {
            return Err(ChainError::BrokenLink {
                index,
                seq: entry.seq,
            });
        }
        if expected_seq != Some(entry.seq) {
            return Err(ChainError::SeqGap {
                index,
                seq: entry.seq,
                expected: expected_seq.unwrap_or(u64::MAX),
            });
        }
        prev = Some(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn event(i: u64) -> AuditEvent {
        let actions = [
            "auth.login",
            "project.delete",
            "config.change",
            "permission.change",
            "payment",
        ];
        AuditEvent {
            at: format!("2026-11-24T13:5{i}:00Z"),
            actor: if i.is_multiple_of(2) {
                ACTOR_SYSTEM.to_owned()
            } else {
                format!("user-{i}")
            },
            action: actions[(i as usize) % actions.len()].to_owned(),
            target: format!("project-{i}"),
            outcome: if i == 3 {
                OUTCOME_FAILURE
            } else {
                OUTCOME_SUCCESS
            }
            .to_owned(),
            details: json!({ "ip": "203.0.113.7", "n": i, "nested": { "z": 1, "a": [true, null] } }),
        }
    }

    /// A chain of `n` entries, seq 1..=n.
    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let entry = AuditEntry::seal(entries.last(), event(i));
            entries.push(entry);
        }
        entries
    }

    #[test]
    fn chain_of_five_verifies() {
        let entries = chain(5);
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(entries[0].prev_hash, GENESIS_HASH);
        assert_eq!(GENESIS_HASH.len(), 64);
        for pair in entries.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        for entry in &entries {
            assert_eq!(entry.hash.len(), 64);
            assert!(
                entry
                    .hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
        verify_chain(&entries).unwrap();
        verify_chain(&[]).unwrap();
        // Through JSON (as a store would keep them) too.
        let json = serde_json::to_string(&entries).unwrap();
        let back: Vec<AuditEntry> = serde_json::from_str(&json).unwrap();
        verify_chain(&back).unwrap();
    }

    #[test]
    fn hash_is_pinned() {
        // The canonical encoding is a format: changing it breaks stored logs.
        let entry = AuditEntry::seal(
            None,
            AuditEvent {
                at: "2026-01-01T00:00:00Z".into(),
                actor: "system".into(),
                action: "config.change".into(),
                target: "t".into(),
                outcome: "success".into(),
                details: json!({"b": 1, "a": "x"}),
            },
        );
        let mut bytes = Vec::new();
        let field = |bytes: &mut Vec<u8>, b: &[u8]| {
            bytes.extend_from_slice(&(b.len() as u64).to_be_bytes());
            bytes.extend_from_slice(b);
        };
        field(&mut bytes, b"visiobook/audit/v1");
        bytes.extend_from_slice(&1u64.to_be_bytes());
        for b in [
            &b"2026-01-01T00:00:00Z"[..],
            b"system",
            b"config.change",
            b"t",
            b"success",
            br#"{"a":"x","b":1}"#,
            GENESIS_HASH.as_bytes(),
        ] {
            field(&mut bytes, b);
        }
        assert_eq!(entry.hash, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn details_key_order_does_not_matter() {
        let mut a = event(1);
        a.details =
            serde_json::from_str(r#"{"b":{"y":1,"x":[{"q":1,"p":2}]},"a":"\u00e9\n"}"#).unwrap();
        let mut b = event(1);
        b.details = serde_json::from_str(r#"{"a":"é\n","b":{"x":[{"p":2,"q":1}],"y":1}}"#).unwrap();
        let mut out = String::new();
        canonical_json(&a.details, &mut out);
        assert_eq!(out, r#"{"a":"é\n","b":{"x":[{"p":2,"q":1}],"y":1}}"#);
        assert_eq!(
            AuditEntry::seal(None, a).hash,
            AuditEntry::seal(None, b).hash
        );
        // But array order does.
        let mut c = event(1);
        c.details = json!([1, 2]);
        let mut d = event(1);
        d.details = json!([2, 1]);
        assert_ne!(
            AuditEntry::seal(None, c).hash,
            AuditEntry::seal(None, d).hash
        );
    }

    #[test]
    fn fields_are_unambiguous() {
        // Moving a character from one field to the next changes the hash.
        let mut a = event(1);
        a.actor = "ab".into();
        a.action = "c".into();
        let mut b = event(1);
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(
            AuditEntry::seal(None, a).hash,
            AuditEntry::seal(None, b).hash
        );
    }

    #[test]
    fn editing_any_field_of_a_middle_entry_is_detected_there() {
        type Edit = fn(&mut AuditEntry);
        let edits: Vec<(&str, Edit)> = vec![
            ("seq", |e| e.seq = 9),
            ("at", |e| e.at.push('x')),
            ("actor", |e| e.actor = "user-evil".into()),
            ("action", |e| e.action = "auth.logout".into()),
            ("target", |e| e.target.clear()),
            ("outcome", |e| e.outcome = OUTCOME_FAILURE.into()),
            ("details value", |e| e.details["n"] = json!(99)),
            ("details nested", |e| {
                e.details["nested"]["a"][0] = json!(false)
            }),
            ("details key", |e| {
                e.details.as_object_mut().unwrap().remove("ip");
            }),
            ("prev_hash", |e| e.prev_hash = GENESIS_HASH.into()),
            ("hash", |e| e.hash = e.hash.replace(&e.hash[..1], "f")),
        ];
        for (what, edit) in edits {
            let mut entries = chain(5);
            let before = entries[2].clone();
            edit(&mut entries[2]);
            assert_ne!(entries[2], before, "{what}: edit changed nothing");
            let err = verify_chain(&entries).unwrap_err();
            assert_eq!(err.code(), "audit_hash_mismatch", "{what}");
            assert_eq!(err.index(), 2, "{what}");
            if what != "seq" {
                assert_eq!(err.seq(), 3, "{what}");
            }
        }
    }

    #[test]
    fn resealed_edit_is_detected_at_the_next_entry() {
        let mut entries = chain(5);
        entries[2].target = "project-other".into();
        entries[2].hash = entries[2].compute_hash();
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(err, ChainError::BrokenLink { index: 3, seq: 4 });
    }

    #[test]
    fn deleting_a_middle_entry_is_detected() {
        let mut entries = chain(5);
        entries.remove(2);
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(err, ChainError::BrokenLink { index: 2, seq: 4 });
        assert_eq!(err.code(), "audit_broken_link");
    }

    #[test]
    fn deleting_the_first_entry_is_detected() {
        let mut entries = chain(5);
        entries.remove(0);
        assert_eq!(
            verify_chain(&entries).unwrap_err(),
            ChainError::BrokenLink { index: 0, seq: 2 }
        );
    }

    #[test]
    fn reordering_is_detected() {
        let mut entries = chain(5);
        entries.swap(1, 3);
        assert_eq!(
            verify_chain(&entries).unwrap_err(),
            ChainError::BrokenLink { index: 1, seq: 4 }
        );
        let mut entries = chain(5);
        entries.swap(3, 4);
        assert_eq!(
            verify_chain(&entries).unwrap_err(),
            ChainError::BrokenLink { index: 3, seq: 5 }
        );
    }

    #[test]
    fn seq_gap_is_detected() {
        // A writer that links correctly but skips a number.
        let mut entries = chain(3);
        let mut next = AuditEntry::seal(entries.last(), event(3));
        next.seq = 5;
        next.hash = next.compute_hash();
        entries.push(next);
        let err = verify_chain(&entries).unwrap_err();
        assert_eq!(
            err,
            ChainError::SeqGap {
                index: 3,
                seq: 5,
                expected: 4
            }
        );
        assert_eq!(err.code(), "audit_seq_gap");
        // A first entry that does not start at GENESIS_SEQ.
        let mut first = AuditEntry::seal(None, event(0));
        first.seq = 0;
        first.hash = first.compute_hash();
        assert_eq!(verify_chain(&[first]).unwrap_err().code(), "audit_seq_gap");
    }

    #[test]
    fn truncating_the_tail_is_not_detected_by_the_chain_alone() {
        // Documented limitation: a prefix of a valid chain is a valid chain.
        // The store keeps the head (last seq and hash) to catch this.
        let entries = chain(5);
        verify_chain(&entries[..3]).unwrap();
        verify_chain(&entries[..1]).unwrap();
        let head = entries.last().unwrap();
        let truncated = &entries[..3];
        assert_ne!(truncated.last().unwrap().hash, head.hash);
    }

    #[test]
    fn verify_after_an_anchor() {
        let entries = chain(5);
        verify_chain_after(Some(&entries[1]), &entries[2..]).unwrap();
        verify_chain_after(None, &entries).unwrap();
        assert_eq!(
            verify_chain_after(Some(&entries[0]), &entries[2..]).unwrap_err(),
            ChainError::BrokenLink { index: 0, seq: 3 }
        );
        // Without the anchor, a page from the middle does not verify.
        assert_eq!(
            verify_chain(&entries[2..]).unwrap_err().code(),
            "audit_broken_link"
        );
    }
}
