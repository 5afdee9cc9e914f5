//! The one projection: what a patient's tables must hold, derived from their chain by a pure
//! fold over its typed events ([`RecordState::apply`]). The write path records these events;
//! `ledger verify --deep` folds a chain with this and compares the result with the tables, so
//! a rule is written once, in the event, and read back the same way everywhere.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::ProfileStatus;
use super::content::ContentDigest;
use super::events::{AttachmentDigest, DocumentStored, EntryAction, Event, NoticeAudience};

/// One event of a chain as the fold reads it: its place, its actor, its encoding version.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub seq: i64,
    /// The actor's identifier (an RPPS number, an INS, an operator id, `system`).
    pub actor_id: &'a str,
    /// The encoding version (1 before content was bound into the chain, 2 since).
    pub version: u8,
    pub event: &'a Event,
}

/// A document as its events leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentState {
    /// The event that stored it.
    pub seq: i64,
    /// Who stored it (the storing event's actor).
    pub author_id: String,
    pub type_code: String,
    /// Its bytes' digest (version 2).
    pub content: Option<ContentDigest>,
    /// Whether the storing event bound its title and its visibility (held back, secret): the
    /// events written since the typed events do; older ones leave them unchecked.
    pub bound_facts: Option<BoundFacts>,
    /// Masked, and the event that decided.
    pub masked: (bool, i64),
}

/// What a document's storing event binds beyond its content, and the events since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundFacts {
    pub title: ContentDigest,
    /// Held back from the patient, and the event that decided (the feed, or its release).
    pub held_back: (bool, i64),
    pub secret_from_representatives: bool,
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

/// A legal representative as the events leave them: enrolled with the minor, ended at 18.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepresentativeState {
    /// The event that named them (the enrolment).
    pub seq: i64,
    /// The event that ended their access, if one did.
    pub ended: Option<i64>,
}

/// What a patient's chain says their tables hold. Each entry names the sequence of the event
/// that decided it.
#[derive(Debug, Clone, Default)]
pub struct RecordState {
    pub status: Option<(ProfileStatus, i64)>,
    /// Blocked practitioners, by RPPS number.
    pub blocks: BTreeMap<String, i64>,
    /// Practitioners' first accesses, by RPPS number: the open ones, and the hidden ones their
    /// document's release made known.
    pub first_accesses: BTreeMap<String, i64>,
    /// First accesses still hidden with the document whose feed they were, by document: the
    /// practitioner and the event.
    pub hidden_first_accesses: BTreeMap<i64, (String, i64)>,
    /// The médecin traitant the last designation or removal leaves (`None` after a removal).
    pub medecin_traitant: Option<(Option<String>, i64)>,
    /// The emergency-access setting the last change leaves (on when no event changed it).
    pub emergency_access_enabled: Option<(bool, i64)>,
    /// Emergency accesses opened, by id: the opening event and the expiry it declared.
    pub emergency_accesses: BTreeMap<i64, (i64, DateTime<Utc>)>,
    /// The minor's legal representatives, by INS; `None` when the enrolment predates their
    /// binding into the chain (then they are not checked).
    pub representatives: Option<BTreeMap<String, RepresentativeState>>,
    pub documents: BTreeMap<i64, DocumentState>,
    pub messages: BTreeMap<i64, MessageFacts>,
    pub medical: BTreeMap<i64, (i64, EntryState)>,
    /// Documents and messages whose content a retention purge removed (the ledger stays).
    pub purged_documents: BTreeSet<i64>,
    pub purged_messages: BTreeSet<i64>,
    /// Content events written before content was bound (version 1).
    pub unbound: u64,
    /// Events whose payload lacks what their kind and version require.
    pub malformed: Vec<(i64, String)>,
}

