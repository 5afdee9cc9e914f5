//! Database migrations of espace-sante, for PostgreSQL and SQLite.
//!
//! Migrations are history: a landed migration is never edited; a change is a new migration.
//! They hold schema only, never data (demo data comes from `espace-sante demo`).

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_foundation;
mod m20261128_000002_documents;
mod m20261128_000003_messaging;
mod m20261128_000004_delivery;

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
