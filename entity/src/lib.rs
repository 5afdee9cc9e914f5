//! SeaORM entities of espace-sante. The tables are created by the `migration` crate; the rules
//! that keep them consistent live in the application's services.

pub mod ledger_event;
pub mod notification;
pub mod profile;
