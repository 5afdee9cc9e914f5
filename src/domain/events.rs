//! What happened to a patient's record, as typed values: [`Event`], one variant per kind, with
//! typed fields. The ledger records only such values (their payload is what
//! [`Event::payload`] writes), and everything that reads the chain reads them back with
//! [`Event::read`]: the history, the exports, the notices and the verifier ask the event what
//! it says, what it leaves behind, and who may see it — none decides it again from a payload.
//!
//! The payloads are the ones the chain already holds, member for member: an event written
//! before this type existed reads back as the same value (`tests` pins every variant's bytes).
//! Kinds and their stored names are in `entity::values`, as the chain hashes them; the label
//! the patient reads for each (in French, the users' language) is [`label`].

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use entity::values::EventKind;

use super::content::ContentDigest;
use super::documents::MedicalCategory;
use super::routing::Reach;
use super::visibility::Viewer;
use super::{ProfileStatus, Rpps};

/// A stored payload that its kind cannot read: a member missing or of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub kind: EventKind,
    pub why: String,
}

/// How the patient (or an operator on their behalf) opposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OppositionChannel {
    /// The patient opposed online.
    Online,
    /// By phone, recorded by an operator.
    Phone,
    /// By letter, recorded by an operator.
    Letter,
}

impl OppositionChannel {
    /// The stored name (`ONLINE`, `PHONE`, `LETTER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "ONLINE",
            Self::Phone => "PHONE",
            Self::Letter => "LETTER",
        }
    }
}

/// `BENEFICIARY_ENROLLED`: the insurer enrolled the person; they may oppose until the deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrolled {
    #[serde(with = "rfc3339")]
    pub opposition_deadline: DateTime<Utc>,
    /// A minor's legal representatives, by INS (written since the typed events; absent from
    /// older enrolments, whose representatives the chain does not bind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_representatives: Option<Vec<String>>,
}

/// `OPPOSITION_RECORDED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opposed {
    pub channel: OppositionChannel,
}

/// `ACTIVATION_FAILED`: why an activation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActivationFailed {
    /// Refused before the credentials were weighed (not counted towards the lock-out).
    Refused(ActivationRefusal),
    /// A wrong code or Carte Vitale serial: the attempt counts, and may lock activation.
    #[serde(rename_all = "camelCase")]
    WrongCredentials {
        failed_attempts: i32,
        #[serde(with = "rfc3339_opt")]
        locked_until: Option<DateTime<Utc>>,
    },
}

/// An activation refused before its credentials were weighed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActivationRefusal {
    /// The profile's status does not allow it.
    ProfileStatus { status: ProfileStatus },
    /// A malformed code, serial or email (the input field, when known).
    MalformedInput { field: Option<String> },
}

/// `ACTIVATION_REFUSED_LOCKED`: an attempt while activation is locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedAttempt {
    #[serde(with = "rfc3339")]
    pub locked_until: DateTime<Utc>,
}

/// `PROFILE_CLOSED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    pub previous_status: ProfileStatus,
}

/// `PROFILE_REOPENED`: back to the status the profile had before its closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reopened {
    pub status_after: ProfileStatus,
}

/// `DOCUMENT_FED` and `DOCUMENT_ADDED`: a document stored in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentStored {
    pub document_id: i64,
    /// The document type (LOINC code).
    pub type_code: String,
    /// The bytes' digest (encoding version 2; absent from version 1 events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentDigest>,
    /// The title's digest (its UTF-8 bytes), written since the typed events with the two flags
    /// below: the chain then binds the title and who may see the document, and a purge may
    /// remove the title itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<ContentDigest>,
    /// Held back from the patient until its author releases it (absent means not held back).
    #[serde(default, skip_serializing_if = "is_false")]
    pub held_back: bool,
    /// Secret from the minor's legal representatives (idem).
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret_from_representatives: bool,
}

impl DocumentStored {
    /// A consultation report (`11488-4`) as an older event stored it: open, no title bound.
    #[cfg(test)]
    pub(crate) fn example(document_id: i64, content: Option<ContentDigest>) -> Self {
        Self {
            document_id,
            type_code: "11488-4".to_owned(),
            content,
            title: None,
            held_back: false,
            secret_from_representatives: false,
        }
    }

    /// Whether the document is hidden from the patient's space when stored.
    pub fn hidden(&self) -> bool {
        self.held_back || self.secret_from_representatives
    }
}

