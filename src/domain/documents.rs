//! What a DMP document is made of, parsed at the edge: its type (a LOINC code of the DMP's
//! value set), its MIME type (checked against the content's first bytes), its content (base64,
//! size-limited before decoding), its title and idempotency key.

use base64::Engine;

pub use entity::values::MedicalCategory;

use super::ParseError;

/// The code system of document types.
pub const LOINC: &str = "http://loinc.org";

/// The document types accepted, from the DMP's value set (JDV_J07-XdsTypeCode-CISIS), with their
/// French display names.
pub const DOCUMENT_TYPES: &[(&str, &str)] = &[
    ("11488-4", "Compte rendu de consultation"),
    (
        "11490-0",
        "Lettre de liaison à la sortie d'un établissement de soins",
    ),
    ("11502-2", "Compte rendu d'examens de biologie médicale"),
    ("18748-4", "Compte rendu d'imagerie médicale"),
    ("57833-6", "Prescription de produits de santé"),
    ("34133-9", "Synthèse d'épisode de soins"),
    ("60591-5", "Synthèse médicale"),
    ("11369-6", "Historique des vaccinations"),
];

/// A document type of the value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentType {
    pub code: &'static str,
    pub display: &'static str,
}

impl DocumentType {
    /// Parses a coding; the system must be LOINC and the code in the value set.
    pub fn parse(system: &str, code: &str) -> Result<Self, ParseError> {
        if system.trim() != LOINC && system.trim() != "urn:oid:2.16.840.1.113883.6.1" {
            return Err(ParseError::new(format!(
                "document types are LOINC codes (system {LOINC})"
            )));
        }
        Self::from_code(code.trim()).ok_or_else(|| {
            let known: Vec<&str> = DOCUMENT_TYPES.iter().map(|(c, _)| *c).collect();
            ParseError::new(format!(
                "'{}' is not a document type of the DMP's value set ({})",
                code.trim(),
                known.join(", ")
            ))
        })
    }

    /// The type of a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        DOCUMENT_TYPES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(code, display)| Self { code, display })
    }
}

/// The formats a DMP document may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MimeType {
    Pdf,
    PlainText,
    /// A CDA R2 document (structured or with an embedded body).
    CdaXml,
    Jpeg,
    Png,
}

impl MimeType {
    /// Parses a MIME type (parameters such as `; charset=utf-8` are ignored).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let essence = input
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Ok(match essence.as_str() {
            "application/pdf" => Self::Pdf,
            "text/plain" => Self::PlainText,
            "text/xml" | "application/xml" | "application/hl7-cda+xml" => Self::CdaXml,
            "image/jpeg" => Self::Jpeg,
            "image/png" => Self::Png,
            _ => {
                return Err(ParseError::new(
                    "accepted formats: application/pdf, text/plain, text/xml (CDA), image/jpeg, image/png",
                ));
            }
        })
    }

    /// The canonical name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::PlainText => "text/plain",
            Self::CdaXml => "text/xml",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    /// Whether `content` looks like this format (its signature bytes).
    fn matches(self, content: &[u8]) -> bool {
        match self {
            Self::Pdf => content.starts_with(b"%PDF-"),
            Self::Png => content.starts_with(b"\x89PNG\r\n\x1a\n"),
            Self::Jpeg => content.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::PlainText => std::str::from_utf8(content).is_ok(),
            Self::CdaXml => std::str::from_utf8(content).is_ok_and(|text| {
                text.trim_start_matches('\u{feff}')
                    .trim_start()
                    .starts_with('<')
            }),
        }
    }
}

/// Checks, chunk by chunk, that content is of its declared format, as [`decode_content`]
/// checks it whole: the magic bytes of binary formats, valid UTF-8 for text (a character may
/// straddle two chunks), and a CDA document's first character.
#[derive(Debug, Clone)]
pub struct FormatCheck {
    mime: MimeType,
    /// The first bytes (magic numbers are at most 8).
    head: Vec<u8>,
    /// The end of the previous chunk, an incomplete UTF-8 character.
    carry: Vec<u8>,
    valid: bool,
    /// For CDA: whether the first character after the BOM and whitespace was seen, and was `<`.
    first_char: Option<bool>,
}

impl FormatCheck {
    /// A check of content declared as `mime`.
    pub fn new(mime: MimeType) -> Self {
        Self {
            mime,
            head: Vec::with_capacity(8),
            carry: Vec::new(),
            valid: true,
            first_char: None,
        }
    }

    /// The next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        if self.head.len() < 8 {
            let take = (8 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if !self.valid || !matches!(self.mime, MimeType::PlainText | MimeType::CdaXml) {
            return;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(err) if err.error_len().is_none() => {
                // A character cut by the chunk's end: kept for the next chunk.
                let (text, rest) = bytes.split_at(err.valid_up_to());
                self.carry = rest.to_vec();
                std::str::from_utf8(text).unwrap_or_default()
            }
            Err(_) => {
                self.valid = false;
                return;
            }
        };
        if self.first_char.is_none()
            && let Some(first) = text
                .chars()
                .find(|c| *c != '\u{feff}' && !c.is_whitespace())
        {
            self.first_char = Some(first == '<');
        }
    }

    /// Whether the whole content was of its format.
    pub fn finish(self) -> bool {
        match self.mime {
            MimeType::PlainText => self.valid && self.carry.is_empty(),
            MimeType::CdaXml => {
                self.valid && self.carry.is_empty() && self.first_char == Some(true)
            }
            binary => binary.matches(&self.head),
        }
    }
}

