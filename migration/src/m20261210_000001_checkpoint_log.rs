//! Checkpoints that grow with what changed (version 3): the log of chain heads, appended as
//! chains move, and its complete subtrees, so that a checkpoint costs what moved since the one
//! before and any proof reads O(log n) stored nodes.
//!
//! - `ledger_log_leaves`: one row per chain head logged, in log order, indexed by patient
//!   (latest first) for inclusion proofs;
//! - `ledger_log_nodes`: the complete perfect subtrees, keyed by (level, index), as
//!   Certificate Transparency logs store them;
//! - `ledger_moves`: the chains that moved since the last checkpoint, noted by a trigger on
//!   each ledger append (in the append's own transaction, without touching the code that
//!   appends), taken and deleted by the next checkpoint. A work list, not evidence: a note
//!   removed behind the server's back only delays logging that chain, it never signs over a
//!   change;
//! - `ledger_checkpoints.consistency`: the proof from the checkpoint before, published with
//!   each checkpoint of version 3.
//!
//! The log and its nodes refuse UPDATE, DELETE and TRUNCATE as the checkpoints do. The
//! tables of versions 1 and 2 stay as they are: those checkpoints are history and still verify.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{add_column, drop_column, id, run_script};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerCheckpoints {
    Table,
    Idx,
    Consistency,
}

#[derive(DeriveIden)]
enum LedgerLogLeaves {
    Table,
    LeafIndex,
    PatientIns,
    Seq,
    Hash,
    CheckpointIdx,
}

#[derive(DeriveIden)]
enum LedgerLogNodes {
    Table,
    Level,
    Idx,
    Hash,
}

#[derive(DeriveIden)]
enum LedgerMoves {
    Table,
    Id,
    PatientIns,
}

const POSTGRES_UP: &[&str] = &[
    r"CREATE TRIGGER ledger_log_leaves_no_update_or_delete
        BEFORE UPDATE OR DELETE ON ledger_log_leaves
        FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    r"CREATE TRIGGER ledger_log_leaves_no_truncate
        BEFORE TRUNCATE ON ledger_log_leaves
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    r"CREATE TRIGGER ledger_log_nodes_no_update_or_delete
        BEFORE UPDATE OR DELETE ON ledger_log_nodes
        FOR EACH ROW EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    r"CREATE TRIGGER ledger_log_nodes_no_truncate
        BEFORE TRUNCATE ON ledger_log_nodes
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_checkpoints_refuse_change()",
    "ALTER TABLE ledger_log_leaves ENABLE ALWAYS TRIGGER ledger_log_leaves_no_update_or_delete",
    "ALTER TABLE ledger_log_leaves ENABLE ALWAYS TRIGGER ledger_log_leaves_no_truncate",
    "ALTER TABLE ledger_log_nodes ENABLE ALWAYS TRIGGER ledger_log_nodes_no_update_or_delete",
    "ALTER TABLE ledger_log_nodes ENABLE ALWAYS TRIGGER ledger_log_nodes_no_truncate",
    r"CREATE FUNCTION ledger_moves_note() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO ledger_moves (patient_ins) VALUES (NEW.patient_ins);
        RETURN NULL;
    END
    $$",
    r"CREATE TRIGGER ledger_events_note_move
        AFTER INSERT ON ledger_events
        FOR EACH ROW EXECUTE FUNCTION ledger_moves_note()",
    "ALTER TABLE ledger_events ENABLE ALWAYS TRIGGER ledger_events_note_move",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER ledger_events_note_move ON ledger_events",
    "DROP FUNCTION ledger_moves_note()",
];

