//! Who may read and feed which documents of a DMP: the profession × document-type matrix, and
//! the rule that decides whether one practitioner sees one document; and, for the patient's own
//! space, which documents the patient or their legal representative sees (held back until an
//! announcement consultation, secret from representatives) and which history events are then
//! withheld.
//!
//! The matrix follows the shape of the DMP's *matrice d'habilitations* (the access rights of
//! health professionals by profession and document type that the Code de la santé publique,
//! article R. 1111-46, has the Assurance Maladie publish for the DMP). It is a simplified
//! rendering for the document types this service accepts, not a copy of the official table:
//! changing a right is changing one letter of one line of [`MATRIX`].
//!
//! The rule ([`may_read`]) is the one place that says what a practitioner sees; the document
//! query of the services builds the same rule as a filter, so that a document a practitioner
//! may not read is absent from lists, counts and pages, and unknown when asked by id.

use super::documents::DOCUMENT_TYPES;
use super::{ActorRef, ActorRole, ParseError};

/// A profession code of the RPPS nomenclature (two digits, e.g. `10` médecin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfessionCode(u8);

impl ProfessionCode {
    /// Parses a two-digit code. Codes outside [`PROFESSIONS`] are valid codes with no right.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let input = input.trim();
        if input.len() != 2 || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(
                "a profession code of the RPPS nomenclature has two digits (10 médecin, 21 pharmacien, …)",
            ));
        }
        input
            .parse()
            .map(Self)
            .map_err(|_| ParseError::new("not a profession code"))
    }

    /// The code, two digits.
    pub fn as_str(self) -> String {
        format!("{:02}", self.0)
    }

    /// The nomenclature's name of this profession, when the matrix knows it.
    pub fn display(self) -> Option<&'static str> {
        PROFESSIONS
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, name)| *name)
    }

    fn column(self) -> Option<usize> {
        PROFESSIONS.iter().position(|(code, _)| *code == self.0)
    }
}

impl std::fmt::Display for ProfessionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

/// The professions of the matrix, in the order of its columns: code of the RPPS nomenclature
/// (TRE_G15-ProfessionSante) and name. A profession not listed has no right on any document.
pub const PROFESSIONS: [(u8, &str); 6] = [
    (10, "Médecin"),
    (21, "Pharmacien"),
    (40, "Chirurgien-dentiste"),
    (50, "Sage-femme"),
    (60, "Infirmier"),
    (70, "Masseur-kinésithérapeute"),
];

/// What a profession may do with a document type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Nothing: the documents of this type do not exist for the profession.
    None,
    /// Read.
    Read,
    /// Read and feed.
    Feed,
}

use Right::{Feed as F, None as N, Read as R};

/// The matrix: for each document type (LOINC), the right of each profession of
/// [`PROFESSIONS`], in its order. One line per type; one letter per right.
#[rustfmt::skip]
pub const MATRIX: [(&str, [Right; 6]); 8] = [
    //                 10 méd 21 pha 40 den 50 sf  60 inf 70 kiné
    ("11488-4", [F,     N,     F,     F,    R,     R]), // Compte rendu de consultation
    ("11490-0", [F,     R,     R,     F,    R,     R]), // Lettre de liaison de sortie
    ("11502-2", [F,     R,     R,     F,    R,     N]), // Biologie médicale
    ("18748-4", [F,     N,     F,     F,    N,     R]), // Imagerie médicale
    ("57833-6", [F,     F,     F,     F,    R,     R]), // Prescription de produits de santé
    ("34133-9", [F,     N,     R,     F,    F,     F]), // Synthèse d'épisode de soins
    ("60591-5", [F,     R,     R,     R,    R,     R]), // Synthèse médicale
    ("11369-6", [F,     F,     N,     F,    F,     N]), // Historique des vaccinations
];

