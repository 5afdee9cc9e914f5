//! Who stands in for the patient: the médecin traitant and emergency access ("bris de glace")
//! in GraphQL, and the operators' audit of emergency accesses.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::guard::RoleGuard;
use super::pagination::{self, SortKey};
use super::scalars::{InsScalar, RppsScalar};
use super::types::{Actor, ActorRole, Profile};
use super::{actor, patient, practitioner, services};
use crate::domain::ActorRole as Role;
use crate::services::documents::EmergencyAudit;
use crate::services::views;

/// An emergency access ("bris de glace") to a record: who opened it, why, when and until when.
/// Nothing of the record's content.
#[derive(Debug)]
pub struct EmergencyAccess(views::EmergencyAccess);

/// An emergency access ("bris de glace") to a patient's record.
#[Object]
impl EmergencyAccess {
    /// Its id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The patient whose record was opened.
    async fn patient_ins(&self) -> InsScalar {
        InsScalar(self.0.patient_ins.clone())
    }
    /// The practitioner who opened it.
    async fn practitioner(&self) -> Actor {
        Actor {
            role: ActorRole::Practitioner,
            id: self.0.practitioner_rpps.to_string(),
            name: self.0.practitioner_name.clone(),
            profession: self.0.practitioner_profession.clone(),
        }
    }
    /// The reason the practitioner declared.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// When it was opened.
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }
    /// When it ends: from then on, masked documents are hidden again (`EMERGENCY_ACCESS_MINUTES`
    /// after the opening).
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// Where a page of emergency accesses resumes: after this one (oldest first).
#[derive(Debug, Serialize, Deserialize)]
struct EmergencyKey {
    id: i64,
}

impl SortKey for EmergencyKey {
    const LIST: &'static str = "emergency-accesses";
}

/// Reads about the médecin traitant and emergency accesses.
#[derive(Debug, Default)]
pub struct CareQuery;

#[Object]
impl CareQuery {
    /// Emergency accesses opened from `from` (included) to `to` (excluded), oldest first, for
    /// audit review (health-insurer operators): who opened whose record, why, when and until
    /// when; never any medical content.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn emergency_accesses(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period (included).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the period (excluded).")] to: DateTime<Utc>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last access of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<String, EmergencyAccess>> {
        if to <= from {
            return Err(super::error::bad_user_input("`to` must be after `from`"));
        }
        let audit = EmergencyAudit { from, to };
        let services = services(ctx);
        pagination::page(
            first,
            after,
            |after: Option<EmergencyKey>, limit| {
                services.emergency_accesses(&audit, after.map(|k| k.id), limit)
            },
            |row| EmergencyKey { id: row.id },
            |row| Ok(EmergencyAccess(row)),
        )
        .await
    }
}

/// Writes about the médecin traitant and emergency accesses.
#[derive(Debug, Default)]
pub struct CareMutation;

#[Object]
impl CareMutation {
    /// Designates your médecin traitant by RPPS number (activated patients): they see your
    /// documents, masked ones included. Replaces the one designated before. In your history.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn designate_medecin_traitant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The physician's RPPS number.")] rpps: RppsScalar,
    ) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        Ok(Profile(
            services(ctx)
                .set_medecin_traitant(&me, ins, Some(&rpps))
                .await?,
        ))
    }

    /// Removes your médecin traitant: they no longer see masked documents. In your history.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn remove_medecin_traitant(&self, ctx: &Context<'_>) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        Ok(Profile(
            services(ctx).set_medecin_traitant(&me, ins, None).await?,
        ))
    }

    /// Records a patient's médecin traitant on their behalf (health-insurer operators), or
    /// removes it with `rpps: null`. The patient's DMP must exist (`DMP_NOT_FOUND` otherwise);
    /// in the patient's history as done by you.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn record_medecin_traitant(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] ins: InsScalar,
        #[graphql(desc = "The physician's RPPS number; null removes the designation.")]
        rpps: Option<RppsScalar>,
    ) -> async_graphql::Result<Profile> {
        let me = actor(ctx)?.to_ref();
        Ok(Profile(
            services(ctx)
                .set_medecin_traitant(&me, &ins, rpps.as_ref().map(|r| &r.0))
                .await?,
        ))
    }

    /// Allows (`true`, the default) or forbids (`false`) emergency access to your record
    /// ("bris de glace"). In your history.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn set_emergency_access(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whether practitioners may open your record in an emergency.")]
        enabled: bool,
    ) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        Ok(Profile(
            services(ctx)
                .set_emergency_access(&me, ins, enabled)
                .await?,
        ))
    }

    /// Opens a patient's record in an emergency ("bris de glace", practitioners): for
    /// `EMERGENCY_ACCESS_MINUTES` (4 hours by default), `patientRecord` and `patientDocument`
    /// show the documents the patient masked too (the access matrix still applies). The reason
    /// (10 to 500 characters, `BAD_USER_INPUT` otherwise) is in the patient's history, and the
    /// patient is alerted on every channel. `FORBIDDEN` when the patient blocked you or turned
    /// emergency access off (the attempt is in their history); `DMP_NOT_FOUND` without a DMP.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn open_emergency_access(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
        #[graphql(desc = "Why the record must be opened now, 10 to 500 characters.")]
        reason: String,
    ) -> async_graphql::Result<EmergencyAccess> {
        let me = practitioner(ctx)?;
        Ok(EmergencyAccess(
            services(ctx)
                .open_emergency_access(me, &patient_ins, &reason)
                .await?,
        ))
    }
}
