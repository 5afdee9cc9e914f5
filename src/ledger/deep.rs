//! Deep verification (`ledger verify --deep`, the operator's `ledgerAudit`): beyond the chain,
//! recompute the content hashes from the stored bytes and re-derive from the events the
//! projections that rules depend on (status, blocks, masks, first accesses, documents,
//! messages, medical-profile entries, the médecin traitant, the emergency-access setting and
//! the emergency accesses opened), and report every divergence with its patient and
//! sequence. The chain says what happened; a table that says otherwise was changed behind it.

use std::collections::{BTreeMap, BTreeSet};

use entity::{
    document, document_content, emergency_access, ledger_event, medical_profile_entry, message,
    message_attachment, practitioner_access, practitioner_block, profile,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use super::content::{ContentDigest, medical_entry_bytes};
use super::{ChainReport, encoding_version, verify_rows};
use crate::domain::{EventKind, ProfileStatus, status_after};

/// A projection, or stored content, that the events do not explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub patient_ins: String,
    /// The event the divergence is about, when there is one.
    pub seq: Option<i64>,
    pub problem: String,
}

/// The result of a deep verification.
#[derive(Debug, Clone, Default)]
pub struct DeepReport {
    pub chains: Vec<ChainReport>,
    pub divergences: Vec<Divergence>,
    /// Content events written before content was bound (encoding version 1): their content is
    /// checked against its table's own hash only.
    pub unbound_events: u64,
    /// What the signed checkpoints say is wrong: a checkpoint that does not verify, or a chain
    /// truncated or rewritten since the latest one.
    pub checkpoint_problems: Vec<String>,
}

impl DeepReport {
    /// Whether every chain verifies, nothing diverges, and the checkpoints hold.
    pub fn verified(&self) -> bool {
        self.divergences.is_empty()
            && self.checkpoint_problems.is_empty()
            && self.chains.iter().all(ChainReport::verified)
    }
}

/// A medical-profile entry as its last event leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    Present(Option<ContentDigest>),
    Removed,
}

/// A message as its event describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts {
    pub seq: i64,
    pub body: Option<ContentDigest>,
    pub attachments: Option<Vec<(i64, ContentDigest)>>,
}

/// What the events of one chain say the projections hold. Each map names the sequence of the
/// event that decided.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    pub status: Option<(ProfileStatus, i64)>,
    pub blocks: BTreeMap<String, i64>,
    pub masks: BTreeMap<i64, (bool, i64)>,
    pub first_accesses: BTreeMap<String, i64>,
    pub documents: BTreeMap<i64, (i64, Option<ContentDigest>)>,
    pub messages: BTreeMap<i64, MessageFacts>,
    pub medical: BTreeMap<i64, (i64, EntryState)>,
    /// The médecin traitant the last designation or removal leaves (`None` after a removal).
    pub medecin_traitant: Option<(Option<String>, i64)>,
    /// The emergency-access setting the last change leaves (on when no event changed it).
    pub emergency_access_enabled: Option<(bool, i64)>,
    /// Emergency accesses opened, by id: the opening event and the expiry it declared.
    pub emergency_accesses: BTreeMap<i64, (i64, Option<String>)>,
    pub unbound: u64,
    /// Documents and messages whose content a retention purge removed (the ledger stays).
    pub purged_documents: BTreeSet<i64>,
    pub purged_messages: BTreeSet<i64>,
    /// Events whose payload lacks what their kind and version require.
    pub malformed: Vec<(i64, &'static str)>,
}

fn id(payload: &Value, member: &str) -> Option<i64> {
    payload.get(member).and_then(Value::as_i64)
}