/// `RECORD_CONSULTED`: a list of the record's documents was read, with these filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordConsulted {
    #[serde(default)]
    pub type_code: Option<String>,
    #[serde(default)]
    pub acted_from: Option<NaiveDate>,
    #[serde(default)]
    pub acted_to: Option<NaiveDate>,
    /// Allowed by an emergency access.
    #[serde(default, skip_serializing_if = "is_false")]
    pub emergency: bool,
}

/// `DOCUMENT_CONSULTED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentConsulted {
    pub document_id: i64,
    /// Allowed by an emergency access.
    #[serde(default, skip_serializing_if = "is_false")]
    pub emergency: bool,
}

/// `FIRST_ACCESS`: a practitioner's first feed or consultation of the record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstAccess {
    /// The document whose feed was this first access, when that feed was hidden from the
    /// patient's space: the first access is then as hidden as the document.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "documentId"
    )]
    pub hidden_feed: Option<i64>,
}

/// An event about one document: masked, unmasked, released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentRef {
    pub document_id: i64,
}

/// `DOCUMENT_RELEASED`: a held-back document is shown to the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub document_id: i64,
    /// The document stays secret from the representatives (written since the typed events).
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret_from_representatives: bool,
}

/// An event about one practitioner: blocked, unblocked, designated or removed as médecin
/// traitant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerRef {
    #[serde(with = "rpps")]
    pub practitioner_rpps: Rpps,
}

/// What a `MEDICAL_PROFILE_UPDATED` did to the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryAction {
    Added,
    Updated,
    Removed,
}

/// `MEDICAL_PROFILE_UPDATED`: what changed, never the medical content itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicalEntryChanged {
    pub action: EntryAction,
    pub entry_id: i64,
    pub category: MedicalCategory,
    /// The entry's digest ([`super::content::medical_entry_bytes`]), added or updated
    /// (encoding version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentDigest>,
}

/// An attachment's digest, in a `MESSAGE_RECEIVED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentDigest {
    pub id: i64,
    pub sha256: String,
    pub size: i64,
}

impl AttachmentDigest {
    /// The digest alone.
    pub fn digest(&self) -> ContentDigest {
        ContentDigest::known(&self.sha256, self.size)
    }
}

/// `MESSAGE_RECEIVED` and `MESSAGE_REPLIED`: a message stored in one of the patient's threads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStored {
    pub thread_id: i64,
    pub message_id: i64,
    /// The body's digest (encoding version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ContentDigest>,
    /// The attachments' digests (a practitioner's message, version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentDigest>>,
}

/// `THREAD_READ`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadRead {
    pub thread_id: i64,
}

/// `FEED_REFUSED`: a type the practitioner's profession may not feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedRefused {
    pub type_code: String,
    /// The refused feed was to be held back from the patient (written since the typed
    /// events): the refusal is as hidden as the feed would have been.
    #[serde(default, skip_serializing_if = "is_false")]
    pub held_back: bool,
    /// The refused feed was to be secret from the representatives (idem).
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret_from_representatives: bool,
}

/// `EMERGENCY_ACCESS_OPENED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyOpened {
    pub emergency_access_id: i64,
    pub reason: String,
    #[serde(with = "rfc3339_micros")]
    pub expires_at: DateTime<Utc>,
}

/// `EMERGENCY_ACCESS_REFUSED`: the patient turned emergency access off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyRefused {
    pub reason: String,
}

/// `PROFILE_PURGED`: the retention period ended; what was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purged {
    pub document_ids: Vec<i64>,
    pub message_ids: Vec<i64>,
    pub medical_profile_entries: u64,
}

/// `REPRESENTATION_ENDED`: the person turned 18.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepresentationEnded {
    /// The INS of the representatives whose access ended.
    pub representatives: Vec<String>,
    /// CREATED when a representative had activated the profile: the young adult activates
    /// their own access, with a new code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_after: Option<ProfileStatus>,
}

/// `ACCOUNT_LINKED`, `ACCOUNT_UNLINKED`: a sign-in account at an identity provider now names
/// this profile, or no longer does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// The provider (its tokens' `iss`).
    pub issuer: String,
    /// SHA-256 of the account (its tokens' `sub`), in hex: the chain binds which account
    /// without writing the provider's identifier of the person into every export.
    pub account: String,
}

