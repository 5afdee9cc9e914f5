//! Audit: the deep verification of the chains against the tables they explain, the restore
//! drill, and the offline verifier of a patient's export (with the zip reader it needs).

pub mod deep;
pub mod export;
pub mod restore;
pub mod zip;
