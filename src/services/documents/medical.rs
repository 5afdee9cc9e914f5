//! The activated patient's medical profile: allergies, treatments, history, vaccinations. The
//! ledger says what changed (action, entry, category), never the medical content itself.

use entity::medical_profile_entry;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, ModelTrait, QueryFilter,
    QueryOrder,
};

use super::{MedicalEntryInput, earliest_date};
use crate::domain::access::Access;
use crate::domain::content::{ContentDigest, medical_entry_bytes};
use crate::domain::documents::short_text;
use crate::domain::events::{EntryAction, MedicalEntryChanged};
use crate::domain::{ActorRef, Event, Ins};
use crate::services::patient_tx::Traced;
use crate::services::views::MedicalEntry;
use crate::services::{ServiceError, Services};

impl Services {
    /// The activated patient's medical profile, read by `reader` (the patient, or a legal
    /// representative: then traced as theirs).
    pub async fn medical_profile(
        &self,
        reader: &ActorRef,
        ins: &Ins,
    ) -> Result<Traced<Vec<MedicalEntry>>, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let receipt = tx
            .space_read(reader, Event::MedicalProfileConsulted)
            .await?;
        let entries = medical_profile_entry::Entity::find()
            .filter(medical_profile_entry::Column::PatientIns.eq(ins.as_str()))
            .order_by_asc(medical_profile_entry::Column::Id)
            .all(tx.conn())
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        tx.commit_traced(receipt, entries).await
    }

    /// Adds (`entry_id` none) or replaces an entry of the medical profile.
    #[tracing::instrument(skip_all)]
    pub async fn save_medical_entry(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        entry_id: Option<i64>,
        input: &MedicalEntryInput,
    ) -> Result<MedicalEntry, ServiceError> {
        let label = short_text(&input.label, "the label", 200)
            .map_err(|e| ServiceError::bad_input("label", e.to_string()))?;
        let details = input
            .details
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(|d| short_text(d, "the details", 2000))
            .transpose()
            .map_err(|e| ServiceError::bad_input("details", e.to_string()))?;
        let today = self.clock.now().date_naive();
        if input
            .since
            .is_some_and(|since| !(earliest_date()..=today).contains(&since))
        {
            return Err(ServiceError::bad_input(
                "since",
                "the date must be between 1900 and today",
            ));
        }
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let (saved, action) = match entry_id {
            None => {
                let row = medical_profile_entry::ActiveModel {
                    id: NotSet,
                    patient_ins: Set(ins.clone()),
                    category: Set(input.category),
                    label: Set(label),
                    details: Set(details),
                    since: Set(input.since),
                    created_at: Set(tx.now()),
                    updated_at: Set(tx.now()),
                };
                (
                    medical_profile_entry::Entity::insert(row)
                        .exec_with_returning(tx.conn())
                        .await?,
                    EntryAction::Added,
                )
            }
            Some(id) => {
                let mut row = find_medical_entry(tx.conn(), ins, id)
                    .await?
                    .into_active_model();
                row.category = Set(input.category);
                row.label = Set(label);
                row.details = Set(details);
                row.since = Set(input.since);
                row.updated_at = Set(tx.now());
                (row.update(tx.conn()).await?, EntryAction::Updated)
            }
        };
        let changed = MedicalEntryChanged {
            action,
            entry_id: saved.id,
            category: saved.category,
            content: Some(ContentDigest::of(&medical_entry_bytes(
                saved.category.as_str(),
                &saved.label,
                saved.details.as_deref(),
                saved.since,
            ))),
        };
        tx.record(patient, Event::MedicalProfileUpdated(changed))
            .await?;
        tx.commit().await?;
        Ok(saved.into())
    }

    /// Removes an entry of the medical profile.
    #[tracing::instrument(skip_all)]
    pub async fn remove_medical_entry(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        entry_id: i64,
    ) -> Result<(), ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let entry = find_medical_entry(tx.conn(), ins, entry_id).await?;
        let category = entry.category;
        entry.delete(tx.conn()).await?;
        let removed = MedicalEntryChanged {
            action: EntryAction::Removed,
            entry_id,
            category,
            content: None,
        };
        tx.record(patient, Event::MedicalProfileUpdated(removed))
            .await?;
        tx.commit().await
    }
}

async fn find_medical_entry(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    id: i64,
) -> Result<medical_profile_entry::Model, ServiceError> {
    medical_profile_entry::Entity::find_by_id(id)
        .filter(medical_profile_entry::Column::PatientIns.eq(ins.as_str()))
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound("no such entry in your medical profile".to_owned()))
}
