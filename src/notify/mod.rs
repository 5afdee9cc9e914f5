//! Delivering what the outbox holds: live events to subscribers (and to other replicas through
//! PostgreSQL's LISTEN/NOTIFY), emails through the relay, postal statements as PDF letters.

pub mod live;
