//! The profile lifecycle of SPEC.md, as pure functions:
//!
//! ```text
//! (none) --enrol--> ANNOUNCED --sweep (window ends)--> CREATED --activate--> ACTIVATED
//!                      | oppose                           | close                | close
//!                      v                                  v                      v
//!                   OPPOSED --withdraw--> CREATED      CLOSED <------------------+
//! ```
//!
//! Each step is one function: it takes the [`ProfileFacts`] of the stored profile, the time
//! (`now`, read by the caller from its clock) and, where it matters, the [`ActivationPolicy`],
//! and returns either what to write (the new status and the fields that change) or a typed
//! [`Refusal`]. The services lock the profile, read its facts, call the function, write what it
//! says and append the matching ledger event; no status decision is made anywhere else.

use chrono::{DateTime, Duration, Months, Utc};

pub use entity::values::ProfileStatus;

use super::Email;

/// Whether the person has a DMP and a mailbox that practitioners can feed.
pub fn has_dmp(status: ProfileStatus) -> bool {
    matches!(status, ProfileStatus::Created | ProfileStatus::Activated)
}

/// What the lifecycle rules need to know of a stored profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileFacts {
    pub status: ProfileStatus,
    /// The end of the opposition window, set at enrolment.
    pub opposition_deadline: DateTime<Utc>,
    /// Wrong activation attempts since the last lock (or creation, or success).
    pub failed_activation_attempts: i32,
    /// Activation is refused until then (a past instant is no lock).
    pub activation_locked_until: Option<DateTime<Utc>>,
    /// When the profile was closed, if it is.
    pub closed_at: Option<DateTime<Utc>>,
    /// The status the closure left (CREATED or ACTIVATED): what a reopening restores.
    pub status_before_closure: Option<ProfileStatus>,
    /// When the purge removed the closed record's contents.
    pub purged_at: Option<DateTime<Utc>>,
}

/// The tunable rules of activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationPolicy {
    /// Wrong attempts that lock activation (the last one locks).
    pub max_attempts: i32,
    /// How long activation stays locked.
    pub lockout: Duration,
}

/// Why a step is refused. The services turn each into the error of the same name; the messages
/// of [`Refusal::InvalidTransition`] are written for the client and reach them as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Opposition is only possible while the profile is announced and its window open.
    OppositionWindowClosed { deadline: DateTime<Utc> },
    /// The step does not exist from `status`.
    InvalidTransition {
        message: String,
        status: ProfileStatus,
    },
    /// Too many wrong activation attempts: activation is refused until `until`.
    ActivationLocked { until: DateTime<Utc> },
    /// A wrong activation code or Carte Vitale serial (which one is not said).
    InvalidActivation { remaining_attempts: i32 },
}

fn invalid(status: ProfileStatus, message: impl Into<String>) -> Refusal {
    Refusal::InvalidTransition {
        message: message.into(),
        status,
    }
}

/// What an enrolment writes for a person the insurer's registry brings in.
///
/// There is no refusal: a person already known is left as they are, and that is decided where
/// it is race-free, by the store's insert-if-absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    /// [`ProfileStatus::Announced`].
    pub status: ProfileStatus,
    /// The end of the opposition window.
    pub opposition_deadline: DateTime<Utc>,
}

/// Enrols a person at `now`: announced, with `opposition_window` to oppose.
pub fn enrol(now: DateTime<Utc>, opposition_window: Duration) -> Enrolment {
    Enrolment {
        status: ProfileStatus::Announced,
        opposition_deadline: now + opposition_window,
    }
}

/// What an opposition writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opposition {
    /// [`ProfileStatus::Opposed`].
    pub status: ProfileStatus,
    pub opposed_at: DateTime<Utc>,
}

/// An opposition at `now`: only while the profile is announced and before its deadline.
pub fn oppose(facts: &ProfileFacts, now: DateTime<Utc>) -> Result<Opposition, Refusal> {
    match facts.status {
        ProfileStatus::Announced if now < facts.opposition_deadline => Ok(Opposition {
            status: ProfileStatus::Opposed,
            opposed_at: now,
        }),
        // Once the window ended the profile is created (or about to be by the sweep): the
        // answer is the same for both, and says what can be done instead.
        ProfileStatus::Announced | ProfileStatus::Created | ProfileStatus::Activated => {
            Err(Refusal::OppositionWindowClosed {
                deadline: facts.opposition_deadline,
            })
        }
        status @ ProfileStatus::Opposed => Err(invalid(
            status,
            "an opposition is already recorded for this person",
        )),
        status @ ProfileStatus::Closed => Err(invalid(status, "this profile is closed")),
    }
}

