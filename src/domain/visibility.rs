//! Who sees which document: the one rule, in one place. The services apply it to a document
//! read by id ([`may_see`]) and, as the same condition in SQL, to lists (`visible_to` in
//! `services/documents`); a change here goes there too.
//!
//! - The patient sees every document of their record but those **held back** until an
//!   announcement consultation (the author releases them).
//! - A practitioner sees every document but those the patient **masked**, unless they wrote it.
//! - A minor's legal representative sees what the patient sees, but the documents **secret from
//!   representatives** (the minor's right to secrecy, art. L1111-5 CSP).
//!
//! Held back documents also withhold what the patient's history says of them: the events about
//! a document the patient may not see yet show as withheld (sequence and hashes only) until it is
//! released ([`withheld_from_patient`]).

use super::EventKind;

/// Who looks at a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// The patient, in their own space (or their export).
    Patient,
    /// A practitioner, by RPPS number.
    Practitioner { id: &'a str },
    /// A legal representative acting on a minor's profile.
    Representative,
}

impl Viewer<'_> {
    /// The viewer of the patient's own space, by who acts there: the patient, or a
    /// representative on their behalf.
    pub fn in_own_space(actor: &super::ActorRef) -> Self {
        match actor.role {
            super::ActorRole::LegalRepresentative => Self::Representative,
            _ => Self::Patient,
        }
    }
}

/// What the rule reads of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentFlags<'a> {
    /// RPPS number or INS of its author.
    pub author_id: &'a str,
    /// Masked by the patient from practitioners other than its author.
    pub masked: bool,
    /// Held back from the patient until its release.
    pub held_back: bool,
    /// Secret from the minor's legal representatives.
    pub secret_from_representatives: bool,
}

/// Whether `viewer` may see a document with these flags.
pub fn may_see(viewer: Viewer<'_>, document: DocumentFlags<'_>) -> bool {
    match viewer {
        Viewer::Patient => !document.held_back,
        Viewer::Representative => !document.held_back && !document.secret_from_representatives,
        Viewer::Practitioner { id } => !document.masked || document.author_id == id,
    }
}

/// Why a release is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseRefusal {
    /// Only the document's author releases it.
    NotTheAuthor,
}

/// Whether `practitioner` may release a held-back document: its author alone. (Where a
/// médecin traitant rule exists, it joins here.)
pub fn may_release(practitioner: &str, document: DocumentFlags<'_>) -> Result<(), ReleaseRefusal> {
    if document.author_id == practitioner {
        Ok(())
    } else {
        Err(ReleaseRefusal::NotTheAuthor)
    }
}

/// Whether an event of the patient's history is withheld from its reader: it is about a
/// document hidden from them (`hidden` lists their ids: held back, and for a representative
/// secret from them). The event's payload names the document.
pub fn withheld_from_patient(hidden: &[i64], kind: EventKind, payload: &str) -> bool {
    if hidden.is_empty() || kind == EventKind::DocumentReleased {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|p| p["documentId"].as_i64())
        .is_some_and(|id| hidden.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(masked: bool, held_back: bool) -> DocumentFlags<'static> {
        DocumentFlags {
            author_id: "10003456786",
            masked,
            held_back,
            secret_from_representatives: false,
        }
    }

    #[test]
    fn a_held_back_document_is_hidden_from_the_patient_alone() {
        assert!(!may_see(Viewer::Patient, flags(false, true)));
        assert!(may_see(Viewer::Patient, flags(true, false)));
        let other = Viewer::Practitioner { id: "10009876540" };
        assert!(may_see(other, flags(false, true)));
    }

    #[test]
    fn a_masked_document_is_hidden_from_practitioners_but_its_author() {
        let author = Viewer::Practitioner { id: "10003456786" };
        let other = Viewer::Practitioner { id: "10009876540" };
        assert!(may_see(author, flags(true, false)));
        assert!(!may_see(other, flags(true, false)));
    }

    #[test]
    fn a_secret_document_is_hidden_from_representatives_alone() {
        let secret = DocumentFlags {
            secret_from_representatives: true,
            ..flags(false, false)
        };
        assert!(!may_see(Viewer::Representative, secret));
        assert!(may_see(Viewer::Patient, secret));
        assert!(may_see(Viewer::Practitioner { id: "10009876540" }, secret));
        assert!(may_see(Viewer::Representative, flags(true, false)));
    }

    #[test]
    fn only_the_author_releases() {
        assert_eq!(may_release("10003456786", flags(false, true)), Ok(()));
        assert_eq!(
            may_release("10009876540", flags(false, true)),
            Err(ReleaseRefusal::NotTheAuthor)
        );
    }

    #[test]
    fn events_about_a_held_back_document_are_withheld() {
        let fed = r#"{"documentId":7,"typeCode":"11488-4"}"#;
        assert!(withheld_from_patient(&[7], EventKind::DocumentFed, fed));
        assert!(withheld_from_patient(
            &[7],
            EventKind::DocumentConsulted,
            r#"{"documentId":7}"#
        ));
        assert!(!withheld_from_patient(&[8], EventKind::DocumentFed, fed));
        assert!(!withheld_from_patient(&[], EventKind::DocumentFed, fed));
        assert!(!withheld_from_patient(
            &[7],
            EventKind::RecordConsulted,
            "{}"
        ));
    }
}
