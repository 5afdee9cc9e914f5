//! What services hand out: record data as plain values, never storage rows. The GraphQL layer
//! (and any other caller) sees these; storage-only columns — idempotency keys and request
//! hashes, the activation code's hash, the Carte Vitale serial, outbox leases — stay behind.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    document, emergency_access, ledger_event, medical_profile_entry, message, message_attachment,
    notification, practitioner_block, profile, thread,
};

use crate::domain::documents::MedicalCategory;
use crate::domain::notices::NoticeKind;
use crate::domain::{ActorRole, Channel, EventKind, Ins, ProfileStatus, Rpps};
pub use entity::values::DeliveryStatus;

/// Declares a view: a struct of the named fields of a row, and its conversion from the row.
macro_rules! view {
    (
        $(#[$meta:meta])*
        $name:ident from $row:path {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl From<$row> for $name {
            fn from(row: $row) -> Self {
                Self { $( $field: row.$field, )* }
            }
        }
    };
}

view! {
    /// A Mon espace santé profile: identity as the insurer knows it, status and dates.
    Profile from profile::Model {
        ins: Ins,
        status: ProfileStatus,
        birth_name: String,
        first_names: String,
        birth_date: NaiveDate,
        insurer_email: Option<String>,
        /// Address lines below the name, joined by `\n`.
        postal_address: String,
        enrolled_at: DateTime<Utc>,
        opposition_deadline: DateTime<Utc>,
        opposed_at: Option<DateTime<Utc>>,
        created_at: Option<DateTime<Utc>>,
        activated_at: Option<DateTime<Utc>>,
        closed_at: Option<DateTime<Utc>>,
        personal_email: Option<String>,
        activation_locked_until: Option<DateTime<Utc>>,
        medecin_traitant_rpps: Option<Rpps>,
        medecin_traitant_since: Option<DateTime<Utc>>,
        emergency_access_enabled: bool,
    }
}

view! {
    /// One event of a patient's ledger, with every field its hash covers.
    LedgerEvent from ledger_event::Model {
        patient_ins: Ins,
        seq: i64,
        occurred_at: DateTime<Utc>,
        kind: EventKind,
        actor_role: ActorRole,
        actor_id: String,
        actor_name: String,
        actor_profession: String,
        payload: String,
        prev_hash: String,
        hash: String,
    }
}

view! {
    /// One delivery of a notice on one channel, as the operator sees it.
    Notification from notification::Model {
        id: i64,
        patient_ins: Ins,
        ledger_event_id: i64,
        kind: NoticeKind,
        channel: Channel,
        recipient: String,
        subject: String,
        status: DeliveryStatus,
        attempts: i32,
        created_at: DateTime<Utc>,
        sent_at: Option<DateTime<Utc>>,
        last_error: Option<String>,
        summary: String,
    }
}

view! {
    /// A document of a DMP, without its bytes.
    Document from document::Model {
        id: i64,
        patient_ins: Ins,
        author_role: ActorRole,
        author_id: String,
        author_name: String,
        author_profession: Option<String>,
        /// LOINC code of the document type.
        type_code: String,
        title: String,
        mime_type: String,
        size_bytes: i64,
        /// SHA-256 of the content, 64 lowercase hex digits.
        sha256: String,
        act_date: NaiveDate,
        created_at: DateTime<Utc>,
        masked: bool,
        /// Held back from the patient until its author releases it.
        held_back: bool,
        released_at: Option<DateTime<Utc>>,
        /// Secret from the minor's legal representatives.
        secret_from_representatives: bool,
    }
}

view! {
    /// An entry of the patient's medical profile.
    MedicalEntry from medical_profile_entry::Model {
        id: i64,
        category: MedicalCategory,
        label: String,
        details: Option<String>,
        since: Option<NaiveDate>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

view! {
    /// An emergency access ("bris de glace"), as practitioners and auditors see it: who, why,
    /// when, until when; nothing of the record.
    EmergencyAccess from emergency_access::Model {
        id: i64,
        patient_ins: Ins,
        practitioner_rpps: Rpps,
        practitioner_name: String,
        practitioner_profession: Option<String>,
        reason: String,
        opened_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    }
}

view! {
    /// A practitioner the patient blocked from consulting their record.
    Block from practitioner_block::Model {
        practitioner_rpps: Rpps,
        blocked_at: DateTime<Utc>,
    }
}

view! {
    /// A conversation between one practitioner and one patient.
    Thread from thread::Model {
        id: i64,
        patient_ins: Ins,
        practitioner_rpps: Rpps,
        practitioner_name: String,
        practitioner_profession: Option<String>,
        subject: String,
        /// False when the recipient has no profile: only the practitioner sees it.
        delivered: bool,
        created_at: DateTime<Utc>,
        last_message_at: DateTime<Utc>,
        patient_unread: i32,
        practitioner_unread: i32,
    }
}

/// A message of a thread, without its attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub thread_id: i64,
    pub sender_role: ActorRole,
    pub sender_id: String,
    pub sender_name: String,
    pub subject: String,
    /// `None`: text a patient (or their representative) wrote, left out of what a practitioner
    /// receives untraced (the inbox list, the live inbox); reading the thread, which the
    /// patient's ledger traces, carries it.
    pub body: Option<String>,
    pub bounce: bool,
    pub sent_at: DateTime<Utc>,
}

impl From<message::Model> for Message {
    fn from(row: message::Model) -> Self {
        Self {
            id: row.id,
            thread_id: row.thread_id,
            sender_role: row.sender_role,
            sender_id: row.sender_id,
            sender_name: row.sender_name,
            subject: row.subject,
            body: Some(row.body),
            bounce: row.bounce,
            sent_at: row.sent_at,
        }
    }
}

impl Message {
    /// The message as a practitioner may receive it without a trace: without what a patient
    /// or their representative wrote.
    pub fn without_patient_text(mut self) -> Self {
        if matches!(
            self.sender_role,
            ActorRole::Patient | ActorRole::LegalRepresentative
        ) {
            self.body = None;
        }
        self
    }
}

view! {
    /// A file attached to a message.
    Attachment from message_attachment::Model {
        id: i64,
        title: String,
        mime_type: String,
        size_bytes: i64,
        /// SHA-256 of the content, 64 lowercase hex digits: its address in the content store.
        sha256: String,
    }
}
