//! Closure with retention: what a reopening restores (the status before closure) and when the
//! purge sweep removed the record's contents (the ledger stays).
//!
//! One column per statement: SQLite alters a table one column at a time.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    StatusBeforeClosure,
    PurgedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Profiles::Table,
            text_null(Profiles::StatusBeforeClosure),
        )
        .await?;
        add_column(
            manager,
            Profiles::Table,
            timestamp_with_time_zone_null(Profiles::PurgedAt),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Profiles::Table, Profiles::PurgedAt).await?;
        drop_column(manager, Profiles::Table, Profiles::StatusBeforeClosure).await
    }
}
