//! The DMP's documents (metadata apart from content, so that lists never read blobs), the
//! practitioners who accessed each record (first-access notices), blocked practitioners, and
//! the patient's medical profile.

use sea_orm_migration::{prelude::*, schema::*};

use crate::id;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Ins,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    PatientIns,
    AuthorRole,
    AuthorId,
    AuthorName,
    AuthorProfession,
    TypeCode,
    Title,
    MimeType,
    SizeBytes,
    Sha256,
    ActDate,
    CreatedAt,
    Masked,
    IdempotencyKey,
    RequestHash,
}

#[derive(DeriveIden)]
enum DocumentContents {
    Table,
    DocumentId,
    Content,
}

#[derive(DeriveIden)]
enum PractitionerAccesses {
    Table,
    PatientIns,
    PractitionerRpps,
    FirstAccessAt,
}

#[derive(DeriveIden)]
enum PractitionerBlocks {
    Table,
    PatientIns,
    PractitionerRpps,
    BlockedAt,
}

#[derive(DeriveIden)]
enum MedicalProfileEntries {
    Table,
    Id,
    PatientIns,
    Category,
    Label,
    Details,
    Since,
    CreatedAt,
    UpdatedAt,
}

fn documents() -> TableCreateStatement {
    Table::create()
        .table(Documents::Table)
        .col(id(Documents::Id))
        .col(text(Documents::PatientIns))
        .col(
            text(Documents::AuthorRole)
                .check(Expr::col(Documents::AuthorRole).is_in(["PRACTITIONER", "PATIENT"])),
        )
        .col(text(Documents::AuthorId))
        .col(text(Documents::AuthorName))
        .col(text_null(Documents::AuthorProfession))
        .col(text(Documents::TypeCode))
        .col(text(Documents::Title))
        .col(text(Documents::MimeType))
        .col(big_integer(Documents::SizeBytes))
        .col(text(Documents::Sha256))
        .col(date(Documents::ActDate))
        .col(timestamp_with_time_zone(Documents::CreatedAt))
        .col(boolean(Documents::Masked).default(false))
        .col(text(Documents::IdempotencyKey))
        .col(text(Documents::RequestHash))
        .index(
            Index::create()
                .name("documents_idempotency")
                .unique()
                .col(Documents::AuthorId)
                .col(Documents::IdempotencyKey),
        )
        .foreign_key(
            ForeignKey::create()
                .from(Documents::Table, Documents::PatientIns)
                .to(Profiles::Table, Profiles::Ins),
        )
        .take()
}

fn document_contents() -> TableCreateStatement {
    Table::create()
        .table(DocumentContents::Table)
        .col(big_integer(DocumentContents::DocumentId).primary_key())
        .col(blob(DocumentContents::Content))
        .foreign_key(
            ForeignKey::create()
                .from(DocumentContents::Table, DocumentContents::DocumentId)
                .to(Documents::Table, Documents::Id),
        )
        .take()
}

fn practitioner_accesses() -> TableCreateStatement {
    Table::create()
        .table(PractitionerAccesses::Table)
        .col(text(PractitionerAccesses::PatientIns))
        .col(text(PractitionerAccesses::PractitionerRpps))
        .col(timestamp_with_time_zone(
            PractitionerAccesses::FirstAccessAt,
        ))
        .primary_key(
            Index::create()
                .col(PractitionerAccesses::PatientIns)
                .col(PractitionerAccesses::PractitionerRpps),
        )
        .foreign_key(
            ForeignKey::create()
                .from(
                    PractitionerAccesses::Table,
                    PractitionerAccesses::PatientIns,
                )
                .to(Profiles::Table, Profiles::Ins),
        )
        .take()
}

fn practitioner_blocks() -> TableCreateStatement {
    Table::create()
        .table(PractitionerBlocks::Table)
        .col(text(PractitionerBlocks::PatientIns))
        .col(text(PractitionerBlocks::PractitionerRpps))
        .col(timestamp_with_time_zone(PractitionerBlocks::BlockedAt))
        .primary_key(
            Index::create()
                .col(PractitionerBlocks::PatientIns)
                .col(PractitionerBlocks::PractitionerRpps),
        )
        .foreign_key(
            ForeignKey::create()
                .from(PractitionerBlocks::Table, PractitionerBlocks::PatientIns)
                .to(Profiles::Table, Profiles::Ins),
        )
        .take()
}

fn medical_profile_entries() -> TableCreateStatement {
    Table::create()
        .table(MedicalProfileEntries::Table)
        .col(id(MedicalProfileEntries::Id))
        .col(text(MedicalProfileEntries::PatientIns))
        .col(text(MedicalProfileEntries::Category).check(
            Expr::col(MedicalProfileEntries::Category).is_in([
                "ALLERGY",
                "TREATMENT",
                "HISTORY",
                "VACCINATION",
            ]),
        ))
        .col(text(MedicalProfileEntries::Label))
        .col(text_null(MedicalProfileEntries::Details))
        .col(date_null(MedicalProfileEntries::Since))
        .col(timestamp_with_time_zone(MedicalProfileEntries::CreatedAt))
        .col(timestamp_with_time_zone(MedicalProfileEntries::UpdatedAt))
        .foreign_key(
            ForeignKey::create()
                .from(
                    MedicalProfileEntries::Table,
                    MedicalProfileEntries::PatientIns,
                )
                .to(Profiles::Table, Profiles::Ins),
        )
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(documents()).await?;
        manager
            .create_index(
                Index::create()
                    .name("documents_by_patient")
                    .table(Documents::Table)
                    .col(Documents::PatientIns)
                    .col(Documents::Id)
                    .take(),
            )
            .await?;
        manager.create_table(document_contents()).await?;
        manager.create_table(practitioner_accesses()).await?;
        manager.create_table(practitioner_blocks()).await?;
        manager.create_table(medical_profile_entries()).await?;
        manager
            .create_index(
                Index::create()
                    .name("medical_profile_by_patient")
                    .table(MedicalProfileEntries::Table)
                    .col(MedicalProfileEntries::PatientIns)
                    .col(MedicalProfileEntries::Id)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MedicalProfileEntries::Table.into_iden(),
            PractitionerBlocks::Table.into_iden(),
            PractitionerAccesses::Table.into_iden(),
            DocumentContents::Table.into_iden(),
            Documents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
