//! The end of a closed profile's retention: the purge sweep deletes the record's contents —
//! documents' bytes, message bodies and attachments, the medical profile — and keeps the ledger
//! (which never held medical content), so that the chain still verifies. The purge is itself a
//! ledger event. The bytes in the content store go once the purge commits, unless a live row
//! still references them (equal contents are stored once); the orphan sweep
//! ([`Services::sweep_contents`]) removes what a crash or a refused feed left there.

use std::collections::BTreeSet;

use entity::{
    document, document_content, emergency_access, medical_profile_entry, message,
    message_attachment, profile, thread,
};
use futures_util::TryStreamExt;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, QueryTrait, sea_query::Expr,
};

use super::profiles::facts_of;
use super::{ServiceError, Services};
use crate::domain::access::Access;
use crate::domain::events::Purged;
use crate::domain::lifecycle;
use crate::domain::{ActorRef, Event, Ins, ProfileStatus};

impl Services {
    /// Purges every closed profile whose retention period has ended (by the services' clock),
    /// each in its own transaction. Returns the INS purged.
    #[tracing::instrument(skip_all)]
    pub async fn purge_due_profiles(&self) -> Result<Vec<Ins>, ServiceError> {
        let now = self.clock.now();
        let closed: Vec<String> = profile::Entity::find()
            .select_only()
            .column(profile::Column::Ins)
            .filter(profile::Column::Status.eq(ProfileStatus::Closed.as_str()))
            .filter(profile::Column::PurgedAt.is_null())
            .filter(profile::Column::ClosedAt.lte(now))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut purged = Vec::new();
        for ins in closed {
            let ins = Ins::parse(&ins)
                .map_err(|e| ServiceError::internal_from("stored INS is invalid", e))?;
            if self.purge(&ins).await? {
                purged.push(ins);
            }
        }
        if !purged.is_empty() {
            tracing::info!(
                purged = purged.len(),
                "closed profiles purged at the end of their retention"
            );
        }
        Ok(purged)
    }

