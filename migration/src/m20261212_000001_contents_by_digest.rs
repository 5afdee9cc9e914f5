//! The content store's bytes are found by their SHA-256: the purge and the orphan sweep ask
//! which rows still reference a digest (`documents.sha256`, `message_attachments.sha256`), and
//! without an index each question read both tables whole.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE INDEX documents_by_sha256 ON documents (sha256)",
    "CREATE INDEX message_attachments_by_sha256 ON message_attachments (sha256)",
];

const DOWN: &[&str] = &[
    "DROP INDEX documents_by_sha256",
    "DROP INDEX message_attachments_by_sha256",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN, DOWN).await
    }
}
