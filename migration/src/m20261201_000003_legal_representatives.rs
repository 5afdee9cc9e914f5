//! Minors and their legal representatives: one or two per minor, who act on the minor's profile
//! as themselves until the minor turns 18 (`ended_at`); and documents secret from them (the
//! minor's right to secrecy, art. L1111-5 CSP).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{add_column, drop_column, id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Ins,
}

#[derive(DeriveIden)]
enum LegalRepresentatives {
    Table,
    Id,
    ChildIns,
    RepresentativeIns,
    BirthName,
    FirstNames,
    Email,
    EnrolledAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    SecretFromRepresentatives,
}

const UNIQUE: &str = "legal_representatives_child_representative";
const BY_REPRESENTATIVE: &str = "legal_representatives_by_representative";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LegalRepresentatives::Table)
                    .col(id(LegalRepresentatives::Id))
                    .col(text(LegalRepresentatives::ChildIns))
                    .col(text(LegalRepresentatives::RepresentativeIns))
                    .col(text(LegalRepresentatives::BirthName))
                    .col(text(LegalRepresentatives::FirstNames))
                    .col(text_null(LegalRepresentatives::Email))
                    .col(timestamp_with_time_zone(LegalRepresentatives::EnrolledAt))
                    .col(timestamp_with_time_zone_null(LegalRepresentatives::EndedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LegalRepresentatives::Table, LegalRepresentatives::ChildIns)
                            .to(Profiles::Table, Profiles::Ins),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(UNIQUE)
                    .table(LegalRepresentatives::Table)
                    .col(LegalRepresentatives::ChildIns)
                    .col(LegalRepresentatives::RepresentativeIns)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_REPRESENTATIVE)
                    .table(LegalRepresentatives::Table)
                    .col(LegalRepresentatives::RepresentativeIns)
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            Documents::Table,
            boolean(Documents::SecretFromRepresentatives).default(false),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(
            manager,
            Documents::Table,
            Documents::SecretFromRepresentatives,
        )
        .await?;
        manager
            .drop_table(Table::drop().table(LegalRepresentatives::Table).to_owned())
            .await
    }
}