/// Re-derives the projections from one chain's events, in sequence order. Kinds that change
/// none of them are skipped, so a new kind costs nothing here unless it does.
pub fn derive(events: &[ledger_event::Model]) -> Derived {
    let mut d = Derived::default();
    for event in events {
        let seq = event.seq;
        let v2 = encoding_version(&event.payload) == 2;
        let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
        if let Some(status) = status_after(event.kind) {
            d.status = Some((status, seq));
        }
        match event.kind {
            EventKind::ProfilePurged => {
                let ids = |member: &str| -> Vec<i64> {
                    payload
                        .get(member)
                        .and_then(Value::as_array)
                        .map(|l| l.iter().filter_map(Value::as_i64).collect())
                        .unwrap_or_default()
                };
                d.purged_documents.extend(ids("documentIds"));
                d.purged_messages.extend(ids("messageIds"));
                for (_, (at, state)) in d.medical.iter_mut() {
                    if matches!(state, EntryState::Present(_)) {
                        *at = seq;
                        *state = EntryState::Removed;
                    }
                }
                continue;
            }
            // The status a reopening restores, or the one a majority leaves, is in the payload.
            EventKind::ProfileReopened | EventKind::RepresentationEnded => {
                let after = payload.get("statusAfter").and_then(Value::as_str);
                if let Some(status) = ProfileStatus::ALL
                    .iter()
                    .find(|s| Some(s.as_str()) == after)
                {
                    d.status = Some((*status, seq));
                } else if event.kind == EventKind::ProfileReopened {
                    d.malformed.push((seq, "no statusAfter"));
                }
                continue;
            }
            _ => {}
        }
        match event.kind {
            EventKind::PractitionerBlocked | EventKind::PractitionerUnblocked => {
                let Some(rpps) = payload.get("practitionerRpps").and_then(Value::as_str) else {
                    d.malformed.push((seq, "no practitionerRpps"));
                    continue;
                };
                if event.kind == EventKind::PractitionerBlocked {
                    d.blocks.insert(rpps.to_owned(), seq);
                } else {
                    d.blocks.remove(rpps);
                }
            }
            EventKind::MedecinTraitantDesignated | EventKind::MedecinTraitantRemoved => {
                let Some(rpps) = payload.get("practitionerRpps").and_then(Value::as_str) else {
                    d.malformed.push((seq, "no practitionerRpps"));
                    continue;
                };
                let designated =
                    (event.kind == EventKind::MedecinTraitantDesignated).then(|| rpps.to_owned());
                d.medecin_traitant = Some((designated, seq));
            }
            EventKind::EmergencyAccessTurnedOn | EventKind::EmergencyAccessTurnedOff => {
                d.emergency_access_enabled =
                    Some((event.kind == EventKind::EmergencyAccessTurnedOn, seq));
            }
            EventKind::EmergencyAccessOpened => {
                let Some(access) = id(&payload, "emergencyAccessId") else {
                    d.malformed.push((seq, "no emergencyAccessId"));
                    continue;
                };
                let expires = payload.get("expiresAt").and_then(Value::as_str);
                d.emergency_accesses
                    .insert(access, (seq, expires.map(str::to_owned)));
            }
            EventKind::FirstAccess => {
                d.first_accesses
                    .entry(event.actor_id.clone())
                    .or_insert(seq);
            }
            EventKind::DocumentMasked | EventKind::DocumentUnmasked => {
                let Some(doc) = id(&payload, "documentId") else {
                    d.malformed.push((seq, "no documentId"));
                    continue;
                };
                d.masks
                    .insert(doc, (event.kind == EventKind::DocumentMasked, seq));
            }
            EventKind::DocumentFed | EventKind::DocumentAdded => {
                let Some(doc) = id(&payload, "documentId") else {
                    d.malformed.push((seq, "no documentId"));
                    continue;
                };
                let digest = ContentDigest::in_payload(&payload, "content");
                match (v2, &digest) {
                    (true, None) => d.malformed.push((seq, "no content digest")),
                    (false, _) => d.unbound += 1,
                    _ => {}
                }
                d.documents.insert(doc, (seq, digest));
            }
            EventKind::MessageReceived | EventKind::MessageReplied => {
                let Some(msg) = id(&payload, "messageId") else {
                    d.malformed.push((seq, "no messageId"));
                    continue;
                };
                let body = ContentDigest::in_payload(&payload, "body");
                let attachments = payload.get("attachments").map(|list| {
                    list.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| {
                            Some((id(a, "id")?, serde_json::from_value(a.clone()).ok()?))
                        })
                        .collect()
                });
                if !v2 {
                    d.unbound += 1;
                } else if body.is_none() {
                    d.malformed.push((seq, "no body digest"));
                }
                d.messages.insert(
                    msg,
                    MessageFacts {
                        seq,
                        body,
                        attachments,
                    },
                );
            }
            EventKind::MedicalProfileUpdated => {
                let Some(entry) = id(&payload, "entryId") else {
                    d.malformed.push((seq, "no entryId"));
                    continue;
                };
                let state = if payload.get("action").and_then(Value::as_str) == Some("REMOVED") {
                    EntryState::Removed
                } else {
                    let digest = ContentDigest::in_payload(&payload, "content");
                    match (v2, &digest) {
                        (true, None) => d.malformed.push((seq, "no content digest")),
                        (false, _) => d.unbound += 1,
                        _ => {}
                    }
                    EntryState::Present(digest)
                };
                d.medical.insert(entry, (seq, state));
            }
            _ => {}
        }
    }
    d
}

/// Collects the divergences of one patient.
struct Findings<'a> {
    patient: &'a str,
    list: Vec<Divergence>,
}

