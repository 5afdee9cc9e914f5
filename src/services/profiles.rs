//! The profile lifecycle: enrolment, opposition, creation, activation, closing.

use chrono::NaiveDate;
use entity::{legal_representative, profile};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, sea_query::OnConflict,
};

use super::patient_tx::PatientTx;
use super::views::Profile;
use super::{ServiceError, Services};
use crate::domain::access::Access;
use crate::domain::events::{
    ActivationFailed, ActivationRefusal, Closed, Enrolled, LockedAttempt, Opposed, Reopened,
};
use crate::domain::lifecycle::{self, ActivationOutcome, ActivationPolicy, Credentials};
use crate::domain::minors;
use crate::domain::{
    ActivationCode, ActorRef, AddressLines, CarteVitaleSerial, Email, Event, Ins, PersonName,
    ProfileStatus, ProviderAccount,
};

/// Most rows one enrolment batch may carry.
pub const MAX_BATCH: usize = 1000;

/// One row of an enrolment batch, as received.
#[derive(Debug, Clone)]
pub struct BeneficiaryRow {
    pub ins: String,
    pub birth_name: String,
    pub first_names: String,
    pub birth_date: NaiveDate,
    pub carte_vitale_serial: String,
    pub insurer_email: Option<String>,
    pub address_lines: Vec<String>,
    /// For a minor: one or two legal representatives; for an adult: none.
    pub legal_representatives: Vec<RepresentativeRow>,
}

/// A legal representative of a minor, as received.
#[derive(Debug, Clone)]
pub struct RepresentativeRow {
    pub ins: String,
    pub birth_name: String,
    pub first_names: String,
    pub email: Option<String>,
}

/// A representative once parsed.
#[derive(Debug)]
struct Representative {
    ins: Ins,
    birth_name: PersonName,
    first_names: PersonName,
    email: Option<Email>,
}

/// A row once parsed.
#[derive(Debug)]
struct Beneficiary {
    ins: Ins,
    birth_name: PersonName,
    first_names: PersonName,
    birth_date: NaiveDate,
    carte_vitale_serial: CarteVitaleSerial,
    insurer_email: Option<Email>,
    address: AddressLines,
    representatives: Vec<Representative>,
}

/// What an enrolment batch did.
#[derive(Debug, Default)]
pub struct EnrolmentReport {
    /// Profiles announced by this batch.
    pub enrolled: Vec<Profile>,
    /// INS already known, left as they were.
    pub already_known: Vec<String>,
}

pub use crate::domain::events::OppositionChannel;

/// A profile created by the sweep (or by a withdrawal), with the code its notice carries.
#[derive(Debug)]
pub struct CreatedProfile {
    pub ins: Ins,
    pub activation_code: ActivationCode,
}

/// What a patient types to activate.
#[derive(Debug)]
pub struct ActivationInput {
    pub activation_code: String,
    pub carte_vitale_serial: String,
    pub personal_email: String,
}

fn parse_row(row: &BeneficiaryRow, today: NaiveDate) -> Result<Beneficiary, ServiceError> {
    let field = |name: &'static str| {
        move |e: crate::domain::ParseError| ServiceError::bad_input(name, e.to_string())
    };
    let earliest = NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(NaiveDate::MIN);
    if row.birth_date > today || row.birth_date < earliest {
        return Err(ServiceError::bad_input(
            "birthDate",
            "the birth date must be between 1880-01-01 and today",
        ));
    }
    minors::check_representatives(row.birth_date, today, row.legal_representatives.len())
        .map_err(|message| ServiceError::bad_input("legalRepresentatives", message))?;
    let ins = Ins::parse(&row.ins).map_err(field("ins"))?;
    let mut representatives = Vec::with_capacity(row.legal_representatives.len());
    for rep in &row.legal_representatives {
        let representative = Representative {
            ins: Ins::parse(&rep.ins).map_err(field("legalRepresentatives"))?,
            birth_name: PersonName::parse(&rep.birth_name, "the birth name")
                .map_err(field("legalRepresentatives"))?,
            first_names: PersonName::parse(&rep.first_names, "the first names")
                .map_err(field("legalRepresentatives"))?,
            email: rep
                .email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .map(Email::parse)
                .transpose()
                .map_err(field("legalRepresentatives"))?,
        };
        if representative.ins == ins
            || representatives
                .iter()
                .any(|r: &Representative| r.ins == representative.ins)
        {
            return Err(ServiceError::bad_input(
                "legalRepresentatives",
                "a representative is another person than the minor, and given once",
            ));
        }
        representatives.push(representative);
    }
    Ok(Beneficiary {
        ins,
        representatives,
        birth_name: PersonName::parse(&row.birth_name, "the birth name")
            .map_err(field("birthName"))?,
        first_names: PersonName::parse(&row.first_names, "the first names")
            .map_err(field("firstNames"))?,
        birth_date: row.birth_date,
        carte_vitale_serial: CarteVitaleSerial::parse(&row.carte_vitale_serial)
            .map_err(field("carteVitaleSerial"))?,
        insurer_email: row
            .insurer_email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(Email::parse)
            .transpose()
            .map_err(field("insurerEmail"))?,
        address: AddressLines::parse(&row.address_lines).map_err(field("addressLines"))?,
    })
}

