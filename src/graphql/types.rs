//! GraphQL object, enum and input types, and their mapping from entities.

use async_graphql::{ComplexObject, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::scalars::InsScalar;
use crate::domain::ActorRole as DomainActorRole;
use crate::domain::EventKind;
use crate::domain::{AddressLines, ProfileStatus as DomainStatus};
use crate::services::activity::{ChainReport, HistoryEntry};
use crate::services::views;

/// Where a person stands in the Mon espace santé lifecycle.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DomainStatus")]
pub enum ProfileStatus {
    /// Enrolled by the health insurer; the person may still oppose until the deadline.
    Announced,
    /// The person opposed: no DMP, no mailbox.
    Opposed,
    /// The profile exists and practitioners can feed it; the patient has not activated it.
    Created,
    /// The patient activated the profile and can read it.
    Activated,
    /// The owner closed the profile.
    Closed,
}

/// Kind of an action recorded in the activity history.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "EventKind")]
pub enum ActionKind {
    /// The health insurer enrolled the person.
    BeneficiaryEnrolled,
    /// The person opposed the creation of their profile.
    OppositionRecorded,
    /// The person withdrew their opposition.
    OppositionWithdrawn,
    /// The profile was created and an activation code sent.
    ProfileCreated,
    /// An activation attempt failed (wrong code or Carte Vitale serial).
    ActivationFailed,
    /// An activation attempt was refused because activation was locked.
    ActivationRefusedLocked,
    /// The patient activated the profile.
    ProfileActivated,
    /// The owner closed the profile.
    ProfileClosed,
    /// A practitioner fed a document into the DMP.
    DocumentFed,
    /// The patient added a document of their own.
    DocumentAdded,
    /// A practitioner consulted the list of documents.
    RecordConsulted,
    /// Someone read a document's content.
    DocumentConsulted,
    /// A practitioner accessed the record for the first time.
    FirstAccess,
    /// A practitioner the patient blocked tried to consult the record.
    AccessRefusedBlocked,
    /// The patient masked a document from practitioners.
    DocumentMasked,
    /// The patient unmasked a document.
    DocumentUnmasked,
    /// The patient blocked a practitioner.
    PractitionerBlocked,
    /// The patient unblocked a practitioner.
    PractitionerUnblocked,
    /// The patient changed their medical profile.
    MedicalProfileUpdated,
    /// A practitioner's message reached the patient's mailbox.
    MessageReceived,
    /// The patient read a conversation.
    ThreadRead,
    /// The patient replied to a practitioner.
    MessageReplied,
    /// A practitioner's feed of a document type their profession may not feed was refused.
    FeedRefused,
    /// A médecin traitant was designated (by the patient, or an operator on their behalf).
    MedecinTraitantDesignated,
    /// The médecin traitant was removed.
    MedecinTraitantRemoved,
    /// A practitioner opened the record in an emergency (bris de glace), with a reason.
    EmergencyAccessOpened,
    /// An emergency access was refused: the patient turned emergency access off.
    EmergencyAccessRefused,
    /// The patient allowed emergency access to their record.
    EmergencyAccessTurnedOn,
    /// The patient turned emergency access to their record off.
    EmergencyAccessTurnedOff,
    /// The closed profile was reopened (by the patient, or by an operator at their request).
    ProfileReopened,
    /// The retention period of the closed profile ended: documents' contents, message bodies
    /// and the medical profile were deleted; the ledger stays.
    ProfilePurged,
    /// The patient downloaded their whole record (`GET /me/export`).
    RecordExported,
    /// A practitioner released to the patient a document held back until an announcement
    /// consultation.
    DocumentReleased,
    /// The person turned 18: their legal representatives' access ended.
    RepresentationEnded,
    /// A legal representative read the minor's medical profile.
    MedicalProfileConsulted,
    /// A legal representative read the list of the minor's conversations.
    MailboxConsulted,
    /// A legal representative read the minor's activity history.
    ActivityHistoryConsulted,
    /// A sign-in account at an identity provider was linked to the profile.
    AccountLinked,
    /// A sign-in account was unlinked: its tokens are refused from then on.
    AccountUnlinked,
    /// An account was refused to the profile: it is linked elsewhere, or the profile has
    /// another account at that provider (the existing link untouched).
    AccountLinkRefused,
}

/// Kind of actor: who performed an action.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DomainActorRole")]
pub enum ActorRole {
    /// The patient.
    Patient,
    /// A health professional.
    Practitioner,
    /// An agent of the health insurer.
    Operator,
    /// The service itself.
    System,
    /// A minor's legal representative, acting on the minor's behalf.
    LegalRepresentative,
}

/// How a notice reaches the patient.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::Channel")]
pub enum NotificationChannel {
    /// An email (insurer's address before activation, personal address after).
    Email,
    /// The postal activity statement: one letter per patient for the period.
    Postal,
    /// The patient's live subscription.
    Live,
}

/// Delivery state of a notice.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::outbox::DeliveryStatus")]
pub enum NotificationStatus {
    /// Waiting for delivery.
    Pending,
    /// Delivered.
    Sent,
    /// Given up after retries.
    Failed,
}

impl NotificationStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
        }
    }
}

