//! SeaORM entities of espace-sante. The tables are created by the `migration` crate; the rules
//! that keep them consistent live in the application's services.
//!
//! On PostgreSQL every table of a patient's data is keyed by the patient (`(patient_ins, id)`),
//! ready to be distributed by patient (docs/src/scale.md). The entities of those tables still
//! declare `id` alone as their primary key: ids come from one sequence and are unique on their
//! own, and SeaORM uses the declared key only for its by-id operations (`find_by_id`, update and
//! delete of a model), which a composite key would make take the INS everywhere for nothing.

pub mod account_link;
pub mod account_subject;
pub mod document;
pub mod document_content;
pub mod emergency_access;
pub mod ledger_checkpoint;
pub mod ledger_checkpoint_head;
pub mod ledger_event;
pub mod ledger_log_leaf;
pub mod ledger_log_node;
pub mod legal_representative;
pub mod medical_profile_entry;
pub mod message;
pub mod message_attachment;
pub mod notification;
pub mod postal_letter;
pub mod practitioner_access;
pub mod practitioner_block;
pub mod profile;
pub mod thread;
pub mod values;
