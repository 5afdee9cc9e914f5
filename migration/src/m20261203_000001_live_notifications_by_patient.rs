//! An index for the reads of a patient's live notifications: the cursor a subscription starts
//! from (`max(id)` of the patient's LIVE rows) and the rows after it that each ring re-reads.
//! Without it both scanned every notification of every patient: with millions of rows, 10,000
//! subscriptions took minutes to start and each new document reached its subscriber late.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    r#"CREATE INDEX "notifications_by_patient_channel" ON "notifications" ("patient_ins", "channel", "id")"#,
];

const DOWN: &[&str] = &[r#"DROP INDEX "notifications_by_patient_channel""#];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN, DOWN).await
    }
}
