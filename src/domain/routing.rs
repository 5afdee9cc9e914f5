//! Notification routing, SPEC.md's table:
//!
//! | profile status | channel |
//! | --- | --- |
//! | ACTIVATED | personal email + live subscription |
//! | CREATED (and ANNOUNCED, for its notice), insurer knows an email | that email |
//! | CREATED (and ANNOUNCED), no email known | postal activity statement |
//! | OPPOSED, CLOSED, unknown | none |
//!
//! The last row, "opposed or closed people get nothing", is [`may_be_notified`]:
//! routing asks it when a notice is queued, and the email relay and the postal statements ask it
//! again when they deliver, since the person may have opposed or closed in between.

pub use entity::values::Channel;

use super::ProfileStatus;

/// Whether anything may still reach the person: no notice goes to an opposed or closed
/// profile, not even one queued before. The one place this rule is written.
pub fn may_be_notified(status: ProfileStatus) -> bool {
    match status {
        ProfileStatus::Announced | ProfileStatus::Created | ProfileStatus::Activated => true,
        ProfileStatus::Opposed | ProfileStatus::Closed => false,
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

/// How far a notice goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The channels of SPEC's table, by status.
    Status,
    /// An alert (an emergency access to the record): the channels of the status and the postal
    /// statement too, since the insurer always knows the address; never to an opposed or
    /// closed person.
    Every,
}

/// Where a notice of `reach` about a patient in `status` goes.
pub fn route(
    reach: Reach,
    status: ProfileStatus,
    insurer_email: Option<&str>,
    personal_email: Option<&str>,
) -> Vec<Delivery> {
    let mut deliveries = route_notice(status, insurer_email, personal_email);
    if reach == Reach::Every
        && may_be_notified(status)
        && !deliveries.iter().any(|d| d.channel == Channel::Postal)
    {
        deliveries.push(Delivery {
            channel: Channel::Postal,
            email: None,
        });
    }
    deliveries
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
    if !may_be_notified(status) {
        return Vec::new();
    }
    if status == ProfileStatus::Activated {
        // Activation records the personal email, so it is always there; should it be missing
        // the patient still gets the live event and can read the record after signing in.
        let mut deliveries: Vec<Delivery> = personal_email.map(email).into_iter().collect();
        deliveries.push(without_address(Channel::Live));
        deliveries
    } else {
        // Not activated yet (announced or created): what the insurer knows.
        match insurer_email {
            Some(address) => vec![email(address)],
            None => vec![without_address(Channel::Postal)],
        }
    }
}

/// Where a minor's notice goes: to each of their legal representatives by their own email
/// (`representatives`, the addresses the insurer knows), instead of the email and postal
/// deliveries of the profile; the live event stays the profile's, and an alert
/// ([`Reach::Every`]) keeps its postal statement. Without any representative's address, the
/// profile's own routing stands.
pub fn route_to_representatives(
    reach: Reach,
    deliveries: Vec<Delivery>,
    representatives: &[String],
) -> Vec<Delivery> {
    if representatives.is_empty() || deliveries.is_empty() {
        return deliveries;
    }
    let mut routed: Vec<Delivery> = representatives
        .iter()
        .map(|address| Delivery {
            channel: Channel::Email,
            email: Some(address.clone()),
        })
        .collect();
    routed.extend(deliveries.into_iter().filter(|d| {
        d.channel == Channel::Live || (reach == Reach::Every && d.channel == Channel::Postal)
    }));
    routed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minors_notices_go_to_each_representative_by_email() {
        let reps = vec!["a@x.fr".to_owned(), "b@x.fr".to_owned()];
        let routes = route_to_representatives(
            Reach::Status,
            route_notice(ProfileStatus::Activated, None, Some("a.perso@x.fr")),
            &reps,
        );
        let emails: Vec<_> = routes.iter().filter_map(|d| d.email.as_deref()).collect();
        assert_eq!(emails, ["a@x.fr", "b@x.fr"]);
        assert_eq!(routes.last().map(|d| d.channel), Some(Channel::Live));
        let postal = route_to_representatives(
            Reach::Status,
            route_notice(ProfileStatus::Created, None, None),
            &reps,
        );
        assert_eq!(postal.len(), 2, "emails instead of the postal statement");
        assert!(
            route_to_representatives(
                Reach::Every,
                route_notice(ProfileStatus::Closed, None, None),
                &reps
            )
            .is_empty()
        );
        assert_eq!(
            route_to_representatives(
                Reach::Status,
                route_notice(ProfileStatus::Created, None, None),
                &[]
            ),
            route_notice(ProfileStatus::Created, None, None)
        );
    }

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
    fn announced_goes_to_the_insurer_email_or_the_postal_statement() {
        let routes = route_notice(ProfileStatus::Announced, Some("insurer@x.fr"), None);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].email.as_deref(), Some("insurer@x.fr"));
        let routes = route_notice(ProfileStatus::Announced, None, None);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].channel, Channel::Postal);
    }

    #[test]
    fn an_alert_goes_on_every_channel_but_never_to_the_opposed() {
        let channels = |status, insurer, personal| {
            route(Reach::Every, status, insurer, personal)
                .into_iter()
                .map(|d| d.channel)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            channels(ProfileStatus::Activated, None, Some("me@x.fr")),
            [Channel::Email, Channel::Live, Channel::Postal]
        );
        assert_eq!(
            channels(ProfileStatus::Created, Some("a@x.fr"), None),
            [Channel::Email, Channel::Postal]
        );
        assert_eq!(
            channels(ProfileStatus::Created, None, None),
            [Channel::Postal]
        );
        assert!(channels(ProfileStatus::Closed, Some("a@x.fr"), None).is_empty());
    }

    #[test]
    fn opposed_and_closed_get_nothing() {
        assert!(route_notice(ProfileStatus::Opposed, Some("a@x.fr"), None).is_empty());
        assert!(route_notice(ProfileStatus::Closed, Some("a@x.fr"), Some("b@x.fr")).is_empty());
    }

    #[test]
    fn only_opposed_and_closed_people_may_not_be_notified() {
        let silenced: Vec<ProfileStatus> = ProfileStatus::ALL
            .iter()
            .copied()
            .filter(|s| !may_be_notified(*s))
            .collect();
        assert_eq!(silenced, [ProfileStatus::Opposed, ProfileStatus::Closed]);
    }

    #[test]
    fn routing_gives_a_channel_exactly_to_those_who_may_be_notified() {
        for &status in ProfileStatus::ALL {
            for (insurer, personal) in [(None, None), (Some("a@x.fr"), Some("b@x.fr"))] {
                assert_eq!(
                    !route_notice(status, insurer, personal).is_empty(),
                    may_be_notified(status),
                    "{status}"
                );
            }
        }
    }
}
