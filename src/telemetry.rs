//! Logging: readable in a terminal, JSON in production. `RUST_LOG` filters as usual.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Does nothing if one is already installed (tests).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