/// The right of `profession` on the document type `type_code` (none without a profession, for
/// a profession outside the matrix, or for a type outside it).
pub fn right(profession: Option<ProfessionCode>, type_code: &str) -> Right {
    let (Some(column), Some((_, rights))) = (
        profession.and_then(ProfessionCode::column),
        MATRIX.iter().find(|(code, _)| *code == type_code),
    ) else {
        return Right::None;
    };
    rights[column]
}

/// Whether `profession` may feed documents of `type_code`.
pub fn may_feed(profession: Option<ProfessionCode>, type_code: &str) -> bool {
    right(profession, type_code) == Right::Feed
}

/// The document types `profession` may read, for the services' query filter.
pub fn readable_types(profession: Option<ProfessionCode>) -> Vec<&'static str> {
    MATRIX
        .iter()
        .filter(|(code, _)| right(profession, code) != Right::None)
        .map(|(code, _)| *code)
        .collect()
}

/// Why a practitioner sees the documents the patient masked, if they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskedAccess {
    /// They do not.
    Hidden,
    /// They are the patient's médecin traitant.
    MedecinTraitant,
    /// They hold an emergency access ("bris de glace") that has not expired.
    Emergency,
}

impl MaskedAccess {
    /// Whether masked documents are shown.
    pub fn shows_masked(self) -> bool {
        self != Self::Hidden
    }
}

/// A practitioner reading a record: who they are, and what they stand in for the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// Their RPPS number: they always see the documents they wrote.
    pub rpps: String,
    /// Their profession, which the matrix reads.
    pub profession: Option<ProfessionCode>,
    /// Whether they see masked documents, and why.
    pub masked: MaskedAccess,
}

/// What the rule reads of a document.
#[derive(Debug, Clone, Copy)]
pub struct DocumentFacts<'a> {
    pub author_id: &'a str,
    pub type_code: &'a str,
    pub masked: bool,
}

/// Whether `reader` sees `document`: its author always; anyone else when the matrix lets their
/// profession read its type, and, for a masked document, when they are the médecin traitant or
/// in an emergency access.
pub fn may_read(reader: &Reader, document: DocumentFacts<'_>) -> bool {
    document.author_id == reader.rpps
        || (right(reader.profession, document.type_code) != Right::None
            && (!document.masked || reader.masked.shows_masked()))
}

/// The matrix as a text table, for `espace-sante matrix` (R: read, F: read and feed).
pub fn matrix_table() -> String {
    let mut out = String::from("type     ");
    for (code, _) in PROFESSIONS {
        out.push_str(&format!(" {code:02}"));
    }
    out.push_str("  document type\n");
    for (type_code, rights) in MATRIX {
        out.push_str(&format!("{type_code:<9}"));
        for right in rights {
            out.push_str(match right {
                Right::None => "  -",
                Right::Read => "  R",
                Right::Feed => "  F",
            });
        }
        let display = DOCUMENT_TYPES
            .iter()
            .find(|(code, _)| *code == type_code)
            .map_or("", |(_, display)| *display);
        out.push_str(&format!("  {display}\n"));
    }
    out.push('\n');
    for (code, name) in PROFESSIONS {
        out.push_str(&format!("{code:02} {name}\n"));
    }
    out.push_str("R: read; F: read and feed; -: neither (the documents do not exist for it)\n");
    out
}

// The patient's own space. Practitioners see held-back and secret documents ([`may_read`] does
// not read those flags); these rules are for the patient and their legal representatives. The
// services apply [`may_see`] as one query filter too (`visible_in_space` in
// `services/documents/visibility.rs`).

/// Who reads the patient's own space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// The patient, in their own space (or their export).
    Patient,
    /// A minor's legal representative acting on the minor's profile.
    Representative,
}

impl Viewer {
    /// The viewer of the patient's own space, by who acts there: the patient, or a
    /// representative on their behalf.
    pub fn in_own_space(actor: &ActorRef) -> Self {
        match actor.role {
            ActorRole::LegalRepresentative => Self::Representative,
            _ => Self::Patient,
        }
    }
}

