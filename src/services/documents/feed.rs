//! Practitioners feed a patient's DMP, and ask beforehand whether it exists.

use entity::{document, profile};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};

use super::{DmpStatus, DocumentInput, Stored, Storer, store_document, validate};
use crate::domain::access::Access;
use crate::domain::content::ContentDigest;
use crate::domain::events::{DocumentStored, FeedRefused, Released};
use crate::domain::{Event, Ins, NoticeAudience, Practitioner, has_dmp, visibility};
use crate::services::views::Document;
use crate::services::{ServiceError, Services};

/// How a practitioner feeds a document, besides the document itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedOptions {
    /// Held back from the patient until an announcement consultation: not notified, not
    /// visible to them (practitioners see it) until its author releases it.
    pub held_back: bool,
    /// Secret from the minor's legal representatives (art. L1111-5 CSP): they never see it nor
    /// a notice of it. As a minor's notices reach their representatives, it is not notified.
    /// For a patient without current representatives (an adult) there is no one to keep it
    /// from: the document is stored as any other, and notified.
    pub secret_from_representatives: bool,
}

impl Services {
    /// Feeds a document into a patient's DMP (practitioners). Stored, traced and notified when
    /// the patient has a DMP (a held-back or secret document is not notified: see
    /// [`FeedOptions`]); `DmpNotFound` otherwise, with nothing stored and nobody notified.
    /// A type the practitioner's profession may not feed (the access matrix) is `Forbidden`,
    /// and the refusal traced. The first feed of a practitioner is their first access.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn feed_document(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        input: &DocumentInput,
        mut options: FeedOptions,
    ) -> Result<Document, ServiceError> {
        let mut doc = validate(
            input,
            self.policy.max_document_bytes,
            self.clock.now().date_naive(),
        )
        .await?;
        let mut tx = match self.patient_tx(ins, Access::Dmp).await {
            Ok(tx) => tx,
            Err(ServiceError::DmpNotFound) => {
                // For operations, not for any patient's ledger; the INS is not logged.
                tracing::info!("document feed refused: DMP inexistant");
                return Err(ServiceError::DmpNotFound);
            }
            Err(other) => return Err(other),
        };
        if options.secret_from_representatives {
            options.secret_from_representatives = tx.has_representatives().await?;
        }
        let type_code = doc.doc_type.code;
        let actor = practitioner.to_ref();
        if !visibility::may_feed(Some(practitioner.profession_code), type_code) {
            let refused = FeedRefused {
                type_code: type_code.to_owned(),
                held_back: options.held_back,
                secret_from_representatives: options.secret_from_representatives,
            };
            tx.record(&actor, Event::FeedRefused(refused)).await?;
            return Err(tx
                .refuse(ServiceError::Forbidden(format!(
                    "your profession may not feed documents of type {type_code} (see the access matrix)"
                )))
                .await);
        }
        let title = doc.title_digest.clone();
        let hidden = options.held_back || options.secret_from_representatives;
        let storer = Storer::Practitioner(practitioner, hidden);
        let (digest, content) = doc.take_content();
        let (stored, first_access) =
            match store_document(&mut tx, &actor, doc, options, storer).await? {
                (Stored::Before(earlier), _) => return Ok(earlier.into()),
                (Stored::Now(stored), first_access) => (stored, first_access),
            };
        // After the checks (a refused feed stores nothing anywhere), before the commit of the
        // row that references the bytes (crate::contents).
        self.keep(&digest, &content).await?;
        let fed = DocumentStored {
            document_id: stored.id,
            type_code: type_code.to_owned(),
            content: Some(ContentDigest::known(&stored.sha256, stored.size_bytes)),
            title: Some(title),
            held_back: options.held_back,
            secret_from_representatives: options.secret_from_representatives,
        };
        // A first feed is a first access, as a first consultation is, and as hidden as the
        // feed; the feed is traced, and notified as its event says (a hidden one is not).
        let events = first_access
            .into_iter()
            .chain([Event::DocumentFed(fed)])
            .collect();
        tx.record_all(&actor, events).await?;
        tx.commit().await?;
        Ok(stored.into())
    }

    /// Releases a document held back until an announcement consultation (its author): the
    /// patient sees it from now on, and is notified, once — of the document, and of the
    /// author's first access if the held-back feed was it. Opens as a consultation does: a
    /// practitioner the patient blocked is refused, and the refusal traced. Only the author's
    /// own documents are looked at: for any other id (another's document, or none) the answer
    /// is one refusal that reads and tells nothing. Releasing the author's document already
    /// visible to the patient changes nothing and traces nothing.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn release_document(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        document_id: i64,
    ) -> Result<Document, ServiceError> {
        let mut tx = self.unblocked(practitioner, ins).await?;
        let rpps = &practitioner.rpps;
        let document = document::Entity::find_by_id(document_id)
            .filter(document::Column::PatientIns.eq(ins.as_str()))
            .filter(document::Column::AuthorId.eq(rpps.as_str()))
            .one(tx.conn())
            .await?
            .ok_or_else(|| {
                ServiceError::Forbidden(
                    "only the author of a held-back document releases it, and this record holds \
                     none of yours with this id"
                        .to_owned(),
                )
            })?;
        if !document.held_back {
            return Ok(document.into());
        }
        let mut row = document.into_active_model();
        row.held_back = Set(false);
        row.released_at = Set(Some(tx.now()));
        let released = row.update(tx.conn()).await?;
        let event = Event::DocumentReleased(Released {
            document_id: released.id,
            secret_from_representatives: released.secret_from_representatives,
        });
        // The first access the feed was is told with the release, before it as in the chain:
        // when the release itself is told (not a secret document's, whose notice would reach
        // the representatives).
        if event.notice() != NoticeAudience::Nobody {
            tx.notify_withheld_first_access(rpps, released.id).await?;
        }
        tx.record(&practitioner.to_ref(), event).await?;
        tx.commit().await?;
        Ok(released.into())
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
