//! Practitioners feed a patient's DMP, and ask beforehand whether it exists.

use entity::profile;
use sea_orm::EntityTrait;
use serde_json::json;

use super::{DmpStatus, DocumentInput, Stored, store_document, validate};
use crate::domain::access::Access;
use crate::domain::{ActorRef, EventKind, Ins, ProfileStatus, has_dmp, notices, visibility};
use crate::ledger::ContentDigest;
use crate::services::views::Document;
use crate::services::{ServiceError, Services};

impl Services {
    /// Feeds a document into a patient's DMP (practitioners). Stored, traced and notified when
    /// the patient has a DMP; `DmpNotFound` otherwise, with nothing stored and nobody notified.
    /// A type the practitioner's profession may not feed (the access matrix) is `Forbidden`,
    /// and the refusal traced. The first feed of a practitioner is their first access.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn feed_document(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        input: &DocumentInput,
    ) -> Result<Document, ServiceError> {
        let doc = validate(
            input,
            self.policy.max_document_bytes,
            self.clock.now().date_naive(),
        )?;
        let mut tx = match self.patient_tx(ins, Access::Dmp).await {
            Ok(tx) => tx,
            Err(ServiceError::DmpNotFound) => {
                // For operations, not for any patient's ledger; the INS is not logged.
                tracing::info!("document feed refused: DMP inexistant");
                return Err(ServiceError::DmpNotFound);
            }
            Err(other) => return Err(other),
        };
        let type_code = doc.doc_type.code;
        if !visibility::may_feed(practitioner.profession_code, type_code) {
            tx.record(
                practitioner,
                EventKind::FeedRefused,
                json!({ "typeCode": type_code }),
            )
            .await?;
            return Err(tx
                .refuse(ServiceError::Forbidden(format!(
                    "your profession may not feed documents of type {type_code} (see the access matrix)"
                )))
                .await);
        }
        let stored = match store_document(&tx, practitioner, doc).await? {
            Stored::Before(earlier) => return Ok(earlier.into()),
            Stored::Now(stored) => stored,
        };
        // A first feed is a first access, as a first consultation is.
        tx.first_access(practitioner).await?;
        let notice = notices::new_document(
            &practitioner.name,
            practitioner.profession.as_deref(),
            tx.status() == Some(ProfileStatus::Activated),
        );
        tx.record_and_notify(
            practitioner,
            EventKind::DocumentFed,
            json!({
                "documentId": stored.id,
                "typeCode": type_code,
                "content": ContentDigest::known(&stored.sha256, stored.size_bytes).to_json(),
            }),
            &notice,
        )
        .await?;
        tx.commit().await?;
        Ok(stored.into())
    }

    /// Whether a practitioner may feed this INS: the same answer for unknown and opposed.
    pub async fn dmp_status(&self, ins: &Ins) -> Result<DmpStatus, ServiceError> {
        let profile = profile::Entity::find_by_id(ins.clone())
            .one(&self.db)
            .await?;
        let exists = match profile {
            Some(profile) => has_dmp(profile.status),
            None => false,
        };
        Ok(if exists {
            DmpStatus::Exists
        } else {
            DmpStatus::NotFound
        })
    }
}
