//! Reads of the lifecycle: the patient's profile and history, the operator's views.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object};
use serde::{Deserialize, Serialize};

use super::guard::RoleGuard;
use super::pagination::{self, SortKey};
use super::scalars::InsScalar;
use super::types::{
    ActionKind, ActivityEvent, ActorRole, LedgerAudit, LedgerIntegrity, LedgerProof, Notification,
    NotificationStatus, Profile,
};
use super::{patient, services};
use crate::domain::ActorRole as Role;
use crate::services::activity::HistoryFilter;
use crate::services::outbox::OutboxFilter;

/// Where a page of the outbox resumes: after this notice (oldest first).
#[derive(Debug, Serialize, Deserialize)]
struct OutboxKey {
    id: i64,
}

impl SortKey for OutboxKey {
    const LIST: &'static str = "outbox";
}

/// Where a page of the activity history resumes: before this sequence (newest first).
#[derive(Debug, Serialize, Deserialize)]
struct HistoryKey {
    seq: i64,
}

impl SortKey for HistoryKey {
    const LIST: &'static str = "history";
}

/// Lifecycle reads.
#[derive(Debug, Default)]
pub struct LifecycleQuery;

/// The patient's profile and ledger, in [`super::Me`].
#[derive(Debug, Default)]
pub struct MeProfile;

#[Object]
impl LifecycleQuery {
    /// The signed-in patient's space: profile, activity history, ledger integrity, documents,
    /// messages. A minor's legal representative, signed in as themselves, reaches the minor's
    /// space by sending the header `X-Acting-For: <the minor's INS>` (each act is then traced in
    /// the minor's ledger as `LEGAL_REPRESENTATIVE`).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn me(&self) -> super::Me {
        super::Me::default()
    }

    /// A beneficiary's profile, by INS (health-insurer operators).
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn beneficiary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The beneficiary's INS.")] ins: InsScalar,
    ) -> async_graphql::Result<Profile> {
        Ok(Profile(services(ctx).profile(&ins).await?))
    }

    /// Deep verification of the ledger (health-insurer operators): every chain, the content
    /// hashes recomputed from the stored bytes, and the projections rules depend on (status,
    /// blocks, masks, first accesses) re-derived from the events. One patient, or everyone.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn ledger_audit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this beneficiary (default: everyone).")] ins: Option<InsScalar>,
    ) -> async_graphql::Result<LedgerAudit> {
        let ins = ins.map(|i| i.0);
        Ok(services(ctx).deep_verification(ins.as_ref()).await?.into())
    }

    /// The notification outbox, oldest first (health-insurer operators). Bodies are not shown.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn outbox(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only notices in this state.")] status: Option<NotificationStatus>,
        #[graphql(desc = "Only notices about this person.")] ins: Option<InsScalar>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last notice of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Notification>> {
        let filter = OutboxFilter {
            status: status.map(Into::into),
            patient_ins: ins.map(|i| i.0),
        };
        let services = services(ctx);
        pagination::page(
            first,
            after,
            |after: Option<OutboxKey>, limit| {
                services.list_notifications(&filter, after.map(|k| k.id), limit)
            },
            |row| OutboxKey { id: row.id },
            |row| Ok(Notification::from(row)),
        )
        .await
    }
}

#[Object]
impl MeProfile {
    /// The patient's profile (`NOT_FOUND` when the insurer never enrolled this INS).
    async fn profile(&self, ctx: &Context<'_>) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        let mut profile = services(ctx).profile(ins).await?;
        if me.role == Role::LegalRepresentative {
            // Representatives never see each other's personal email (the one given at
            // activation may be another representative's).
            profile.personal_email = None;
        }
        Ok(Profile(profile))
    }

    /// Every action performed on the profile, by anyone, newest first. An action about a
    /// document held back until an announcement consultation shows as `withheld` (its sequence
    /// and hashes only) until the document is released; a filtered page leaves it out. A legal
    /// representative's reading is in the minor's history (`ACTIVITY_HISTORY_CONSULTED`).
    async fn activity_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only these kinds of action (default: all).")] kinds: Option<
            Vec<ActionKind>,
        >,
        #[graphql(desc = "Only actions by these kinds of actor (default: all).")]
        actor_roles: Option<Vec<ActorRole>>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last event of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ActivityEvent>> {
        let (ins, me) = patient(ctx)?;
        let me = &me;
        let filter = HistoryFilter {
            kinds: kinds
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            actor_roles: actor_roles
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        let services = services(ctx);
        pagination::page(
            first,
            after,
            |after: Option<HistoryKey>, limit| async move {
                Ok(services
                    .history(me, ins, &filter, after.map(|k| k.seq), limit)
                    .await?
                    .into_inner())
            },
            |entry| HistoryKey { seq: entry.seq() },
            |row| Ok(ActivityEvent::from(row)),
        )
        .await
    }

    /// The inclusion proof of the patient's chain head in the latest signed checkpoint (`null`
    /// before a checkpoint covers the chain): with the operator's public key, anyone can check
    /// that the chain was not rewritten since.
    async fn ledger_proof(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LedgerProof>> {
        let (ins, _) = patient(ctx)?;
        Ok(services(ctx)
            .ledger_proof(ins)
            .await?
            .map(|(checkpoint, proof)| LedgerProof {
                checkpoint: checkpoint.into(),
                leaf_index: proof.leaf_index,
                sequence: proof.sequence,
                head_hash: proof.head_hash,
                path: proof.path,
            }))
    }

    /// The patient's whole ledger as a JSON text (format `espace-sante/ledger-export/v1`):
    /// every event, the latest checkpoint and the inclusion proof. Save it and run
    /// `espace-sante ledger verify-export FILE --public-key KEY`, offline. A legal
    /// representative's reading is in the minor's history (`ACTIVITY_HISTORY_CONSULTED`).
    async fn ledger_export(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let (ins, me) = patient(ctx)?;
        let export = services(ctx).ledger_export(&me, ins).await?.into_inner();
        serde_json::to_string_pretty(&export).map_err(|e| {
            crate::services::ServiceError::internal(format!("ledger export: {e}")).into()
        })
    }

    /// Re-verifies the patient's hash chain now.
    async fn ledger_integrity(&self, ctx: &Context<'_>) -> async_graphql::Result<LedgerIntegrity> {
        let (ins, _) = patient(ctx)?;
        Ok(services(ctx).integrity(ins).await?.into())
    }
}
