//! Closure with retention: what a reopening restores (the status before closure) and when the
//! purge sweep removed the record's contents (the ledger stays).
//!
//! One column per statement: SQLite alters a table one column at a time.

use sea_orm_migration::{prelude::*, schema::*};

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
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .add_column(text_null(Profiles::StatusBeforeClosure))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .add_column(timestamp_with_time_zone_null(Profiles::PurgedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .drop_column(Profiles::PurgedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Profiles::Table)
                    .drop_column(Profiles::StatusBeforeClosure)
                    .to_owned(),
            )
            .await
    }
}
