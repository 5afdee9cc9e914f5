//! Who may touch a patient's profile, by what the operation needs and where the profile stands
//! in the lifecycle. One table, read by the patient unit of work before anything is read or
//! written.

use super::{ProfileStatus, has_dmp};

/// What an operation needs of the patient's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A step of the lifecycle (oppose, withdraw, activate, close): an enrolment must exist;
    /// the lifecycle's own rules decide the rest.
    Enrolment,
    /// A practitioner feeds or consults the DMP: it must exist (created or activated). Any other
    /// case — unknown, announced, opposed, closed — is one answer, "DMP inexistant", so that a
    /// practitioner never learns of an opposition.
    Dmp,
    /// The patient's own record (documents, medical profile, blocks): activated.
    OwnRecord,
    /// The patient's own mailbox (threads, replies): activated.
    OwnMailbox,
    /// The patient's export of their whole record: activated, or closed (a closed record is
    /// readable by its owner's export alone, for the whole retention period).
    Export,
    /// Anything, profile or not: a message is accepted for any INS (and bounced without a
    /// DMP), a practitioner reads their own thread.
    Any,
}

/// Why an operation may not touch the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No enrolment for this INS.
    NotEnrolled,
    /// No DMP for this INS, whatever the reason.
    DmpNotFound,
    /// The profile is only created: the patient must activate it first.
    ActivationRequired,
    /// No profile for this INS (for the patient's mailbox).
    NoProfile,
    /// A profile in this status has no mailbox.
    NoMailbox(ProfileStatus),
}

/// Whether an operation needing `access` may touch a profile in `status` (`None`: no profile).
pub fn admit(access: Access, status: Option<ProfileStatus>) -> Result<(), Refusal> {
    use ProfileStatus::{Activated, Created};
    match (access, status) {
        (Access::Any, _) => Ok(()),
        (Access::Enrolment, Some(_)) => Ok(()),
        (Access::Enrolment, None) => Err(Refusal::NotEnrolled),
        (Access::Dmp, Some(status)) if has_dmp(status) => Ok(()),
        (Access::Dmp, _) => Err(Refusal::DmpNotFound),
        (Access::OwnRecord | Access::OwnMailbox | Access::Export, Some(Activated)) => Ok(()),
        (Access::Export, Some(ProfileStatus::Closed)) => Ok(()),
        (Access::Export, Some(Created)) => Err(Refusal::ActivationRequired),
        (Access::Export, _) => Err(Refusal::DmpNotFound),
        (Access::OwnRecord | Access::OwnMailbox, Some(Created)) => Err(Refusal::ActivationRequired),
        (Access::OwnRecord, _) => Err(Refusal::DmpNotFound),
        (Access::OwnMailbox, None) => Err(Refusal::NoProfile),
        (Access::OwnMailbox, Some(status)) => Err(Refusal::NoMailbox(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProfileStatus::*;

    const ALL: [ProfileStatus; 5] = [Announced, Opposed, Created, Activated, Closed];

    #[test]
    fn practitioners_reach_a_dmp_only_when_created_or_activated() {
        assert_eq!(admit(Access::Dmp, Some(Created)), Ok(()));
        assert_eq!(admit(Access::Dmp, Some(Activated)), Ok(()));
        for status in [Some(Announced), Some(Opposed), Some(Closed), None] {
            assert_eq!(admit(Access::Dmp, status), Err(Refusal::DmpNotFound));
        }
    }

    #[test]
    fn the_patient_reads_their_record_once_activated() {
        assert_eq!(admit(Access::OwnRecord, Some(Activated)), Ok(()));
        assert_eq!(
            admit(Access::OwnRecord, Some(Created)),
            Err(Refusal::ActivationRequired)
        );
        assert_eq!(
            admit(Access::OwnRecord, Some(Opposed)),
            Err(Refusal::DmpNotFound)
        );
        assert_eq!(
            admit(Access::OwnMailbox, Some(Closed)),
            Err(Refusal::NoMailbox(Closed))
        );
        assert_eq!(admit(Access::OwnMailbox, None), Err(Refusal::NoProfile));
    }

    #[test]
    fn the_export_is_open_to_an_activated_or_closed_patient() {
        assert_eq!(admit(Access::Export, Some(Activated)), Ok(()));
        assert_eq!(admit(Access::Export, Some(Closed)), Ok(()));
        assert_eq!(
            admit(Access::Export, Some(Created)),
            Err(Refusal::ActivationRequired)
        );
        for status in [Some(Announced), Some(Opposed), None] {
            assert_eq!(admit(Access::Export, status), Err(Refusal::DmpNotFound));
        }
    }

    #[test]
    fn lifecycle_steps_need_an_enrolment_and_messages_nothing() {
        for status in ALL {
            assert_eq!(admit(Access::Enrolment, Some(status)), Ok(()));
            assert_eq!(admit(Access::Any, Some(status)), Ok(()));
        }
        assert_eq!(admit(Access::Enrolment, None), Err(Refusal::NotEnrolled));
        assert_eq!(admit(Access::Any, None), Ok(()));
    }
}
