//! An account at an identity provider, looked up by the account itself: the profile it names
//! while linked, and when it was last unlinked. Keyed by `(issuer, subject)`, not by patient: it
//! holds the one uniqueness that spans patients (an account names one profile), which a table
//! distributed by patient cannot enforce (docs/src/scale.md). Written in the transaction that
//! links or unlinks, beside the patient's [`super::account_link`] history.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_subjects")]
pub struct Model {
    /// The provider (`iss` of its tokens).
    #[sea_orm(primary_key, auto_increment = false)]
    pub issuer: String,
    /// The account there (`sub` of its tokens).
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    /// The profile it names while linked; `None` once unlinked.
    pub patient_ins: Option<Ins>,
    /// Its latest unlinking: tokens issued before are refused.
    pub unlinked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