/// How an opposition reached the health insurer.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OppositionReceivedVia {
    /// By phone.
    Phone,
    /// By postal letter.
    Letter,
}

/// A Mon espace santé profile.
#[derive(Debug)]
pub struct Profile(pub views::Profile);

/// A Mon espace santé profile: identity as the insurer knows it, and lifecycle dates.
#[Object]
impl Profile {
    /// The person's INS.
    async fn ins(&self) -> InsScalar {
        InsScalar(self.0.ins.clone())
    }
    /// Current lifecycle status.
    async fn status(&self) -> ProfileStatus {
        self.0.status.into()
    }
    /// Birth name (nom de naissance).
    async fn birth_name(&self) -> &str {
        &self.0.birth_name
    }
    /// First names.
    async fn first_names(&self) -> &str {
        &self.0.first_names
    }
    /// Date of birth.
    async fn birth_date(&self) -> NaiveDate {
        self.0.birth_date
    }
    /// Postal address lines below the name.
    async fn address_lines(&self) -> Vec<String> {
        AddressLines::from_stored(&self.0.postal_address)
            .lines()
            .to_vec()
    }
    /// Whether the insurer knows an email address (notices go there before activation;
    /// otherwise by post).
    async fn has_insurer_email(&self) -> bool {
        self.0.insurer_email.is_some()
    }
    /// The personal email given at activation.
    async fn personal_email(&self) -> Option<&str> {
        self.0.personal_email.as_deref()
    }
    /// When the insurer enrolled the person.
    async fn enrolled_at(&self) -> DateTime<Utc> {
        self.0.enrolled_at
    }
    /// End of the opposition window.
    async fn opposition_deadline(&self) -> DateTime<Utc> {
        self.0.opposition_deadline
    }
    /// When the opposition was recorded.
    async fn opposed_at(&self) -> Option<DateTime<Utc>> {
        self.0.opposed_at
    }
    /// When the profile was created.
    async fn created_at(&self) -> Option<DateTime<Utc>> {
        self.0.created_at
    }
    /// When the patient activated the profile.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.0.activated_at
    }
    /// When the profile was closed.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
    /// Until when activation is locked after too many wrong attempts.
    async fn activation_locked_until(&self) -> Option<DateTime<Utc>> {
        self.0.activation_locked_until
    }
    /// The médecin traitant the patient designated (they also see masked documents); null
    /// when none is designated.
    async fn medecin_traitant(&self) -> Option<MedecinTraitant> {
        self.0
            .medecin_traitant_rpps
            .as_ref()
            .map(|rpps| MedecinTraitant {
                rpps: rpps.to_string(),
                since: self.0.medecin_traitant_since,
            })
    }
    /// Whether practitioners may open the record in an emergency ("bris de glace"); true
    /// unless the patient turned it off.
    async fn emergency_access_enabled(&self) -> bool {
        self.0.emergency_access_enabled
    }
}

