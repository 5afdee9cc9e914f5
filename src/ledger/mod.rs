//! The audit-first ledger: one append-only, hash-chained sequence of events per patient.
//!
//! - `chain`: [`chained`] chains an event in the services' transaction, after they locked
//!   the patient's profile row, so that the event and the projection it explains commit
//!   together or not at all; the canonical encoding and the verification of a chain;
//! - [`transparency`]: the Merkle tree over every chain's head and the signed checkpoints,
//!   their inclusion and consistency proofs;
//! - [`audit`]: the deep verification (the chain against the tables) and the offline verifier
//!   of a patient's export.

pub mod audit;
mod chain;
pub mod content;
pub mod transparency;

pub use audit::{deep, export, restore, zip};
pub use chain::{
    CURRENT_VERSION, ChainChecker, ChainHead, ChainReport, EventFields, GENESIS_HASH, NewEvent,
    canonical_bytes, canonical_time, chained, encode, encoding_version, event_hash, fields_hash,
    head, hex, verify_all, verify_all_in_pages, verify_chain, verify_rows, versioned_payload,
};
pub use content::ContentDigest;
pub use transparency::{checkpoint, keys, merkle};

pub use crate::domain::EventKind;
