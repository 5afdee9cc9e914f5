//! A person enrolled by the health insurer and the projection of their Mon espace santé profile.

use sea_orm::entity::prelude::*;

use crate::values::{Ins, ProfileStatus, Rpps};

/// One row per enrolled person, keyed by INS.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profiles")]
pub struct Model {
    /// Identifiant National de Santé (15 characters).
    #[sea_orm(primary_key, auto_increment = false)]
    pub ins: Ins,
    pub status: ProfileStatus,
    pub birth_name: String,
    pub first_names: String,
    pub birth_date: Date,
    /// Serial number of the Carte Vitale in the insurer's registry, upper-case.
    pub carte_vitale_serial: String,
    /// The email the insurer knows, if any: where notices go before activation.
    pub insurer_email: Option<String>,
    /// Postal address lines below the name, joined by `\n`.
    pub postal_address: String,
    pub enrolled_at: DateTimeUtc,
    /// End of the opposition window.
    pub opposition_deadline: DateTimeUtc,
    pub opposed_at: Option<DateTimeUtc>,
    pub created_at: Option<DateTimeUtc>,
    pub activated_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    /// SHA-256 of the current one-time activation code (never the code itself).
    pub activation_code_hash: Option<String>,
    /// The email the patient gave at activation.
    pub personal_email: Option<String>,
    /// Wrong activation attempts since the last lock or success.
    pub failed_activation_attempts: i32,
    pub activation_locked_until: Option<DateTimeUtc>,
    /// The médecin traitant the patient designated (RPPS number): they see masked documents.
    pub medecin_traitant_rpps: Option<Rpps>,
    /// Since when.
    pub medecin_traitant_since: Option<DateTimeUtc>,
    /// Whether practitioners may open the record in an emergency ("bris de glace"); on unless
    /// the patient turned it off.
    pub emergency_access_enabled: bool,
    /// The status a closure left (CREATED or ACTIVATED): what a reopening restores.
    pub status_before_closure: Option<ProfileStatus>,
    /// When the purge sweep removed the closed record's contents (the ledger stays).
    pub purged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::ledger_event::Entity")]
    LedgerEvent,
}

impl Related<super::ledger_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LedgerEvent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
