//! The typed values stored in the tables: statuses, roles, channels and kinds as enums, INS and
//! RPPS as value types. A value reads back from the database as its type, so nothing above
//! this crate compares or re-parses a stored string. The stored names are a contract with the
//! database — and, for event kinds and actor roles, with every patient's hash chain, which
//! hashes them: never rename one (a test below holds them).
//!
//! The application's `domain` re-exports these types; the rules about them live there.

mod identifiers;

pub use identifiers::{Ins, ParseError, Rpps};

use sea_orm::entity::prelude::*;

/// Declares a stored enum: each variant with the name the database holds, given once. It
/// derives the SeaORM column type from those names and gives `as_str` and `Display`.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $stored:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $stored)] $variant, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The name the database holds.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $stored,)*
                }
            }

            /// The value a stored name names, if any.
            pub fn from_stored(name: &str) -> Option<Self> {
                match name {
                    $($stored => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// Where a person stands in the lifecycle of their Mon espace santé profile.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum ProfileStatus {
        /// Enrolled by the insurer; the opposition window is open.
        Announced = "ANNOUNCED",
        /// The person opposed: no DMP, no mailbox.
        Opposed = "OPPOSED",
        /// The profile exists; the patient has not activated it yet.
        Created = "CREATED",
        /// The patient activated the profile and can read it.
        Activated = "ACTIVATED",
        /// The owner closed the profile.
        Closed = "CLOSED",
    }
}

stored_enum! {
    /// Who acts: the role claim of a token, and the kind of actor in the ledger.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum ActorRole {
        /// A person, identified by their INS.
        Patient = "PATIENT",
        /// A health professional, identified by their RPPS number.
        Practitioner = "PRACTITIONER",
        /// An agent of the health insurer's back office.
        Operator = "OPERATOR",
        /// The service itself (the creation sweep, bounces).
        System = "SYSTEM",
        /// A minor's legal representative, acting as themselves on the minor's profile (the
        /// chain is the minor's: "on behalf of" them). Never a token's role.
        LegalRepresentative = "LEGAL_REPRESENTATIVE",
    }
}

stored_enum! {
    /// A way of reaching the patient.
    pub enum Channel {
        /// An email, to the address in the delivery.
        Email = "EMAIL",
        /// A postal letter, grouped per patient into one activity statement for the period.
        Postal = "POSTAL",
        /// The patient's live GraphQL subscription.
        Live = "LIVE",
    }
}

stored_enum! {
    /// What a notice tells: the `kind` of an outbox row (and of a live notification).
    pub enum NoticeKind {
        /// Enrolment: the profile will be created unless the person opposes.
        Announcement = "ANNOUNCEMENT",
        /// The profile is created; the notice carries the activation code.
        ProfileCreated = "PROFILE_CREATED",
        /// A practitioner fed a document (or released a held-back one).
        NewDocument = "NEW_DOCUMENT",
        /// A practitioner's first access to the record.
        FirstAccess = "FIRST_ACCESS",
        /// An alert: a practitioner opened the record in an emergency.
        EmergencyAccess = "EMERGENCY_ACCESS",
        /// A practitioner sent a message.
        NewMessage = "NEW_MESSAGE",
        /// A sign-in account was linked to the profile, unlinked, or refused to it.
        SignInAccount = "SIGN_IN_ACCOUNT",
    }
}

stored_enum! {
    /// Where a notice stands in its delivery.
    pub enum DeliveryStatus {
        /// Waiting for its relay (or for the next postal statement).
        Pending = "PENDING",
        /// Delivered (for an email: accepted by the SMTP server).
        Sent = "SENT",
        /// Given up after too many attempts or a permanent refusal.
        Failed = "FAILED",
    }
}

stored_enum! {
    /// A category of the medical profile.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub enum MedicalCategory {
        /// An allergy or intolerance.
        Allergy = "ALLERGY",
        /// A current treatment.
        Treatment = "TREATMENT",
        /// Medical or surgical history.
        History = "HISTORY",
        /// A vaccination.
        Vaccination = "VACCINATION",
    }
}

