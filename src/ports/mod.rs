//! The ports the services own: what a use case needs from the outside, defined by the use case
//! and implemented elsewhere. `services` re-exports them and uses them; `notify` implements them
//! (the cross-replica live listener, the email relay and the postal statements) and imports
//! nothing of `services`. A port depends on the domain only.

pub mod delivery;
pub mod live;
