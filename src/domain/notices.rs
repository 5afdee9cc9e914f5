//! The text of the notices sent to patients. In French, the users' language; never any medical
//! content: what happened, by whom when it matters, and an invitation to sign in or activate.

use chrono::{DateTime, Utc};

pub use entity::values::NoticeKind;

use super::ActorRef;
use super::events::Event;

/// A notice, before it is routed to its channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What it tells.
    pub kind: NoticeKind,
    pub subject: String,
    pub body: String,
    /// One line for the postal activity statement: what happened, by whom.
    pub summary: String,
}

/// Who the notice of an event is about: the profile's names, whether it is activated, and the
/// activation code a creation notice carries (never in the event: the ledger does not hold it).
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    pub first_names: &'a str,
    pub birth_name: &'a str,
    pub activated: bool,
    pub activation_code: Option<&'a str>,
}

/// Why an event's notice could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeError {
    /// A creation notice without its activation code.
    MissingActivationCode,
    /// The event has no notice (its [`Event::notice`] is nobody).
    NoNotice,
}

/// The text of the notice `event` by `actor` calls for ([`Event::notice`] says who it reaches).
pub fn for_event(
    event: &Event,
    actor: &ActorRef,
    to: Addressee<'_>,
) -> Result<Notice, NoticeError> {
    let by = (actor.name.as_str(), actor.profession.as_deref());
    Ok(match event {
        Event::BeneficiaryEnrolled(enrolled) => {
            announcement(to.first_names, to.birth_name, enrolled.opposition_deadline)
        }
        Event::ProfileCreated | Event::ProfileReopened(_) | Event::RepresentationEnded(_) => {
            let code = to
                .activation_code
                .ok_or(NoticeError::MissingActivationCode)?;
            profile_created(to.first_names, to.birth_name, code)
        }
        Event::DocumentFed(_) | Event::DocumentReleased(_) => {
            new_document(by.0, by.1, to.activated)
        }
        Event::FirstAccess(_) => first_access(by.0, by.1, to.activated),
        Event::MessageReceived(_) => new_message(by.0, by.1, to.activated),
        Event::EmergencyAccessOpened(opened) => {
            emergency_access(by.0, by.1, opened.expires_at, to.activated)
        }
        Event::AccountLinked(account) => sign_in_account(SignInChange::Linked, &account.issuer),
        Event::AccountUnlinked(account) => sign_in_account(SignInChange::Unlinked, &account.issuer),
        Event::AccountLinkRefused(refused) => {
            sign_in_account(SignInChange::Refused, &refused.issuer)
        }
        _ => return Err(NoticeError::NoNotice),
    })
}

const SIGN_OFF: &str = "Mon espace santé — un service de l'Assurance Maladie et du ministère de la Santé.\nCe message ne contient aucune donnée médicale.";

/// The announcement sent at enrolment: the profile will be created unless the person opposes.
pub fn announcement(first_names: &str, birth_name: &str, deadline: DateTime<Utc>) -> Notice {
    let date = deadline.format("%d/%m/%Y");
    Notice {
        kind: NoticeKind::Announcement,
        subject: "Votre profil Mon espace santé va être créé".to_owned(),
        summary: format!(
            "Annonce de la création de votre profil (opposition possible jusqu'au {date})"
        ),
        body: format!(
            "Bonjour {first_names} {birth_name},\n\n\
             L'Assurance Maladie va créer votre profil Mon espace santé, votre espace personnel \
             et sécurisé pour stocker et partager vos documents de santé.\n\n\
             Si vous ne souhaitez pas qu'il soit créé, vous pouvez vous y opposer jusqu'au {date} \
             sur https://www.monespacesante.fr, ou auprès de votre caisse d'assurance maladie par téléphone \
             ou par courrier.\n\n{SIGN_OFF}\n"
        ),
    }
}

/// The creation notice, which carries the one-time activation code.
pub fn profile_created(first_names: &str, birth_name: &str, activation_code: &str) -> Notice {
    Notice {
        kind: NoticeKind::ProfileCreated,
        subject: "Votre profil Mon espace santé est créé".to_owned(),
        summary: "Création de votre profil Mon espace santé et envoi de votre code d'activation"
            .to_owned(),
        body: format!(
            "Bonjour {first_names} {birth_name},\n\n\
             Votre profil Mon espace santé est créé. Pour l'activer, rendez-vous sur \
             https://www.monespacesante.fr/activation muni de votre carte Vitale et de ce code \
             d'activation :\n\n\
             {activation_code}\n\n\
             Ce code est personnel et ne sert qu'une fois. Tant que votre profil n'est pas \
             activé, les professionnels de santé peuvent l'alimenter et vous serez informé(e) \
             de leurs actions.\n\n{SIGN_OFF}\n"
        ),
    }
}

/// How a notice ends: sign in to read, or activate first.
fn invitation(activated: bool, what: &str) -> String {
    if activated {
        format!(
            "Connectez-vous à Mon espace santé pour {what} : https://www.monespacesante.fr \
             (ou l'application)."
        )
    } else {
        format!(
            "Pour {what}, activez votre profil Mon espace santé sur \
             https://www.monespacesante.fr/activation avec le code d'activation reçu lors de sa \
             création et votre carte Vitale."
        )
    }
}

fn practitioner(name: &str, profession: Option<&str>) -> String {
    match profession {
        Some(profession) => format!("{name} ({profession})"),
        None => name.to_owned(),
    }
}