    /// Purges one profile if, under its lock, the purge is due; whether it was.
    async fn purge(&self, ins: &Ins) -> Result<bool, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::Enrolment).await?;
        let current = tx.enrolled()?.clone();
        // Re-read under the lock: a reopening may have landed since the listing.
        if !lifecycle::purge_due(&facts_of(&current)?, tx.now(), self.policy.retention) {
            return Ok(false);
        }
        let documents: Vec<(i64, String)> = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .column(document::Column::Sha256)
            .filter(document::Column::PatientIns.eq(ins.as_str()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let document_ids: Vec<i64> = documents.iter().map(|(id, _)| *id).collect();
        let mut freed: BTreeSet<String> = documents.into_iter().map(|(_, sha)| sha).collect();
        document_content::Entity::delete_many()
            .filter(document_content::Column::DocumentId.is_in(document_ids.clone()))
            .exec(tx.conn())
            .await?;
        let thread_ids: Vec<i64> = thread::Entity::find()
            .select_only()
            .column(thread::Column::Id)
            .filter(thread::Column::PatientIns.eq(ins.as_str()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        let message_ids: Vec<i64> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::ThreadId.is_in(thread_ids.clone()))
            .into_tuple()
            .all(tx.conn())
            .await?;
        freed.extend(
            message_attachment::Entity::find()
                .select_only()
                .column(message_attachment::Column::Sha256)
                .filter(message_attachment::Column::MessageId.is_in(message_ids.clone()))
                .into_tuple::<String>()
                .all(tx.conn())
                .await?,
        );
        message_attachment::Entity::delete_many()
            .filter(message_attachment::Column::MessageId.is_in(message_ids.clone()))
            .exec(tx.conn())
            .await?;
        // No readable health metadata stays either: titles, subjects and emergency reasons go
        // with the contents (the chain keeps the digests of what it bound).
        document::Entity::update_many()
            .col_expr(document::Column::Title, Expr::value(""))
            .filter(document::Column::PatientIns.eq(ins.as_str()))
            .exec(tx.conn())
            .await?;
        message::Entity::update_many()
            .col_expr(message::Column::Body, Expr::value(""))
            .col_expr(message::Column::Subject, Expr::value(""))
            .filter(message::Column::ThreadId.is_in(thread_ids.clone()))
            .exec(tx.conn())
            .await?;
        thread::Entity::update_many()
            .col_expr(thread::Column::Subject, Expr::value(""))
            .filter(thread::Column::Id.is_in(thread_ids))
            .exec(tx.conn())
            .await?;
        emergency_access::Entity::update_many()
            .col_expr(emergency_access::Column::Reason, Expr::value(""))
            .filter(emergency_access::Column::PatientIns.eq(ins.as_str()))
            .exec(tx.conn())
            .await?;
        let entries = medical_profile_entry::Entity::delete_many()
            .filter(medical_profile_entry::Column::PatientIns.eq(ins.as_str()))
            .exec(tx.conn())
            .await?
            .rows_affected;
        let mut row = current.into_active_model();
        row.purged_at = Set(Some(tx.now()));
        tx.updated(row.update(tx.conn()).await?)?;
        let purged = Purged {
            document_ids,
            message_ids,
            medical_profile_entries: entries,
        };
        tx.record(&ActorRef::system(), Event::ProfilePurged(purged))
            .await?;
        tx.commit().await?;
        // After the commit: a purge rolled back deletes nothing. A failure here leaves orphans
        // for the sweep, not rows without bytes.
        let freed: Vec<String> = freed.into_iter().collect();
        self.delete_unreferenced(&freed).await?;
        Ok(true)
    }

    /// Deletes from the content store the objects that no row references any more and that
    /// were written before the grace period ([`crate::contents::ORPHAN_GRACE`]): those a crash
    /// between an object's write and its transaction's commit left, or a feed refused after
    /// its bytes were kept. Returns how many were deleted.
    #[tracing::instrument(skip_all)]
    pub async fn sweep_contents(&self) -> Result<usize, ServiceError> {
        let mut batch = Vec::new();
        let mut deleted = 0;
        let mut listed = self.contents.list();
        while let Some(object) = listed.try_next().await? {
            batch.push(object.sha256);
            if batch.len() == SWEEP_BATCH {
                deleted += self.delete_unreferenced(&batch).await?;
                batch.clear();
            }
        }
        deleted += self.delete_unreferenced(&batch).await?;
        if deleted > 0 {
            tracing::info!(deleted, "contents no row references deleted from the store");
        }
        Ok(deleted)
    }

    /// Deletes those of `digests` that no live row references and that were last written
    /// before the grace period. Each deletion holds the content's lock alone (PostgreSQL), which
    /// a write that will reference the content holds shared from before it writes the bytes
    /// until it commits: so the references are checked, and the object deleted, with no such
    /// write in between. (SQLite, one process in development, has no such lock: a purge racing
    /// a feed of the very same bytes could take them.) Returns how many were deleted.
    async fn delete_unreferenced(&self, digests: &[String]) -> Result<usize, ServiceError> {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        if digests.is_empty() {
            return Ok(0);
        }
        let referenced = self.referenced_contents(&self.db, digests).await?;
        let before = self.clock.now() - crate::contents::ORPHAN_GRACE;
        let old_enough =
            |at: Option<chrono::DateTime<chrono::Utc>>| at.is_some_and(|at| at < before);
        let mut deleted = 0;
        for sha256 in digests.iter().filter(|d| !referenced.contains(*d)) {
            if !old_enough(self.contents.written_at(sha256).await?) {
                continue;
            }
            let txn = self.db.begin().await?;
            if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
                txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT 1 FROM pg_advisory_xact_lock($1)",
                    [crate::contents::lock_key(sha256).into()],
                ))
                .await?;
            }
            let single = std::slice::from_ref(sha256);
            if self.referenced_contents(&txn, single).await?.is_empty()
                && old_enough(self.contents.written_at(sha256).await?)
            {
                self.contents.delete(sha256).await?;
                deleted += 1;
            }
            txn.commit().await?;
        }
        Ok(deleted)
    }

    /// Those of `digests` a live row references: a document of a record not purged (a purged
    /// record keeps its documents' rows, not their bytes), or an attachment.
    async fn referenced_contents(
        &self,
        conn: &impl sea_orm::ConnectionTrait,
        digests: &[String],
    ) -> Result<BTreeSet<String>, ServiceError> {
        let purged_records = profile::Entity::find()
            .select_only()
            .column(profile::Column::Ins)
            .filter(profile::Column::PurgedAt.is_not_null())
            .into_query();
        let mut referenced: BTreeSet<String> = document::Entity::find()
            .select_only()
            .column(document::Column::Sha256)
            .filter(document::Column::Sha256.is_in(digests.iter().cloned()))
            .filter(document::Column::PatientIns.not_in_subquery(purged_records))
            .into_tuple::<String>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        referenced.extend(
            message_attachment::Entity::find()
                .select_only()
                .column(message_attachment::Column::Sha256)
                .filter(message_attachment::Column::Sha256.is_in(digests.iter().cloned()))
                .into_tuple::<String>()
                .all(conn)
                .await?,
        );
        Ok(referenced)
    }
}

/// Digests checked against the rows at a time by the sweep.
const SWEEP_BATCH: usize = 500;
