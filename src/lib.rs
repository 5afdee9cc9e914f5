//! espace-sante: the GraphQL API of *Mon espace santé* and its shared medical record (DMP), on
//! audit-first storage. See README.md for the two commands,
//! docs/ (the manual) for the tour, and SPEC.md for the rules.
//!
//! Data flows one way: GraphQL resolver → service (validates, opens the transaction, appends
//! to the ledger, updates projections, writes the outbox) → commit.

pub mod archive;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contents;
pub mod db;
pub mod demo;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod ledger;
pub mod notify;
pub mod ports;
pub mod rate_limit;
pub mod services;
pub mod startup;
pub mod telemetry;
