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
    connect_with(url, Duration::from_secs(30)).await
}

/// Connects to `url`, waiting at most `acquire_timeout` for a connection from the pool.
///
/// The server keeps this short (DB_ACQUIRE_TIMEOUT_SECS): during an outage, a request that
/// waited half a minute for a connection would hold its client and a task for nothing; it
/// fails fast instead, with a code that says to retry.
pub async fn connect_with(
    url: &str,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options.max_connections(1).min_connections(1);
    } else {
        options.max_connections(20);
    }
    Database::connect(options).await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}
