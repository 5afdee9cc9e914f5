//! The data of the tests: INS numbers, enrolment rows, practitioners, documents.

use espace_sante::domain::Ins;
use serde_json::{Value, json};

/// A valid INS, different for each `n`.
pub fn ins(n: u32) -> String {
    let nir = format!("2{:02}{:02}75{:06}", 60 + n % 40, 1 + n % 12, 100_000 + n);
    let key = Ins::key_of(&nir).unwrap();
    format!("{nir}{key:02}")
}

/// One enrolment row.
pub fn beneficiary(ins: &str, insurer_email: Option<&str>) -> Value {
    json!({
        "ins": ins,
        "birthName": "MARTIN",
        "firstNames": "Jeanne Marie",
        "birthDate": "1980-04-12",
        "carteVitaleSerial": format!("CV{}", &ins[..10]),
        "insurerEmail": insurer_email,
        "addressLines": ["12 rue des Lilas", "75011 PARIS"],
    })
}

/// The Carte Vitale serial of [`beneficiary`].
pub fn serial_of(ins: &str) -> String {
    format!("CV{}", &ins[..10])
}

/// A practitioner of the tests, with a valid RPPS number.
pub const DOCTOR: &str = "10003456786";
/// Another practitioner.
pub const NURSE: &str = "10009876540";

/// A small PDF document.
pub const PDF: &[u8] = b"%PDF-1.4\n% test document\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

/// A document input for `feedDocument`/`addDocument`: a consultation report (`11488-4`).
pub fn document_input(key: &str, title: &str) -> Value {
    typed_document_input(key, title, "11488-4")
}

/// A document input whose bytes are [`PDF`] followed by `tail` (contents of their own: equal
/// contents are stored once).
pub fn own_content_document_input(key: &str, title: &str, tail: &str) -> Value {
    use base64::Engine;
    let mut input = document_input(key, title);
    let mut bytes = PDF.to_vec();
    bytes.extend_from_slice(tail.as_bytes());
    input["contentBase64"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    input
}

/// A document input of the LOINC type `type_code`.
pub fn typed_document_input(key: &str, title: &str, type_code: &str) -> Value {
    use base64::Engine;
    json!({
        "type": { "system": "http://loinc.org", "code": type_code },
        "title": title,
        "mimeType": "application/pdf",
        "contentBase64": base64::engine::general_purpose::STANDARD.encode(PDF),
        "actDate": "2026-10-30",
        "idempotencyKey": key,
    })
}
