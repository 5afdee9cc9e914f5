//! Content bound into the chain (encoding version 2): the digests are the domain's
//! ([`crate::domain::content`]), carried by the typed events; re-exported here for the
//! verifiers.

pub use crate::domain::content::{ContentDigest, medical_entry_bytes};