/// What the rules of the patient's space read of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceFacts<'a> {
    /// RPPS number or INS of its author.
    pub author_id: &'a str,
    /// Held back from the patient until an announcement consultation (false once released).
    pub held_back: bool,
    /// Secret from the minor's legal representatives (art. L1111-5 CSP).
    pub secret_from_representatives: bool,
}

/// Whether `viewer` sees a document of the patient's space: the patient every one but those
/// held back; a representative neither those nor the ones secret from them.
pub fn may_see(viewer: Viewer, document: SpaceFacts<'_>) -> bool {
    match viewer {
        Viewer::Patient => !document.held_back,
        Viewer::Representative => !document.held_back && !document.secret_from_representatives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> Option<ProfessionCode> {
        Some(ProfessionCode::parse(c).unwrap())
    }

    #[test]
    fn the_matrix_covers_every_document_type_once() {
        let mut types: Vec<&str> = MATRIX.iter().map(|(c, _)| *c).collect();
        types.sort_unstable();
        let mut known: Vec<&str> = DOCUMENT_TYPES.iter().map(|(c, _)| *c).collect();
        known.sort_unstable();
        assert_eq!(types, known);
    }

    #[test]
    fn a_physician_reads_and_feeds_everything() {
        for (type_code, _) in DOCUMENT_TYPES {
            assert!(may_feed(code("10"), type_code));
        }
    }

    #[test]
    fn a_pharmacist_does_not_read_consultation_reports() {
        assert_eq!(right(code("21"), "11488-4"), Right::None);
        assert_eq!(right(code("21"), "57833-6"), Right::Feed);
        assert!(!readable_types(code("21")).contains(&"11488-4"));
    }

    #[test]
    fn no_profession_or_an_unknown_one_has_no_right() {
        assert!(readable_types(None).is_empty());
        assert!(readable_types(code("91")).is_empty());
    }

    #[test]
    fn profession_codes_have_two_digits() {
        assert_eq!(
            ProfessionCode::parse("10").unwrap().display(),
            Some("Médecin")
        );
        assert_eq!(ProfessionCode::parse("07").unwrap().as_str(), "07");
        assert!(ProfessionCode::parse("1").is_err());
        assert!(ProfessionCode::parse("100").is_err());
        assert!(ProfessionCode::parse("a1").is_err());
    }

    #[test]
    fn masked_documents_need_the_medecin_traitant_or_an_emergency() {
        let doc = DocumentFacts {
            author_id: "10003456786",
            type_code: "11488-4",
            masked: true,
        };
        let mut reader = Reader {
            rpps: "10009876540".to_owned(),
            profession: code("10"),
            masked: MaskedAccess::Hidden,
        };
        assert!(!may_read(&reader, doc));
        reader.masked = MaskedAccess::MedecinTraitant;
        assert!(may_read(&reader, doc));
        reader.masked = MaskedAccess::Emergency;
        assert!(may_read(&reader, doc));
        // The matrix still applies in an emergency.
        reader.profession = code("21");
        assert!(!may_read(&reader, doc));
        // The author always sees their document.
        reader.rpps = "10003456786".to_owned();
        assert!(may_read(&reader, doc));
    }

    fn space(held_back: bool, secret: bool) -> SpaceFacts<'static> {
        SpaceFacts {
            author_id: "10003456786",
            held_back,
            secret_from_representatives: secret,
        }
    }

    #[test]
    fn a_held_back_document_is_hidden_from_the_patient_and_representatives() {
        assert!(!may_see(Viewer::Patient, space(true, false)));
        assert!(!may_see(Viewer::Representative, space(true, false)));
        assert!(may_see(Viewer::Patient, space(false, false)));
    }

    #[test]
    fn a_secret_document_is_hidden_from_representatives_alone() {
        assert!(!may_see(Viewer::Representative, space(false, true)));
        assert!(may_see(Viewer::Patient, space(false, true)));
    }
}
