//! One entry of a patient's medical profile (allergy, treatment, history, vaccination).

use sea_orm::entity::prelude::*;

use crate::values::{Ins, MedicalCategory};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "medical_profile_entries")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    /// ALLERGY, TREATMENT, HISTORY or VACCINATION.
    pub category: MedicalCategory,
    pub label: String,
    pub details: Option<String>,
    /// Since when (or, for a vaccination, when).
    pub since: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
