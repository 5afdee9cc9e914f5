//! Notification delivery: retry bookkeeping on the outbox (when to try again, who holds a
//! claim), a one-line summary of each notice for the postal statement, and the letters sent.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DbBackend};

use crate::{add_column, id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Ins,
}

#[derive(DeriveIden)]
enum LedgerEvents {
    Table,
    Id,
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
    Summary,
    NextAttemptAt,
    ClaimedUntil,
    LetterId,
}

#[derive(DeriveIden)]
enum PostalLetters {
    Table,
    Id,
    PatientIns,
    PeriodStart,
    PeriodEnd,
    FileName,
    Pages,
    NotificationCount,
    CreatedAt,
}

fn postal_letters() -> TableCreateStatement {
    Table::create()
        .table(PostalLetters::Table)
        .col(id(PostalLetters::Id))
        .col(text(PostalLetters::PatientIns))
        .col(timestamp_with_time_zone(PostalLetters::PeriodStart))
        .col(timestamp_with_time_zone(PostalLetters::PeriodEnd))
        .col(text(PostalLetters::FileName))
        .col(integer(PostalLetters::Pages))
        .col(integer(PostalLetters::NotificationCount))
        .col(timestamp_with_time_zone(PostalLetters::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .from(PostalLetters::Table, PostalLetters::PatientIns)
                .to(Profiles::Table, Profiles::Ins),
        )
        .take()
}

/// The outbox as the foundation created it, before this migration's columns.
#[derive(DeriveIden)]
enum NotificationsBeforeDelivery {
    Table,
}

/// The columns of [`NotificationsBeforeDelivery`].
const COLUMNS_BEFORE_DELIVERY: [Notifications; 13] = [
    Notifications::Id,
    Notifications::PatientIns,
    Notifications::LedgerEventId,
    Notifications::Kind,
    Notifications::Channel,
    Notifications::Recipient,
    Notifications::Subject,
    Notifications::Body,
    Notifications::Status,
    Notifications::Attempts,
    Notifications::CreatedAt,
    Notifications::SentAt,
    Notifications::LastError,
];

fn notifications_before_delivery() -> TableCreateStatement {
    Table::create()
        .table(NotificationsBeforeDelivery::Table)
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
                .from(
                    NotificationsBeforeDelivery::Table,
                    Notifications::PatientIns,
                )
                .to(Profiles::Table, Profiles::Ins),
        )
        .foreign_key(
            ForeignKey::create()
                .from(
                    NotificationsBeforeDelivery::Table,
                    Notifications::LedgerEventId,
                )
                .to(LedgerEvents::Table, LedgerEvents::Id),
        )
        .take()
}

/// SQLite cannot drop a column that a foreign key uses (`letter_id`): the outbox is rebuilt as
/// the foundation created it, rows kept, and its index with it.
async fn rebuild_notifications_before_delivery(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(notifications_before_delivery())
        .await?;
    manager
        .execute(
            Query::insert()
                .into_table(NotificationsBeforeDelivery::Table)
                .columns(COLUMNS_BEFORE_DELIVERY)
                .select_from(
                    Query::select()
                        .columns(COLUMNS_BEFORE_DELIVERY)
                        .from(Notifications::Table)
                        .take(),
                )
                .map_err(|e| DbErr::Migration(e.to_string()))?
                .take(),
        )
        .await?;
    manager
        .drop_table(Table::drop().table(Notifications::Table).take())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(NotificationsBeforeDelivery::Table, Notifications::Table)
                .take(),
        )
        .await?;
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            Notifications::Table,
            text(Notifications::Summary).default(""),
        )
        .await?;
        add_column(
            manager,
            Notifications::Table,
            timestamp_with_time_zone_null(Notifications::NextAttemptAt),
        )
        .await?;
        add_column(
            manager,
            Notifications::Table,
            timestamp_with_time_zone_null(Notifications::ClaimedUntil),
        )
        .await?;
        manager.create_table(postal_letters()).await?;
        // SQLite accepts a foreign key on an added column only written in the column, which
        // sea-query's column definition cannot say: the clause is spelled out.
        add_column(
            manager,
            Notifications::Table,
            big_integer_null(Notifications::LetterId).extra("REFERENCES postal_letters (id)"),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_due")
                    .table(Notifications::Table)
                    .col(Notifications::Channel)
                    .col(Notifications::Status)
                    .col(Notifications::NextAttemptAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("notifications_due")
                    .table(Notifications::Table)
                    .to_owned(),
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_notifications_before_delivery(manager).await?,
            _ => {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Notifications::Table)
                            .drop_column(Notifications::LetterId)
                            .drop_column(Notifications::ClaimedUntil)
                            .drop_column(Notifications::NextAttemptAt)
                            .drop_column(Notifications::Summary)
                            .take(),
                    )
                    .await?
            }
        }
        manager
            .drop_table(Table::drop().table(PostalLetters::Table).take())
            .await
    }
}
