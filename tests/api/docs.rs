//! The documentation cannot rot: every GraphQL document that README.md and the manual
//! (`docs/`) show is valid against the schema, and the manual's table of settings is the one the
//! command line reads, both ways.
//!
//! How code is fenced in README.md and `docs/**/*.md`:
//! - ```` ```graphql ```` is an executable document a client can send as it is (a query, a
//!   mutation or a subscription): each is validated against the code's schema (which
//!   `schema.graphql` is, `schema.rs` sees to that) by async-graphql, as the server validates a
//!   request.
//! - ```` ```graphql-sdl ```` is an excerpt of the schema itself, and ```` ```json ```` an
//!   answer or a file: neither is validated. Any other fence that starts with `graphql` is a
//!   mistake, refused here.
//! - Queries written inline in prose (`` `{ me { … } }` ``) are not checked: keep the ones a
//!   newcomer should paste in fenced blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_graphql::Schema;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use clap::CommandFactory;
use espace_sante::graphql::{MutationRoot, QueryRoot, SubscriptionRoot};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md and every Markdown file under `docs/` but the built book, as paths from the root.
fn documentation() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != Path::new(ROOT).join("docs/book") {
                    walk(&path, found);
                }
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    let mut found = vec![Path::new(ROOT).join("README.md")];
    walk(&Path::new(ROOT).join("docs"), &mut found);
    found.sort();
    found
        .into_iter()
        .map(|p| p.strip_prefix(ROOT).unwrap().to_owned())
        .collect()
}

/// A fenced code block: its info string, the line of its opening fence (from 1), and its text
/// without the fence's indentation.
struct Block {
    info: String,
    line: usize,
    text: String,
}

/// The fenced blocks of a Markdown text (fences of backticks, indented or not, as in lists).
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Block)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let block = Block {
                        info: info.trim().to_owned(),
                        line: index + 1,
                        text: String::new(),
                    };
                    open = Some((indent, block));
                }
            }
            Some((_, block)) if trimmed.trim_end() == "```" => blocks.push(block),
            Some((fence_indent, mut block)) => {
                block.text.push_str(&line[indent.min(fence_indent)..]);
                block.text.push('\n');
                open = Some((fence_indent, block));
            }
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    blocks
}

/// Stops every request after its validation: a document is parsed and validated against the
/// schema, and no resolver runs (none could: the schema holds no services).
struct ValidateOnly;

impl ExtensionFactory for ValidateOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidateOnly)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ValidateOnly {
    async fn execute(
        &self,
        _: &ExtensionContext<'_>,
        _: Option<&str>,
        _: NextExecute<'_>,
    ) -> async_graphql::Response {
        async_graphql::Response::default()
    }
}

