//! The layers of the code, read from its `crate::` paths: dependencies point inward.
//!
//! ```text
//! domain  <-  ledger  <-  services  ->  ports (live, delivery)  <-  notify
//!   ^   ^        ^            ^
//!   |   contents (bytes)  graphql  (services, domain and the caller from auth; never storage)
//!  auth
//! ```
//!
//! `contents` is the content store (an object store addressed by digest), which the ledger's
//! verifiers and the services read and write through.
//!
//! `ports` are the services' own interfaces (live doorbells, delivery), which `notify`
//! implements without importing `services`. The outer modules (cli, config, startup, http,
//! rate_limit, demo, db, telemetry) wire everything together and may import anything; nothing
//! inner imports them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each inner module and the modules of this crate it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    ("clock", &[]),
    ("domain", &[]),
    ("contents", &["domain"]),
    ("ledger", &["domain", "clock", "contents"]),
    ("auth", &["domain", "clock"]),
    ("ports", &["domain"]),
    (
        "services",
        &["domain", "ledger", "clock", "ports", "contents"],
    ),
    ("notify", &["ports", "domain", "clock"]),
    ("graphql", &["services", "domain", "auth"]),
];

/// What an inner module may not name at all: `domain` is pure (no storage, runtime, clock or
/// I/O of its own; of the entities, only their stored value types), `graphql` never sees storage
/// (services hand it views, not rows) nor the live hub (services stream the feeds).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "sea_orm::",
            "sqlx::",
            "tokio::",
            "async_graphql::",
            "Utc::now",
            "std::fs",
            "std::net",
            "entity::document",
            "entity::ledger",
            "entity::message",
            "entity::notification",
            "entity::p",
            "entity::thread",
            "entity::medical",
        ],
    ),
    // The live hub is the services' (their feeds): GraphQL maps what they stream.
    (
        "graphql",
        &[
            "sea_orm::",
            "sqlx::",
            "entity::",
            "services::live",
            ".live.",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every source file of `src/`, by top-level module, with its lines that are not comments.
fn sources() -> BTreeMap<String, Vec<(PathBuf, Vec<String>)>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut by_module: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
        let code = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .map(str::to_owned)
            .collect();
        by_module.entry(module).or_default().push((file, code));
    }
    by_module
}

/// The modules of this crate that a line names through `crate::`.
fn crate_modules(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            // `use crate::{a, b}`: every name in the braces.
            if let Some(group) = after.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or("");
                names.extend(
                    group
                        .split(',')
                        .map(|part| part.trim().split("::").next().unwrap_or("").to_owned())
                        .filter(|n| !n.is_empty()),
                );
            }
        } else {
            names.push(name);
        }
        rest = after;
    }
    names
}