impl Findings<'_> {
    fn add(&mut self, seq: Option<i64>, problem: String) {
        self.list.push(Divergence {
            patient_ins: self.patient.to_owned(),
            seq,
            problem,
        });
    }

    fn digest(&mut self, seq: i64, what: &str, bound: &ContentDigest, stored: &ContentDigest) {
        if bound != stored {
            self.add(
                Some(seq),
                format!(
                    "{what}: stored content has SHA-256 {} ({} bytes), the chain binds {} ({} bytes)",
                    stored.sha256, stored.size, bound.sha256, bound.size
                ),
            );
        }
    }
}

/// Deep-verifies one patient: their chain, then every projection against it.
pub async fn verify_patient_deep(
    conn: &impl ConnectionTrait,
    patient_ins: &str,
) -> Result<(ChainReport, Vec<Divergence>, u64), DbErr> {
    let events = ledger_event::Entity::find()
        .filter(ledger_event::Column::PatientIns.eq(patient_ins))
        .order_by_asc(ledger_event::Column::Seq)
        .all(conn)
        .await?;
    let chain = verify_rows(patient_ins, &events);
    let derived = derive(&events);
    let mut found = Findings {
        patient: patient_ins,
        list: Vec::new(),
    };
    for (seq, why) in &derived.malformed {
        found.add(
            Some(*seq),
            format!("payload does not bind its content: {why}"),
        );
    }

    // Status.
    let profile = profile::Entity::find()
        .filter(profile::Column::Ins.eq(patient_ins))
        .one(conn)
        .await?;
    match (&profile, derived.status) {
        (Some(p), Some((status, seq))) if p.status != status => found.add(
            Some(seq),
            format!(
                "profile status is {}, the events say {}",
                p.status.as_str(),
                status.as_str()
            ),
        ),
        (None, Some((_, seq))) => found.add(Some(seq), "profile is missing".to_owned()),
        (Some(p), None) => found.add(
            None,
            format!(
                "profile status {} without any event that sets it",
                p.status.as_str()
            ),
        ),
        _ => {}
    }

    // Who sees masked documents: the médecin traitant, the emergency setting and accesses.
    if let Some(p) = &profile {
        let stored = p
            .medecin_traitant_rpps
            .as_ref()
            .map(|r| r.as_str().to_owned());
        let (derived_mt, seq) = derived.medecin_traitant.clone().unwrap_or((None, 0));
        if stored != derived_mt {
            found.add(
                (seq > 0).then_some(seq),
                format!(
                    "médecin traitant is {}, the events say {}",
                    stored.as_deref().unwrap_or("nobody"),
                    derived_mt.as_deref().unwrap_or("nobody")
                ),
            );
        }
        let (enabled, seq) = derived.emergency_access_enabled.unwrap_or((true, 0));
        if p.emergency_access_enabled != enabled {
            found.add(
                (seq > 0).then_some(seq),
                format!(
                    "emergency access is {}, the events say {}",
                    on_off(p.emergency_access_enabled),
                    on_off(enabled)
                ),
            );
        }
    }
    let accesses = emergency_access::Entity::find()
        .filter(emergency_access::Column::PatientIns.eq(patient_ins))
        .all(conn)
        .await?;
    for access in &accesses {
        let stored_expiry = access
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        match derived.emergency_accesses.get(&access.id) {
            None => found.add(
                None,
                format!(
                    "emergency access {} of practitioner {} has no EMERGENCY_ACCESS_OPENED event",
                    access.id,
                    access.practitioner_rpps.as_str()
                ),
            ),
            Some((seq, expiry)) if expiry.as_deref() != Some(stored_expiry.as_str()) => found.add(
                Some(*seq),
                format!(
                    "emergency access {} expires at {stored_expiry}, the event says {}",
                    access.id,
                    expiry.as_deref().unwrap_or("nothing")
                ),
            ),
            Some(_) => {}
        }
    }
    for (id, (seq, _)) in &derived.emergency_accesses {
        if !accesses.iter().any(|a| a.id == *id) {
            found.add(Some(*seq), format!("emergency access {id} is missing"));
        }
    }

    // Blocks and first accesses: sets keyed by RPPS.
    let blocks: BTreeSet<String> = practitioner_block::Entity::find()
        .filter(practitioner_block::Column::PatientIns.eq(patient_ins))
        .all(conn)
        .await?
        .into_iter()
        .map(|b| b.practitioner_rpps.as_str().to_owned())
        .collect();
    compare_sets(
        &mut found,
        "block",
        "PRACTITIONER_BLOCKED",
        &derived.blocks,
        &blocks,
    );
    let accesses: BTreeSet<String> = practitioner_access::Entity::find()
        .filter(practitioner_access::Column::PatientIns.eq(patient_ins))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.practitioner_rpps.as_str().to_owned())
        .collect();
    compare_sets(
        &mut found,
        "first access",
        "FIRST_ACCESS",
        &derived.first_accesses,
        &accesses,
    );

    // Documents: existence, mask, content.
    let documents = document::Entity::find()
        .filter(document::Column::PatientIns.eq(patient_ins))
        .order_by_asc(document::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<i64> = documents.iter().map(|d| d.id).collect();
    let contents: BTreeMap<i64, Vec<u8>> = document_content::Entity::find()
        .filter(document_content::Column::DocumentId.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.document_id, c.content))
        .collect();
    let mut seen = BTreeSet::new();
    for doc in &documents {
        seen.insert(doc.id);
        let Some((seq, bound)) = derived.documents.get(&doc.id) else {
            found.add(None, format!("document {} has no creation event", doc.id));
            continue;
        };
        let (masked, mask_seq) = derived.masks.get(&doc.id).copied().unwrap_or((false, *seq));
        if doc.masked != masked {
            found.add(
                Some(mask_seq),
                format!(
                    "document {} is masked={}, the events say masked={masked}",
                    doc.id, doc.masked
                ),
            );
        }
        let recorded = ContentDigest::known(&doc.sha256, doc.size_bytes);
        match contents.get(&doc.id) {
            None if derived.purged_documents.contains(&doc.id) => {}
            Some(bytes) => {
                let stored = ContentDigest::of(bytes);
                found.digest(
                    *seq,
                    &format!("document {}", doc.id),
                    bound.as_ref().unwrap_or(&recorded),
                    &stored,
                );
            }
            None => found.add(
                Some(*seq),
                format!("document {}: content is missing", doc.id),
            ),
        }
        if let Some(bound) = bound
            && *bound != recorded
        {
            found.add(
                Some(*seq),
                format!(
                    "document {}: recorded SHA-256/size differ from the chain's",
                    doc.id
                ),
            );
        }
    }
    for (doc, (seq, _)) in &derived.documents {
        if !seen.contains(doc) {
            found.add(Some(*seq), format!("document {doc} is missing"));
        }
    }

    // Messages the events name: body and attachments.
    let ids: Vec<i64> = derived.messages.keys().copied().collect();
    let messages: BTreeMap<i64, message::Model> = message::Entity::find()
        .filter(message::Column::Id.is_in(ids.clone()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let mut attachments: BTreeMap<i64, Vec<message_attachment::Model>> = BTreeMap::new();
    for a in message_attachment::Entity::find()
        .filter(message_attachment::Column::MessageId.is_in(ids))
        .order_by_asc(message_attachment::Column::Id)
        .all(conn)
        .await?
    {
        attachments.entry(a.message_id).or_default().push(a);
    }
    for (msg, facts) in &derived.messages {
        let Some(row) = messages.get(msg) else {
            found.add(Some(facts.seq), format!("message {msg} is missing"));
            continue;
        };
        if derived.purged_messages.contains(msg) {
            continue;
        }
        if let Some(bound) = &facts.body {
            let stored = ContentDigest::of(row.body.as_bytes());
            found.digest(facts.seq, &format!("message {msg} body"), bound, &stored);
        }
        let stored_files = attachments.get(msg).map(Vec::as_slice).unwrap_or_default();
        if let Some(bound) = &facts.attachments {
            let stored: Vec<(i64, ContentDigest)> = stored_files
                .iter()
                .map(|a| (a.id, ContentDigest::of(&a.content)))
                .collect();
            if *bound != stored {
                found.add(
                    Some(facts.seq),
                    format!("message {msg}: attachments differ from those the chain binds"),
                );
            }
        }
        for a in stored_files {
            if ContentDigest::of(&a.content) != ContentDigest::known(&a.sha256, a.size_bytes) {
                found.add(
                    Some(facts.seq),
                    format!(
                        "message {msg}: attachment {} does not match its recorded SHA-256",
                        a.id
                    ),
                );
            }
        }
    }

    // Medical-profile entries.
    let entries: BTreeMap<i64, medical_profile_entry::Model> =
        medical_profile_entry::Entity::find()
            .filter(medical_profile_entry::Column::PatientIns.eq(patient_ins))
            .all(conn)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
    for (entry, row) in &entries {
        match derived.medical.get(entry) {
            None => found.add(None, format!("medical-profile entry {entry} has no event")),
            Some((seq, EntryState::Removed)) => found.add(
                Some(*seq),
                format!("medical-profile entry {entry} was removed, yet is stored"),
            ),
            Some((seq, EntryState::Present(Some(bound)))) => {
                let stored = ContentDigest::of(&medical_entry_bytes(
                    row.category.as_str(),
                    &row.label,
                    row.details.as_deref(),
                    row.since,
                ));
                found.digest(
                    *seq,
                    &format!("medical-profile entry {entry}"),
                    bound,
                    &stored,
                );
            }
            Some((_, EntryState::Present(None))) => {}
        }
    }
    for (entry, (seq, state)) in &derived.medical {
        if matches!(state, EntryState::Present(_)) && !entries.contains_key(entry) {
            found.add(
                Some(*seq),
                format!("medical-profile entry {entry} is missing"),
            );
        }
    }
    Ok((chain, found.list, derived.unbound))
}

fn on_off(enabled: bool) -> &'static str {
    if enabled { "on" } else { "off" }
}

