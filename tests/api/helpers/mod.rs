//! `TestApp`: the real application on a fresh database, and typed helpers to drive it.
//!
//! - [`app`]: the server on its own database, GraphQL over HTTP, direct database access, and the
//!   macros that run a test on both databases;
//! - [`tokens`]: the JWTs the test server accepts, per role;
//! - [`fixtures`]: the data of the tests (INS numbers, enrolment rows, practitioners, documents);
//! - [`documents`]: the GraphQL documents the tests send, written once;
//! - [`flows`]: steps through the API (enrol, sweep, activate, feed, send, reply, read the
//!   history) and what they leave to read;
//! - [`ledger`]: the manual's canonical encoding, written again, to check the server's hashes;
//! - [`oidc`]: a real OpenID Connect provider (tests/oidc/, on Node.js) with three issuers, and
//!   the browser-like sign-in that gets its tokens.
//!
//! Tests import everything from here, as `crate::helpers::X`.

mod app;
pub mod documents;
mod fixtures;
mod flows;
mod ledger;
mod oidc;
mod proxy;
mod tokens;

pub use app::{Backend, Gql, TestApp, grant_api_role, start_time};
pub(crate) use app::{on_both_backends, on_both_databases};
pub use fixtures::{
    DOCTOR, NURSE, PDF, beneficiary, document_input, ins, own_content_document_input, serial_of,
    typed_document_input,
};
pub use flows::FEED;
pub use ledger::{history_oldest_first, readme_hash, readme_hash_exported};
pub use oidc::{Issuer, OidcProvider};
pub use proxy::DatabaseProxy;
pub use tokens::{
    AUDIENCE, ISSUER, LEDGER_KEY, SECRET, claims, operator_token, patient_token,
    practitioner_token, practitioner_token_as, sign,
};

/// Runs the `espace-sante` binary with `args`, `DATABASE_URL` set to `database` (none: offline),
/// logging warnings only: whether it succeeded, and what it printed (stdout, then stderr).
pub fn run_binary(args: &[&str], database: Option<&str>) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_espace-sante"));
    command.args(args).env("RUST_LOG", "warn");
    match database {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    let out = command.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
