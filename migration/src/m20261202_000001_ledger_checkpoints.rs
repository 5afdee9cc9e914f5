//! Signed checkpoints of the ledger: an append-only log of Merkle roots over every patient's
//! chain head, each signed with the server's Ed25519 key, and the heads each one covers (to
//! hand out inclusion proofs later). Both tables refuse UPDATE, DELETE and TRUNCATE, as the
//! ledger does, with triggers that fire ALWAYS (PostgreSQL) and refuse a REPLACE (SQLite).

use sea_orm_migration::{prelude::*, schema::*};

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerCheckpoints {
    Table,
    Idx,
    CreatedAt,
    TreeSize,
    HeadsRoot,
    LogRoot,
    Signature,
    PublicKey,
}

#[derive(DeriveIden)]
enum LedgerCheckpointHeads {
    Table,
    CheckpointIdx,
    LeafIndex,
    PatientIns,
    Seq,
    Hash,
}

const POSTGRES_UP: &[&str] = &[
    r"CREATE FUNCTION ledger_checkpoints_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$",
    r"CREATE TRIGGER ledger_checkpoints_no_update_or_delete
        BEFORE UPDATE OR DELETE ON ledger_checkpoints
        FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    r"CREATE TRIGGER ledger_checkpoints_no_truncate
        BEFORE TRUNCATE ON ledger_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    r"CREATE TRIGGER ledger_checkpoint_heads_no_update_or_delete
        BEFORE UPDATE OR DELETE ON ledger_checkpoint_heads
        FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    r"CREATE TRIGGER ledger_checkpoint_heads_no_truncate
        BEFORE TRUNCATE ON ledger_checkpoint_heads
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    "ALTER TABLE ledger_checkpoints ENABLE ALWAYS TRIGGER ledger_checkpoints_no_update_or_delete",
    "ALTER TABLE ledger_checkpoints ENABLE ALWAYS TRIGGER ledger_checkpoints_no_truncate",
    "ALTER TABLE ledger_checkpoint_heads ENABLE ALWAYS TRIGGER ledger_checkpoint_heads_no_update_or_delete",
    "ALTER TABLE ledger_checkpoint_heads ENABLE ALWAYS TRIGGER ledger_checkpoint_heads_no_truncate",
];

const POSTGRES_DOWN: &[&str] = &["DROP FUNCTION ledger_checkpoints_refuse_change() CASCADE"];

const SQLITE_UP: &[&str] = &[
    r"CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE ON ledger_checkpoints
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: UPDATE refused');
    END",
    r"CREATE TRIGGER ledger_checkpoints_no_delete BEFORE DELETE ON ledger_checkpoints
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: DELETE refused');
    END",
    r"CREATE TRIGGER ledger_checkpoints_no_replace BEFORE INSERT ON ledger_checkpoints
    WHEN EXISTS (SELECT 1 FROM ledger_checkpoints WHERE idx = NEW.idx)
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoints is append-only: an existing checkpoint cannot be replaced');
    END",
    r"CREATE TRIGGER ledger_checkpoint_heads_no_update BEFORE UPDATE ON ledger_checkpoint_heads
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoint_heads is append-only: UPDATE refused');
    END",
    r"CREATE TRIGGER ledger_checkpoint_heads_no_delete BEFORE DELETE ON ledger_checkpoint_heads
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoint_heads is append-only: DELETE refused');
    END",
    r"CREATE TRIGGER ledger_checkpoint_heads_no_replace BEFORE INSERT ON ledger_checkpoint_heads
    WHEN EXISTS (
        SELECT 1 FROM ledger_checkpoint_heads
        WHERE checkpoint_idx = NEW.checkpoint_idx
          AND (leaf_index = NEW.leaf_index OR patient_ins = NEW.patient_ins)
    )
    BEGIN
        SELECT RAISE(ABORT, 'ledger_checkpoint_heads is append-only: an existing head cannot be replaced');
    END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LedgerCheckpoints::Table)
                    .col(
                        big_integer(LedgerCheckpoints::Idx)
                            .primary_key()
                            .check(Expr::col(LedgerCheckpoints::Idx).gte(1)),
                    )
                    .col(timestamp_with_time_zone(LedgerCheckpoints::CreatedAt))
                    .col(big_integer(LedgerCheckpoints::TreeSize))
                    .col(text(LedgerCheckpoints::HeadsRoot))
                    .col(text(LedgerCheckpoints::LogRoot))
                    .col(text(LedgerCheckpoints::Signature))
                    .col(text(LedgerCheckpoints::PublicKey))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerCheckpointHeads::Table)
                    .col(big_integer(LedgerCheckpointHeads::CheckpointIdx))
                    .col(big_integer(LedgerCheckpointHeads::LeafIndex))
                    .col(text(LedgerCheckpointHeads::PatientIns))
                    .col(big_integer(LedgerCheckpointHeads::Seq))
                    .col(text(LedgerCheckpointHeads::Hash))
                    .primary_key(
                        Index::create()
                            .col(LedgerCheckpointHeads::CheckpointIdx)
                            .col(LedgerCheckpointHeads::LeafIndex),
                    )
                    .index(
                        Index::create()
                            .name("ledger_checkpoint_heads_patient")
                            .unique()
                            .col(LedgerCheckpointHeads::PatientIns)
                            .col(LedgerCheckpointHeads::CheckpointIdx),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                LedgerCheckpointHeads::Table,
                                LedgerCheckpointHeads::CheckpointIdx,
                            )
                            .to(LedgerCheckpoints::Table, LedgerCheckpoints::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        run_script(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_DOWN, &[]).await?;
        manager
            .drop_table(Table::drop().table(LedgerCheckpointHeads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LedgerCheckpoints::Table).to_owned())
            .await
    }
}
