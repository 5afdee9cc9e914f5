//! Writes of the lifecycle. Each one is a service call: validation, ledger event, projection
//! and outbox are one transaction there.

use std::sync::Arc;

use async_graphql::{Context, Guard as _, Object};

use super::guard::RoleGuard;
use super::scalars::InsScalar;
use super::types::{
    BeneficiaryInput, CreationSweepResult, EnrolmentResult, LedgerCheckpoint, MajoritySweepResult,
    OppositionReceivedVia, Profile, PurgeSweepResult,
};
use super::{actor, error, patient, services};
use crate::auth::{Authenticator, Caller, SignedIn};
use crate::domain::ActorRole as Role;
use crate::domain::{ActorRef, ActorRole};
use crate::services::ServiceError;
use crate::services::profiles::{
    ActivationInput, BeneficiaryRow, OppositionChannel, RepresentativeRow,
};

/// Lifecycle writes.
#[derive(Debug, Default)]
pub struct LifecycleMutation;

#[Object]
impl LifecycleMutation {
    /// Signs a checkpoint of the ledger now (operators), unless no chain moved since the last
    /// one, which is then returned. `CONFLICT` when the ledger no longer holds what the last
    /// checkpoint signed (a chain truncated or rewritten): it is never signed over.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn create_ledger_checkpoint(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<LedgerCheckpoint> {
        use crate::services::checkpoints::CheckpointOutcome;
        Ok(match services(ctx).checkpoint_now().await? {
            CheckpointOutcome::Created(c) | CheckpointOutcome::Unchanged(c) => c.into(),
        })
    }

    /// Enrols beneficiaries from the insurer's registry (operators). Each new INS is ANNOUNCED
    /// with an opposition deadline and an announcement notice; a known INS is left unchanged.
    /// A malformed row fails the whole batch with `BAD_USER_INPUT` and its `index`.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn enrol_beneficiaries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The rows, at most 1000.")] beneficiaries: Vec<BeneficiaryInput>,
    ) -> async_graphql::Result<EnrolmentResult> {
        let rows: Vec<BeneficiaryRow> = beneficiaries
            .into_iter()
            .map(|b| BeneficiaryRow {
                ins: b.ins,
                birth_name: b.birth_name,
                first_names: b.first_names,
                birth_date: b.birth_date,
                carte_vitale_serial: b.carte_vitale_serial,
                insurer_email: b.insurer_email,
                address_lines: b.address_lines,
                legal_representatives: b
                    .legal_representatives
                    .into_iter()
                    .map(|r| RepresentativeRow {
                        ins: r.ins,
                        birth_name: r.birth_name,
                        first_names: r.first_names,
                        email: r.email,
                    })
                    .collect(),
            })
            .collect();
        let report = services(ctx).enrol(&actor(ctx)?.to_ref(), &rows).await?;
        Ok(EnrolmentResult {
            enrolled: report.enrolled.into_iter().map(Profile).collect(),
            already_known: report.already_known,
        })
    }

    /// Opposes the creation of one's own profile, during the opposition window (patients).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn oppose_profile_creation(&self, ctx: &Context<'_>) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        Ok(Profile(
            services(ctx)
                .oppose(&me, ins, OppositionChannel::Online)
                .await?,
        ))
    }

    /// Records an opposition received by phone or letter, on the person's behalf (operators).
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn record_opposition(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person's INS.")] ins: InsScalar,
        #[graphql(desc = "How the opposition was received.")] received_via: OppositionReceivedVia,
    ) -> async_graphql::Result<Profile> {
        let channel = match received_via {
            OppositionReceivedVia::Phone => OppositionChannel::Phone,
            OppositionReceivedVia::Letter => OppositionChannel::Letter,
        };
        Ok(Profile(
            services(ctx)
                .oppose(&actor(ctx)?.to_ref(), &ins, channel)
                .await?,
        ))
    }

    /// Withdraws one's opposition: the profile is created at once and a creation notice with
    /// an activation code is sent (patients).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn withdraw_opposition(&self, ctx: &Context<'_>) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        let (profile, _code) = services(ctx).withdraw_opposition(&me, ins).await?;
        Ok(Profile(profile))
    }

    /// Creates now every profile whose opposition window has ended, as the background sweep
    /// does periodically (operators).
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn run_creation_sweep(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<CreationSweepResult> {
        let created = services(ctx).create_due_profiles().await?;
        Ok(CreationSweepResult {
            created: created.into_iter().map(|c| InsScalar(c.ins)).collect(),
        })
    }

    /// Activates one's created profile with the code of the creation notice and the serial
    /// number of one's Carte Vitale, and records one's personal email (patients). Wrong
    /// attempts are counted; too many lock activation for a while. Signed in with an identity
    /// provider's account that no profile is linked to yet (`ACCOUNT_NOT_LINKED` elsewhere),
    /// give `ins`: the same proof binds that account to the profile (`ACCOUNT_LINKED` in its
    /// history), or the activation is refused with `CONFLICT` if the account is linked to
    /// another profile, or the profile to another account at that provider.
    async fn activate_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The INS of the profile to activate: required when signed in with an account not linked yet; otherwise, if given, the signed-in patient's own."
        )]
        ins: Option<InsScalar>,
        #[graphql(desc = "The code printed in the creation notice (XXXX-XXXX-XXXX).")]
        activation_code: String,
        #[graphql(desc = "The serial number printed on the Carte Vitale.")]
        carte_vitale_serial: String,
        #[graphql(desc = "Where to send notifications from now on.")] personal_email: String,
    ) -> async_graphql::Result<Profile> {
        let input = ActivationInput {
            activation_code,
            carte_vitale_serial,
            personal_email,
        };
        if let Some(Caller::Unlinked(account)) = ctx.data_opt::<Caller>() {
            let ins = ins.ok_or_else(|| {
                error::bad_user_input(
                    "give the INS of the profile to activate: this sign-in account is not \
                     linked to one yet",
                )
            })?;
            let me = ActorRef {
                role: ActorRole::Patient,
                id: ins.to_string(),
                name: account.name.clone(),
                profession: None,
            };
            // One answer for every refusal but a taken account: a sign-in account that names
            // no one yet must not learn, INS by INS, who is enrolled, opposed or activated.
            return match services(ctx)
                .activate(&me, &ins, &input, Some(account))
                .await
            {
                Ok(profile) => Ok(Profile(profile)),
                Err(err @ (ServiceError::Conflict(_) | ServiceError::Unavailable(_))) => {
                    Err(err.into())
                }
                Err(ServiceError::Internal(internal)) => {
                    Err(ServiceError::Internal(internal).into())
                }
                Err(_) => Err(error::coded(
                    error::ErrorCode::InvalidActivation,
                    "this profile cannot be activated with this INS, activation code and Carte \
                     Vitale serial"
                        .to_owned(),
                )),
            };
        }
        RoleGuard::new(&[Role::Patient]).check(ctx).await?;
        let (own, me) = patient(ctx)?;
        if ins.as_ref().is_some_and(|ins| &ins.0 != own) {
            return Err(error::forbidden(
                "a patient activates their own profile (a minor's, selected with X-Acting-For)",
            ));
        }
        Ok(Profile(
            services(ctx).activate(&me, own, &input, None).await?,
        ))
    }

    /// Links another identity provider's account to one's own activated profile (patients; a
    /// legal representative acting for a minor may not: `FORBIDDEN`): sign
    /// in with that provider, and pass its token here, signed in with an account already
    /// linked (or your INS-bearing token). From then on that account's tokens are yours.
    /// `CONFLICT` if it is linked to another profile, or if you already have an account at that
    /// provider (unlink it first). In your history as `ACCOUNT_LINKED`.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn link_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A token of the account to link, from its provider (not stored).")]
        account_token: String,
    ) -> async_graphql::Result<bool> {
        let (ins, me) = own_profile(ctx)?;
        let account = match ctx
            .data_unchecked::<Arc<Authenticator>>()
            .authenticate(account_token.trim())
            .await
        {
            Ok(SignedIn::Account(account)) => account,
            Ok(SignedIn::Actor(_)) => {
                return Err(error::bad_user_input(
                    "this token is not a patient's account at a provider that links accounts",
                ));
            }
            Err(reason) => {
                return Err(error::bad_user_input(format!(
                    "the account's token is refused: {reason}"
                )));
            }
        };
        // A token its provider issued before the account was unlinked binds nothing, as it
        // signs nothing in.
        if services(ctx).linked_patient(&account).await? == crate::services::Linked::UnlinkedSince {
            return Err(error::bad_user_input(
                "the account's token was issued before the account was unlinked: sign in with it again",
            ));
        }
        services(ctx).link_account(&me, ins, &account).await?;
        Ok(true)
    }

    /// Unlinks one's account at an identity provider (patients, for their own profile): its
    /// tokens, even those issued before, are refused from now on. `NOT_FOUND` if none is linked
    /// there; `CONFLICT` for the last account linked (link another first: without one, nobody
    /// could sign in as you). In your history as `ACCOUNT_UNLINKED`.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn unlink_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider's issuer (its tokens' `iss`).")] issuer: String,
    ) -> async_graphql::Result<bool> {
        let (ins, me) = own_profile(ctx)?;
        services(ctx)
            .unlink_account(&me, ins, issuer.trim())
            .await?;
        Ok(true)
    }

    /// Closes one's created or activated profile (patients).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn close_profile(&self, ctx: &Context<'_>) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        Ok(Profile(services(ctx).close(&me, ins).await?))
    }

    /// Reopens one's closed profile within its retention period (10 years by default): back to
    /// the status it had, with a new activation code by notice if it was only created
    /// (patients). After the retention, `INVALID_TRANSITION`.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn reopen_profile(&self, ctx: &Context<'_>) -> async_graphql::Result<Profile> {
        let (ins, me) = patient(ctx)?;
        Ok(Profile(services(ctx).reopen(&me, ins).await?))
    }

    /// Reopens a closed profile at the person's request, as `reopenProfile` does (operators).
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn reopen_beneficiary_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The person's INS.")] ins: InsScalar,
    ) -> async_graphql::Result<Profile> {
        Ok(Profile(
            services(ctx).reopen(&actor(ctx)?.to_ref(), &ins).await?,
        ))
    }

    /// Ends now the legal representatives' access of every person who turned 18, as the
    /// background sweep does with the creation sweep (operators). Each end is traced
    /// (`REPRESENTATION_ENDED`); a profile a representative activated goes back to CREATED, with
    /// a new activation code for the young adult.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn run_majority_sweep(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<MajoritySweepResult> {
        let ended = services(ctx).end_representations_at_majority().await?;
        Ok(MajoritySweepResult {
            ended: ended.into_iter().map(InsScalar).collect(),
        })
    }

    /// Purges now every closed profile whose retention period has ended, as the background
    /// sweep does periodically (operators): documents' contents, message bodies and the medical
    /// profile are deleted; the ledger stays, with a `PROFILE_PURGED` event.
    #[graphql(guard = "RoleGuard::new(&[Role::Operator])")]
    async fn run_purge_sweep(&self, ctx: &Context<'_>) -> async_graphql::Result<PurgeSweepResult> {
        let purged = services(ctx).purge_due_profiles().await?;
        Ok(PurgeSweepResult {
            purged: purged.into_iter().map(InsScalar).collect(),
        })
    }
}

/// The signed-in patient acting on their own profile: a legal representative acting for a
/// minor may not change how the minor signs in.
fn own_profile<'a>(ctx: &Context<'a>) -> async_graphql::Result<(&'a crate::domain::Ins, ActorRef)> {
    match actor(ctx)? {
        actor @ crate::domain::Actor::Patient { ins, .. } => Ok((ins, actor.to_ref())),
        _ => Err(error::forbidden(
            "only the patient links or unlinks the accounts they sign in with, for their own profile",
        )),
    }
}
