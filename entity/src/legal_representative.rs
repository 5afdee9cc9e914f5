//! A legal representative of a minor: acts on the minor's profile as themselves, until the minor
//! turns 18.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_representatives")]
pub struct Model {
    // PostgreSQL's key is (child_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The minor.
    pub child_ins: Ins,
    /// The representative's own INS (they sign in with it).
    pub representative_ins: Ins,
    pub birth_name: String,
    pub first_names: String,
    /// Where the representative's notices go, if the insurer knows an address.
    pub email: Option<String>,
    pub enrolled_at: DateTimeUtc,
    /// When the representation ended (the minor's 18th birthday, by the majority sweep).
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
