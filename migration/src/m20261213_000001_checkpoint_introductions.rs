//! Each checkpoint reads the key set first: the first checkpoint and the ones that introduce
//! a key (`next_public_key`). Without an index that question read the whole log of
//! checkpoints, one per checkpoint: at 100,000 checkpoints, tens of milliseconds each. The
//! introductions are a handful; a partial index holds just them.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX ledger_checkpoints_introductions ON ledger_checkpoints (idx) \
     WHERE next_public_key IS NOT NULL",
];

const DOWN: &[&str] = &["DROP INDEX ledger_checkpoints_introductions"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN, DOWN).await
    }
}
