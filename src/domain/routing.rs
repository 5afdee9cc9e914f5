//! Notification routing, SPEC.md's table:
//!
//! | profile status | channel |
//! | --- | --- |
//! | ACTIVATED | personal email + live subscription |
//! | CREATED (and ANNOUNCED, for its notice), insurer knows an email | that email |
//! | CREATED (and ANNOUNCED), no email known | postal activity statement |
//! | OPPOSED, CLOSED, unknown | none |

use super::ProfileStatus;

/// A way of reaching the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An email, to the address in the delivery.
    Email,
    /// A postal letter, grouped per patient into one activity statement for the period.
    Postal,
    /// The patient's live GraphQL subscription.
    Live,
}

impl Channel {
    /// The stored (and GraphQL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "EMAIL",
            Self::Postal => "POSTAL",
            Self::Live => "LIVE",
        }
    }
}

/// One delivery of a notice: a channel and, for email, the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// How the notice travels.
    pub channel: Channel,
    /// The email address for [`Channel::Email`]; `None` otherwise (the postal address and the
    /// live recipient are the patient's own).
    pub email: Option<String>,
}

/// Where a notice about a patient in `status` goes.
pub fn route_notice(
    status: ProfileStatus,
    insurer_email: Option<&str>,
    personal_email: Option<&str>,
) -> Vec<Delivery> {
    let email = |address: &str| Delivery {
        channel: Channel::Email,
        email: Some(address.to_owned()),
    };
    let without_address = |channel| Delivery {
        channel,
        email: None,
    };
    match status {
        ProfileStatus::Activated => {
            // Activation records the personal email, so it is always there; should it be missing
            // the patient still gets the live event and can read the record after signing in.
            let mut deliveries: Vec<Delivery> = personal_email.map(email).into_iter().collect();
            deliveries.push(without_address(Channel::Live));
            deliveries
        }
        ProfileStatus::Announced | ProfileStatus::Created => match insurer_email {
            Some(address) => vec![email(address)],
            None => vec![without_address(Channel::Postal)],
        },
        ProfileStatus::Opposed | ProfileStatus::Closed => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activated_goes_to_personal_email_and_live() {
        let routes = route_notice(
            ProfileStatus::Activated,
            Some("insurer@x.fr"),
            Some("me@x.fr"),
        );
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].channel, Channel::Email);
        assert_eq!(routes[0].email.as_deref(), Some("me@x.fr"));
        assert_eq!(routes[1].channel, Channel::Live);
    }

    #[test]
    fn created_with_insurer_email_goes_to_that_email() {
        let routes = route_notice(ProfileStatus::Created, Some("insurer@x.fr"), None);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].email.as_deref(), Some("insurer@x.fr"));
    }

    #[test]
    fn created_without_email_goes_to_the_postal_statement() {
        let routes = route_notice(ProfileStatus::Created, None, None);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].channel, Channel::Postal);
    }

    #[test]
    fn opposed_and_closed_get_nothing() {
        assert!(route_notice(ProfileStatus::Opposed, Some("a@x.fr"), None).is_empty());
        assert!(route_notice(ProfileStatus::Closed, Some("a@x.fr"), Some("b@x.fr")).is_empty());
    }
}