/// Reads the profile row and locks it for the rest of the transaction (SQLite has no row locks;
/// there the single writer connection serialises transactions). Every unit of work on a patient
/// starts here; so does the postal statement, which must not race a status change.
pub async fn lock_profile(
    conn: &impl ConnectionTrait,
    ins: &Ins,
) -> Result<Option<profile::Model>, ServiceError> {
    Ok(profile::Entity::find_by_id(ins.clone())
        .lock_exclusive()
        .one(conn)
        .await?)
}

/// What the lifecycle's rules read of a stored profile.
pub(super) fn facts_of(profile: &profile::Model) -> Result<lifecycle::ProfileFacts, ServiceError> {
    Ok(lifecycle::ProfileFacts {
        status: profile.status,
        opposition_deadline: profile.opposition_deadline,
        failed_activation_attempts: profile.failed_activation_attempts,
        activation_locked_until: profile.activation_locked_until,
        closed_at: profile.closed_at,
        // Closed before the column existed: its activation date tells what it was.
        status_before_closure: profile.status_before_closure.or(Some(
            if profile.activated_at.is_some() {
                ProfileStatus::Activated
            } else {
                ProfileStatus::Created
            },
        )),
        purged_at: profile.purged_at,
    })
}

fn no_profile() -> ServiceError {
    ServiceError::NotFound("no Mon espace santé enrolment is known for this INS".to_owned())
}

