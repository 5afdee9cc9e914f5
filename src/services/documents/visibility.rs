//! Which documents of a record a practitioner sees: the rule of [`domain::visibility`] as one
//! query filter, and the reader it applies to (their profession, and whether they see masked
//! documents as the médecin traitant or in an emergency access); and which the patient's own
//! space shows to the patient or their legal representative ([`visible_in_space`]).
//!
//! Every practitioner read of documents filters with [`visible_to`]: lists, pages and reads by
//! id, so that a document they may not read is absent, exactly as if it did not exist.
//!
//! [`domain::visibility`]: crate::domain::visibility

use entity::{document, emergency_access};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use crate::domain::Practitioner;
use crate::domain::visibility::{MaskedAccess, Reader, Viewer, readable_types};
use crate::services::ServiceError;
use crate::services::patient_tx::PatientTx;

/// The reader `practitioner` is in this unit of work on the patient's record.
pub(crate) async fn reader(
    tx: &PatientTx<'_>,
    practitioner: &Practitioner,
) -> Result<Reader, ServiceError> {
    let profile = tx.enrolled()?;
    let masked = if profile.medecin_traitant_rpps.as_ref() == Some(&practitioner.rpps) {
        MaskedAccess::MedecinTraitant
    } else if emergency_holder(tx, practitioner).await? {
        MaskedAccess::Emergency
    } else {
        MaskedAccess::Hidden
    };
    Ok(Reader {
        rpps: practitioner.rpps.to_string(),
        profession: Some(practitioner.profession_code),
        masked,
    })
}

/// Whether `practitioner` holds an emergency access to the record that has not expired.
pub(crate) async fn emergency_holder(
    tx: &PatientTx<'_>,
    practitioner: &Practitioner,
) -> Result<bool, ServiceError> {
    // A consultation read it with its admission, in the same round trip
    // (docs/src/performance.md).
    if let Some(known) = tx.known_emergency_holder() {
        return Ok(known);
    }
    Ok(emergency_access::Entity::find()
        .select_only()
        .column(emergency_access::Column::Id)
        .filter(emergency_access::Column::PatientIns.eq(tx.ins().clone()))
        .filter(emergency_access::Column::PractitionerRpps.eq(practitioner.rpps.clone()))
        .filter(emergency_access::Column::ExpiresAt.gt(tx.now()))
        .into_tuple::<i64>()
        .one(tx.conn())
        .await?
        .is_some())
}

/// The documents `reader` sees, as a query filter: [`crate::domain::visibility::may_read`].
pub(crate) fn visible_to(reader: &Reader) -> Condition {
    let mut by_right =
        Condition::all().add(document::Column::TypeCode.is_in(readable_types(reader.profession)));
    if !reader.masked.shows_masked() {
        by_right = by_right.add(document::Column::Masked.eq(false));
    }
    Condition::any()
        .add(document::Column::AuthorId.eq(reader.rpps.as_str()))
        .add(by_right)
}

/// The documents of the patient's own space that `viewer` sees, as a query filter:
/// [`crate::domain::visibility::may_see`] (not held back; for a representative, not secret
/// from them either).
pub(crate) fn visible_in_space(viewer: Viewer) -> Condition {
    let condition = Condition::all().add(document::Column::HeldBack.eq(false));
    match viewer {
        Viewer::Patient => condition,
        Viewer::Representative => {
            condition.add(document::Column::SecretFromRepresentatives.eq(false))
        }
    }
}
