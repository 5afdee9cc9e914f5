//! Deep verification (`ledger verify --deep`, the operator's `ledgerAudit`): beyond the chain,
//! recompute the content hashes from the stored bytes and re-derive from the events the
//! projections that rules depend on (status, blocks, masks, first accesses, documents,
//! messages, medical-profile entries, the médecin traitant, the emergency-access setting and
//! the emergency accesses opened), and report every divergence with its patient and
//! sequence. The chain says what happened; a table that says otherwise was changed behind it.

use std::collections::{BTreeMap, BTreeSet};

use crate::contents::ContentStore;
use crate::domain::Event;
use crate::domain::content::title_digest;
use crate::domain::events::emergency_expiry;
use crate::domain::record::{EntryState, RecordState, Recorded};
use crate::ledger::content::{ContentDigest, medical_entry_bytes};
use crate::ledger::{ChainReport, encoding_version, verify_rows};
use entity::{
    document, emergency_access, ledger_event, legal_representative, medical_profile_entry, message,
    message_attachment, practitioner_access, practitioner_block, profile,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

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

/// Folds a chain's stored events into the state they say the tables hold
/// ([`RecordState`]); an event its kind cannot read is malformed.
pub fn derive(events: &[ledger_event::Model]) -> RecordState {
    let mut state = RecordState::default();
    for row in events {
        match Event::read(row.kind, &row.payload) {
            Ok(event) => state.apply(Recorded {
                seq: row.seq,
                actor_id: &row.actor_id,
                version: encoding_version(&row.payload),
                event: &event,
            }),
            Err(malformed) => state.malformed.push((row.seq, malformed.why)),
        }
    }
    state
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
    store: &ContentStore,
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
            format!("payload does not say what its kind requires: {why}"),
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
        let stored_expiry = emergency_expiry(access.expires_at);
        match derived.emergency_accesses.get(&access.id) {
            None => found.add(
                None,
                format!(
                    "emergency access {} of practitioner {} has no EMERGENCY_ACCESS_OPENED event",
                    access.id,
                    access.practitioner_rpps.as_str()
                ),
            ),
            Some((seq, expiry)) if emergency_expiry(*expiry) != stored_expiry => found.add(
                Some(*seq),
                format!(
                    "emergency access {} expires at {stored_expiry}, the event says {}",
                    access.id,
                    emergency_expiry(*expiry)
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
    let mut seen = BTreeSet::new();
    for doc in &documents {
        seen.insert(doc.id);
        // Read one at a time through the content store, under the digest the row records.
        let bytes = store.read(&doc.sha256).await?;
        let Some(derived_doc) = derived.documents.get(&doc.id) else {
            found.add(None, format!("document {} has no creation event", doc.id));
            continue;
        };
        let seq = derived_doc.seq;
        let (masked, mask_seq) = derived_doc.masked;
        if doc.masked != masked {
            found.add(
                Some(mask_seq),
                format!(
                    "document {} is masked={}, the events say masked={masked}",
                    doc.id, doc.masked
                ),
            );
        }
        if doc.type_code != derived_doc.type_code {
            found.add(
                Some(seq),
                format!(
                    "document {} is of type {}, the events say {}",
                    doc.id, doc.type_code, derived_doc.type_code
                ),
            );
        }
        if doc.author_id != derived_doc.author_id {
            found.add(
                Some(seq),
                format!(
                    "document {} is by {}, the events say {}",
                    doc.id, doc.author_id, derived_doc.author_id
                ),
            );
        }
        let purged = derived.purged_documents.contains(&doc.id);
        if let Some(facts) = &derived_doc.bound_facts {
            let (held_back, held_seq) = facts.held_back;
            if doc.held_back != held_back {
                found.add(
                    Some(held_seq),
                    format!(
                        "document {} is heldBack={}, the events say heldBack={held_back}",
                        doc.id, doc.held_back
                    ),
                );
            }
            if doc.secret_from_representatives != facts.secret_from_representatives {
                found.add(
                    Some(seq),
                    format!(
                        "document {} is secretFromRepresentatives={}, the events say {}",
                        doc.id, doc.secret_from_representatives, facts.secret_from_representatives
                    ),
                );
            }
            // The title's digest takes the bytes in: checked while they are there (a purge
            // removes both).
            if let (Some(bytes), false) = (&bytes, purged) {
                found.digest(
                    seq,
                    &format!("document {} title", doc.id),
                    &facts.title,
                    &title_digest(&doc.title, bytes),
                );
            }
        }
        let recorded = ContentDigest::known(&doc.sha256, doc.size_bytes);
        let bound = &derived_doc.content;
        match &bytes {
            None if purged => {}
            Some(bytes) => {
                let stored = ContentDigest::of(bytes);
                found.digest(
                    seq,
                    &format!("document {}", doc.id),
                    bound.as_ref().unwrap_or(&recorded),
                    &stored,
                );
            }
            None => found.add(
                Some(seq),
                format!("document {}: content is missing", doc.id),
            ),
        }
        if let Some(bound) = bound
            && *bound != recorded
        {
            found.add(
                Some(seq),
                format!(
                    "document {}: recorded SHA-256/size differ from the chain's",
                    doc.id
                ),
            );
        }
    }
    for (doc, derived_doc) in &derived.documents {
        if !seen.contains(doc) {
            found.add(Some(derived_doc.seq), format!("document {doc} is missing"));
        }
    }

    // Legal representatives, when the enrolment bound them.
    if let Some(derived_reps) = &derived.representatives {
        let stored = legal_representative::Entity::find()
            .filter(legal_representative::Column::ChildIns.eq(patient_ins))
            .all(conn)
            .await?;
        for rep in &stored {
            let ins = rep.representative_ins.as_str();
            match derived_reps.get(ins) {
                None => found.add(
                    None,
                    format!("legal representative {ins} is in no enrolment event"),
                ),
                Some(state) if state.ended.is_some() != rep.ended_at.is_some() => found.add(
                    Some(state.ended.unwrap_or(state.seq)),
                    format!(
                        "legal representative {ins}: access {}, the events say {}",
                        if rep.ended_at.is_some() {
                            "ended"
                        } else {
                            "current"
                        },
                        if state.ended.is_some() {
                            "ended"
                        } else {
                            "current"
                        }
                    ),
                ),
                Some(_) => {}
            }
        }
        for (ins, state) in derived_reps {
            if !stored.iter().any(|r| r.representative_ins.as_str() == ins) {
                found.add(
                    Some(state.seq),
                    format!("legal representative {ins} is missing"),
                );
            }
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
    let mut attachment_digests: BTreeMap<i64, Option<ContentDigest>> = BTreeMap::new();
    for a in attachments.values().flatten() {
        let read = store.read(&a.sha256).await?;
        attachment_digests.insert(a.id, read.as_deref().map(ContentDigest::of));
    }
    let missing = ContentDigest::known("missing", 0);
    let digest_of = |a: &message_attachment::Model| {
        attachment_digests
            .get(&a.id)
            .cloned()
            .flatten()
            .unwrap_or_else(|| missing.clone())
    };
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
            let stored: Vec<(i64, ContentDigest)> =
                stored_files.iter().map(|a| (a.id, digest_of(a))).collect();
            if *bound != stored {
                found.add(
                    Some(facts.seq),
                    format!("message {msg}: attachments differ from those the chain binds"),
                );
            }
        }
        for a in stored_files {
            if digest_of(a) != ContentDigest::known(&a.sha256, a.size_bytes) {
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
pub async fn verify_deep(
    conn: &impl ConnectionTrait,
    store: &ContentStore,
) -> Result<DeepReport, DbErr> {
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
        let (chain, divergences, unbound) = verify_patient_deep(conn, store, &patient).await?;
        report.chains.push(chain);
        report.divergences.extend(divergences);
        report.unbound_events += unbound;
    }
    Ok(report)
}