impl Services {
    /// Enrols a batch of beneficiaries from the insurer's registry: each new INS is announced,
    /// with its opposition deadline and an announcement notice; a known INS is left as it is.
    /// Every row is checked before anything is written, and the batch is one transaction.
    #[tracing::instrument(skip_all, fields(batch.size = rows.len()))]
    pub async fn enrol(
        &self,
        operator: &ActorRef,
        rows: &[BeneficiaryRow],
    ) -> Result<EnrolmentReport, ServiceError> {
        if rows.is_empty() || rows.len() > MAX_BATCH {
            return Err(ServiceError::bad_input(
                "beneficiaries",
                format!("a batch has 1 to {MAX_BATCH} rows"),
            ));
        }
        let now = self.clock.now();
        let parsed = rows
            .iter()
            .enumerate()
            .map(|(index, row)| {
                parse_row(row, now.date_naive()).map_err(|e| match e {
                    ServiceError::BadInput { message, field, .. } => ServiceError::BadInput {
                        message: format!("row {index}: {message}"),
                        field,
                        index: Some(index),
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let enrolment = lifecycle::enrol(now, self.policy.opposition_window);
        let deadline = enrolment.opposition_deadline;
        let batch = self.batch().await?;
        let mut report = EnrolmentReport::default();
        for person in parsed {
            let mut tx = batch.patient_tx(&person.ins, Access::Any).await?;
            let row = profile::ActiveModel {
                ins: Set(person.ins.clone()),
                status: Set(enrolment.status),
                birth_name: Set(person.birth_name.as_str().to_owned()),
                first_names: Set(person.first_names.as_str().to_owned()),
                birth_date: Set(person.birth_date),
                carte_vitale_serial: Set(person.carte_vitale_serial.as_str().to_owned()),
                insurer_email: Set(person.insurer_email.map(|e| e.as_str().to_owned())),
                postal_address: Set(person.address.to_stored()),
                enrolled_at: Set(now),
                opposition_deadline: Set(deadline),
                opposed_at: Set(None),
                created_at: Set(None),
                activated_at: Set(None),
                closed_at: Set(None),
                activation_code_hash: Set(None),
                personal_email: Set(None),
                failed_activation_attempts: Set(0),
                activation_locked_until: Set(None),
                medecin_traitant_rpps: Set(None),
                medecin_traitant_since: Set(None),
                emergency_access_enabled: Set(true),
                status_before_closure: Set(None),
                purged_at: Set(None),
            };
            // Insert-if-absent keeps re-enrolment idempotent, also against a concurrent batch.
            let inserted = profile::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(profile::Column::Ins)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(tx.conn())
                .await?;
            if inserted == 0 {
                report.already_known.push(person.ins.to_string());
                tx.commit().await?;
                continue;
            }
            let profile = lock_profile(tx.conn(), &person.ins)
                .await?
                .ok_or_else(no_profile)?;
            for rep in &person.representatives {
                legal_representative::Entity::insert(legal_representative::ActiveModel {
                    id: sea_orm::ActiveValue::NotSet,
                    child_ins: Set(person.ins.clone()),
                    representative_ins: Set(rep.ins.clone()),
                    birth_name: Set(rep.birth_name.as_str().to_owned()),
                    first_names: Set(rep.first_names.as_str().to_owned()),
                    email: Set(rep.email.as_ref().map(|e| e.as_str().to_owned())),
                    enrolled_at: Set(now),
                    ended_at: Set(None),
                })
                .exec_without_returning(tx.conn())
                .await?;
            }
            let profile = tx.updated(profile)?.clone();
            let enrolled = Enrolled {
                opposition_deadline: deadline,
                legal_representatives: Some(
                    person
                        .representatives
                        .iter()
                        .map(|rep| rep.ins.to_string())
                        .collect(),
                ),
            };
            tx.record(operator, Event::BeneficiaryEnrolled(enrolled))
                .await?;
            tx.commit().await?;
            report.enrolled.push(profile.into());
        }
        batch.commit().await?;
        tracing::info!(
            enrolled = report.enrolled.len(),
            already_known = report.already_known.len(),
            "beneficiaries enrolled"
        );
        Ok(report)
    }

    /// A profile by INS, for the operator or the patient themself.
    pub async fn profile(&self, ins: &Ins) -> Result<Profile, ServiceError> {
        profile::Entity::find_by_id(ins.clone())
            .one(&self.db)
            .await?
            .map(Into::into)
            .ok_or_else(no_profile)
    }

    /// Records an opposition, by the patient online or by an operator on their behalf. Only
    /// while the profile is announced and the window open.
    #[tracing::instrument(skip_all, fields(opposition.channel = channel.as_str()))]
    pub async fn oppose(
        &self,
        actor: &ActorRef,
        ins: &Ins,
        channel: OppositionChannel,
    ) -> Result<Profile, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::Enrolment).await?;
        let current = tx.enrolled()?.clone();
        let opposition = lifecycle::oppose(&facts_of(&current)?, tx.now())?;
        let mut row = current.into_active_model();
        row.status = Set(opposition.status);
        row.opposed_at = Set(Some(opposition.opposed_at));
        let updated = tx.updated(row.update(tx.conn()).await?)?.clone();
        tx.record(actor, Event::OppositionRecorded(Opposed { channel }))
            .await?;
        tx.commit().await?;
        Ok(updated.into())
    }

    /// Withdraws an opposition: the profile is created at once, with its activation code.
    #[tracing::instrument(skip_all)]
    pub async fn withdraw_opposition(
        &self,
        actor: &ActorRef,
        ins: &Ins,
    ) -> Result<(Profile, ActivationCode), ServiceError> {
        let mut tx = self.patient_tx(ins, Access::Enrolment).await?;
        let creation = lifecycle::withdraw_opposition(&facts_of(tx.enrolled()?)?, tx.now())?;
        tx.record(actor, Event::OppositionWithdrawn).await?;
        let (created, code) = create_profile(&mut tx, creation).await?;
        tx.commit().await?;
        Ok((created.into(), code))
    }

    /// Creates every announced profile whose opposition window has ended, each in its own
    /// transaction (one failure does not hold back the others' creation).
    #[tracing::instrument(skip_all)]
    pub async fn create_due_profiles(&self) -> Result<Vec<CreatedProfile>, ServiceError> {
        let now = self.clock.now();
        let due: Vec<String> = profile::Entity::find()
            .select_only()
            .column(profile::Column::Ins)
            .filter(profile::Column::Status.eq(ProfileStatus::Announced.as_str()))
            .filter(profile::Column::OppositionDeadline.lte(now))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut created = Vec::with_capacity(due.len());
        for ins in due {
            let ins = Ins::parse(&ins)
                .map_err(|e| ServiceError::internal_from("stored INS is invalid", e))?;
            let mut tx = self.patient_tx(&ins, Access::Enrolment).await?;
            // Re-read under the lock: an opposition may have landed since the listing.
            let Ok(creation) = lifecycle::sweep(&facts_of(tx.enrolled()?)?, tx.now()) else {
                continue;
            };
            let (_, activation_code) = create_profile(&mut tx, creation).await?;
            tx.commit().await?;
            created.push(CreatedProfile {
                ins,
                activation_code,
            });
        }
        if !created.is_empty() {
            tracing::info!(
                created = created.len(),
                "profiles created at the end of their opposition window"
            );
        }
        Ok(created)
    }

    /// Activates a created profile with the code of its notice and the Carte Vitale serial.
    /// Every attempt, right or wrong, is in the ledger; too many wrong ones lock activation.
    #[tracing::instrument(skip_all)]
    pub async fn activate(
        &self,
        actor: &ActorRef,
        ins: &Ins,
        input: &ActivationInput,
        account: Option<&ProviderAccount>,
    ) -> Result<Profile, ServiceError> {
        // Parsed now, refused only once the attempt is in the ledger: every attempt is traced.
        let parsed = parse_activation(input);
        let mut tx = self.patient_tx(ins, Access::Enrolment).await?;
        // A minor's profile is activated by a representative selecting it: a sign-in account
        // of theirs must never become the minor's own identity (it would see what is secret
        // from them, and outlive their representation). Refused before anything is counted.
        if account.is_some() && tx.has_representatives().await? {
            return Err(ServiceError::Forbidden(
                "a minor's profile is activated by a legal representative selecting it \
                 (X-Acting-For), signed in with their own linked account"
                    .to_owned(),
            ));
        }
        let current = tx.enrolled()?.clone();
        let facts = facts_of(&current)?;
        let credentials = match parsed {
            Err(err) => Credentials::Malformed(err),
            Ok((code, serial, personal_email)) => {
                let code_matches =
                    current.activation_code_hash.as_deref() == Some(code.hash_for(ins).as_str());
                let serial_matches = current.carte_vitale_serial == serial.as_str();
                if code_matches && serial_matches {
                    Credentials::Right { personal_email }
                } else {
                    Credentials::Wrong
                }
            }
        };
        let policy = ActivationPolicy {
            max_attempts: self.policy.max_activation_attempts,
            lockout: self.policy.activation_lockout,
        };
        let activation = match lifecycle::activation_attempt(&facts, tx.now(), credentials, &policy)
        {
            // Traced, but not counted towards the lock-out: a wrong moment or a typo is not a
            // guess.
            ActivationOutcome::WrongMoment(refusal) => {
                let failed = ActivationFailed::Refused(ActivationRefusal::ProfileStatus {
                    status: facts.status,
                });
                tx.record(actor, Event::ActivationFailed(failed)).await?;
                return Err(tx.refuse(refusal.into()).await);
            }
            ActivationOutcome::Malformed(err) => {
                let field = match &err {
                    ServiceError::BadInput { field, .. } => *field,
                    _ => None,
                };
                let failed = ActivationFailed::Refused(ActivationRefusal::MalformedInput {
                    field: field.map(str::to_owned),
                });
                tx.record(actor, Event::ActivationFailed(failed)).await?;
                return Err(tx.refuse(err).await);
            }
            ActivationOutcome::Locked { until } => {
                let attempt = LockedAttempt {
                    locked_until: until,
                };
                tx.record(actor, Event::ActivationRefusedLocked(attempt))
                    .await?;
                return Err(tx.refuse(ServiceError::ActivationLocked { until }).await);
            }
            ActivationOutcome::WrongCredentials(failed) => {
                let mut row = current.into_active_model();
                row.failed_activation_attempts = Set(failed.failed_activation_attempts);
                row.activation_locked_until = Set(failed.activation_locked_until);
                tx.updated(row.update(tx.conn()).await?)?;
                let wrong = ActivationFailed::WrongCredentials {
                    failed_attempts: failed.attempt,
                    locked_until: failed.activation_locked_until,
                };
                tx.record(actor, Event::ActivationFailed(wrong)).await?;
                return Err(tx
                    .refuse(lifecycle::Refusal::from(failed.refusal).into())
                    .await);
            }
            ActivationOutcome::Activated(activation) => activation,
        };
        // The account signed in with is bound by the same proof, or nothing happens: an
        // account taken elsewhere, or a profile with another account at that provider, leaves
        // the profile as it was (and its code usable), the refusal traced.
        let binding = match account {
            Some(account) => Some((account, super::accounts::binding(&tx, account).await?)),
            None => None,
        };
        if let Some((account, super::accounts::Binding::Refused(conflict))) = binding {
            let refused = super::accounts::refuse(&mut tx, actor, account, conflict).await?;
            return Err(tx.refuse(refused).await);
        }
        let mut row = current.into_active_model();
        row.status = Set(activation.status);
        row.activated_at = Set(Some(activation.activated_at));
        row.personal_email = Set(Some(activation.personal_email.as_str().to_owned()));
        // The code is single-use.
        row.activation_code_hash = Set(None);
        row.failed_activation_attempts = Set(activation.failed_activation_attempts);
        row.activation_locked_until = Set(activation.activation_locked_until);
        let updated = tx.updated(row.update(tx.conn()).await?)?.clone();
        tx.record(actor, Event::ProfileActivated).await?;
        // Decided above, under the profile's lock (a concurrent binding of the same account
        // to another profile meets the unique index: CONFLICT).
        if let Some((account, super::accounts::Binding::New)) = binding {
            super::accounts::link(&mut tx, actor, account).await?;
        }
        tx.commit().await?;
        Ok(updated.into())
    }

    /// Closes a created or activated profile, at its owner's request.
    #[tracing::instrument(skip_all)]
    pub async fn close(&self, actor: &ActorRef, ins: &Ins) -> Result<Profile, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::Enrolment).await?;
        let current = tx.enrolled()?.clone();
        let closure = lifecycle::close(&facts_of(&current)?, tx.now())?;
        let mut row = current.into_active_model();
        row.status = Set(closure.status);
        row.closed_at = Set(Some(closure.closed_at));
        row.status_before_closure = Set(Some(closure.previous_status));
        // A closed profile cannot be activated: its code goes.
        row.activation_code_hash = Set(None);
        let updated = tx.updated(row.update(tx.conn()).await?)?.clone();
        let closed = Closed {
            previous_status: closure.previous_status,
        };
        tx.record(actor, Event::ProfileClosed(closed)).await?;
        tx.commit().await?;
        Ok(updated.into())
    }
}

impl Services {
    /// Reopens a closed profile within its retention period, by the patient signing in or by
    /// an operator at the person's request: back to the status it had. A profile that was only
    /// created gets a new activation code, sent with a creation notice.
    #[tracing::instrument(skip_all)]
    pub async fn reopen(&self, actor: &ActorRef, ins: &Ins) -> Result<Profile, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::Enrolment).await?;
        let current = tx.enrolled()?.clone();
        let reopening = lifecycle::reopen(&facts_of(&current)?, tx.now(), self.policy.retention)?;
        let mut row = current.into_active_model();
        row.status = Set(reopening.status);
        row.closed_at = Set(None);
        row.status_before_closure = Set(None);
        let code = reopening.new_activation_code.then(ActivationCode::generate);
        if let Some(code) = &code {
            row.activation_code_hash = Set(Some(code.hash_for(ins)));
            row.failed_activation_attempts = Set(0);
            row.activation_locked_until = Set(None);
        }
        let updated = tx.updated(row.update(tx.conn()).await?)?.clone();
        let reopened = Event::ProfileReopened(Reopened {
            status_after: reopening.status,
        });
        match code {
            // The creation notice carries the new code.
            Some(code) => tx.record_with_code(actor, reopened, &code).await?,
            None => tx.record(actor, reopened).await?,
        };
        tx.commit().await?;
        Ok(updated.into())
    }
}