/// Why a document's content was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError {
    /// Larger than the configured limit (checked on the base64 length, before decoding).
    TooLarge { max_bytes: usize },
    /// Not base64, empty, or not of the declared format.
    Invalid(String),
}

/// Decodes base64 content, refusing it before decoding when it cannot fit in `max_bytes`, and
/// checking it is of the declared format.
pub fn decode_content(
    base64: &str,
    mime: MimeType,
    max_bytes: usize,
) -> Result<Vec<u8>, ContentError> {
    let encoded = base64.trim();
    // 4 base64 characters carry 3 bytes: anything longer than this cannot decode within the limit.
    let max_encoded = max_bytes.div_ceil(3).saturating_mul(4);
    if encoded.len() > max_encoded {
        return Err(ContentError::TooLarge { max_bytes });
    }
    let content = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| ContentError::Invalid("the content is not valid base64".to_owned()))?;
    if content.is_empty() {
        return Err(ContentError::Invalid("the content is empty".to_owned()));
    }
    if content.len() > max_bytes {
        return Err(ContentError::TooLarge { max_bytes });
    }
    if !mime.matches(&content) {
        return Err(ContentError::Invalid(format!(
            "the content is not a {} document",
            mime.as_str()
        )));
    }
    Ok(content)
}

/// Encodes content for the API.
pub fn encode_content(content: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(content)
}

/// A short free text (title, subject, label): trimmed, 1 to `max` characters, no control
/// character.
pub fn short_text(input: &str, what: &str, max: usize) -> Result<String, ParseError> {
    let text = input.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(ParseError::new(format!(
            "{what} must have 1 to {max} characters and no control character"
        )));
    }
    Ok(text.to_owned())
}

/// A client-chosen key that makes a retried write return its first result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1 to 128 visible ASCII characters (a UUID fits).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() || input.len() > 128 || !input.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ParseError::new(
                "an idempotency key has 1 to 128 visible ASCII characters",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n";

    #[test]
    fn document_type_must_be_a_loinc_code_of_the_value_set() {
        assert_eq!(
            DocumentType::parse(LOINC, "11488-4").unwrap().display,
            "Compte rendu de consultation"
        );
        assert!(DocumentType::parse(LOINC, "99999-9").is_err());
        assert!(DocumentType::parse("http://snomed.info/sct", "11488-4").is_err());
    }

    #[test]
    fn mime_type_ignores_parameters_and_case() {
        assert_eq!(
            MimeType::parse("Text/Plain; charset=UTF-8").unwrap(),
            MimeType::PlainText
        );
        assert_eq!(
            MimeType::parse("application/hl7-cda+xml").unwrap(),
            MimeType::CdaXml
        );
        assert!(MimeType::parse("application/zip").is_err());
    }

    #[test]
    fn content_is_checked_against_its_declared_format() {
        let pdf = encode_content(PDF);
        assert_eq!(decode_content(&pdf, MimeType::Pdf, 1024).unwrap(), PDF);
        assert!(matches!(
            decode_content(&pdf, MimeType::Png, 1024),
            Err(ContentError::Invalid(_))
        ));
        assert!(matches!(
            decode_content("%%%", MimeType::Pdf, 1024),
            Err(ContentError::Invalid(_))
        ));
        assert!(matches!(
            decode_content("", MimeType::PlainText, 1024),
            Err(ContentError::Invalid(_))
        ));
        let xml = encode_content(b"<?xml version=\"1.0\"?><ClinicalDocument/>");
        assert!(decode_content(&xml, MimeType::CdaXml, 1024).is_ok());
    }

    #[test]
    fn oversized_content_is_refused_before_decoding() {
        // Not even valid base64: the length alone refuses it.
        let huge = "!".repeat(2000);
        assert_eq!(
            decode_content(&huge, MimeType::Pdf, 1000),
            Err(ContentError::TooLarge { max_bytes: 1000 })
        );
        let exact = encode_content(&[b'a'; 999]);
        assert!(decode_content(&exact, MimeType::PlainText, 999).is_ok());
        let over = encode_content(&[b'a'; 1000]);
        assert_eq!(
            decode_content(&over, MimeType::PlainText, 999),
            Err(ContentError::TooLarge { max_bytes: 999 })
        );
    }

    #[test]
    fn idempotency_key_is_short_visible_ascii() {
        assert!(IdempotencyKey::parse("3f1c2a9e-7b1d-4c55-9a0e-5b8a1f2d6c10").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }

    /// `FormatCheck` over every split of a content into two chunks answers as `matches` does.
    #[test]
    fn a_chunked_format_check_agrees_with_the_whole_one() {
        let cases: [(MimeType, &[u8]); 7] = [
            (MimeType::PlainText, "Résultats: été".as_bytes()),
            (MimeType::PlainText, b"ok \xff not utf-8"),
            (MimeType::CdaXml, "\u{feff}  <ClinicalDocument/>".as_bytes()),
            (MimeType::CdaXml, b"  not xml"),
            (MimeType::Pdf, b"%PDF-1.7 rest"),
            (MimeType::Pdf, b"%PD"),
            (MimeType::Png, b"\x89PNG\r\n\x1a\n...."),
        ];
        for (mime, content) in cases {
            for split in 0..=content.len() {
                let mut check = FormatCheck::new(mime);
                check.update(&content[..split]);
                check.update(&content[split..]);
                assert_eq!(
                    check.finish(),
                    mime.matches(content),
                    "{mime:?} {content:?} split at {split}"
                );
            }
        }
    }
}
