//! Who sees what, beyond the access matrix (which is code): the patient's médecin traitant and
//! their emergency-access setting on the profile, and the emergency accesses ("bris de glace")
//! practitioners opened, for the gate and the operators' audit.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{add_column, drop_column, id};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Ins,
    MedecinTraitantRpps,
    MedecinTraitantSince,
    EmergencyAccessEnabled,
}

#[derive(DeriveIden)]
enum EmergencyAccesses {
    Table,
    Id,
    PatientIns,
    PractitionerRpps,
    PractitionerName,
    PractitionerProfession,
    Reason,
    OpenedAt,
    ExpiresAt,
}

/// One column at a time: SQLite alters a table one change per statement.
fn profile_columns() -> [ColumnDef; 3] {
    [
        text_null(Profiles::MedecinTraitantRpps),
        timestamp_with_time_zone_null(Profiles::MedecinTraitantSince),
        boolean(Profiles::EmergencyAccessEnabled)
            .default(true)
            .take(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in profile_columns() {
            add_column(manager, Profiles::Table, column).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(EmergencyAccesses::Table)
                    .col(id(EmergencyAccesses::Id))
                    .col(text(EmergencyAccesses::PatientIns))
                    .col(text(EmergencyAccesses::PractitionerRpps))
                    .col(text(EmergencyAccesses::PractitionerName))
                    .col(text_null(EmergencyAccesses::PractitionerProfession))
                    .col(text(EmergencyAccesses::Reason))
                    .col(timestamp_with_time_zone(EmergencyAccesses::OpenedAt))
                    .col(timestamp_with_time_zone(EmergencyAccesses::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EmergencyAccesses::Table, EmergencyAccesses::PatientIns)
                            .to(Profiles::Table, Profiles::Ins),
                    )
                    .take(),
            )
            .await?;
        // The gate: does this practitioner hold an access to this record that has not expired?
        manager
            .create_index(
                Index::create()
                    .name("emergency_accesses_holder")
                    .table(EmergencyAccesses::Table)
                    .col(EmergencyAccesses::PatientIns)
                    .col(EmergencyAccesses::PractitionerRpps)
                    .col(EmergencyAccesses::ExpiresAt)
                    .take(),
            )
            .await?;
        // The audit: accesses opened over a period.
        manager
            .create_index(
                Index::create()
                    .name("emergency_accesses_opened_at")
                    .table(EmergencyAccesses::Table)
                    .col(EmergencyAccesses::OpenedAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmergencyAccesses::Table).take())
            .await?;
        for column in [
            Profiles::EmergencyAccessEnabled,
            Profiles::MedecinTraitantSince,
            Profiles::MedecinTraitantRpps,
        ] {
            drop_column(manager, Profiles::Table, column).await?;
        }
        Ok(())
    }
}