/// The three fields of an activation, parsed.
fn parse_activation(
    input: &ActivationInput,
) -> Result<(ActivationCode, CarteVitaleSerial, Email), ServiceError> {
    Ok((
        ActivationCode::parse(&input.activation_code)
            .map_err(|e| ServiceError::bad_input("activationCode", e.to_string()))?,
        CarteVitaleSerial::parse(&input.carte_vitale_serial)
            .map_err(|e| ServiceError::bad_input("carteVitaleSerial", e.to_string()))?,
        Email::parse(&input.personal_email)
            .map_err(|e| ServiceError::bad_input("personalEmail", e.to_string()))?,
    ))
}

/// Writes a creation the lifecycle allowed on the locked profile: a fresh activation code (only
/// its hash is kept), the ledger event, and the creation notice.
async fn create_profile(
    tx: &mut PatientTx<'_>,
    creation: lifecycle::Creation,
) -> Result<(profile::Model, ActivationCode), ServiceError> {
    let code = ActivationCode::generate();
    let mut row = tx.enrolled()?.clone().into_active_model();
    row.status = Set(creation.status);
    row.created_at = Set(Some(creation.created_at));
    row.activation_code_hash = Set(Some(code.hash_for(tx.ins())));
    row.failed_activation_attempts = Set(creation.failed_activation_attempts);
    row.activation_locked_until = Set(creation.activation_locked_until);
    let created = tx.updated(row.update(tx.conn()).await?)?.clone();
    tx.record_with_code(&ActorRef::system(), Event::ProfileCreated, &code)
        .await?;
    Ok((created, code))
}
