//! The API test suite: each test spawns the real server on port 0 against a fresh database
//! (PostgreSQL on 127.0.0.1:5432 or TEST_DATABASE_URL, and SQLite in a temporary folder) and
//! drives it over HTTP and websockets, as the apps do.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

mod helpers;

mod access;
mod architecture;
mod auth;
mod checkpoint_keys;
mod checkpoint_log;
mod checkpoints;
mod cli;
mod composition;
mod contents;
mod delivery;
mod docs;
mod documents;
mod edge;
mod held_back;
mod http;
mod identity;
mod keys_by_patient;
mod ledger;
mod lifecycle;
mod limits;
mod live;
mod messaging;
mod metrics;
mod migrations;
mod minors;
mod oidc_provider;
mod pagination;
mod performance;
mod persisted;
mod privilege;
mod replicas;
mod restore;
mod retention;
mod s3;
mod schema;
mod shutdown;
mod sign_in;
mod smtp;
