//! Who stands in for the patient beyond the access matrix: their médecin traitant, and a
//! practitioner opening the record in an emergency ("bris de glace"). Both see the documents
//! the patient masked ([`super::visibility`] reads what is written here).

use chrono::{DateTime, Utc};
use entity::emergency_access;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::access::Access;
use crate::domain::documents::short_text;
use crate::domain::events::{EmergencyOpened, EmergencyRefused, PractitionerRef};
use crate::domain::{ActorRef, ActorRole, Event, Ins, Practitioner, Rpps};
use crate::services::patient_tx::FirstAccessBy;
use crate::services::views::{EmergencyAccess, Profile};
use crate::services::{ServiceError, Services};

/// Fewest and most characters of an emergency access's reason.
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 10..=500;

/// Which emergency accesses an audit lists: those opened in `[from, to)`.
#[derive(Debug, Clone)]
pub struct EmergencyAudit {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Services {
    /// Designates (`Some`) or removes (`None`) the patient's médecin traitant: by the activated
    /// patient, or by an operator on their behalf (a DMP must exist). Asking for what is
    /// already so changes nothing and traces nothing.
    #[tracing::instrument(skip_all, fields(actor.role = %actor.role))]
    pub async fn set_medecin_traitant(
        &self,
        actor: &ActorRef,
        ins: &Ins,
        rpps: Option<&Rpps>,
    ) -> Result<Profile, ServiceError> {
        let access = match actor.role {
            ActorRole::Patient => Access::OwnRecord,
            _ => Access::Dmp,
        };
        let mut tx = self.patient_tx(ins, access).await?;
        let current = tx.enrolled()?.clone();
        if current.medecin_traitant_rpps.as_ref() == rpps {
            return Ok(current.into());
        }
        let event = match (rpps, &current.medecin_traitant_rpps) {
            (Some(rpps), _) => Event::MedecinTraitantDesignated(PractitionerRef {
                practitioner_rpps: rpps.clone(),
            }),
            (None, Some(previous)) => Event::MedecinTraitantRemoved(PractitionerRef {
                practitioner_rpps: previous.clone(),
            }),
            (None, None) => return Ok(current.into()),
        };
        let mut row = current.into_active_model();
        row.medecin_traitant_rpps = Set(rpps.cloned());
        row.medecin_traitant_since = Set(rpps.map(|_| tx.now()));
        let updated = tx.updated(row.update(tx.conn()).await?)?.clone();
        tx.record(actor, event).await?;
        tx.commit().await?;
        Ok(updated.into())
    }

    /// Turns emergency access to the patient's record on or off (the activated patient).
    /// Asking for what is already so changes nothing and traces nothing.
    #[tracing::instrument(skip_all)]
    pub async fn set_emergency_access(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        enabled: bool,
    ) -> Result<Profile, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let current = tx.enrolled()?.clone();
        if current.emergency_access_enabled == enabled {
            return Ok(current.into());
        }
        let mut row = current.into_active_model();
        row.emergency_access_enabled = Set(enabled);
        let updated = tx.updated(row.update(tx.conn()).await?)?.clone();
        let event = if enabled {
            Event::EmergencyAccessTurnedOn
        } else {
            Event::EmergencyAccessTurnedOff
        };
        tx.record(patient, event).await?;
        tx.commit().await?;
        Ok(updated.into())
    }

    /// A practitioner opens a record in an emergency, declaring why: for the configured time,
    /// they see the documents the patient masked too. Refused (and traced) for a practitioner
    /// the patient blocked and when the patient turned emergency access off. Traced with its
    /// reason, and an alert goes to the patient on every channel they have.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn open_emergency_access(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        reason: &str,
    ) -> Result<EmergencyAccess, ServiceError> {
        let reason = emergency_reason(reason)?;
        let mut tx = self.unblocked(practitioner, ins).await?;
        if !tx.enrolled()?.emergency_access_enabled {
            let refused = EmergencyRefused { reason };
            tx.record(
                &practitioner.to_ref(),
                Event::EmergencyAccessRefused(refused),
            )
            .await?;
            return Err(tx
                .refuse(ServiceError::Forbidden(
                    "the patient turned emergency access to their record off".to_owned(),
                ))
                .await);
        }
        tx.first_access(practitioner, FirstAccessBy::Open).await?;
        let now = tx.now();
        let expires_at = now + self.policy.emergency_access;
        let opened = emergency_access::Entity::insert(emergency_access::ActiveModel {
            id: NotSet,
            patient_ins: Set(ins.clone()),
            practitioner_rpps: Set(practitioner.rpps.clone()),
            practitioner_name: Set(practitioner.name.clone()),
            practitioner_profession: Set(Some(practitioner.profession.clone())),
            reason: Set(reason.clone()),
            opened_at: Set(now),
            expires_at: Set(expires_at),
        })
        .exec_with_returning(tx.conn())
        .await?;
        // An alert, on every channel the patient has (the event says so).
        let event = EmergencyOpened {
            emergency_access_id: opened.id,
            reason,
            expires_at,
        };
        tx.record(&practitioner.to_ref(), Event::EmergencyAccessOpened(event))
            .await?;
        tx.commit().await?;
        Ok(opened.into())
    }

    /// Emergency accesses opened in `[from, to)`, oldest first, `limit` after the id `after`
    /// (operators' audit). Who, whose record, why and when: nothing of the record.
    pub async fn emergency_accesses(
        &self,
        audit: &EmergencyAudit,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<EmergencyAccess>, ServiceError> {
        let mut query = emergency_access::Entity::find()
            .filter(emergency_access::Column::OpenedAt.gte(audit.from))
            .filter(emergency_access::Column::OpenedAt.lt(audit.to))
            .order_by_asc(emergency_access::Column::Id);
        if let Some(after) = after {
            query = query.filter(emergency_access::Column::Id.gt(after));
        }
        Ok(query
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// The reason of an emergency access: trimmed, 10 to 500 characters, no control character.
fn emergency_reason(input: &str) -> Result<String, ServiceError> {
    let text = short_text(input, "the reason", *REASON_CHARS.end())
        .map_err(|e| ServiceError::bad_input("reason", e.to_string()))?;
    if text.chars().count() < *REASON_CHARS.start() {
        return Err(ServiceError::bad_input(
            "reason",
            format!(
                "the reason must have {} to {} characters",
                REASON_CHARS.start(),
                REASON_CHARS.end()
            ),
        ));
    }
    Ok(text)
}
