//! Checkpoints that name their key and can introduce the next one (signing key rotation): the
//! version of the signed statement (1 for the checkpoints signed before, whose bytes never
//! change; 2 binds the key id and the key introduced), and the public key a checkpoint
//! introduces, if any. The key set is not a table of its own: it is what the introducing
//! checkpoints of the log say, so the database holds it once, append-only, under the same
//! guards as the rest of the log.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerCheckpoints {
    Table,
    Version,
    NextPublicKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Every checkpoint signed before this migration is of version 1.
        add_column(
            manager,
            LedgerCheckpoints::Table,
            integer(LedgerCheckpoints::Version).default(1),
        )
        .await?;
        add_column(
            manager,
            LedgerCheckpoints::Table,
            text_null(LedgerCheckpoints::NextPublicKey),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [LedgerCheckpoints::NextPublicKey, LedgerCheckpoints::Version] {
            drop_column(manager, LedgerCheckpoints::Table, column).await?;
        }
        Ok(())
    }
}
