//! Logging: readable in a terminal, JSON in production. `RUST_LOG` filters as usual. Logs go
//! to stderr, so that stdout holds only what a command answers (a token, a report) for scripts.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Does nothing if one is already installed (tests).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal only: a file or a pipe gets plain text, and
        // NO_COLOR (https://no-color.org) is honoured.
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        );
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
