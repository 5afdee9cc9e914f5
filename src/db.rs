//! Database connection and migrations, for PostgreSQL and the embedded SQLite.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

/// Connects to `url`.
///
/// SQLite gets a single connection: it has no row locks and allows one writer, so one
/// connection serialises transactions (including the per-patient ledger appends) instead of
/// failing them with `SQLITE_BUSY`. It is the newcomer's database, not production's.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, None).await
}

/// Connects the API's pool to `url`. On PostgreSQL, every connection is opened with
/// `statement_timeout`: a statement that runs longer is cancelled by the server, so that no
/// request holds a connection (and its locks) past it. SQLite has no such setting; its one
/// connection is bounded by the request timeout.
pub async fn connect_api(
    url: &str,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, statement_timeout).await
}

async fn connect_with(
    url: &str,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options.max_connections(1).min_connections(1);
    } else {
        options.max_connections(20);
        if let Some(timeout) = statement_timeout {
            options.statement_timeout(timeout);
        }
    }
    Database::connect(options).await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