/// What the creation of a profile writes, besides its fresh activation code (drawn by the
/// caller: randomness is not a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creation {
    /// [`ProfileStatus::Created`].
    pub status: ProfileStatus,
    pub created_at: DateTime<Utc>,
    /// Zero: a new code starts with every attempt.
    pub failed_activation_attempts: i32,
    /// None: a new code is not locked.
    pub activation_locked_until: Option<DateTime<Utc>>,
}

fn creation(now: DateTime<Utc>) -> Creation {
    Creation {
        status: ProfileStatus::Created,
        created_at: now,
        failed_activation_attempts: 0,
        activation_locked_until: None,
    }
}

/// Withdraws an opposition at `now`: the profile is created at once.
pub fn withdraw_opposition(facts: &ProfileFacts, now: DateTime<Utc>) -> Result<Creation, Refusal> {
    match facts.status {
        ProfileStatus::Opposed => Ok(creation(now)),
        status => Err(invalid(
            status,
            format!("there is no opposition to withdraw (the profile is {status})"),
        )),
    }
}

/// Why the sweep leaves a profile as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDue {
    /// The opposition window is still open.
    WindowOpen { deadline: DateTime<Utc> },
    /// The profile left ANNOUNCED since it was listed (an opposition landed, say).
    NotAnnounced { status: ProfileStatus },
}

/// The sweep at `now`: an announced profile whose opposition window has ended is created.
/// The window ends at the deadline itself, the instant from which [`oppose`] refuses.
pub fn sweep(facts: &ProfileFacts, now: DateTime<Utc>) -> Result<Creation, NotDue> {
    match facts.status {
        ProfileStatus::Announced if facts.opposition_deadline <= now => Ok(creation(now)),
        ProfileStatus::Announced => Err(NotDue::WindowOpen {
            deadline: facts.opposition_deadline,
        }),
        status => Err(NotDue::NotAnnounced { status }),
    }
}

/// What the patient's activation input amounts to, once the caller parsed it and compared it
/// with the stored code hash and Carte Vitale serial. `E` is the caller's parse error, handed
/// back in [`ActivationOutcome::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials<E> {
    /// A field could not be parsed: a typo, not a guess.
    Malformed(E),
    /// Well formed, but the code or the serial does not match.
    Wrong,
    /// The code and the serial match; the personal email given with them.
    Right { personal_email: Email },
}

/// What an activation attempt comes to. Every outcome is traced; only
/// [`ActivationOutcome::WrongCredentials`] counts towards the lock-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivationOutcome<E> {
    /// Not the moment: the profile's status does not allow activation (an
    /// [`Refusal::InvalidTransition`]). Checked first: an input error would not help then.
    WrongMoment(Refusal),
    /// The input is malformed: the caller's parse error, to answer with.
    Malformed(E),
    /// Activation is locked: the credentials are not even looked at.
    Locked { until: DateTime<Utc> },
    /// A counted wrong attempt.
    WrongCredentials(FailedAttempt),
    /// The profile is activated.
    Activated(Activation),
}

/// A counted wrong activation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt {
    /// Which wrong attempt this is, for the trace.
    pub attempt: i32,
    /// The counter to store: back to zero when this attempt locks, so that the lock's end
    /// gives a full set of attempts again.
    pub failed_activation_attempts: i32,
    /// The lock this attempt sets, if it is the last allowed; `None` also lifts a lock that
    /// has run out.
    pub activation_locked_until: Option<DateTime<Utc>>,
    /// What the patient is told.
    pub refusal: FailedAttemptRefusal,
}

/// The answer to a counted wrong attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedAttemptRefusal {
    /// This attempt locked activation.
    Locked { until: DateTime<Utc> },
    /// Attempts left before the lock.
    Remaining(i32),
}

impl From<FailedAttemptRefusal> for Refusal {
    fn from(refusal: FailedAttemptRefusal) -> Self {
        match refusal {
            FailedAttemptRefusal::Locked { until } => Self::ActivationLocked { until },
            FailedAttemptRefusal::Remaining(remaining_attempts) => {
                Self::InvalidActivation { remaining_attempts }
            }
        }
    }
}

