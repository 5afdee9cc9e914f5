//! Patients' sign-in accounts at identity providers that do not know their INS (FranceConnect
//! and the like). Activation binds the account the patient signed in with to the profile the
//! activation code and the Carte Vitale proved; from then on that account's tokens are the
//! patient's. A linked patient adds another provider's account with that account's token, and
//! unlinks one; each binding, unbinding and refused binding is in their ledger.
//!
//! While linked, an account (`issuer`, `subject`) names one profile, and a profile has one
//! account per issuer: a second binding is refused (`CONFLICT`), traced in the profile it would
//! have reached, and the binding it would have replaced stays as it was.
//!
//! The patient's links are their history (`account_links`, keyed by patient); whom an account
//! names now is looked up by the account (`account_subjects`, keyed by issuer and subject, and
//! written in the same transaction): the one uniqueness that spans patients has a table of its
//! own, so that the patient tables can be distributed by patient (docs/src/scale.md).

use entity::{account_link, account_subject};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use sha2::{Digest, Sha256};

use super::patient_tx::PatientTx;
use super::{ServiceError, Services};
use crate::domain::access::Access;
use crate::domain::events::{AccountLinkRefused, AccountRef, LinkConflict};
use crate::domain::{ActorRef, Event, Ins, ProviderAccount};

/// Whom a provider account names now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// This patient.
    To(Ins),
    /// No one: the account may activate a profile, nothing else.
    Nothing,
    /// The token was issued before the account was unlinked: refused.
    UnlinkedSince,
}

impl Services {
    /// Whom `account` names (read at the edge for each request, before any unit of work, as
    /// [`Self::represents`] is).
    pub async fn linked_patient(&self, account: &ProviderAccount) -> Result<Linked, ServiceError> {
        let Some(row) =
            account_subject::Entity::find_by_id((account.issuer.clone(), account.subject.clone()))
                .one(&self.db)
                .await?
        else {
            return Ok(Linked::Nothing);
        };
        // The latest unlinking is enough: a token issued before any unlinking was issued
        // before the latest.
        if row
            .unlinked_at
            .is_some_and(|at| account.issued_at <= at.timestamp())
        {
            return Ok(Linked::UnlinkedSince);
        }
        Ok(row.patient_ins.map_or(Linked::Nothing, Linked::To))
    }

    /// Binds `account` to the signed-in patient's activated profile (`linkAccount`).
    #[tracing::instrument(skip_all)]
    pub async fn link_account(
        &self,
        actor: &ActorRef,
        ins: &Ins,
        account: &ProviderAccount,
    ) -> Result<(), ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        if let Err(refused) = bind(&mut tx, actor, account).await? {
            return Err(tx.refuse(refused).await);
        }
        tx.commit().await
    }

    /// Unbinds the patient's account at `issuer` (`unlinkAccount`): its tokens, even those
    /// issued before, are refused from now on.
    #[tracing::instrument(skip_all)]
    pub async fn unlink_account(
        &self,
        actor: &ActorRef,
        ins: &Ins,
        issuer: &str,
    ) -> Result<(), ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let linked = active_link(&tx, ins, issuer).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("no account at {issuer} is linked to this profile"))
        })?;
        let linked_accounts = account_link::Entity::find()
            .filter(account_link::Column::PatientIns.eq(ins.as_str()))
            .filter(account_link::Column::UnlinkedAt.is_null())
            .count(tx.conn())
            .await?;
        if linked_accounts <= 1 {
            return Err(tx
                .refuse(ServiceError::Conflict(
                    "this is the last account you sign in with: link another first \
                     (linkAccount), or nobody could sign in as you"
                        .to_owned(),
                ))
                .await);
        }
        let account = account_digest(&linked.issuer, &linked.subject);
        account_subject::Entity::update_many()
            .col_expr(
                account_subject::Column::PatientIns,
                Expr::value(Option::<String>::None),
            )
            .col_expr(account_subject::Column::UnlinkedAt, Expr::value(tx.now()))
            .filter(account_subject::Column::Issuer.eq(linked.issuer.as_str()))
            .filter(account_subject::Column::Subject.eq(linked.subject.as_str()))
            .exec(tx.conn())
            .await?;
        let mut row = linked.into_active_model();
        row.unlinked_at = Set(Some(tx.now()));
        row.update(tx.conn()).await?;
        let unlinked = AccountRef {
            issuer: issuer.to_owned(),
            account,
        };
        tx.record(actor, Event::AccountUnlinked(unlinked)).await?;
        tx.commit().await
    }
}

/// What binding `account` to the profile of a unit of work would do.
pub(super) enum Binding {
    /// Bind it ([`link`]).
    New,
    /// It is bound here already: nothing changes.
    Already,
    /// It may not be bound ([`refuse`]).
    Refused(Conflict),
}