/// A failure names the file, the block (its rank among the file's ```` ```graphql ```` blocks and
/// the line of its fence), the document and each error.
#[tokio::test]
async fn every_documented_graphql_document_is_valid_against_the_schema() {
    // The schema of the code, which `schema.graphql` is (see schema.rs), validated by the same
    // rules the server applies to a request.
    let schema = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .extension(ValidateOnly)
    .finish();
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in documentation() {
        let markdown = std::fs::read_to_string(Path::new(ROOT).join(&file)).unwrap();
        let mut ordinal = 0;
        for block in fenced_blocks(&markdown) {
            match block.info.as_str() {
                "graphql" => {}
                info if info.to_ascii_lowercase().starts_with("graphql")
                    && info != "graphql-sdl" =>
                {
                    failures.push(format!(
                        "{}:{}: ```{info} is neither ```graphql nor ```graphql-sdl",
                        file.display(),
                        block.line
                    ));
                    continue;
                }
                _ => continue,
            }
            ordinal += 1;
            checked += 1;
            let errors = schema.execute(block.text.as_str()).await.errors;
            if !errors.is_empty() {
                let errors: Vec<_> = errors
                    .iter()
                    .map(|e| match e.locations.first() {
                        // Lines of the block, from 1 after its opening fence.
                        Some(at) => {
                            format!("  {} (block line {}:{})", e.message, at.line, at.column)
                        }
                        None => format!("  {}", e.message),
                    })
                    .collect();
                failures.push(format!(
                    "{}, graphql block {ordinal} (line {}):\n{}\n{}",
                    file.display(),
                    block.line,
                    block.text.trim_end(),
                    errors.join("\n")
                ));
            }
        }
    }
    // Were the extraction to break, the test must not pass on nothing.
    assert!(
        checked >= 20,
        "only {checked} ```graphql blocks found in README.md and docs/"
    );
    assert!(
        failures.is_empty(),
        "{} documented GraphQL documents are not valid against the schema (fix the document, or \
         fence it as ```graphql-sdl or ```json if it is not one to send):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The settings the command line reads, from every subcommand: environment variable → flag and
/// default (`None` without one).
fn settings_read() -> BTreeMap<String, (String, Option<String>)> {
    fn walk(command: &clap::Command, found: &mut BTreeMap<String, (String, Option<String>)>) {
        for arg in command.get_arguments() {
            let Some(variable) = arg.get_env() else {
                continue;
            };
            let flag = format!("--{}", arg.get_long().unwrap_or_default());
            let default = match arg.get_default_values() {
                [] => None,
                values => Some(
                    values
                        .iter()
                        .map(|v| v.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            };
            let variable = variable.to_string_lossy().into_owned();
            if let Some(other) = found.insert(variable.clone(), (flag.clone(), default.clone())) {
                assert_eq!(
                    other,
                    (flag, default),
                    "{variable} is read by two subcommands with different flags or defaults"
                );
            }
        }
        for subcommand in command.get_subcommands() {
            walk(subcommand, found);
        }
    }
    let mut found = BTreeMap::new();
    walk(&espace_sante::cli::Cli::command(), &mut found);
    found
}

/// The rows of the configuration chapter's table: variable → flag and default (`None` for
/// "none…").
fn settings_documented() -> BTreeMap<String, (String, Option<String>)> {
    let chapter =
        std::fs::read_to_string(Path::new(ROOT).join("docs/src/configuration.md")).unwrap();
    let code = |cell: &str| cell.trim().trim_matches('`').to_owned();
    chapter
        .lines()
        .skip_while(|l| !l.starts_with("| variable | flag | default |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            let default = cells[3].trim();
            let default = (!default.starts_with("none")).then(|| code(default));
            (code(cells[1]), (code(cells[2]), default))
        })
        .collect()
}

/// Every setting is a clap argument with an `env` (`src/config.rs`, `src/cli.rs`), so the command
/// line is the one list of what is read. (`RUST_LOG` and `NO_COLOR` are tracing's and the
/// terminal's conventions, not settings of ours.) Flags and defaults must agree too.
#[test]
fn the_configuration_chapter_lists_every_setting_the_command_line_reads() {
    let read = settings_read();
    let documented = settings_documented();
    assert!(
        documented.len() >= 10,
        "the table of docs/src/configuration.md was not found"
    );
    let names = |settings: &BTreeMap<String, _>| settings.keys().cloned().collect::<BTreeSet<_>>();
    let not_read: Vec<_> = names(&documented)
        .difference(&names(&read))
        .cloned()
        .collect();
    let not_documented: Vec<_> = names(&read)
        .difference(&names(&documented))
        .cloned()
        .collect();
    assert!(
        not_read.is_empty() && not_documented.is_empty(),
        "docs/src/configuration.md documents settings the command line does not read: \
         {not_read:?}; the command line reads settings the chapter does not document: \
         {not_documented:?}"
    );
    let differ: Vec<_> = documented
        .iter()
        .filter(|(variable, row)| read[*variable] != **row)
        .map(|(variable, row)| format!("{variable}: documented {row:?}, read {:?}", read[variable]))
        .collect();
    assert!(
        differ.is_empty(),
        "docs/src/configuration.md gives another flag or default than the command line:\n{}",
        differ.join("\n")
    );
}