fn compare_sets(
    found: &mut Findings<'_>,
    what: &str,
    kind: &str,
    derived: &BTreeMap<String, i64>,
    stored: &BTreeSet<String>,
) {
    for (rpps, seq) in derived {
        if !stored.contains(rpps) {
            found.add(
                Some(*seq),
                format!("{what} of practitioner {rpps} is missing"),
            );
        }
    }
    for rpps in stored {
        if !derived.contains_key(rpps) {
            found.add(
                None,
                format!("{what} of practitioner {rpps} has no {kind} event"),
            );
        }
    }
}

/// Deep-verifies every patient who has a chain or a profile.
pub async fn verify_deep(conn: &impl ConnectionTrait) -> Result<DeepReport, DbErr> {
    let mut patients: BTreeSet<String> = ledger_event::Entity::find()
        .select_only()
        .column(ledger_event::Column::PatientIns)
        .distinct()
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    patients.extend(
        profile::Entity::find()
            .select_only()
            .column(profile::Column::Ins)
            .into_tuple::<String>()
            .all(conn)
            .await?,
    );
    let mut report = DeepReport::default();
    for patient in patients {
        let (chain, divergences, unbound) = verify_patient_deep(conn, &patient).await?;
        report.chains.push(chain);
        report.divergences.extend(divergences);
        report.unbound_events += unbound;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ActorRole, Ins};

    fn event(seq: i64, kind: EventKind, payload: &str) -> ledger_event::Model {
        ledger_event::Model {
            id: seq,
            patient_ins: Ins::parse("185057800608491").unwrap(),
            seq,
            occurred_at: chrono::DateTime::from_timestamp_micros(seq).unwrap(),
            kind,
            actor_role: ActorRole::Patient,
            actor_id: "185057800608491".into(),
            actor_name: "X".into(),
            actor_profession: String::new(),
            payload: payload.into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn version_1_content_events_keep_their_meaning_and_version_2_must_bind() {
        let derived = derive(&[
            event(
                1,
                EventKind::DocumentAdded,
                r#"{"documentId":1,"typeCode":"x"}"#,
            ),
            event(
                2,
                EventKind::DocumentAdded,
                r#"{"v":2,"documentId":2,"typeCode":"x"}"#,
            ),
            event(
                3,
                EventKind::DocumentAdded,
                r#"{"v":2,"content":{"sha256":"ab","size":2},"documentId":3}"#,
            ),
        ]);
        assert_eq!(
            derived.unbound, 1,
            "the version 1 event is unbound, not divergent"
        );
        assert_eq!(derived.malformed, vec![(2, "no content digest")]);
        assert_eq!(derived.documents[&3].1, Some(ContentDigest::known("ab", 2)));
    }

    #[test]
    fn projections_are_the_last_word_of_the_events() {
        let rpps = r#"{"v":2,"practitionerRpps":"10003456786"}"#;
        let derived = derive(&[
            event(1, EventKind::BeneficiaryEnrolled, r#"{"v":2}"#),
            event(2, EventKind::ProfileCreated, r#"{"v":2}"#),
            event(3, EventKind::PractitionerBlocked, rpps),
            event(4, EventKind::PractitionerUnblocked, rpps),
            event(5, EventKind::PractitionerBlocked, rpps),
            event(6, EventKind::DocumentMasked, r#"{"v":2,"documentId":9}"#),
            event(7, EventKind::DocumentUnmasked, r#"{"v":2,"documentId":9}"#),
        ]);
        assert_eq!(derived.status, Some((ProfileStatus::Created, 2)));
        assert_eq!(derived.blocks.get("10003456786"), Some(&5));
        assert_eq!(derived.masks.get(&9), Some(&(false, 7)));
    }
}