/// The patient's médecin traitant.
#[derive(SimpleObject, Debug)]
pub struct MedecinTraitant {
    /// Their RPPS number.
    pub rpps: String,
    /// Since when they are designated.
    pub since: Option<DateTime<Utc>>,
}

/// Who performed an action.
#[derive(SimpleObject, Debug)]
pub struct Actor {
    /// Kind of actor.
    pub role: ActorRole,
    /// INS, RPPS number, agent id, or `system`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Profession, for a practitioner.
    pub profession: Option<String>,
}

/// One action on the profile, as the ledger recorded it, with what a third party needs to
/// re-verify the chain (see the manual, docs/src/ledger-encoding.md). An action about a
/// document held back from the patient until an announcement consultation is `withheld`: only
/// its sequence and hashes are shown (so that the chain still links), in full once released.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct ActivityEvent {
    /// Position in the patient's chain, from 1, without gaps.
    pub sequence: i64,
    /// Whether the action is withheld for now: then only `sequence`, `previousHash` and `hash`
    /// are given.
    pub withheld: bool,
    /// When it happened (`null` when withheld).
    pub occurred_at: Option<DateTime<Utc>>,
    /// What happened (`null` when withheld).
    pub kind: Option<ActionKind>,
    /// Who did it (`null` when withheld).
    pub actor: Option<Actor>,
    /// Details of the action as stored (JSON text, hashed byte for byte); no medical content
    /// (`null` when withheld).
    pub payload: Option<String>,
    /// Hash of the previous event.
    pub previous_hash: String,
    /// SHA-256 of this event's canonical encoding.
    pub hash: String,
}

#[ComplexObject]
impl ActivityEvent {
    /// A human label of the action, in French (`null` when withheld).
    async fn label(&self) -> Option<&'static str> {
        self.kind.map(|kind| crate::domain::label(kind.into()))
    }
}