impl RecordState {
    /// The state a whole chain leaves, its events in sequence order.
    pub fn fold<'a>(events: impl IntoIterator<Item = Recorded<'a>>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Takes one more event into account.
    pub fn apply(&mut self, recorded: Recorded<'_>) {
        let Recorded {
            seq,
            actor_id,
            version,
            event,
        } = recorded;
        if let Some(status) = event.status_after() {
            self.status = Some((status, seq));
        }
        match event {
            Event::BeneficiaryEnrolled(enrolled) => {
                self.representatives = enrolled.legal_representatives.as_ref().map(|list| {
                    list.iter()
                        .map(|ins| (ins.clone(), RepresentativeState { seq, ended: None }))
                        .collect()
                });
            }
            Event::RepresentationEnded(ended) => {
                if let Some(representatives) = &mut self.representatives {
                    for ins in &ended.representatives {
                        if let Some(rep) = representatives.get_mut(ins) {
                            rep.ended = Some(seq);
                        }
                    }
                }
            }
            Event::ProfilePurged(purged) => {
                self.purged_documents
                    .extend(purged.document_ids.iter().copied());
                self.purged_messages
                    .extend(purged.message_ids.iter().copied());
                for (at, state) in self.medical.values_mut() {
                    if matches!(state, EntryState::Present(_)) {
                        *at = seq;
                        *state = EntryState::Removed;
                    }
                }
            }
            Event::PractitionerBlocked(p) => {
                self.blocks.insert(p.practitioner_rpps.to_string(), seq);
            }
            Event::PractitionerUnblocked(p) => {
                self.blocks.remove(p.practitioner_rpps.as_str());
            }
            Event::MedecinTraitantDesignated(p) => {
                self.medecin_traitant = Some((Some(p.practitioner_rpps.to_string()), seq));
            }
            Event::MedecinTraitantRemoved(_) => self.medecin_traitant = Some((None, seq)),
            Event::EmergencyAccessTurnedOn => self.emergency_access_enabled = Some((true, seq)),
            Event::EmergencyAccessTurnedOff => self.emergency_access_enabled = Some((false, seq)),
            Event::EmergencyAccessOpened(opened) => {
                self.emergency_accesses
                    .insert(opened.emergency_access_id, (seq, opened.expires_at));
            }
            Event::FirstAccess(first) => match first.hidden_feed {
                None => {
                    self.first_accesses
                        .entry(actor_id.to_owned())
                        .or_insert(seq);
                }
                Some(document) => {
                    self.hidden_first_accesses
                        .insert(document, (actor_id.to_owned(), seq));
                }
            },
            Event::DocumentMasked(d) | Event::DocumentUnmasked(d) => {
                let masked = matches!(event, Event::DocumentMasked(_));
                if let Some(document) = self.documents.get_mut(&d.document_id) {
                    document.masked = (masked, seq);
                }
            }
            Event::DocumentReleased(d) => {
                // Its release tells the first access its feed was, when the release itself is
                // told (as `documents::release_document` records it).
                if let Some((practitioner, _)) = self.hidden_first_accesses.remove(&d.document_id)
                    && event.notice() != NoticeAudience::Nobody
                {
                    self.first_accesses.entry(practitioner).or_insert(seq);
                }
                if let Some(facts) = self
                    .documents
                    .get_mut(&d.document_id)
                    .and_then(|document| document.bound_facts.as_mut())
                {
                    facts.held_back = (false, seq);
                }
            }
            Event::DocumentFed(stored) | Event::DocumentAdded(stored) => {
                self.bound(seq, version, stored.content.is_some());
                self.documents
                    .insert(stored.document_id, document_state(seq, actor_id, stored));
            }
            Event::MessageReceived(m) | Event::MessageReplied(m) => {
                self.bound(seq, version, m.body.is_some());
                let attachments = m.attachments.as_ref().map(|list| {
                    list.iter()
                        .map(|a: &AttachmentDigest| (a.id, a.digest()))
                        .collect()
                });
                self.messages.insert(
                    m.message_id,
                    MessageFacts {
                        seq,
                        body: m.body.clone(),
                        attachments,
                    },
                );
            }
            Event::MedicalProfileUpdated(entry) => {
                let state = if entry.action == EntryAction::Removed {
                    EntryState::Removed
                } else {
                    self.bound(seq, version, entry.content.is_some());
                    EntryState::Present(entry.content.clone())
                };
                self.medical.insert(entry.entry_id, (seq, state));
            }
            _ => {}
        }
    }

