//! Role guards for GraphQL fields: no caller is `UNAUTHENTICATED`, the wrong role `FORBIDDEN`.

use async_graphql::{Context, Guard, Result};

use super::error::{forbidden, refused_caller};
use crate::auth::Caller;
use crate::domain::ActorRole;

/// Lets through callers with one of the given roles.
#[derive(Debug)]
pub struct RoleGuard(&'static [ActorRole]);

impl RoleGuard {
    /// A guard for the given roles.
    pub const fn new(roles: &'static [ActorRole]) -> Self {
        Self(roles)
    }
}

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        match ctx.data_opt::<Caller>() {
            Some(Caller::Authenticated(actor)) if self.0.contains(&actor.role()) => Ok(()),
            Some(Caller::Authenticated(actor)) => Err(forbidden(&format!(
                "this operation is not open to the role {}",
                actor.role().as_str()
            ))),
            other => Err(refused_caller(other)),
        }
    }
}
