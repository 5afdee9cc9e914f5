//! The patient blocks practitioners from consulting their record (feeding and messaging stay
//! open to them, as in the DMP).

use entity::practitioner_block;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};

use crate::domain::access::Access;
use crate::domain::events::PractitionerRef;
use crate::domain::{ActorRef, Event, Ins, Rpps};
use crate::services::views::Block;
use crate::services::{ServiceError, Services};

impl Services {
    /// Blocks (or unblocks) a practitioner from consulting the record. Asking for the state it
    /// already has changes nothing and traces nothing.
    #[tracing::instrument(skip_all)]
    pub async fn set_blocked(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        rpps: &Rpps,
        blocked: bool,
    ) -> Result<bool, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let key = (ins.clone(), rpps.clone());
        let existing = practitioner_block::Entity::find_by_id(key)
            .one(tx.conn())
            .await?;
        let practitioner = PractitionerRef {
            practitioner_rpps: rpps.clone(),
        };
        let event = match (existing, blocked) {
            (None, true) => {
                practitioner_block::Entity::insert(practitioner_block::ActiveModel {
                    patient_ins: Set(ins.clone()),
                    practitioner_rpps: Set(rpps.clone()),
                    blocked_at: Set(tx.now()),
                })
                .exec_without_returning(tx.conn())
                .await?;
                Event::PractitionerBlocked(practitioner)
            }
            (Some(block), false) => {
                block.delete(tx.conn()).await?;
                Event::PractitionerUnblocked(practitioner)
            }
            _ => return Ok(blocked),
        };
        tx.record(patient, event).await?;
        tx.commit().await?;
        Ok(blocked)
    }

    /// The practitioners the patient blocked, most recent first.
    pub async fn blocked_practitioners(&self, ins: &Ins) -> Result<Vec<Block>, ServiceError> {
        Ok(practitioner_block::Entity::find()
            .filter(practitioner_block::Column::PatientIns.eq(ins.clone()))
            .order_by_desc(practitioner_block::Column::BlockedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