/// A practitioner fed a document. Neither its title nor its type: only who, and an invitation.
pub fn new_document(name: &str, profession: Option<&str>, activated: bool) -> Notice {
    Notice {
        kind: NoticeKind::NewDocument,
        subject: "Un nouveau document dans votre dossier médical".to_owned(),
        summary: format!(
            "{} a ajouté un document dans votre dossier médical",
            practitioner(name, profession)
        ),
        body: format!(
            "Bonjour,\n\n{} a ajouté un document dans votre dossier médical partagé.\n\n{}\n\n{SIGN_OFF}\n",
            practitioner(name, profession),
            invitation(activated, "le consulter")
        ),
    }
}

/// A practitioner accessed the record for the first time.
pub fn first_access(name: &str, profession: Option<&str>, activated: bool) -> Notice {
    Notice {
        kind: NoticeKind::FirstAccess,
        subject: "Un professionnel de santé a accédé à votre dossier médical".to_owned(),
        summary: format!(
            "Premier accès de {} à votre dossier médical",
            practitioner(name, profession)
        ),
        body: format!(
            "Bonjour,\n\n{} a accédé pour la première fois à votre dossier médical partagé. \
             Chacun de ses accès figure dans l'historique d'activité de votre profil, où vous \
             pouvez aussi bloquer son accès.\n\n{}\n\n{SIGN_OFF}\n",
            practitioner(name, profession),
            invitation(activated, "consulter votre historique")
        ),
    }
}

/// What happened to a sign-in account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInChange {
    Linked,
    Unlinked,
    Refused,
}

/// Who may sign in as the patient changed, or someone tried: told, with the provider, so that a
/// patient who did not do it can react.
pub fn sign_in_account(change: SignInChange, issuer: &str) -> Notice {
    let (subject, what) = match change {
        SignInChange::Linked => (
            "Un compte de connexion a été lié à votre profil",
            format!("Un compte de connexion ({issuer}) a été lié à votre profil Mon espace santé"),
        ),
        SignInChange::Unlinked => (
            "Un compte de connexion a été retiré de votre profil",
            format!("Le compte de connexion {issuer} n'est plus lié à votre profil"),
        ),
        SignInChange::Refused => (
            "Une liaison de compte à votre profil a été refusée",
            format!(
                "Une demande de liaison d'un compte de connexion ({issuer}) à votre profil a été \
                 refusée"
            ),
        ),
    };
    Notice {
        kind: NoticeKind::SignInAccount,
        subject: subject.to_owned(),
        summary: what.clone(),
        body: format!(
            "Bonjour,\n\n{what}. Si vous n'en êtes pas à l'origine, connectez-vous à Mon espace \
             santé pour vérifier les comptes liés à votre profil dans votre historique \
             d'activité, et contactez l'Assurance Maladie.\n\n{SIGN_OFF}\n"
        ),
    }
}

/// A practitioner opened the record in an emergency ("bris de glace"): an alert, sent on every
/// channel, distinct from the first-access notice. Neither the reason (the patient reads it in
/// their history) nor anything of the record.
pub fn emergency_access(
    name: &str,
    profession: Option<&str>,
    until: DateTime<Utc>,
    activated: bool,
) -> Notice {
    let until = until.format("%d/%m/%Y à %H:%M UTC");
    Notice {
        kind: NoticeKind::EmergencyAccess,
        subject: "Alerte : accès en urgence à votre dossier médical".to_owned(),
        summary: format!(
            "Accès en urgence (bris de glace) de {} à votre dossier médical, jusqu'au {until}",
            practitioner(name, profession)
        ),
        body: format!(
            "Bonjour,\n\n{} a ouvert votre dossier médical partagé en urgence (« bris de glace »), \
             en déclarant un motif. Cet accès lui montre aussi les documents que vous avez \
             masqués, jusqu'au {until}. Le motif et chaque consultation figurent dans \
             l'historique d'activité de votre profil, où vous pouvez aussi bloquer ce \
             professionnel ou désactiver l'accès en urgence.\n\n{}\n\n{SIGN_OFF}\n",
            practitioner(name, profession),
            invitation(activated, "consulter votre historique")
        ),
    }
}

/// A practitioner sent a message. Neither its subject nor its body.
pub fn new_message(name: &str, profession: Option<&str>, activated: bool) -> Notice {
    Notice {
        kind: NoticeKind::NewMessage,
        subject: "Un nouveau message dans votre messagerie de santé".to_owned(),
        summary: format!(
            "{} vous a envoyé un message",
            practitioner(name, profession)
        ),
        body: format!(
            "Bonjour,\n\n{} vous a envoyé un message dans votre messagerie sécurisée \
             Mon espace santé.\n\n{}\n\n{SIGN_OFF}\n",
            practitioner(name, profession),
            invitation(activated, "le lire")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_states_the_opposition_deadline() {
        let deadline = chrono::DateTime::parse_from_rfc3339("2027-01-09T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let notice = announcement("Jeanne", "MARTIN", deadline);
        assert!(notice.body.contains("09/01/2027"));
        assert!(notice.body.contains("Jeanne MARTIN"));
    }

    #[test]
    fn creation_notice_carries_the_activation_code() {
        let notice = profile_created("Jeanne", "MARTIN", "ABCD-EFGH-JKMN");
        assert!(notice.body.contains("ABCD-EFGH-JKMN"));
        assert_eq!(notice.kind, NoticeKind::ProfileCreated);
    }
}