/// Why an account was not bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LinkConflict {
    /// The account already names another profile.
    AccountTaken,
    /// The profile already has an account at this provider.
    IssuerTaken,
}

/// `ACCOUNT_LINK_REFUSED`: an account was refused to this profile (`CONFLICT`); the binding
/// it would have replaced is untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountLinkRefused {
    pub issuer: String,
    pub account: String,
    pub conflict: LinkConflict,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Declares [`Event`]: one variant per kind, with its payload type or none, and the two ways
/// between a value and its stored form.
macro_rules! events {
    ($( $(#[$meta:meta])* $variant:ident $(($payload:ty))?, )*) => {
        /// One event of a patient's ledger, typed: what happened, with what the chain binds.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $( $(#[$meta])* $variant $(($payload))?, )*
        }

        impl Event {
            /// Its kind, as the chain stores it.
            pub fn kind(&self) -> EventKind {
                match self {
                    $( events!(@pattern $variant $(($payload))?) => EventKind::$variant, )*
                }
            }

            /// Its payload's members (the ledger adds the version), as the chain stores them.
            pub fn payload(&self) -> serde_json::Value {
                match self {
                    $( events!(@bind $variant, fields $(, $payload)?) => events!(@json fields $(, $payload)?), )*
                }
            }

            /// The event a stored kind and payload text (version 1 or 2) record.
            pub fn read(kind: EventKind, payload: &str) -> Result<Self, Malformed> {
                let malformed = |why: String| Malformed { kind, why };
                Ok(match kind {
                    $( EventKind::$variant => events!(@read $variant, payload, malformed $(, $payload)?), )*
                })
            }
        }
    };
    (@pattern $variant:ident ($payload:ty)) => { Self::$variant(_) };
    (@pattern $variant:ident) => { Self::$variant };
    (@bind $variant:ident, $fields:ident, $payload:ty) => { Self::$variant($fields) };
    (@bind $variant:ident, $fields:ident) => { Self::$variant };
    (@json $fields:ident, $payload:ty) => { serde_json::to_value($fields).unwrap_or_default() };
    (@json $fields:ident) => { serde_json::Value::Object(serde_json::Map::new()) };
    (@read $variant:ident, $text:ident, $malformed:ident, $payload:ty) => {
        Self::$variant(serde_json::from_str::<$payload>($text).map_err(|e| $malformed(e.to_string()))?)
    };
    (@read $variant:ident, $text:ident, $malformed:ident) => { Self::$variant };
}

events! {
    BeneficiaryEnrolled(Enrolled),
    OppositionRecorded(Opposed),
    OppositionWithdrawn,
    ProfileCreated,
    ActivationFailed(ActivationFailed),
    ActivationRefusedLocked(LockedAttempt),
    ProfileActivated,
    ProfileClosed(Closed),
    DocumentFed(DocumentStored),
    DocumentAdded(DocumentStored),
    RecordConsulted(RecordConsulted),
    DocumentConsulted(DocumentConsulted),
    FirstAccess(FirstAccess),
    AccessRefusedBlocked,
    DocumentMasked(DocumentRef),
    DocumentUnmasked(DocumentRef),
    PractitionerBlocked(PractitionerRef),
    PractitionerUnblocked(PractitionerRef),
    MedicalProfileUpdated(MedicalEntryChanged),
    MessageReceived(MessageStored),
    ThreadRead(ThreadRead),
    MessageReplied(MessageStored),
    FeedRefused(FeedRefused),
    MedecinTraitantDesignated(PractitionerRef),
    MedecinTraitantRemoved(PractitionerRef),
    EmergencyAccessOpened(EmergencyOpened),
    EmergencyAccessRefused(EmergencyRefused),
    EmergencyAccessTurnedOn,
    EmergencyAccessTurnedOff,
    ProfileReopened(Reopened),
    ProfilePurged(Purged),
    RecordExported,
    DocumentReleased(Released),
    RepresentationEnded(RepresentationEnded),
    MedicalProfileConsulted,
    MailboxConsulted,
    ActivityHistoryConsulted,
    AccountLinked(AccountRef),
    AccountUnlinked(AccountRef),
    AccountLinkRefused(AccountLinkRefused),
}

/// Who a notice of an event reaches, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeAudience {
    /// No notice: nothing to tell, or what it would tell is hidden from whoever would get it.
    Nobody,
    /// The patient (a minor's representatives in their stead), on the channels of `Reach`.
    Patient(Reach),
}

