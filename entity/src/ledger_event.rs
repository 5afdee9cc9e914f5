//! The append-only, hash-chained ledger of everything that happens to a patient's profile.
//! The database refuses UPDATE, DELETE and TRUNCATE on this table.

use sea_orm::entity::prelude::*;

use crate::values::{ActorRole, EventKind, Ins};

/// One event of one patient's chain.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_events")]
pub struct Model {
    /// Global insertion order, across patients.
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    /// Gapless per-patient sequence, from 1.
    pub seq: i64,
    pub occurred_at: DateTimeUtc,
    pub kind: EventKind,
    pub actor_role: ActorRole,
    pub actor_id: String,
    pub actor_name: String,
    /// Practitioners' profession (médecin, infirmier, …); empty for other actors.
    pub actor_profession: String,
    /// Kind-specific details, compact JSON, hashed as stored.
    pub payload: String,
    /// Hash of the previous event of this patient (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over the canonical encoding documented in docs/src/ledger-encoding.md.
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::profile::Entity",
        from = "Column::PatientIns",
        to = "super::profile::Column::Ins"
    )]
    Profile,
}

impl Related<super::profile::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Profile.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