stored_enum! {
    /// What happened to a patient's profile: the `kind` of a ledger event, hashed into the chain.
    pub enum EventKind {
        BeneficiaryEnrolled = "BENEFICIARY_ENROLLED",
        OppositionRecorded = "OPPOSITION_RECORDED",
        OppositionWithdrawn = "OPPOSITION_WITHDRAWN",
        ProfileCreated = "PROFILE_CREATED",
        ActivationFailed = "ACTIVATION_FAILED",
        ActivationRefusedLocked = "ACTIVATION_REFUSED_LOCKED",
        ProfileActivated = "PROFILE_ACTIVATED",
        ProfileClosed = "PROFILE_CLOSED",
        DocumentFed = "DOCUMENT_FED",
        DocumentAdded = "DOCUMENT_ADDED",
        RecordConsulted = "RECORD_CONSULTED",
        DocumentConsulted = "DOCUMENT_CONSULTED",
        FirstAccess = "FIRST_ACCESS",
        AccessRefusedBlocked = "ACCESS_REFUSED_BLOCKED",
        DocumentMasked = "DOCUMENT_MASKED",
        DocumentUnmasked = "DOCUMENT_UNMASKED",
        PractitionerBlocked = "PRACTITIONER_BLOCKED",
        PractitionerUnblocked = "PRACTITIONER_UNBLOCKED",
        MedicalProfileUpdated = "MEDICAL_PROFILE_UPDATED",
        MessageReceived = "MESSAGE_RECEIVED",
        ThreadRead = "THREAD_READ",
        MessageReplied = "MESSAGE_REPLIED",
        FeedRefused = "FEED_REFUSED",
        MedecinTraitantDesignated = "MEDECIN_TRAITANT_DESIGNATED",
        MedecinTraitantRemoved = "MEDECIN_TRAITANT_REMOVED",
        EmergencyAccessOpened = "EMERGENCY_ACCESS_OPENED",
        EmergencyAccessRefused = "EMERGENCY_ACCESS_REFUSED",
        EmergencyAccessTurnedOn = "EMERGENCY_ACCESS_TURNED_ON",
        EmergencyAccessTurnedOff = "EMERGENCY_ACCESS_TURNED_OFF",
        ProfileReopened = "PROFILE_REOPENED",
        ProfilePurged = "PROFILE_PURGED",
        RecordExported = "RECORD_EXPORTED",
        DocumentReleased = "DOCUMENT_RELEASED",
        RepresentationEnded = "REPRESENTATION_ENDED",
        MedicalProfileConsulted = "MEDICAL_PROFILE_CONSULTED",
        MailboxConsulted = "MAILBOX_CONSULTED",
        ActivityHistoryConsulted = "ACTIVITY_HISTORY_CONSULTED",
        AccountLinked = "ACCOUNT_LINKED",
        AccountUnlinked = "ACCOUNT_UNLINKED",
        AccountLinkRefused = "ACCOUNT_LINK_REFUSED",
    }
}

/// The version of a checkpoint's signed statement (`espace-sante/checkpoint/v1` or `/v2`): which
/// bytes its signature covers. Stored and published as its number; a version is never
/// re-encoded, so a checkpoint of version 1 verifies forever as it was signed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[sea_orm(rs_type = "i32", db_type = "Integer")]
#[serde(try_from = "u8", into = "u8")]
pub enum CheckpointVersion {
    /// Signed before keys rotated: the key is not in the signed bytes.
    #[sea_orm(num_value = 1)]
    V1,
    /// Binds the key id of the signing key and the public key it introduces, if any.
    #[sea_orm(num_value = 2)]
    V2,
    /// Signs the log of chain heads appended as they move (its size and root), not a tree
    /// over every chain's head; the same fields as version 2, under its own label.
    #[sea_orm(num_value = 3)]
    V3,
}

impl CheckpointVersion {
    /// The version's number, as stored and published.
    pub fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

impl From<CheckpointVersion> for u8 {
    fn from(version: CheckpointVersion) -> Self {
        version.number()
    }
}

impl TryFrom<u8> for CheckpointVersion {
    type Error = String;