impl Event {
    /// The profile status this event leaves behind, for the events that change it.
    pub fn status_after(&self) -> Option<ProfileStatus> {
        match self {
            Self::BeneficiaryEnrolled(_) => Some(ProfileStatus::Announced),
            Self::OppositionRecorded(_) => Some(ProfileStatus::Opposed),
            Self::OppositionWithdrawn | Self::ProfileCreated => Some(ProfileStatus::Created),
            Self::ProfileActivated => Some(ProfileStatus::Activated),
            Self::ProfileClosed(_) => Some(ProfileStatus::Closed),
            Self::ProfileReopened(reopened) => Some(reopened.status_after),
            Self::RepresentationEnded(ended) => ended.status_after,
            _ => None,
        }
    }

    /// The document this event is about, if one: whoever that document is hidden from does
    /// not see the event either (see [`Self::shown_to`]).
    pub fn document(&self) -> Option<i64> {
        match self {
            Self::DocumentFed(d) | Self::DocumentAdded(d) => Some(d.document_id),
            Self::DocumentConsulted(d) => Some(d.document_id),
            Self::DocumentMasked(d) | Self::DocumentUnmasked(d) => Some(d.document_id),
            Self::DocumentReleased(d) => Some(d.document_id),
            Self::FirstAccess(first) => first.hidden_feed,
            _ => None,
        }
    }

    /// Whether the reader of the patient's space (the patient or a representative, in the
    /// history and the exports) sees this event, given the documents hidden from them now: an
    /// event about a hidden document is withheld (its place and hashes only) — its release
    /// too, from a representative it stays secret from — and a refused feed is as hidden as
    /// the feed would have been.
    pub fn shown_to(&self, hidden: &HiddenDocuments) -> bool {
        if let Self::FeedRefused(refused) = self {
            let from_representatives =
                refused.secret_from_representatives && hidden.viewer == Viewer::Representative;
            return !(refused.held_back || from_representatives);
        }
        self.document().is_none_or(|id| !hidden.contains(id))
    }

    /// The digests of the content this event binds (documents, message bodies and
    /// attachments, medical-profile entries), in the order of its payload.
    pub fn bound_digests(&self) -> Vec<ContentDigest> {
        match self {
            Self::DocumentFed(d) | Self::DocumentAdded(d) => d.content.iter().cloned().collect(),
            Self::MessageReceived(m) | Self::MessageReplied(m) => m
                .body
                .iter()
                .cloned()
                .chain(m.attachments.iter().flatten().map(AttachmentDigest::digest))
                .collect(),
            Self::MedicalProfileUpdated(entry) => entry.content.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Who this event's notice reaches when it is recorded. Notices never carry medical
    /// content; an event caused by a hidden act is as hidden as that act.
    pub fn notice(&self) -> NoticeAudience {
        use NoticeAudience::{Nobody, Patient};
        match self {
            Self::BeneficiaryEnrolled(_) | Self::ProfileCreated => Patient(Reach::Status),
            // A new activation code goes with the reopening of a profile that was only created.
            Self::ProfileReopened(reopened) if reopened.status_after == ProfileStatus::Created => {
                Patient(Reach::Status)
            }
            Self::RepresentationEnded(ended) if ended.status_after.is_some() => {
                Patient(Reach::Status)
            }
            Self::DocumentFed(document) if !document.hidden() => Patient(Reach::Status),
            // Told at the release; a secret document never (its notice would reach the
            // representatives).
            Self::DocumentReleased(released) if !released.secret_from_representatives => {
                Patient(Reach::Status)
            }
            Self::FirstAccess(first) if first.hidden_feed.is_none() => Patient(Reach::Status),
            Self::MessageReceived(_) => Patient(Reach::Status),
            // An alert: on every channel the patient has.
            Self::EmergencyAccessOpened(_) => Patient(Reach::Every),
            // Who may sign in as the patient changed, or someone tried: a patient who did not
            // do it must hear of it.
            Self::AccountLinked(_) | Self::AccountUnlinked(_) | Self::AccountLinkRefused(_) => {
                Patient(Reach::Status)
            }
            _ => Nobody,
        }
    }
}

/// The documents of a record hidden from one viewer of the patient's space (held back; for a
/// representative, secret from them too), by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenDocuments {
    /// Whose view this is.
    pub viewer: Viewer,
    ids: Vec<i64>,
}

impl HiddenDocuments {
    /// The documents `ids` hidden from `viewer`.
    pub fn new(viewer: Viewer, mut ids: Vec<i64>) -> Self {
        ids.sort_unstable();
        Self { viewer, ids }
    }

