//! Secure messaging: threads between one practitioner and one patient, their messages and
//! attachments. A thread that could not be delivered (no profile) holds the practitioner's
//! message and the system's bounce, and only the practitioner sees it: it has no foreign key to
//! profiles, since the INS may be unknown.

use sea_orm_migration::{prelude::*, schema::*};

use crate::id;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Threads {
    Table,
    Id,
    PatientIns,
    PractitionerRpps,
    PractitionerName,
    PractitionerProfession,
    Subject,
    Delivered,
    CreatedAt,
    LastMessageAt,
    PatientUnread,
    PractitionerUnread,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ThreadId,
    SenderRole,
    SenderId,
    SenderName,
    Subject,
    Body,
    Bounce,
    SentAt,
    IdempotencyKey,
    RequestHash,
}

#[derive(DeriveIden)]
enum MessageAttachments {
    Table,
    Id,
    MessageId,
    Title,
    MimeType,
    SizeBytes,
    Sha256,
    Content,
}

fn threads() -> TableCreateStatement {
    Table::create()
        .table(Threads::Table)
        .col(id(Threads::Id))
        .col(text(Threads::PatientIns))
        .col(text(Threads::PractitionerRpps))
        .col(text(Threads::PractitionerName))
        .col(text_null(Threads::PractitionerProfession))
        .col(text(Threads::Subject))
        .col(boolean(Threads::Delivered))
        .col(timestamp_with_time_zone(Threads::CreatedAt))
        .col(timestamp_with_time_zone(Threads::LastMessageAt))
        .col(integer(Threads::PatientUnread).default(0))
        .col(integer(Threads::PractitionerUnread).default(0))
        .index(
            Index::create()
                .name("threads_one_per_pair")
                .unique()
                .col(Threads::PractitionerRpps)
                .col(Threads::PatientIns)
                .col(Threads::Delivered),
        )
        .take()
}

fn messages() -> TableCreateStatement {
    Table::create()
        .table(Messages::Table)
        .col(id(Messages::Id))
        .col(big_integer(Messages::ThreadId))
        .col(
            text(Messages::SenderRole).check(Expr::col(Messages::SenderRole).is_in([
                "PRACTITIONER",
                "PATIENT",
                "SYSTEM",
            ])),
        )
        .col(text(Messages::SenderId))
        .col(text(Messages::SenderName))
        .col(text(Messages::Subject))
        .col(text(Messages::Body))
        .col(boolean(Messages::Bounce).default(false))
        .col(timestamp_with_time_zone(Messages::SentAt))
        .col(text_null(Messages::IdempotencyKey))
        .col(text_null(Messages::RequestHash))
        .index(
            Index::create()
                .name("messages_idempotency")
                .unique()
                .col(Messages::SenderId)
                .col(Messages::IdempotencyKey),
        )
        .foreign_key(
            ForeignKey::create()
                .from(Messages::Table, Messages::ThreadId)
                .to(Threads::Table, Threads::Id),
        )
        .take()
}

fn message_attachments() -> TableCreateStatement {
    Table::create()
        .table(MessageAttachments::Table)
        .col(id(MessageAttachments::Id))
        .col(big_integer(MessageAttachments::MessageId))
        .col(text(MessageAttachments::Title))
        .col(text(MessageAttachments::MimeType))
        .col(big_integer(MessageAttachments::SizeBytes))
        .col(text(MessageAttachments::Sha256))
        .col(blob(MessageAttachments::Content))
        .foreign_key(
            ForeignKey::create()
                .from(MessageAttachments::Table, MessageAttachments::MessageId)
                .to(Messages::Table, Messages::Id),
        )
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(threads()).await?;
        manager
            .create_index(
                Index::create()
                    .name("threads_by_patient")
                    .table(Threads::Table)
                    .col(Threads::PatientIns)
                    .col(Threads::LastMessageAt)
                    .take(),
            )
            .await?;
        manager.create_table(messages()).await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_by_thread")
                    .table(Messages::Table)
                    .col(Messages::ThreadId)
                    .col(Messages::Id)
                    .take(),
            )
            .await?;
        manager.create_table(message_attachments()).await?;
        manager
            .create_index(
                Index::create()
                    .name("attachments_by_message")
                    .table(MessageAttachments::Table)
                    .col(MessageAttachments::MessageId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MessageAttachments::Table.into_iden(),
            Messages::Table.into_iden(),
            Threads::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
