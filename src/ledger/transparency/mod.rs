//! Transparency: a Merkle tree (RFC 9162) over every patient's chain head, its root signed at
//! each checkpoint, and the proofs that let anyone check a chain against the published log;
//! the keys that sign it, and their rotation.

pub mod checkpoint;
pub mod keys;
pub mod merkle;
