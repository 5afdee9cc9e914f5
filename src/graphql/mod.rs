//! The GraphQL API: schema, roots, types, and the error mapping. Resolvers stay thin: they read
//! the caller and the arguments, call a service, and map its answer.

mod care;
mod delivery;
mod documents;
pub mod error;
mod guard;
pub mod limits;
mod messaging;
pub mod metrics;
mod mutation;
mod pagination;
pub mod persisted;
mod query;
mod scalars;
mod subscription;
pub mod types;

use async_graphql::{Context, MergedObject, Schema};

pub use subscription::SubscriptionRoot;

/// Reads. Every field but `__typename` needs a bearer token.
#[derive(MergedObject, Default, Debug)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    query::LifecycleQuery,
    documents::DocumentQuery,
    messaging::MessagingQuery,
    subscription::LiveQuery,
    care::CareQuery,
);

/// Writes. Each one is traced in the patient's ledger in the same transaction as its effect.
#[derive(MergedObject, Default, Debug)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mutation::LifecycleMutation,
    documents::DocumentMutation,
    messaging::MessagingMutation,
    delivery::DeliveryMutation,
    care::CareMutation,
);

/// The signed-in patient's own space: profile, activity history and ledger integrity,
/// documents and medical profile, messages. The fields that need an activated profile are
/// nullable: for a created patient each is null with an `ACTIVATION_REQUIRED` error on its
/// path, and the rest of `me` (the profile, the history) still answers.
#[derive(MergedObject, Default, Debug)]
#[graphql(name = "Me")]
pub struct Me(
    query::MeProfile,
    documents::MeDocuments,
    messaging::MeMessages,
    subscription::MeLive,
);

use crate::auth::Caller;
use crate::domain::Ins;
use crate::domain::{Actor, ActorRef};
use crate::services::Services;
use crate::services::delivery::DeliveryPort;
use std::sync::Arc;

/// The schema type served by the API.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema around the services. Every request passes [`limits::QueryGuard`] before
/// async-graphql validates it; without `open_to_authenticated` (production), introspection and
/// suggestions are off in the schema itself too.
pub fn build_schema(
    services: Services,
    delivery: Arc<dyn DeliveryPort>,
    auth: Arc<crate::auth::Authenticator>,
    limits: limits::QueryLimits,
) -> AppSchema {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(services)
    .data(delivery)
    // `linkAccount` checks the token of the account to link as the edge checks the caller's.
    .data(auth)
    .extension(error::ErrorCodes)
    // Inside ErrorCodes (the first is outermost): an error without a code yet counts as
    // BAD_USER_INPUT, which ErrorCodes then gives it. Outside the guard, to count its refusals.
    .extension(metrics::RequestMetrics)
    // The guard measures fields, aliases and cost (the complexity async-graphql would count,
    // and more) without expanding fragments; async-graphql's own depth check stays, as a
    // second look at the same limit.
    // Before the guard: a persisted query's hash becomes its text, which the guard then
    // treats as any text sent whole.
    .extension(persisted::PersistedQueries::new(limits.max_bytes))
    .extension(limits::QueryGuard::new(limits))
    .limit_depth(usize::try_from(limits.max_depth).unwrap_or(usize::MAX));
    if limits.open_to_authenticated {
        builder.finish()
    } else {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// The SDL checked in as `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    // The schema is always built with `build_schema`, which adds the services.
    ctx.data_unchecked::<Services>()
}

/// The authenticated actor; resolvers behind a [`guard::RoleGuard`] always have one.
fn actor<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Actor> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(actor)) => Ok(actor),
        other => Err(error::refused_caller(other)),
    }
}

/// The calling patient's INS and ledger reference.
fn patient<'a>(ctx: &Context<'a>) -> async_graphql::Result<(&'a Ins, ActorRef)> {
    match actor(ctx)? {
        actor @ Actor::Patient { ins, .. } => Ok((ins, actor.to_ref())),
        // A legal representative acts on the minor's profile they selected, as themselves.
        actor @ Actor::Representative { child, .. } => Ok((child, actor.to_ref())),
        _ => Err(error::forbidden("only the patient can do this")),
    }
}

/// The calling practitioner.
fn practitioner<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a crate::domain::Practitioner> {
    match actor(ctx)? {
        Actor::Practitioner(practitioner) => Ok(practitioner),
        _ => Err(error::forbidden("only a practitioner can do this")),
    }
}

/// Parses an `ID` that this API gave; anything else names nothing.
fn id_of(id: &async_graphql::ID, what: &str) -> async_graphql::Result<i64> {
    id.parse::<i64>()
        .map_err(|_| crate::services::ServiceError::NotFound(format!("no such {what}")).into())
}
