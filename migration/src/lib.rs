//! Database migrations of espace-sante, for PostgreSQL and SQLite.
//!
//! Migrations are history: a landed migration is never edited; a change is a new migration.
//! They hold schema only, never data (demo data comes from `espace-sante demo`).
//!
//! Tables and indexes are written once with sea-query, for both databases. Raw SQL per backend
//! is kept for what has no portable form: the ledger's append-only triggers. A branch per
//! backend is kept where a landed migration created something differently on each.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_foundation;
mod m20261128_000002_documents;
mod m20261128_000003_messaging;
mod m20261128_000004_delivery;
mod m20261129_000001_profiles_due_for_creation;
mod m20261130_000001_ledger_guards_always;
mod m20261201_000001_access_rights;
mod m20261201_000001_closure_retention;
mod m20261201_000002_held_back_documents;
mod m20261201_000003_legal_representatives;
mod m20261201_000004_notices_per_recipient;
mod m20261202_000001_ledger_checkpoints;
mod m20261203_000001_live_notifications_by_patient;
mod m20261207_000001_checkpoint_keys;
mod m20261207_000002_account_links;
mod m20261210_000001_checkpoint_log;
mod m20261211_000001_keys_by_patient;
mod m20261212_000001_contents_by_digest;
mod m20261213_000001_checkpoint_introductions;

/// Applies the migrations of this crate in order.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_foundation::Migration),
            Box::new(m20261128_000002_documents::Migration),
            Box::new(m20261128_000003_messaging::Migration),
            Box::new(m20261128_000004_delivery::Migration),
            Box::new(m20261129_000001_profiles_due_for_creation::Migration),
            Box::new(m20261130_000001_ledger_guards_always::Migration),
            Box::new(m20261201_000001_access_rights::Migration),
            Box::new(m20261201_000001_closure_retention::Migration),
            Box::new(m20261201_000002_held_back_documents::Migration),
            Box::new(m20261201_000003_legal_representatives::Migration),
            Box::new(m20261201_000004_notices_per_recipient::Migration),
            Box::new(m20261202_000001_ledger_checkpoints::Migration),
            Box::new(m20261203_000001_live_notifications_by_patient::Migration),
            Box::new(m20261207_000001_checkpoint_keys::Migration),
            Box::new(m20261207_000002_account_links::Migration),
            Box::new(m20261210_000001_checkpoint_log::Migration),
            Box::new(m20261211_000001_keys_by_patient::Migration),
            Box::new(m20261212_000001_contents_by_digest::Migration),
            Box::new(m20261213_000001_checkpoint_introductions::Migration),
        ]
    }
}

/// Runs the script of the connection's backend, statement by statement (SQLite's driver takes
/// one statement at a time).
async fn run_script(
    manager: &SchemaManager<'_>,
    postgres: &[&str],
    sqlite: &[&str],
) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        sea_orm_migration::sea_orm::DbBackend::Postgres => postgres,
        sea_orm_migration::sea_orm::DbBackend::Sqlite => sqlite,
        other => return Err(DbErr::Migration(format!("unsupported database {other:?}"))),
    };
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Adds one column to `table`: SQLite takes one change per ALTER TABLE.
async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    column: impl IntoColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).take())
        .await
}

/// Drops one column of `table`, one change per ALTER TABLE as for [`add_column`].
async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoTableRef,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).take())
        .await
}

/// An auto-increment id, the primary key: `bigserial` on PostgreSQL, and on SQLite an alias of
/// the rowid with `AUTOINCREMENT` (an id is never reused, even after the last row is deleted).
///
/// Landed migrations use it: changing it changes history.
fn id<T: IntoIden>(column: T) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .auto_increment()
        .primary_key()
        .take()
}