/// What a successful activation writes, besides discarding the activation code's hash (the
/// code is single-use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// [`ProfileStatus::Activated`].
    pub status: ProfileStatus,
    pub activated_at: DateTime<Utc>,
    /// Where notices go from now on.
    pub personal_email: Email,
    /// Zero.
    pub failed_activation_attempts: i32,
    /// None.
    pub activation_locked_until: Option<DateTime<Utc>>,
}

/// One activation attempt at `now`, in this order: the status (only a created profile
/// activates), the input's form, the lock, then the credentials, counted when wrong.
pub fn activation_attempt<E>(
    facts: &ProfileFacts,
    now: DateTime<Utc>,
    credentials: Credentials<E>,
    policy: &ActivationPolicy,
) -> ActivationOutcome<E> {
    let wrong_moment =
        |message: String| ActivationOutcome::WrongMoment(invalid(facts.status, message));
    match facts.status {
        ProfileStatus::Created => {}
        ProfileStatus::Announced => {
            return wrong_moment(format!(
                "the profile is not created yet: it will be after {}",
                facts.opposition_deadline.format("%d/%m/%Y")
            ));
        }
        ProfileStatus::Opposed => {
            return wrong_moment(
                "an opposition is recorded: withdraw it to get a profile".to_owned(),
            );
        }
        ProfileStatus::Activated => {
            return wrong_moment("the profile is already activated".to_owned());
        }
        ProfileStatus::Closed => return wrong_moment("this profile is closed".to_owned()),
    }
    let lock = facts.activation_locked_until.filter(|until| *until > now);
    let personal_email = match (credentials, lock) {
        (Credentials::Malformed(error), _) => return ActivationOutcome::Malformed(error),
        (_, Some(until)) => return ActivationOutcome::Locked { until },
        (Credentials::Wrong, None) => {
            let attempt = facts.failed_activation_attempts + 1;
            let locked_until = (attempt >= policy.max_attempts).then(|| now + policy.lockout);
            return ActivationOutcome::WrongCredentials(FailedAttempt {
                attempt,
                failed_activation_attempts: if locked_until.is_some() { 0 } else { attempt },
                activation_locked_until: locked_until,
                refusal: match locked_until {
                    Some(until) => FailedAttemptRefusal::Locked { until },
                    None => FailedAttemptRefusal::Remaining(policy.max_attempts - attempt),
                },
            });
        }
        (Credentials::Right { personal_email }, None) => personal_email,
    };
    ActivationOutcome::Activated(Activation {
        status: ProfileStatus::Activated,
        activated_at: now,
        personal_email,
        failed_activation_attempts: 0,
        activation_locked_until: None,
    })
}

/// What closing writes, besides discarding the activation code (a closed profile cannot be
/// activated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closure {
    /// [`ProfileStatus::Closed`].
    pub status: ProfileStatus,
    pub closed_at: DateTime<Utc>,
    /// The status before, for the trace.
    pub previous_status: ProfileStatus,
}

/// Closing at `now`, at the owner's request: only a profile that exists (created or activated).
pub fn close(facts: &ProfileFacts, now: DateTime<Utc>) -> Result<Closure, Refusal> {
    match facts.status {
        previous_status @ (ProfileStatus::Created | ProfileStatus::Activated) => Ok(Closure {
            status: ProfileStatus::Closed,
            closed_at: now,
            previous_status,
        }),
        status @ ProfileStatus::Closed => Err(invalid(status, "this profile is already closed")),
        status @ ProfileStatus::Announced => Err(invalid(
            status,
            "the profile is not created yet: to refuse it, oppose its creation",
        )),
        status @ ProfileStatus::Opposed => Err(invalid(
            status,
            format!("a profile that is {status} cannot be closed"),
        )),
    }
}

/// How long a closed profile is kept, whole, before the purge (real MES: 10 years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Calendar years after the closure.
    pub years: u32,
}