/// Binds `account` to the profile of `tx` if it may be, recording the binding or the
/// refusal; the refusal's error is the caller's to give once it committed what was recorded.
pub(super) async fn bind(
    tx: &mut PatientTx<'_>,
    actor: &ActorRef,
    account: &ProviderAccount,
) -> Result<Result<(), ServiceError>, ServiceError> {
    match binding(tx, account).await? {
        Binding::New => link(tx, actor, account).await.map(Ok),
        Binding::Already => Ok(Ok(())),
        Binding::Refused(conflict) => refuse(tx, actor, account, conflict).await.map(Err),
    }
}

/// Records the binding of `account` to the profile of `tx` (one [`binding`] said `New`).
pub(super) async fn link(
    tx: &mut PatientTx<'_>,
    actor: &ActorRef,
    account: &ProviderAccount,
) -> Result<(), ServiceError> {
    account_link::ActiveModel {
        patient_ins: Set(tx.ins().clone()),
        issuer: Set(account.issuer.clone()),
        subject: Set(account.subject.clone()),
        linked_at: Set(tx.now()),
        unlinked_at: Set(None),
    }
    .insert(tx.conn())
    .await?;
    // The account names this profile, unless another took it since [`binding`] looked (a
    // concurrent binding: it waits for that one to commit, then finds it linked).
    let named = account_subject::Entity::insert(account_subject::ActiveModel {
        issuer: Set(account.issuer.clone()),
        subject: Set(account.subject.clone()),
        patient_ins: Set(Some(tx.ins().clone())),
        unlinked_at: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            account_subject::Column::Issuer,
            account_subject::Column::Subject,
        ])
        .update_column(account_subject::Column::PatientIns)
        .action_and_where(account_subject::Column::PatientIns.is_null())
        .to_owned(),
    )
    .exec_without_returning(tx.conn())
    .await?;
    if named == 0 {
        return Err(ServiceError::Conflict(ACCOUNT_TAKEN.to_owned()));
    }
    let linked = AccountRef {
        issuer: account.issuer.clone(),
        account: account_digest(&account.issuer, &account.subject),
    };
    tx.record(actor, Event::AccountLinked(linked)).await?;
    Ok(())
}

/// Records a refused binding; the error the caller gets: `CONFLICT`.
pub(super) async fn refuse(
    tx: &mut PatientTx<'_>,
    actor: &ActorRef,
    account: &ProviderAccount,
    conflict: Conflict,
) -> Result<ServiceError, ServiceError> {
    let refused = AccountLinkRefused {
        issuer: account.issuer.clone(),
        account: account_digest(&account.issuer, &account.subject),
        conflict: conflict.kind,
    };
    tx.record(actor, Event::AccountLinkRefused(refused)).await?;
    Ok(ServiceError::Conflict(conflict.message))
}

/// What a patient is told when the account names another profile.
const ACCOUNT_TAKEN: &str = "this sign-in account is already linked to another profile";

/// A binding refused, and what the caller is told.
pub(super) struct Conflict {
    kind: LinkConflict,
    message: String,
}

/// What binding `account` to the profile of `tx` would do: refused when the account names
/// another profile, or the profile has another account at that issuer.
pub(super) async fn binding(
    tx: &PatientTx<'_>,
    account: &ProviderAccount,
) -> Result<Binding, ServiceError> {
    let by_account =
        account_subject::Entity::find_by_id((account.issuer.clone(), account.subject.clone()))
            .one(tx.conn())
            .await?
            .and_then(|row| row.patient_ins);
    if by_account.is_some_and(|ins| &ins != tx.ins()) {
        return Ok(Binding::Refused(Conflict {
            kind: LinkConflict::AccountTaken,
            message: ACCOUNT_TAKEN.to_owned(),
        }));
    }
    Ok(match active_link(tx, tx.ins(), &account.issuer).await? {
        None => Binding::New,
        Some(row) if row.subject == account.subject => Binding::Already,
        Some(_) => Binding::Refused(Conflict {
            kind: LinkConflict::IssuerTaken,
            message: "this profile already has a sign-in account at this provider: unlink it \
                      first (unlinkAccount), signed in with it or another linked account"
                .to_owned(),
        }),
    })
}

/// The account the profile `ins` is linked to at `issuer`, if one.
async fn active_link(
    tx: &PatientTx<'_>,
    ins: &Ins,
    issuer: &str,
) -> Result<Option<account_link::Model>, ServiceError> {
    Ok(account_link::Entity::find()
        .filter(account_link::Column::PatientIns.eq(ins.as_str()))
        .filter(account_link::Column::Issuer.eq(issuer))
        .filter(account_link::Column::UnlinkedAt.is_null())
        .one(tx.conn())
        .await?)
}

/// How the chain names an account: SHA-256 of its issuer and subject, length-prefixed.
fn account_digest(issuer: &str, subject: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(crate::domain::content::length_prefixed(&[issuer, subject]));
    crate::domain::content::hex(&hasher.finalize())
}