impl From<views::LedgerEvent> for ActivityEvent {
    fn from(e: views::LedgerEvent) -> Self {
        let (kind, role) = (e.kind, e.actor_role);
        Self {
            sequence: e.seq,
            withheld: false,
            occurred_at: Some(e.occurred_at),
            kind: Some(kind.into()),
            actor: Some(Actor {
                role: role.into(),
                id: e.actor_id,
                name: e.actor_name,
                profession: Some(e.actor_profession).filter(|p| !p.is_empty()),
            }),
            payload: Some(e.payload),
            previous_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl From<HistoryEntry> for ActivityEvent {
    fn from(entry: HistoryEntry) -> Self {
        match entry {
            HistoryEntry::Event(event) => event.into(),
            HistoryEntry::Withheld {
                seq,
                prev_hash,
                hash,
            } => Self {
                sequence: seq,
                withheld: true,
                occurred_at: None,
                kind: None,
                actor: None,
                payload: None,
                previous_hash: prev_hash,
                hash,
            },
        }
    }
}

/// The result of re-verifying the patient's hash chain, now.
#[derive(SimpleObject, Debug)]
pub struct LedgerIntegrity {
    /// Whether every event's sequence, previous hash and hash verify.
    pub verified: bool,
    /// Events in the chain.
    pub event_count: u64,
    /// The first event that does not verify.
    pub first_broken_sequence: Option<i64>,
    /// Why it does not verify.
    pub problem: Option<String>,
    /// Hash of the last event: a patient who keeps it can later prove the chain was not
    /// rewritten behind it.
    pub head_hash: Option<String>,
}

impl From<ChainReport> for LedgerIntegrity {
    fn from(r: ChainReport) -> Self {
        Self {
            verified: r.verified(),
            event_count: r.events,
            first_broken_sequence: r.first_broken.map(|(seq, _)| seq),
            problem: r.first_broken.map(|(_, why)| why.to_owned()),
            head_hash: r.head_hash,
        }
    }
}

/// A signed checkpoint of the ledger: from version 3, the size and Merkle root (RFC 9162) of
/// the log of chain heads, appended as chains move; before, the root over every patient's
/// chain head and the root of the log of checkpoints. Signed with the operator's Ed25519 key.
/// Published without authentication at `GET /ledger/checkpoints` (see the manual,
/// docs/src/verification.md).
#[derive(SimpleObject, Debug)]
pub struct LedgerCheckpoint {
    /// Which bytes the signature covers: 1, 2 or 3.
    pub version: i32,
    /// Position in the log of checkpoints, from 1.
    pub index: i64,
    /// When it was made, as the ledger writes times (`2026-11-29T10:00:00.000000Z`).
    pub time: String,
    /// Leaves of the heads tree: from version 3, the chain heads logged so far; before, the
    /// chains.
    pub tree_size: i64,
    /// Root of the heads tree, lowercase hex.
    pub heads_root: String,
    /// Versions 1 and 2: root of the log of checkpoints 1..=index. Version 3: that root of the
    /// last checkpoint of version 1 or 2, which it seals (empty when none). Lowercase hex.
    pub log_root: String,
    /// Ed25519 signature, lowercase hex.
    pub signature: String,
    /// The public key that signed, lowercase hex.
    pub public_key: String,
    /// The id of that key: the first 8 bytes of SHA-256 over `espace-sante/checkpoint-key/v1`
    /// and the public key (the key set of `GET /ledger/checkpoints` names keys by it).
    pub key_id: String,
}

impl From<crate::services::checkpoints::SignedCheckpoint> for LedgerCheckpoint {
    fn from(c: crate::services::checkpoints::SignedCheckpoint) -> Self {
        Self {
            version: i32::from(c.version.number()),
            index: c.index,
            time: c.time,
            tree_size: c.tree_size,
            heads_root: c.heads_root,
            log_root: c.log_root,
            signature: c.signature,
            key_id: c.key_id,
            public_key: c.public_key,
        }
    }
}

/// The proof that the patient's chain, up to `sequence`, is in a signed checkpoint.
#[derive(SimpleObject, Debug)]
pub struct LedgerProof {
    /// The latest checkpoint.
    pub checkpoint: LedgerCheckpoint,
    /// The leaf of the patient's chain head in the heads tree: from version 3, the chain's
    /// latest leaf in the log of heads; before, its place in INS order.
    pub leaf_index: i64,
    /// The sequence of the chain's head at the checkpoint.
    pub sequence: i64,
    /// The hash of that event.
    pub head_hash: String,
    /// The RFC 9162 inclusion path, from the leaf up, lowercase hex.
    pub path: Vec<String>,
}

/// A projection or stored content that the ledger's events do not explain.
#[derive(SimpleObject, Debug)]
pub struct LedgerDivergence {
    /// The patient's INS.
    pub ins: String,
    /// The event the divergence is about, when there is one.
    pub sequence: Option<i64>,
    /// What diverges.
    pub problem: String,
}

/// The result of a deep verification (operators): chains, content hashes recomputed from the
/// stored bytes, projections re-derived from the events.
#[derive(SimpleObject, Debug)]
pub struct LedgerAudit {
    /// Whether every chain verifies and nothing diverges.
    pub verified: bool,
    /// Chains read.
    pub chains: u64,
    /// Chains that do not verify (see `ledgerIntegrity` for where).
    pub broken_chains: Vec<LedgerBrokenChain>,
    /// Every divergence found.
    pub divergences: Vec<LedgerDivergence>,
    /// Content events written before content was bound into the chain (encoding v1).
    pub unbound_events: u64,
    /// What the signed checkpoints say is wrong: a checkpoint that does not verify, or a
    /// chain truncated or rewritten since the latest one.
    pub checkpoint_problems: Vec<String>,
}

/// A chain that does not verify.
#[derive(SimpleObject, Debug)]
pub struct LedgerBrokenChain {
    /// The patient's INS.
    pub ins: String,
    /// The first event that does not verify.
    pub sequence: i64,
    /// Why.
    pub problem: String,
}

impl From<crate::services::activity::DeepReport> for LedgerAudit {
    fn from(r: crate::services::activity::DeepReport) -> Self {
        Self {
            verified: r.verified(),
            chains: r.chains.len() as u64,
            broken_chains: r
                .chains
                .iter()
                .filter_map(|c| {
                    c.first_broken.map(|(sequence, why)| LedgerBrokenChain {
                        ins: c.patient_ins.clone(),
                        sequence,
                        problem: why.to_owned(),
                    })
                })
                .collect(),
            divergences: r
                .divergences
                .into_iter()
                .map(|d| LedgerDivergence {
                    ins: d.patient_ins,
                    sequence: d.seq,
                    problem: d.problem,
                })
                .collect(),
            unbound_events: r.unbound_events,
            checkpoint_problems: r.checkpoint_problems,
        }
    }
}

/// A notice in the outbox, as the operator sees it: what, to whom, on which channel, and its
/// delivery state. The body is not shown (the creation notice carries an activation code).
#[derive(SimpleObject, Debug)]
pub struct Notification {
    /// Outbox id.
    pub id: i64,
    /// The patient concerned.
    pub patient_ins: String,
    /// The ledger event the notice tells about (its global id).
    pub ledger_event_id: i64,
    /// Kind of notice (ANNOUNCEMENT, PROFILE_CREATED, …).
    pub kind: String,
    /// Delivery channel.
    pub channel: NotificationChannel,
    /// Email address for EMAIL; empty otherwise.
    pub recipient: String,
    /// Subject line (no medical content).
    pub subject: String,
    /// Delivery state.
    pub status: NotificationStatus,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// When the notice was queued.
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl From<views::Notification> for Notification {
    fn from(n: views::Notification) -> Self {
        Self {
            id: n.id,
            patient_ins: n.patient_ins.to_string(),
            ledger_event_id: n.ledger_event_id,
            kind: n.kind.as_str().to_owned(),
            channel: n.channel.into(),
            recipient: n.recipient,
            subject: n.subject,
            status: n.status.into(),
            attempts: n.attempts,
            created_at: n.created_at,
            sent_at: n.sent_at,
            last_error: n.last_error,
        }
    }
}

/// One beneficiary from the health insurer's registry.
#[derive(InputObject, Debug)]
pub struct BeneficiaryInput {
    /// INS (checked by the server: a malformed one is reported with the row's index).
    pub ins: String,
    /// Birth name.
    pub birth_name: String,
    /// First names.
    pub first_names: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Serial number of the person's Carte Vitale (checked at activation).
    pub carte_vitale_serial: String,
    /// The email the insurer knows, if any.
    pub insurer_email: Option<String>,
    /// Postal address below the name: 1 to 5 lines of at most 38 characters (La Poste).
    pub address_lines: Vec<String>,
    /// For a beneficiary born less than 18 years ago: one or two legal representatives (who act
    /// on the minor's profile until they turn 18); none for an adult.
    #[graphql(default)]
    pub legal_representatives: Vec<LegalRepresentativeInput>,
}

/// A legal representative of a minor, from the insurer's registry.
#[derive(InputObject, Debug)]
pub struct LegalRepresentativeInput {
    /// The representative's own INS: they sign in with it, and select the minor's profile with
    /// the `X-Acting-For` header.
    pub ins: String,
    /// Birth name.
    pub birth_name: String,
    /// First names.
    pub first_names: String,
    /// The representative's email, if the insurer knows one.
    pub email: Option<String>,
}

/// What an enrolment batch did.
#[derive(SimpleObject, Debug)]
pub struct EnrolmentResult {
    /// Profiles announced by this batch.
    pub enrolled: Vec<Profile>,
    /// INS of the rows already known, left unchanged (re-enrolment is idempotent).
    pub already_known: Vec<String>,
}

/// What the creation sweep did.
#[derive(SimpleObject, Debug)]
pub struct CreationSweepResult {
    /// INS of the profiles created by this run.
    pub created: Vec<InsScalar>,
}

/// What the purge sweep did.
#[derive(SimpleObject, Debug)]
pub struct PurgeSweepResult {
    /// INS of the closed profiles purged by this run.
    pub purged: Vec<InsScalar>,
}

/// What the majority sweep did.
#[derive(SimpleObject, Debug)]
pub struct MajoritySweepResult {
    /// INS of the people whose legal representatives' access ended by this run.
    pub ended: Vec<InsScalar>,
}
