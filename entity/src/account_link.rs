//! A patient's sign-in account at an identity provider, bound to their profile at activation
//! (or added later), until unlinked.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_ins: Ins,
    /// The provider (`iss` of its tokens).
    #[sea_orm(primary_key, auto_increment = false)]
    pub issuer: String,
    /// The account there (`sub` of its tokens).
    pub subject: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub linked_at: DateTimeUtc,
    /// When the patient unlinked it; tokens issued before are refused from then on.
    pub unlinked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
