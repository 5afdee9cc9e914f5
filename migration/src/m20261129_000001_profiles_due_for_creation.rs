//! The creation sweep's index made the same on SQLite as on PostgreSQL.
//!
//! The foundation created it partial on PostgreSQL, on the deadlines of announced profiles only
//! (the rows the sweep looks for), but on SQLite on `(status, opposition_deadline)` over every
//! profile. SQLite has partial indexes too: its index is rebuilt as PostgreSQL's. PostgreSQL
//! already has it, and is left alone.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Status,
    OppositionDeadline,
}

const NAME: &str = "profiles_due_for_creation";

/// Replaces SQLite's index by `index`; nothing to do on PostgreSQL.
async fn replace_on_sqlite(
    manager: &SchemaManager<'_>,
    index: IndexCreateStatement,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    manager
        .drop_index(Index::drop().name(NAME).table(Profiles::Table).to_owned())
        .await?;
    manager.create_index(index).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_on_sqlite(
            manager,
            Index::create()
                .name(NAME)
                .table(Profiles::Table)
                .col(Profiles::OppositionDeadline)
                .and_where(Expr::col(Profiles::Status).eq("ANNOUNCED"))
                .take(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_on_sqlite(
            manager,
            Index::create()
                .name(NAME)
                .table(Profiles::Table)
                .col(Profiles::Status)
                .col(Profiles::OppositionDeadline)
                .take(),
        )
        .await
    }
}