    /// Whether the document `id` is hidden.
    pub fn contains(&self, id: i64) -> bool {
        self.ids.binary_search(&id).is_ok()
    }
}

/// What the patient reads in the activity history for an event of this kind.
pub fn label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::BeneficiaryEnrolled => "Inscription par l'Assurance Maladie",
        EventKind::OppositionRecorded => "Opposition à la création du profil",
        EventKind::OppositionWithdrawn => "Retrait de l'opposition",
        EventKind::ProfileCreated => "Création du profil Mon espace santé",
        EventKind::ActivationFailed => "Tentative d'activation refusée",
        EventKind::ActivationRefusedLocked => "Tentative d'activation pendant le blocage",
        EventKind::ProfileActivated => "Activation du profil",
        EventKind::ProfileClosed => "Fermeture du profil",
        EventKind::DocumentFed => "Ajout d'un document par un professionnel de santé",
        EventKind::DocumentAdded => "Ajout d'un document par vous-même",
        EventKind::RecordConsulted => "Consultation de la liste de vos documents",
        EventKind::DocumentConsulted => "Consultation d'un document",
        EventKind::FirstAccess => "Premier accès d'un professionnel de santé à votre dossier",
        EventKind::AccessRefusedBlocked => "Accès refusé à un professionnel que vous avez bloqué",
        EventKind::DocumentMasked => "Masquage d'un document",
        EventKind::DocumentUnmasked => "Fin du masquage d'un document",
        EventKind::PractitionerBlocked => "Blocage d'un professionnel de santé",
        EventKind::PractitionerUnblocked => "Fin du blocage d'un professionnel de santé",
        EventKind::MedicalProfileUpdated => "Mise à jour de votre profil médical",
        EventKind::MessageReceived => "Réception d'un message d'un professionnel de santé",
        EventKind::ThreadRead => "Lecture d'une conversation",
        EventKind::MessageReplied => "Réponse à un professionnel de santé",
        EventKind::FeedRefused => {
            "Dépôt refusé : type de document non autorisé pour ce professionnel"
        }
        EventKind::MedecinTraitantDesignated => "Désignation de votre médecin traitant",
        EventKind::MedecinTraitantRemoved => "Fin de la désignation de votre médecin traitant",
        EventKind::EmergencyAccessOpened => "Accès en urgence à votre dossier (bris de glace)",
        EventKind::EmergencyAccessRefused => "Accès en urgence refusé : vous l'avez désactivé",
        EventKind::EmergencyAccessTurnedOn => "Autorisation de l'accès en urgence à votre dossier",
        EventKind::EmergencyAccessTurnedOff => {
            "Désactivation de l'accès en urgence à votre dossier"
        }
        EventKind::ProfileReopened => "Réouverture du profil",
        EventKind::ProfilePurged => "Suppression des contenus à la fin de la conservation",
        EventKind::RecordExported => "Téléchargement de votre dossier complet",
        EventKind::RepresentationEnded => "Fin de l'accès de vos représentants légaux (majorité)",
        EventKind::DocumentReleased => {
            "Mise à disposition d'un document après une consultation d'annonce"
        }
        EventKind::MedicalProfileConsulted => "Consultation de votre profil médical",
        EventKind::MailboxConsulted => "Consultation de la liste de vos conversations",
        EventKind::ActivityHistoryConsulted => "Consultation de votre historique d'activité",
        EventKind::AccountLinked => "Liaison d'un compte de connexion à votre profil",
        EventKind::AccountUnlinked => "Fin de la liaison d'un compte de connexion",
        EventKind::AccountLinkRefused => "Liaison d'un compte de connexion refusée",
    }
}

/// A time as `DateTime::to_rfc3339` writes it (`2027-01-09T00:00:00+00:00`).
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// An optional time as [`rfc3339`] writes it, `null` for none.
mod rfc3339_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&at.to_rfc3339()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