    fn try_from(number: u8) -> Result<Self, Self::Error> {
        match number {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            3 => Ok(Self::V3),
            other => Err(format!(
                "unknown checkpoint version {other} (this build reads 1, 2 and 3)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! names {
        ($ty:ty) => {
            <$ty>::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()
        };
    }

    #[test]
    fn stored_names_never_change() {
        assert_eq!(
            names!(ProfileStatus),
            ["ANNOUNCED", "OPPOSED", "CREATED", "ACTIVATED", "CLOSED"]
        );
        assert_eq!(
            names!(ActorRole),
            [
                "PATIENT",
                "PRACTITIONER",
                "OPERATOR",
                "SYSTEM",
                "LEGAL_REPRESENTATIVE"
            ]
        );
        assert_eq!(names!(Channel), ["EMAIL", "POSTAL", "LIVE"]);
        assert_eq!(
            names!(NoticeKind),
            [
                "ANNOUNCEMENT",
                "PROFILE_CREATED",
                "NEW_DOCUMENT",
                "FIRST_ACCESS",
                "EMERGENCY_ACCESS",
                "NEW_MESSAGE",
                "SIGN_IN_ACCOUNT"
            ]
        );
        assert_eq!(names!(DeliveryStatus), ["PENDING", "SENT", "FAILED"]);
        assert_eq!(
            names!(MedicalCategory),
            ["ALLERGY", "TREATMENT", "HISTORY", "VACCINATION"]
        );
        assert_eq!(
            names!(EventKind),
            [
                "BENEFICIARY_ENROLLED",
                "OPPOSITION_RECORDED",
                "OPPOSITION_WITHDRAWN",
                "PROFILE_CREATED",
                "ACTIVATION_FAILED",
                "ACTIVATION_REFUSED_LOCKED",
                "PROFILE_ACTIVATED",
                "PROFILE_CLOSED",
                "DOCUMENT_FED",
                "DOCUMENT_ADDED",
                "RECORD_CONSULTED",
                "DOCUMENT_CONSULTED",
                "FIRST_ACCESS",
                "ACCESS_REFUSED_BLOCKED",
                "DOCUMENT_MASKED",
                "DOCUMENT_UNMASKED",
                "PRACTITIONER_BLOCKED",
                "PRACTITIONER_UNBLOCKED",
                "MEDICAL_PROFILE_UPDATED",
                "MESSAGE_RECEIVED",
                "THREAD_READ",
                "MESSAGE_REPLIED",
                "FEED_REFUSED",
                "MEDECIN_TRAITANT_DESIGNATED",
                "MEDECIN_TRAITANT_REMOVED",
                "EMERGENCY_ACCESS_OPENED",
                "EMERGENCY_ACCESS_REFUSED",
                "EMERGENCY_ACCESS_TURNED_ON",
                "EMERGENCY_ACCESS_TURNED_OFF",
                "PROFILE_REOPENED",
                "PROFILE_PURGED",
                "RECORD_EXPORTED",
                "DOCUMENT_RELEASED",
                "REPRESENTATION_ENDED",
                "MEDICAL_PROFILE_CONSULTED",
                "MAILBOX_CONSULTED",
                "ACTIVITY_HISTORY_CONSULTED",
                "ACCOUNT_LINKED",
                "ACCOUNT_UNLINKED",
                "ACCOUNT_LINK_REFUSED",
            ]
        );
    }

    #[test]
    fn a_stored_name_reads_back_as_its_value() {
        for kind in EventKind::ALL {
            assert_eq!(kind.to_value(), kind.as_str());
            assert_eq!(
                EventKind::try_from_value(&kind.as_str().to_owned()).unwrap(),
                *kind
            );
        }
        assert!(ProfileStatus::try_from_value(&"DELETED".to_owned()).is_err());
    }

    #[test]
    fn checkpoint_versions_are_stored_and_published_as_their_number() {
        for version in [
            CheckpointVersion::V1,
            CheckpointVersion::V2,
            CheckpointVersion::V3,
        ] {
            assert_eq!(
                CheckpointVersion::try_from_value(&version.to_value()).unwrap(),
                version
            );
            assert_eq!(
                CheckpointVersion::try_from(version.number()).unwrap(),
                version
            );
        }
        assert_eq!(CheckpointVersion::V1.to_value(), 1);
        assert_eq!(CheckpointVersion::V2.to_value(), 2);
        assert_eq!(CheckpointVersion::V3.to_value(), 3);
        assert!(CheckpointVersion::try_from(4).is_err());
    }
}
