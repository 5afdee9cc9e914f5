//! Legal representatives of minors: who may act on a minor's profile (checked when a
//! representative selects it), and the end of their access at the minor's 18th birthday, by a
//! sweep that is traced in the young adult's ledger.

use entity::{legal_representative, profile};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};

use super::profiles::facts_of;
use super::{ServiceError, Services};
use crate::domain::access::Access;
use crate::domain::events::RepresentationEnded;
use crate::domain::{ActivationCode, ActorRef, Event, Ins, lifecycle, minors};

impl Services {
    /// Whether `representative` may act on `child`'s profile now: a legal representative of
    /// theirs whose access has not ended, while the child is a minor (by the clock, even
    /// before the majority sweep ran).
    pub async fn represents(
        &self,
        representative: &Ins,
        child: &Ins,
    ) -> Result<bool, ServiceError> {
        let active = legal_representative::Entity::find()
            .filter(legal_representative::Column::ChildIns.eq(child.as_str()))
            .filter(legal_representative::Column::RepresentativeIns.eq(representative.as_str()))
            .filter(legal_representative::Column::EndedAt.is_null())
            .one(&self.db)
            .await?
            .is_some();
        if !active {
            return Ok(false);
        }
        let profile = profile::Entity::find_by_id(child.clone())
            .one(&self.db)
            .await?;
        let today = self.clock.now().date_naive();
        Ok(profile.is_some_and(|p| minors::is_minor(p.birth_date, today)))
    }

    /// Ends the representatives' access of every person who turned 18 (by the services'
    /// clock), each in its own transaction, traced in their ledger (`REPRESENTATION_ENDED`).
    /// A profile a representative activated goes back to CREATED with a new activation code,
    /// sent by notice: the young adult activates their own access. Returns the INS concerned.
    #[tracing::instrument(skip_all)]
    pub async fn end_representations_at_majority(&self) -> Result<Vec<Ins>, ServiceError> {
        let now = self.clock.now();
        let today = now.date_naive();
        let active = legal_representative::Entity::find()
            .filter(legal_representative::Column::EndedAt.is_null())
            .all(&self.db)
            .await?;
        let mut children: Vec<Ins> = active.into_iter().map(|r| r.child_ins).collect();
        children.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        children.dedup();
        let mut ended = Vec::new();
        for child in children {
            let mut tx = self.patient_tx(&child, Access::Enrolment).await?;
            let current = tx.enrolled()?.clone();
            let Some(majority) =
                lifecycle::majority(&facts_of(&current)?, current.birth_date, today)
            else {
                continue;
            };
            let representatives = legal_representative::Entity::find()
                .filter(legal_representative::Column::ChildIns.eq(child.as_str()))
                .filter(legal_representative::Column::EndedAt.is_null())
                .all(tx.conn())
                .await?;
            let mut ids = Vec::with_capacity(representatives.len());
            for rep in representatives {
                ids.push(rep.representative_ins.to_string());
                let mut row = rep.into_active_model();
                row.ended_at = Set(Some(tx.now()));
                row.update(tx.conn()).await?;
            }
            let event = Event::RepresentationEnded(RepresentationEnded {
                representatives: ids,
                status_after: majority.status_after,
            });
            match majority.status_after {
                // Activated by a representative, with their email: the young adult activates
                // their own access, with a new code.
                Some(status) => {
                    let code = ActivationCode::generate();
                    let mut row = current.into_active_model();
                    row.status = Set(status);
                    row.activation_code_hash = Set(Some(code.hash_for(&child)));
                    row.personal_email = Set(None);
                    row.failed_activation_attempts = Set(0);
                    row.activation_locked_until = Set(None);
                    tx.updated(row.update(tx.conn()).await?)?;
                    tx.record_with_code(&ActorRef::system(), event, &code)
                        .await?;
                }
                None => {
                    tx.record(&ActorRef::system(), event).await?;
                }
            }
            tx.commit().await?;
            ended.push(child);
        }
        if !ended.is_empty() {
            tracing::info!(
                ended = ended.len(),
                "legal representatives' access ended at majority"
            );
        }
        Ok(ended)
    }
}
