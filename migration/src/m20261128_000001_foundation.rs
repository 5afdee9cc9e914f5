//! Profiles, the hash-chained ledger (append-only, enforced by triggers) and the outbox.
//!
//! The tables are written with sea-query, once for both databases. The append-only triggers
//! have no portable form: they stay SQL per backend. One index, which this migration created
//! differently on each backend, keeps a branch per backend ([`profiles_due_for_creation`]).

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::{id, run_script};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Ins,
    Status,
    BirthName,
    FirstNames,
    BirthDate,
    CarteVitaleSerial,
    InsurerEmail,
    PostalAddress,
    EnrolledAt,
    OppositionDeadline,
    OpposedAt,
    CreatedAt,
    ActivatedAt,
    ClosedAt,
    ActivationCodeHash,
    PersonalEmail,
    FailedActivationAttempts,
    ActivationLockedUntil,
}

#[derive(DeriveIden)]
enum LedgerEvents {
    Table,
    Id,
    PatientIns,
    Seq,
    OccurredAt,
    Kind,
    ActorRole,
    ActorId,
    ActorName,
    ActorProfession,
    Payload,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    PatientIns,
    LedgerEventId,
    Kind,
    Channel,
    Recipient,
    Subject,
    Body,
    Status,
    Attempts,
    CreatedAt,
    SentAt,
    LastError,
}

fn profiles() -> TableCreateStatement {
    Table::create()
        .table(Profiles::Table)
        .col(text(Profiles::Ins).primary_key())
        .col(
            text(Profiles::Status).check(Expr::col(Profiles::Status).is_in([
                "ANNOUNCED",
                "OPPOSED",
                "CREATED",
                "ACTIVATED",
                "CLOSED",
            ])),
        )
        .col(text(Profiles::BirthName))
        .col(text(Profiles::FirstNames))
        .col(date(Profiles::BirthDate))
        .col(text(Profiles::CarteVitaleSerial))
        .col(text_null(Profiles::InsurerEmail))
        .col(text(Profiles::PostalAddress))
        .col(timestamp_with_time_zone(Profiles::EnrolledAt))
        .col(timestamp_with_time_zone(Profiles::OppositionDeadline))
        .col(timestamp_with_time_zone_null(Profiles::OpposedAt))
        .col(timestamp_with_time_zone_null(Profiles::CreatedAt))
        .col(timestamp_with_time_zone_null(Profiles::ActivatedAt))
        .col(timestamp_with_time_zone_null(Profiles::ClosedAt))
        .col(text_null(Profiles::ActivationCodeHash))
        .col(text_null(Profiles::PersonalEmail))
        .col(integer(Profiles::FailedActivationAttempts).default(0))
        .col(timestamp_with_time_zone_null(
            Profiles::ActivationLockedUntil,
        ))
        .take()
}

/// The creation sweep's index. This migration created it partial on PostgreSQL and on two
/// columns on SQLite; it stays so here, since a landed migration does not change what it
/// creates: `m20261129_000001_profiles_due_for_creation` makes SQLite's the same.
fn profiles_due_for_creation(backend: DbBackend) -> IndexCreateStatement {
    let mut index = Index::create();
    index
        .name("profiles_due_for_creation")
        .table(Profiles::Table);
    match backend {
        DbBackend::Sqlite => index
            .col(Profiles::Status)
            .col(Profiles::OppositionDeadline),
        _ => index
            .col(Profiles::OppositionDeadline)
            .and_where(Expr::col(Profiles::Status).eq("ANNOUNCED")),
    };
    index
}