    /// Notes whether a content event binds its content: version 1 events never do (unbound,
    /// not divergent); a version 2 event must.
    fn bound(&mut self, seq: i64, version: u8, has_digest: bool) {
        if version < 2 {
            self.unbound += 1;
        } else if !has_digest {
            self.malformed.push((seq, "no content digest".to_owned()));
        }
    }
}

fn document_state(seq: i64, author_id: &str, stored: &DocumentStored) -> DocumentState {
    DocumentState {
        seq,
        author_id: author_id.to_owned(),
        type_code: stored.type_code.clone(),
        content: stored.content.clone(),
        bound_facts: stored.title.clone().map(|title| BoundFacts {
            title,
            held_back: (stored.held_back, seq),
            secret_from_representatives: stored.secret_from_representatives,
        }),
        masked: (false, seq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rpps;
    use crate::domain::events::{DocumentRef, PractitionerRef, Released};

    fn fold(events: &[(u8, Event)]) -> RecordState {
        RecordState::fold(
            events
                .iter()
                .enumerate()
                .map(|(i, (version, event))| Recorded {
                    seq: i as i64 + 1,
                    actor_id: "10003456786",
                    version: *version,
                    event,
                }),
        )
    }

    fn stored(document_id: i64, content: Option<ContentDigest>) -> DocumentStored {
        DocumentStored::example(document_id, content)
    }

    #[test]
    fn version_1_content_events_keep_their_meaning_and_version_2_must_bind() {
        let digest = ContentDigest::known("ab", 2);
        let state = fold(&[
            (1, Event::DocumentAdded(stored(1, None))),
            (2, Event::DocumentAdded(stored(2, None))),
            (2, Event::DocumentAdded(stored(3, Some(digest.clone())))),
        ]);
        assert_eq!(
            state.unbound, 1,
            "the version 1 event is unbound, not divergent"
        );
        assert_eq!(state.malformed, vec![(2, "no content digest".to_owned())]);
        assert_eq!(state.documents[&3].content, Some(digest));
    }

    #[test]
    fn projections_are_the_last_word_of_the_events() {
        let rpps = || PractitionerRef {
            practitioner_rpps: Rpps::parse("10003456786").unwrap(),
        };
        let state = fold(&[
            (2, Event::ProfileCreated),
            (2, Event::PractitionerBlocked(rpps())),
            (2, Event::PractitionerUnblocked(rpps())),
            (2, Event::PractitionerBlocked(rpps())),
            (
                2,
                Event::DocumentFed(stored(9, Some(ContentDigest::of(b"x")))),
            ),
            (2, Event::DocumentMasked(DocumentRef { document_id: 9 })),
            (2, Event::DocumentUnmasked(DocumentRef { document_id: 9 })),
        ]);
        assert_eq!(state.status, Some((ProfileStatus::Created, 1)));
        assert_eq!(state.blocks.get("10003456786"), Some(&4));
        assert_eq!(state.documents[&9].masked, (false, 7));
        assert_eq!(state.documents[&9].author_id, "10003456786");
    }

    #[test]
    fn a_release_ends_the_holding_back_the_feed_bound() {
        let mut fed = stored(4, Some(ContentDigest::of(b"x")));
        fed.title = Some(ContentDigest::of(b"Titre"));
        fed.held_back = true;
        let state = fold(&[
            (2, Event::DocumentFed(fed)),
            (
                2,
                Event::DocumentReleased(Released {
                    document_id: 4,
                    secret_from_representatives: false,
                }),
            ),
        ]);
        let facts = state.documents[&4].bound_facts.clone().unwrap();
        assert_eq!(facts.held_back, (false, 2));
    }
}
