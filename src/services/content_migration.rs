//! `espace-sante content migrate`: moves the bytes kept in the database before the content
//! store (`document_contents`, `message_attachments.content`) into the store, checking each
//! against the digest its row records on the way. The database keeps only the digest and the
//! size. Resumable and idempotent: a row leaves the database only once its bytes are in the
//! store, a second run finds nothing left, and a run stopped midway is taken up by the next.

use bytes::Bytes;
use entity::{document, document_content, message_attachment};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::{ServiceError, Services};
use crate::domain::content::ContentDigest;

/// Rows looked at per query; each content is then read, stored and removed one at a time, so
/// that the memory held is one content's.
const BATCH: u64 = 100;

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContentMigration {
    /// Documents whose bytes moved to the store.
    pub documents: u64,
    /// Attachments whose bytes moved to the store.
    pub attachments: u64,
    /// Contents left in the database because their bytes do not have the digest their row
    /// records (`document 12`, `attachment 4`): for `ledger verify --deep` to explain.
    pub mismatched: Vec<String>,
}

impl Services {
    /// Moves every content still in the database into the store ([module](self)).
    #[tracing::instrument(skip_all)]
    pub async fn migrate_contents(&self) -> Result<ContentMigration, ServiceError> {
        let mut report = ContentMigration::default();
        let mut after = i64::MIN;
        loop {
            let ids: Vec<i64> = document_content::Entity::find()
                .select_only()
                .column(document_content::Column::DocumentId)
                .filter(document_content::Column::DocumentId.gt(after))
                .order_by_asc(document_content::Column::DocumentId)
                .limit(BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let Some(last) = ids.last() else {
                break;
            };
            after = *last;
            for id in ids {
                let (Some(row), Some(document)) = (
                    document_content::Entity::find_by_id(id)
                        .one(&self.db)
                        .await?,
                    document::Entity::find_by_id(id).one(&self.db).await?,
                ) else {
                    continue;
                };
                let digest = ContentDigest::known(&document.sha256, document.size_bytes);
                if self.move_to_store(digest, row.content).await? {
                    document_content::Entity::delete_by_id(id)
                        .exec(&self.db)
                        .await?;
                    report.documents += 1;
                } else {
                    report.mismatched.push(format!("document {id}"));
                }
            }
        }
        let mut after = i64::MIN;
        loop {
            let ids: Vec<i64> = message_attachment::Entity::find()
                .select_only()
                .column(message_attachment::Column::Id)
                .filter(message_attachment::Column::Id.gt(after))
                .filter(Expr::cust("length(content) > 0"))
                .order_by_asc(message_attachment::Column::Id)
                .limit(BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let Some(last) = ids.last() else {
                break;
            };
            after = *last;
            for id in ids {
                let Some(row) = message_attachment::Entity::find_by_id(id)
                    .one(&self.db)
                    .await?
                else {
                    continue;
                };
                let digest = ContentDigest::known(&row.sha256, row.size_bytes);
                if self.move_to_store(digest, row.legacy_content).await? {
                    message_attachment::Entity::update(message_attachment::ActiveModel {
                        id: Set(id),
                        legacy_content: Set(Vec::new()),
                        ..Default::default()
                    })
                    .exec(&self.db)
                    .await?;
                    report.attachments += 1;
                } else {
                    report.mismatched.push(format!("attachment {id}"));
                }
            }
        }
        if report.documents + report.attachments > 0 {
            tracing::info!(
                documents = report.documents,
                attachments = report.attachments,
                "contents moved from the database to the store"
            );
        }
        Ok(report)
    }

    /// How many contents are still in the database (a production start refuses while any is).
    pub async fn contents_left_in_database(&self) -> Result<u64, ServiceError> {
        let documents = document_content::Entity::find().count(&self.db).await?;
        let attachments = message_attachment::Entity::find()
            .filter(Expr::cust("length(content) > 0"))
            .count(&self.db)
            .await?;
        Ok(documents + attachments)
    }

    /// Stores `bytes` if they have `digest`; whether they did.
    async fn move_to_store(
        &self,
        digest: ContentDigest,
        bytes: Vec<u8>,
    ) -> Result<bool, ServiceError> {
        if ContentDigest::of(&bytes) != digest {
            return Ok(false);
        }
        self.contents.put(&digest, Bytes::from(bytes)).await?;
        Ok(true)
    }
}