fn ledger_events() -> TableCreateStatement {
    Table::create()
        .table(LedgerEvents::Table)
        .col(id(LedgerEvents::Id))
        .col(text(LedgerEvents::PatientIns))
        .col(big_integer(LedgerEvents::Seq).check(Expr::col(LedgerEvents::Seq).gte(1)))
        .col(timestamp_with_time_zone(LedgerEvents::OccurredAt))
        .col(text(LedgerEvents::Kind))
        .col(text(LedgerEvents::ActorRole))
        .col(text(LedgerEvents::ActorId))
        .col(text(LedgerEvents::ActorName))
        .col(text(LedgerEvents::ActorProfession))
        .col(text(LedgerEvents::Payload))
        .col(text(LedgerEvents::PrevHash))
        .col(text(LedgerEvents::Hash))
        .index(
            Index::create()
                .name("ledger_events_patient_seq")
                .unique()
                .col(LedgerEvents::PatientIns)
                .col(LedgerEvents::Seq),
        )
        .foreign_key(
            ForeignKey::create()
                .from(LedgerEvents::Table, LedgerEvents::PatientIns)
                .to(Profiles::Table, Profiles::Ins),
        )
        .take()
}

/// PostgreSQL refuses UPDATE, DELETE and TRUNCATE on the ledger, with `restrict_violation`.
const POSTGRES_LEDGER_TRIGGERS: &[&str] = &[
    r"CREATE FUNCTION ledger_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger_events is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$",
    r"CREATE TRIGGER ledger_events_no_update_or_delete
        BEFORE UPDATE OR DELETE ON ledger_events
        FOR EACH ROW EXECUTE FUNCTION ledger_events_refuse_change()",
    r"CREATE TRIGGER ledger_events_no_truncate
        BEFORE TRUNCATE ON ledger_events
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_refuse_change()",
];

/// SQLite has no TRUNCATE: UPDATE and DELETE are refused.
const SQLITE_LEDGER_TRIGGERS: &[&str] = &[
    r"CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
    BEGIN
        SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE refused');
    END",
    r"CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
    BEGIN
        SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE refused');
    END",
];

fn notifications() -> TableCreateStatement {
    Table::create()
        .table(Notifications::Table)
        .col(id(Notifications::Id))
        .col(text(Notifications::PatientIns))
        .col(big_integer(Notifications::LedgerEventId))
        .col(text(Notifications::Kind))
        .col(
            text(Notifications::Channel)
                .check(Expr::col(Notifications::Channel).is_in(["EMAIL", "POSTAL", "LIVE"])),
        )
        .col(text(Notifications::Recipient))
        .col(text(Notifications::Subject))
        .col(text(Notifications::Body))
        .col(
            text(Notifications::Status)
                .check(Expr::col(Notifications::Status).is_in(["PENDING", "SENT", "FAILED"])),
        )
        .col(integer(Notifications::Attempts).default(0))
        .col(timestamp_with_time_zone(Notifications::CreatedAt))
        .col(timestamp_with_time_zone_null(Notifications::SentAt))
        .col(text_null(Notifications::LastError))
        .index(
            Index::create()
                .name("notifications_once_per_event_and_channel")
                .unique()
                .col(Notifications::LedgerEventId)
                .col(Notifications::Channel),
        )
        .foreign_key(
            ForeignKey::create()
                .from(Notifications::Table, Notifications::PatientIns)
                .to(Profiles::Table, Profiles::Ins),
        )
        .foreign_key(
            ForeignKey::create()
                .from(Notifications::Table, Notifications::LedgerEventId)
                .to(LedgerEvents::Table, LedgerEvents::Id),
        )
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(profiles()).await?;
        manager
            .create_index(profiles_due_for_creation(manager.get_database_backend()))
            .await?;
        manager.create_table(ledger_events()).await?;
        run_script(manager, POSTGRES_LEDGER_TRIGGERS, SQLITE_LEDGER_TRIGGERS).await?;
        manager.create_table(notifications()).await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_by_status")
                    .table(Notifications::Table)
                    .col(Notifications::Status)
                    .col(Notifications::Id)
                    .take(),
            )
            .await
    }

    /// Dropping the tables is allowed: the triggers guard rows, not the schema, and `down`
    /// exists for development databases. The ledger goes with its tables (and SQLite's
    /// triggers with the table they are on).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(LedgerEvents::Table).take())
            .await?;
        run_script(
            manager,
            &["DROP FUNCTION ledger_events_refuse_change()"],
            &[],
        )
        .await?;
        manager
            .drop_table(Table::drop().table(Profiles::Table).take())
            .await
    }
}