/// A time with six fractional digits and `Z` (`2026-12-01T10:00:00.000000Z`).
mod rfc3339_micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        super::rfc3339::deserialize(d)
    }
}

/// An RPPS number, as its 11 digits; checked when read back.
mod rpps {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::Rpps;

    pub fn serialize<S: Serializer>(rpps: &Rpps, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(rpps.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Rpps, D::Error> {
        let text = String::deserialize(d)?;
        Rpps::parse(&text).map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

/// The expiry of an emergency access, as its event and the verifier write it.
pub fn emergency_expiry(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_label() {
        for &kind in EventKind::ALL {
            assert!(!label(kind).is_empty(), "{kind}");
        }
    }

    fn fed(document_id: i64, held_back: bool, secret: bool) -> Event {
        Event::DocumentFed(DocumentStored {
            held_back,
            secret_from_representatives: secret,
            ..DocumentStored::example(document_id, None)
        })
    }

    #[test]
    fn an_event_about_a_hidden_document_is_withheld_but_its_release() {
        let hidden = HiddenDocuments::new(Viewer::Patient, vec![7]);
        assert!(!fed(7, true, false).shown_to(&hidden));
        assert!(fed(8, false, false).shown_to(&hidden));
        let consulted = Event::DocumentConsulted(DocumentConsulted {
            document_id: 7,
            emergency: false,
        });
        assert!(!consulted.shown_to(&hidden));
        let first = Event::FirstAccess(FirstAccess {
            hidden_feed: Some(7),
        });
        assert!(!first.shown_to(&hidden));
        assert!(Event::FirstAccess(FirstAccess::default()).shown_to(&hidden));
        assert!(Event::RecordConsulted(RecordConsulted::default()).shown_to(&hidden));
        // Released, the document is no longer hidden from the patient, and its release shows;
        // a representative it stays secret from does not see the release either.
        let released = Event::DocumentReleased(Released {
            document_id: 7,
            secret_from_representatives: true,
        });
        assert!(released.shown_to(&HiddenDocuments::new(Viewer::Patient, vec![])));
        assert!(!released.shown_to(&HiddenDocuments::new(Viewer::Representative, vec![7])));
    }

    #[test]
    fn a_refused_feed_is_as_hidden_as_the_feed_would_have_been() {
        let refused = |held_back, secret| {
            Event::FeedRefused(FeedRefused {
                type_code: "11488-4".to_owned(),
                held_back,
                secret_from_representatives: secret,
            })
        };
        let patient = HiddenDocuments::new(Viewer::Patient, vec![]);
        let representative = HiddenDocuments::new(Viewer::Representative, vec![]);
        assert!(refused(false, false).shown_to(&representative));
        assert!(!refused(true, false).shown_to(&patient));
        assert!(refused(false, true).shown_to(&patient));
        assert!(!refused(false, true).shown_to(&representative));
    }

    #[test]
    fn an_event_caused_by_a_hidden_act_sends_no_notice() {
        assert_eq!(
            fed(1, false, false).notice(),
            NoticeAudience::Patient(Reach::Status)
        );
        assert_eq!(fed(1, true, false).notice(), NoticeAudience::Nobody);
        assert_eq!(fed(1, false, true).notice(), NoticeAudience::Nobody);
        let first = |hidden_feed| Event::FirstAccess(FirstAccess { hidden_feed }).notice();
        assert_eq!(first(None), NoticeAudience::Patient(Reach::Status));
        assert_eq!(first(Some(1)), NoticeAudience::Nobody);
        let released = |secret| {
            Event::DocumentReleased(Released {
                document_id: 1,
                secret_from_representatives: secret,
            })
            .notice()
        };
        assert_eq!(released(false), NoticeAudience::Patient(Reach::Status));
        assert_eq!(released(true), NoticeAudience::Nobody);
    }

    #[test]
    fn reopening_and_majority_leave_the_status_their_payload_names() {
        let reopened = Event::ProfileReopened(Reopened {
            status_after: ProfileStatus::Activated,
        });
        assert_eq!(reopened.status_after(), Some(ProfileStatus::Activated));
        assert_eq!(reopened.notice(), NoticeAudience::Nobody);
        let ended = Event::RepresentationEnded(RepresentationEnded {
            representatives: vec![],
            status_after: None,
        });
        assert_eq!(ended.status_after(), None);
    }
}
