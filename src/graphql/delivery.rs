//! The operator's handles on delivery: run a relay round or the postal statements now, as the
//! background relay and `espace-sante letters` do.

use async_graphql::{Context, Object, SimpleObject};

use super::guard::RoleGuard;
use crate::domain::ActorRole as Role;
use std::sync::Arc;

use crate::services::ServiceError;
use crate::services::delivery::DeliveryPort;

/// What a relay round did.
#[derive(SimpleObject, Debug)]
pub struct RelayRound {
    /// Emails sent.
    pub sent: i32,
    /// Emails that failed for now and will be retried later.
    pub retried: i32,
    /// Emails given up (listed in `outbox(status: FAILED)`).
    pub failed: i32,
}

/// A postal letter written.
#[derive(SimpleObject, Debug)]
pub struct PostalLetter {
    /// Letter id (its reference, printed on it).
    pub letter_id: i64,
    /// PDF file name, in the letters folder.
    pub file: String,
    /// Pages.
    pub pages: i32,
    /// Notices it carries.
    pub notifications: i32,
    /// The address block as printed.
    pub address_block: Vec<String>,
}

/// What a run of the postal statements wrote.
#[derive(SimpleObject, Debug)]
pub struct PostalStatementRun {
    /// One letter per patient with pending postal notices.
    pub letters: Vec<PostalLetter>,
    /// Path of the manifest for the print provider (none when no letter was written).
    pub manifest: Option<String>,
}

fn delivery<'a>(ctx: &Context<'a>) -> &'a dyn DeliveryPort {
    // `build_schema` always adds it.
    ctx.data_unchecked::<Arc<dyn DeliveryPort>>().as_ref()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Delivery writes.
#[derive(Debug, Default)]
pub struct DeliveryMutation;

#[Object]
impl DeliveryMutation {
    /// Runs one round of the outbox relay now: sends the emails that are due (operators).
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn deliver_notifications(&self, ctx: &Context<'_>) -> async_graphql::Result<RelayRound> {
        let report = delivery(ctx)
            .relay_round()
            .await
            .map_err(ServiceError::from)?;
        Ok(RelayRound {
            sent: count(report.sent),
            retried: count(report.retried),
            failed: count(report.failed),
        })
    }

    /// Writes the postal activity statements now: one PDF letter per patient with pending postal
    /// notices, and a manifest (operators). A second run writes nothing new.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn run_postal_statements(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PostalStatementRun> {
        let run = delivery(ctx)
            .postal_statements()
            .await
            .map_err(ServiceError::from)?;
        Ok(PostalStatementRun {
            letters: run
                .letters
                .into_iter()
                .map(|l| PostalLetter {
                    letter_id: l.letter_id,
                    file: l.file,
                    pages: count(l.pages),
                    notifications: count(l.notifications),
                    address_block: l.address_block,
                })
                .collect(),
            manifest: run.manifest.map(|p| p.display().to_string()),
        })
    }
}