impl Retention {
    /// The end of the retention of a profile closed at `closed_at`: the same instant, `years`
    /// calendar years later (a 29 February closure ends on the 28th).
    pub fn ends(self, closed_at: DateTime<Utc>) -> DateTime<Utc> {
        closed_at
            .checked_add_months(Months::new(self.years.saturating_mul(12)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// What a reopening writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reopening {
    /// The status before the closure: CREATED or ACTIVATED.
    pub status: ProfileStatus,
    pub reopened_at: DateTime<Utc>,
    /// A profile that was only created gets a new activation code (the closure discarded the
    /// old one), sent with a creation notice.
    pub new_activation_code: bool,
}

/// Reopening at `now`, by the patient or an operator at the person's request: only a closed
/// profile, within its retention period (the purge has not run), back to the status it had.
pub fn reopen(
    facts: &ProfileFacts,
    now: DateTime<Utc>,
    retention: Retention,
) -> Result<Reopening, Refusal> {
    match facts.status {
        ProfileStatus::Closed => {}
        status => {
            return Err(invalid(
                status,
                format!("only a closed profile can be reopened (the profile is {status})"),
            ));
        }
    }
    let ended = facts.purged_at.is_some()
        || facts
            .closed_at
            .is_some_and(|closed_at| retention.ends(closed_at) <= now);
    if ended {
        return Err(invalid(
            ProfileStatus::Closed,
            "the retention period of this closed profile has ended: it can no longer be reopened",
        ));
    }
    let status = match facts.status_before_closure {
        Some(ProfileStatus::Created) => ProfileStatus::Created,
        _ => ProfileStatus::Activated,
    };
    Ok(Reopening {
        status,
        reopened_at: now,
        new_activation_code: status == ProfileStatus::Created,
    })
}

/// Whether the purge is due at `now`: a closed profile whose retention period has ended and
/// whose contents are still there. The purge keeps the ledger.
pub fn purge_due(facts: &ProfileFacts, now: DateTime<Utc>, retention: Retention) -> bool {
    facts.status == ProfileStatus::Closed
        && facts.purged_at.is_none()
        && facts
            .closed_at
            .is_some_and(|closed_at| retention.ends(closed_at) <= now)
}

/// What the 18th birthday writes on a profile its legal representatives managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Majority {
    /// The status after it: a profile a representative activated goes back to CREATED, with
    /// a new activation code and without the representative's email, so that the young adult
    /// activates their own access; any other keeps its status.
    pub status_after: Option<ProfileStatus>,
}

/// The end of the representatives' access of a person born on `birth_date`, on `today`:
/// `None` while they are a minor.
pub fn majority(
    facts: &ProfileFacts,
    birth_date: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> Option<Majority> {
    if super::minors::is_minor(birth_date, today) {
        return None;
    }
    let reactivates = facts.status == ProfileStatus::Activated;
    Some(Majority {
        status_after: reactivates.then_some(ProfileStatus::Created),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("test instants are valid RFC 3339")
            .with_timezone(&Utc)
    }

    /// Enrolment on 2026-11-02, deadline six weeks later.
    fn deadline() -> DateTime<Utc> {
        at("2026-12-14T09:00:00Z")
    }

    fn facts(status: ProfileStatus) -> ProfileFacts {
        ProfileFacts {
            status,
            opposition_deadline: deadline(),
            failed_activation_attempts: 0,
            activation_locked_until: None,
            closed_at: None,
            status_before_closure: None,
            purged_at: None,
        }
    }

    fn before_deadline() -> DateTime<Utc> {
        deadline() - Duration::seconds(1)
    }

    fn after_deadline() -> DateTime<Utc> {
        at("2026-12-20T10:00:00Z")
    }

    fn policy() -> ActivationPolicy {
        ActivationPolicy {
            max_attempts: 5,
            lockout: Duration::minutes(15),
        }
    }

    fn invalid_transition(status: ProfileStatus, message: &str) -> Refusal {
        Refusal::InvalidTransition {
            message: message.to_owned(),
            status,
        }
    }

    #[test]
    fn only_created_and_activated_profiles_have_a_dmp() {
        assert!(has_dmp(ProfileStatus::Created));
        assert!(has_dmp(ProfileStatus::Activated));
        assert!(!has_dmp(ProfileStatus::Announced));
        assert!(!has_dmp(ProfileStatus::Opposed));
        assert!(!has_dmp(ProfileStatus::Closed));
    }

    // enrol

    #[test]
    fn enrolment_announces_with_the_deadline_at_the_end_of_the_window() {
        let now = at("2026-11-02T09:00:00Z");
        assert_eq!(
            enrol(now, Duration::weeks(6)),
            Enrolment {
                status: ProfileStatus::Announced,
                opposition_deadline: deadline(),
            }
        );
    }

    // oppose

    #[test]
    fn opposition_during_the_window_is_recorded() {
        let now = before_deadline();
        assert_eq!(
            oppose(&facts(ProfileStatus::Announced), now),
            Ok(Opposition {
                status: ProfileStatus::Opposed,
                opposed_at: now,
            })
        );
    }

    #[test]
    fn opposition_at_or_after_the_deadline_is_refused() {
        let closed = Err(Refusal::OppositionWindowClosed {
            deadline: deadline(),
        });
        assert_eq!(oppose(&facts(ProfileStatus::Announced), deadline()), closed);
        assert_eq!(
            oppose(&facts(ProfileStatus::Announced), after_deadline()),
            closed
        );
    }

    #[test]
    fn opposing_a_created_or_activated_profile_is_refused_as_the_window_closed() {
        for status in [ProfileStatus::Created, ProfileStatus::Activated] {
            assert_eq!(
                oppose(&facts(status), after_deadline()),
                Err(Refusal::OppositionWindowClosed {
                    deadline: deadline(),
                }),
                "{status}"
            );
        }
    }

    #[test]
    fn opposing_twice_is_an_invalid_transition() {
        assert_eq!(
            oppose(&facts(ProfileStatus::Opposed), before_deadline()),
            Err(invalid_transition(
                ProfileStatus::Opposed,
                "an opposition is already recorded for this person"
            ))
        );
    }

    #[test]
    fn opposing_a_closed_profile_is_an_invalid_transition() {
        assert_eq!(
            oppose(&facts(ProfileStatus::Closed), after_deadline()),
            Err(invalid_transition(
                ProfileStatus::Closed,
                "this profile is closed"
            ))
        );
    }

    // withdraw

    #[test]
    fn withdrawing_an_opposition_creates_the_profile_with_a_fresh_counter() {
        let now = after_deadline();
        let opposed = ProfileFacts {
            failed_activation_attempts: 3,
            activation_locked_until: Some(now),
            ..facts(ProfileStatus::Opposed)
        };
        assert_eq!(
            withdraw_opposition(&opposed, now),
            Ok(Creation {
                status: ProfileStatus::Created,
                created_at: now,
                failed_activation_attempts: 0,
                activation_locked_until: None,
            })
        );
    }

    #[test]
    fn withdrawing_without_an_opposition_is_an_invalid_transition() {
        for &status in ProfileStatus::ALL
            .iter()
            .filter(|s| **s != ProfileStatus::Opposed)
        {
            assert_eq!(
                withdraw_opposition(&facts(status), after_deadline()),
                Err(invalid_transition(
                    status,
                    &format!("there is no opposition to withdraw (the profile is {status})")
                ))
            );
        }
        assert_eq!(
            withdraw_opposition(&facts(ProfileStatus::Announced), before_deadline()),
            Err(invalid_transition(
                ProfileStatus::Announced,
                "there is no opposition to withdraw (the profile is ANNOUNCED)"
            ))
        );
    }

    // sweep

    #[test]
    fn sweep_creates_an_announced_profile_from_its_deadline_on() {
        for now in [deadline(), after_deadline()] {
            assert_eq!(
                sweep(&facts(ProfileStatus::Announced), now),
                Ok(creation(now))
            );
        }
        assert_eq!(creation(deadline()).status, ProfileStatus::Created);
    }

    #[test]
    fn sweep_leaves_a_profile_alone_before_its_deadline() {
        assert_eq!(
            sweep(&facts(ProfileStatus::Announced), before_deadline()),
            Err(NotDue::WindowOpen {
                deadline: deadline(),
            })
        );
    }

    #[test]
    fn sweep_leaves_a_profile_no_longer_announced_alone() {
        for &status in ProfileStatus::ALL
            .iter()
            .filter(|s| **s != ProfileStatus::Announced)
        {
            assert_eq!(
                sweep(&facts(status), after_deadline()),
                Err(NotDue::NotAnnounced { status })
            );
        }
    }

    // activate

    fn personal_email() -> Email {
        Email::parse("me@x.fr").expect("a valid test address")
    }

    fn right() -> Credentials<&'static str> {
        Credentials::Right {
            personal_email: personal_email(),
        }
    }

    #[test]
    fn activation_is_refused_unless_the_profile_is_created() {
        let cases = [
            (
                ProfileStatus::Announced,
                "the profile is not created yet: it will be after 14/12/2026",
            ),
            (
                ProfileStatus::Opposed,
                "an opposition is recorded: withdraw it to get a profile",
            ),
            (ProfileStatus::Activated, "the profile is already activated"),
            (ProfileStatus::Closed, "this profile is closed"),
        ];
        for (status, message) in cases {
            // The status comes first, whatever the input: right, wrong or malformed.
            for credentials in [right(), Credentials::Wrong, Credentials::Malformed("typo")] {
                assert_eq!(
                    activation_attempt(&facts(status), after_deadline(), credentials, &policy()),
                    ActivationOutcome::WrongMoment(invalid_transition(status, message))
                );
            }
        }
    }

    #[test]
    fn malformed_input_hands_its_error_back_uncounted_even_when_locked() {
        let now = after_deadline();
        let locked = ProfileFacts {
            failed_activation_attempts: 2,
            activation_locked_until: Some(now + Duration::minutes(1)),
            ..facts(ProfileStatus::Created)
        };
        assert_eq!(
            activation_attempt(&locked, now, Credentials::Malformed("typo"), &policy()),
            ActivationOutcome::Malformed("typo")
        );
    }

    #[test]
    fn wrong_credentials_are_counted_with_the_attempts_left() {
        let now = after_deadline();
        let after_two = ProfileFacts {
            failed_activation_attempts: 2,
            ..facts(ProfileStatus::Created)
        };
        assert_eq!(
            activation_attempt(&after_two, now, Credentials::<()>::Wrong, &policy()),
            ActivationOutcome::WrongCredentials(FailedAttempt {
                attempt: 3,
                failed_activation_attempts: 3,
                activation_locked_until: None,
                refusal: FailedAttemptRefusal::Remaining(2),
            })
        );
        assert_eq!(
            Refusal::from(FailedAttemptRefusal::Remaining(2)),
            Refusal::InvalidActivation {
                remaining_attempts: 2
            }
        );
    }

    #[test]
    fn the_last_allowed_wrong_attempt_locks_and_resets_the_counter() {
        let now = after_deadline();
        let until = now + Duration::minutes(15);
        let after_four = ProfileFacts {
            failed_activation_attempts: 4,
            ..facts(ProfileStatus::Created)
        };
        assert_eq!(
            activation_attempt(&after_four, now, Credentials::<()>::Wrong, &policy()),
            ActivationOutcome::WrongCredentials(FailedAttempt {
                attempt: 5,
                failed_activation_attempts: 0,
                activation_locked_until: Some(until),
                refusal: FailedAttemptRefusal::Locked { until },
            })
        );
        assert_eq!(
            Refusal::from(FailedAttemptRefusal::Locked { until }),
            Refusal::ActivationLocked { until }
        );
    }

    #[test]
    fn an_attempt_while_locked_is_refused_without_looking_at_the_credentials() {
        let now = after_deadline();
        let until = now + Duration::minutes(10);
        let locked = ProfileFacts {
            failed_activation_attempts: 1,
            activation_locked_until: Some(until),
            ..facts(ProfileStatus::Created)
        };
        for credentials in [right(), Credentials::Wrong] {
            assert_eq!(
                activation_attempt(&locked, now, credentials, &policy()),
                ActivationOutcome::Locked { until }
            );
        }
    }

    #[test]
    fn a_lock_that_ran_out_is_lifted_by_the_next_wrong_attempt() {
        let now = after_deadline();
        let expired = ProfileFacts {
            activation_locked_until: Some(now),
            ..facts(ProfileStatus::Created)
        };
        assert_eq!(
            activation_attempt(&expired, now, Credentials::<()>::Wrong, &policy()),
            ActivationOutcome::WrongCredentials(FailedAttempt {
                attempt: 1,
                failed_activation_attempts: 1,
                activation_locked_until: None,
                refusal: FailedAttemptRefusal::Remaining(4),
            })
        );
    }

    #[test]
    fn right_credentials_activate_and_reset_the_counter_and_the_lock() {
        let now = after_deadline();
        let after_a_lock = ProfileFacts {
            failed_activation_attempts: 3,
            activation_locked_until: Some(now - Duration::minutes(1)),
            ..facts(ProfileStatus::Created)
        };
        assert_eq!(
            activation_attempt(&after_a_lock, now, right(), &policy()),
            ActivationOutcome::Activated(Activation {
                status: ProfileStatus::Activated,
                activated_at: now,
                personal_email: personal_email(),
                failed_activation_attempts: 0,
                activation_locked_until: None,
            })
        );
    }

    // close

    #[test]
    fn closing_a_created_or_activated_profile_is_allowed() {
        let now = after_deadline();
        for status in [ProfileStatus::Created, ProfileStatus::Activated] {
            assert_eq!(
                close(&facts(status), now),
                Ok(Closure {
                    status: ProfileStatus::Closed,
                    closed_at: now,
                    previous_status: status,
                })
            );
        }
    }

    #[test]
    fn closing_an_announced_opposed_or_closed_profile_is_an_invalid_transition() {
        let cases = [
            (
                ProfileStatus::Announced,
                "the profile is not created yet: to refuse it, oppose its creation",
            ),
            (
                ProfileStatus::Opposed,
                "a profile that is OPPOSED cannot be closed",
            ),
            (ProfileStatus::Closed, "this profile is already closed"),
        ];
        for (status, message) in cases {
            assert_eq!(
                close(&facts(status), after_deadline()),
                Err(invalid_transition(status, message))
            );
        }
    }

    #[test]
    fn only_profiles_with_a_dmp_can_be_closed() {
        for &status in ProfileStatus::ALL {
            assert_eq!(
                close(&facts(status), after_deadline()).is_ok(),
                has_dmp(status)
            );
        }
    }

    // reopen and purge

    fn closed(before: ProfileStatus) -> ProfileFacts {
        ProfileFacts {
            closed_at: Some(after_deadline()),
            status_before_closure: Some(before),
            ..facts(ProfileStatus::Closed)
        }
    }

    const TEN_YEARS: Retention = Retention { years: 10 };

    #[test]
    fn reopening_restores_the_status_before_closure_within_the_retention() {
        let now = after_deadline() + Duration::days(365 * 9);
        for before in [ProfileStatus::Created, ProfileStatus::Activated] {
            assert_eq!(
                reopen(&closed(before), now, TEN_YEARS),
                Ok(Reopening {
                    status: before,
                    reopened_at: now,
                    new_activation_code: before == ProfileStatus::Created,
                })
            );
        }
    }

    #[test]
    fn reopening_after_the_retention_or_the_purge_is_refused() {
        let end = TEN_YEARS.ends(after_deadline());
        assert_eq!(end, at("2036-12-20T10:00:00Z"));
        assert!(reopen(&closed(ProfileStatus::Activated), end, TEN_YEARS).is_err());
        let purged = ProfileFacts {
            purged_at: Some(after_deadline()),
            ..closed(ProfileStatus::Activated)
        };
        assert!(reopen(&purged, after_deadline(), TEN_YEARS).is_err());
        for status in [ProfileStatus::Created, ProfileStatus::Activated] {
            assert!(reopen(&facts(status), after_deadline(), TEN_YEARS).is_err());
        }
    }

    #[test]
    fn purge_is_due_once_the_retention_of_a_closed_profile_ends() {
        let end = TEN_YEARS.ends(after_deadline());
        let profile = closed(ProfileStatus::Activated);
        assert!(!purge_due(&profile, end - Duration::seconds(1), TEN_YEARS));
        assert!(purge_due(&profile, end, TEN_YEARS));
        let purged = ProfileFacts {
            purged_at: Some(end),
            ..profile
        };
        assert!(!purge_due(&purged, end, TEN_YEARS));
        assert!(!purge_due(&facts(ProfileStatus::Activated), end, TEN_YEARS));
    }

    #[test]
    fn at_18_a_profile_a_representative_activated_goes_back_to_created() {
        let birth = chrono::NaiveDate::from_ymd_opt(2009, 1, 15).unwrap();
        let before = chrono::NaiveDate::from_ymd_opt(2027, 1, 14).unwrap();
        let on = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let mut facts = ProfileFacts {
            status: ProfileStatus::Activated,
            opposition_deadline: DateTime::<Utc>::MIN_UTC,
            failed_activation_attempts: 0,
            activation_locked_until: None,
            closed_at: None,
            status_before_closure: None,
            purged_at: None,
        };
        assert_eq!(majority(&facts, birth, before), None);
        assert_eq!(
            majority(&facts, birth, on),
            Some(Majority {
                status_after: Some(ProfileStatus::Created),
            })
        );
        facts.status = ProfileStatus::Created;
        assert_eq!(
            majority(&facts, birth, on),
            Some(Majority { status_after: None })
        );
    }
}