#[test]
fn imports_point_inward() {
    let sources = sources();
    let mut violations = Vec::new();
    for (module, allowed) in ALLOWED {
        for (file, lines) in sources.get(*module).into_iter().flatten() {
            for line in lines {
                for target in crate_modules(line) {
                    if target != *module && !allowed.contains(&target.as_str()) {
                        violations.push(format!(
                            "{}: {module} may not import {target}: {}",
                            file.display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    for (module, names) in FORBIDDEN {
        for (file, lines) in sources.get(*module).into_iter().flatten() {
            for line in lines {
                for name in *names {
                    if line.contains(name) {
                        violations.push(format!(
                            "{}: {module} may not use {name}: {}",
                            file.display(),
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers:\n{}",
        violations.join("\n")
    );
}

/// The files whose lines contain `needle`.
fn files_containing(needle: &str) -> Vec<String> {
    let mut files = Vec::new();
    for (file, lines) in sources().into_values().flatten() {
        if lines.iter().any(|l| l.contains(needle)) {
            files.push(file.display().to_string());
        }
    }
    files
}

#[test]
fn only_the_patient_unit_of_work_appends_to_the_ledger() {
    // Events are chained under the patient's lock, in the unit of work…
    let chaining = files_containing("ledger::chained(");
    assert!(
        chaining.len() == 1 && chaining[0].ends_with("services/patient_tx.rs"),
        "ledger::chained called from {chaining:?}"
    );
    // …and inserted by its write alone.
    let inserting = files_containing("ledger_event::Entity::insert(");
    assert!(
        inserting.len() == 1 && inserting[0].ends_with("services/journal.rs"),
        "ledger events inserted from {inserting:?}"
    );
}

#[test]
fn the_import_reader_sees_every_form_of_path() {
    assert_eq!(
        crate_modules("use crate::services::Services;"),
        ["services"]
    );
    assert_eq!(
        crate_modules("use crate::{domain::Ins, ledger};"),
        ["domain", "ledger"]
    );
    assert_eq!(
        crate_modules("let x = crate::notify::live::listen(db, hub);"),
        ["notify"]
    );
}

/// The reads of the services that go through the shared database handle rather than a
/// patient's unit of work, each with why. Every other use of the handle is refused: a use case
/// reaches a patient's tables in `PatientTx`, where a reading is traced.
const OUTSIDE_THE_UNIT_OF_WORK: &[(&str, &str, &str)] = &[
    (
        "services/mod.rs",
        "connection",
        "the pool, lent to the wiring (relay, statements, LISTEN, readiness, metrics)",
    ),
    (
        "services/patient_tx.rs",
        "patient_tx",
        "opens the unit of work itself",
    ),
    (
        "services/patient_tx.rs",
        "batch",
        "opens a batch of units of work",
    ),
    (
        "services/activity.rs",
        "deep_verification",
        "the operators' audit of every chain, no record data out",
    ),
    (
        "services/activity.rs",
        "integrity",
        "re-hashes the patient's own chain: a verdict, no record data",
    ),
    (
        "services/checkpoints.rs",
        "checkpoint_now",
        "signs chain heads: hashes only",
    ),
    (
        "services/checkpoints.rs",
        "checkpoints",
        "the published checkpoint log: hashes only",
    ),
    (
        "services/checkpoints.rs",
        "checkpoint_consistency",
        "a consistency proof: hashes only",
    ),
    (
        "services/checkpoints.rs",
        "ledger_proof",
        "an inclusion proof: hashes only",
    ),
    (
        "services/checkpoints.rs",
        "checkpoint_keys",
        "the published key set: public keys and signed checkpoints",
    ),
    (
        "services/feeds.rs",
        "live_notifications_after",
        "the patient's own notices: no medical content",
    ),
    ("services/feeds.rs", "latest_live_notification", "a cursor"),
    (
        "services/feeds.rs",
        "inbox_events_after",
        "the practitioner's inbox events, without a patient's text",
    ),
    ("services/feeds.rs", "latest_inbox_event", "a cursor"),
    (
        "services/messaging/mailbox.rs",
        "inbox",
        "the practitioner's own list, without a patient's text",
    ),
    (
        "services/messaging/mailbox.rs",
        "practitioner_read_thread",
        "finds whose thread it is, to open that patient's unit of work",
    ),
    (
        "services/outbox.rs",
        "list_notifications",
        "the operators' outbox: no bodies",
    ),
    (
        "services/profiles.rs",
        "profile",
        "identity and status, the patient's own (not yet traced for a representative)",
    ),
    (
        "services/profiles.rs",
        "create_due_profiles",
        "the creation sweep's listing; each creation is a unit of work",
    ),
    (
        "services/accounts.rs",
        "linked_patient",
        "resolves a patient's sign-in account before any unit of work",
    ),
    (
        "services/representatives.rs",
        "represents",
        "checks a representation before any unit of work",
    ),
    (
        "services/representatives.rs",
        "end_representations_at_majority",
        "the majority sweep's listing; each end is a unit of work",
    ),
    (
        "services/retention.rs",
        "purge_due_profiles",
        "the purge sweep's listing; each purge is a unit of work",
    ),
    (
        "services/documents/blocks.rs",
        "blocked_practitioners",
        "the patient's own settings (not yet traced for a representative)",
    ),
    (
        "services/documents/care.rs",
        "emergency_accesses",
        "the operators' audit of emergency accesses",
    ),
    (
        "services/messaging/mailbox.rs",
        "open_attachment",
        "which thread a downloaded attachment is in, before the thread's reading opens on it",
    ),
    (
        "services/content_migration.rs",
        "migrate_contents",
        "an operator's batch: the contents still in the database, across records",
    ),
    (
        "services/content_migration.rs",
        "contents_left_in_database",
        "whether a production start must wait for `content migrate`",
    ),
    (
        "services/retention.rs",
        "delete_unreferenced",
        "the orphan sweep: which contents any live row references, across records, each \
         checked again under the content's lock",
    ),
    (
        "services/documents/feed.rs",
        "dmp_status",
        "whether a DMP exists, the same answer for unknown and opposed",
    ),
];

#[test]
fn services_reach_patient_tables_through_the_unit_of_work_but_the_named_exceptions() {
    let mut uses = Vec::new();
    for (file, lines) in sources().remove("services").unwrap_or_default() {
        let path = file.display().to_string().replace('\\', "/");
        let mut function = String::new();
        for line in &lines {
            if let Some(at) = line.find("fn ") {
                let name: String = line[at + 3..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    function = name;
                }
            }
            if line.contains("self.db") {
                uses.push((path.clone(), function.clone(), line.trim().to_owned()));
            }
        }
    }
    let unnamed: Vec<String> = uses
        .iter()
        .filter(|(path, function, _)| {
            !OUTSIDE_THE_UNIT_OF_WORK
                .iter()
                .any(|(file, name, _)| path.ends_with(file) && function == name)
        })
        .map(|(path, function, line)| format!("{path}: {function}: {line}"))
        .collect();
    assert!(
        unnamed.is_empty(),
        "reads outside the patient unit of work, not named in OUTSIDE_THE_UNIT_OF_WORK:\n{}",
        unnamed.join("\n")
    );
    // A named exception that no longer exists goes from the list.
    for (file, name, _) in OUTSIDE_THE_UNIT_OF_WORK {
        assert!(
            uses.iter()
                .any(|(path, function, _)| path.ends_with(file) && function == name),
            "{file}: {name} no longer reads outside the unit of work: take it off the list"
        );
    }
    // Outside the services, the handle is the wiring's alone.
    for (module, files) in sources() {
        if [
            "services",
            "startup",
            "config",
            "telemetry",
            "cli",
            "demo",
            "http",
            "db",
        ]
        .contains(&module.as_str())
        {
            continue;
        }
        for (file, lines) in files {
            for line in lines {
                assert!(
                    !line.contains(".connection()"),
                    "{}: {module} borrows the services' database handle: {}",
                    file.display(),
                    line.trim()
                );
            }
        }
    }
}