const SQLITE_UP: &[&str] = &[
    r"CREATE TRIGGER ledger_log_leaves_no_update BEFORE UPDATE ON ledger_log_leaves
    BEGIN
        SELECT RAISE(ABORT, 'ledger_log_leaves is append-only: UPDATE refused');
    END",
    r"CREATE TRIGGER ledger_log_leaves_no_delete BEFORE DELETE ON ledger_log_leaves
    BEGIN
        SELECT RAISE(ABORT, 'ledger_log_leaves is append-only: DELETE refused');
    END",
    r"CREATE TRIGGER ledger_log_leaves_no_replace BEFORE INSERT ON ledger_log_leaves
    WHEN EXISTS (SELECT 1 FROM ledger_log_leaves WHERE leaf_index = NEW.leaf_index)
    BEGIN
        SELECT RAISE(ABORT, 'ledger_log_leaves is append-only: an existing leaf cannot be replaced');
    END",
    r"CREATE TRIGGER ledger_log_nodes_no_update BEFORE UPDATE ON ledger_log_nodes
    BEGIN
        SELECT RAISE(ABORT, 'ledger_log_nodes is append-only: UPDATE refused');
    END",
    r"CREATE TRIGGER ledger_log_nodes_no_delete BEFORE DELETE ON ledger_log_nodes
    BEGIN
        SELECT RAISE(ABORT, 'ledger_log_nodes is append-only: DELETE refused');
    END",
    r"CREATE TRIGGER ledger_log_nodes_no_replace BEFORE INSERT ON ledger_log_nodes
    WHEN EXISTS (SELECT 1 FROM ledger_log_nodes WHERE level = NEW.level AND idx = NEW.idx)
    BEGIN
        SELECT RAISE(ABORT, 'ledger_log_nodes is append-only: an existing node cannot be replaced');
    END",
    r"CREATE TRIGGER ledger_events_note_move AFTER INSERT ON ledger_events
    BEGIN
        INSERT INTO ledger_moves (patient_ins) VALUES (NEW.patient_ins);
    END",
];

const SQLITE_DOWN: &[&str] = &["DROP TRIGGER ledger_events_note_move"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LedgerLogLeaves::Table)
                    .col(
                        big_integer(LedgerLogLeaves::LeafIndex)
                            .primary_key()
                            .check(Expr::col(LedgerLogLeaves::LeafIndex).gte(0)),
                    )
                    .col(text(LedgerLogLeaves::PatientIns))
                    .col(big_integer(LedgerLogLeaves::Seq))
                    .col(text(LedgerLogLeaves::Hash))
                    .col(big_integer(LedgerLogLeaves::CheckpointIdx))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LedgerLogLeaves::Table, LedgerLogLeaves::CheckpointIdx)
                            .to(LedgerCheckpoints::Table, LedgerCheckpoints::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        // A patient's latest head: the first entry of this index for their INS.
        manager
            .create_index(
                Index::create()
                    .name("ledger_log_leaves_patient")
                    .table(LedgerLogLeaves::Table)
                    .col(LedgerLogLeaves::PatientIns)
                    .col((LedgerLogLeaves::LeafIndex, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerLogNodes::Table)
                    .col(
                        integer(LedgerLogNodes::Level)
                            .check(Expr::col(LedgerLogNodes::Level).gte(0)),
                    )
                    .col(
                        big_integer(LedgerLogNodes::Idx)
                            .check(Expr::col(LedgerLogNodes::Idx).gte(0)),
                    )
                    .col(text(LedgerLogNodes::Hash))
                    .primary_key(
                        Index::create()
                            .col(LedgerLogNodes::Level)
                            .col(LedgerLogNodes::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerMoves::Table)
                    .col(id(LedgerMoves::Id))
                    .col(text(LedgerMoves::PatientIns))
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            LedgerCheckpoints::Table,
            text_null(LedgerCheckpoints::Consistency),
        )
        .await?;
        run_script(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_DOWN, SQLITE_DOWN).await?;
        drop_column(
            manager,
            LedgerCheckpoints::Table,
            LedgerCheckpoints::Consistency,
        )
        .await?;
        for table in [
            LedgerMoves::Table.into_iden(),
            LedgerLogNodes::Table.into_iden(),
            LedgerLogLeaves::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
