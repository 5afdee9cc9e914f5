//! Transparency: a log of chain heads (RFC 9162), appended as chains move, its size and root
//! signed at each checkpoint, and the proofs that let anyone check a chain against the
//! published log; the keys that sign it, and their rotation.
//!
//! - [`merkle`]: the RFC's hashing and proofs, over leaves in memory or stored subtrees;
//! - [`log`]: the log of heads in the database, read in O(log n) nodes per proof;
//! - [`checkpoint`]: the signed checkpoints of every version, and their verification;
//! - [`keys`]: the keys that sign them.

pub mod checkpoint;
pub mod keys;
pub mod log;
pub mod merkle;
