//! The patient's export as one zip archive: `index.json` (what the archive holds), `ledger.json`
//! (the whole history with its hashes, in the format `espace-sante ledger verify-export`
//! reads), `medical-profile.json`, `messages.json`, and each document's bytes, byte-identical,
//! under `documents/`.
//!
//! The zip is written here, stored (not compressed): documents are PDFs and images that do not
//! compress, and a stored zip is a few dozen lines with the CRC-32 crate already in the build,
//! where a zip library would bring a compression stack. No zip64: an export over 4 GiB or 65,535
//! files is refused (a record's documents are at most DOCUMENT_MAX_BYTES each).

use base64::Engine;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Value, json};

use crate::domain::documents::DocumentType;
use crate::services::checkpoints::{ExportedFile, LedgerExport};
use crate::services::export::RecordExport;

/// The `format` of `index.json`.
pub const EXPORT_FORMAT: &str = "espace-sante/export/v1";

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the export is too large for a zip archive without zip64 ({0})")]
pub struct TooLarge(&'static str);

/// A stored zip archive being written.
#[derive(Debug, Default)]
struct ZipWriter {
    bytes: Vec<u8>,
    central: Vec<u8>,
    entries: u16,
}

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
/// General purpose flag: the names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;

impl ZipWriter {
    fn add(&mut self, name: &str, content: &[u8], at: DateTime<Utc>) -> Result<(), TooLarge> {
        let offset = u32::try_from(self.bytes.len()).map_err(|_| TooLarge("size"))?;
        let size = u32::try_from(content.len()).map_err(|_| TooLarge("size"))?;
        let name_len = u16::try_from(name.len()).map_err(|_| TooLarge("name"))?;
        self.entries = self.entries.checked_add(1).ok_or(TooLarge("entries"))?;
        let crc = CRC32.checksum(content);
        let (time, date) = dos_time(at);
        let mut common = Vec::with_capacity(26);
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        common.extend_from_slice(&UTF8_NAMES.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // stored
        common.extend_from_slice(&time.to_le_bytes());
        common.extend_from_slice(&date.to_le_bytes());
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes()); // compressed size
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&name_len.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra field length

        self.bytes.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        self.bytes.extend_from_slice(&common);
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(content);

        self.central
            .extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        self.central.extend_from_slice(&common);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, TooLarge> {
        let offset = u32::try_from(self.bytes.len()).map_err(|_| TooLarge("size"))?;
        let size = u32::try_from(self.central.len()).map_err(|_| TooLarge("size"))?;
        self.bytes.append(&mut self.central);
        self.bytes.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.bytes.extend_from_slice(&0u16.to_le_bytes()); // this disk
        self.bytes.extend_from_slice(&0u16.to_le_bytes()); // disk of the central directory
        self.bytes.extend_from_slice(&self.entries.to_le_bytes());
        self.bytes.extend_from_slice(&self.entries.to_le_bytes());
        self.bytes.extend_from_slice(&size.to_le_bytes());
        self.bytes.extend_from_slice(&offset.to_le_bytes());
        self.bytes.extend_from_slice(&0u16.to_le_bytes()); // comment length
        Ok(self.bytes)
    }
}

/// MS-DOS time and date of `at` (UTC), as zip stores them.
fn dos_time(at: DateTime<Utc>) -> (u16, u16) {
    let year = u16::try_from(at.year().clamp(1980, 2107) - 1980).unwrap_or(0);
    let time = (at.hour() as u16) << 11 | (at.minute() as u16) << 5 | (at.second() as u16 / 2);
    let date = year << 9 | (at.month() as u16) << 5 | at.day() as u16;
    (time, date)
}

/// The file name of a document in the archive: its id, a slug of its title, its extension.
fn document_path(id: i64, title: &str, mime_type: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'a'..='z' | '0'..='9' => c,
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            _ => '-',
        };
        if !(c == '-' && (slug.is_empty() || slug.ends_with('-'))) {
            slug.push(c);
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let extension = match mime_type {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/xml" => "xml",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "bin",
    };
    if slug.is_empty() {
        format!("documents/{id}.{extension}")
    } else {
        format!("documents/{id}-{slug}.{extension}")
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    // A Value always serialises.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Writes the export as a zip archive.
pub fn record_zip(export: &RecordExport) -> Result<Vec<u8>, TooLarge> {
    let at = export.exported_at;
    let mut zip = ZipWriter::default();
    let mut files = Vec::new();
    let mut documents = Vec::new();
    let mut contents = Vec::new();
    for exported in &export.documents {
        let d = &exported.document;
        let path = exported
            .content
            .as_ref()
            .map(|_| document_path(d.id, &d.title, &d.mime_type));
        if let (Some(path), Some(content)) = (&path, &exported.content) {
            if let Some(sequence) = exported.sequence {
                files.push(ExportedFile {
                    path: path.clone(),
                    sequence,
                    sha256: d.sha256.clone(),
                    size: content.len() as i64,
                });
            }
            contents.push((path.clone(), content));
        }
        let doc_type = DocumentType::from_code(&d.type_code);
        documents.push(json!({
            "id": d.id.to_string(),
            "title": d.title,
            "type": { "code": d.type_code, "display": doc_type.map(|t| t.display) },
            "mimeType": d.mime_type,
            "sizeBytes": d.size_bytes,
            "sha256": d.sha256,
            "actDate": d.act_date.to_string(),
            "createdAt": d.created_at.to_rfc3339(),
            "author": {
                "role": d.author_role.as_str(),
                "id": d.author_id,
                "name": d.author_name,
                "profession": d.author_profession,
            },
            "masked": d.masked,
            "sequence": exported.sequence,
            "file": path,
            "purged": exported.content.is_none(),
        }));
    }
    let ledger = LedgerExport {
        files,
        ..export.ledger.clone()
    };
    let p = &export.profile;
    let index = json!({
        "format": EXPORT_FORMAT,
        "exportedAt": at.to_rfc3339(),
        "patient": {
            "ins": p.ins.as_str(),
            "status": p.status.as_str(),
            "birthName": p.birth_name,
            "firstNames": p.first_names,
            "birthDate": p.birth_date.to_string(),
            "personalEmail": p.personal_email,
            "createdAt": p.created_at.map(|t| t.to_rfc3339()),
            "activatedAt": p.activated_at.map(|t| t.to_rfc3339()),
            "closedAt": p.closed_at.map(|t| t.to_rfc3339()),
        },
        "documents": documents,
        "medicalProfile": "medical-profile.json",
        "messages": "messages.json",
        "ledger": {
            "file": "ledger.json",
            "eventCount": ledger.events.len(),
            "headHash": ledger.events.last().map(|e| e.hash.clone()),
            "checkpoint": ledger.checkpoint.as_ref().map(|c| c.index),
        },
    });
    let medical = export
        .medical_profile
        .iter()
        .map(|e| {
            json!({
                "id": e.id.to_string(),
                "category": e.category.as_str(),
                "label": e.label,
                "details": e.details,
                "since": e.since.map(|d| d.to_string()),
                "createdAt": e.created_at.to_rfc3339(),
                "updatedAt": e.updated_at.to_rfc3339(),
            })
        })
        .collect::<Vec<_>>();
    let threads = export
        .threads
        .iter()
        .map(|t| {
            json!({
                "id": t.thread.id.to_string(),
                "subject": t.thread.subject,
                "practitioner": {
                    "rpps": t.thread.practitioner_rpps.as_str(),
                    "name": t.thread.practitioner_name,
                    "profession": t.thread.practitioner_profession,
                },
                "createdAt": t.thread.created_at.to_rfc3339(),
                "messages": t.messages.iter().map(|(m, attachments)| json!({
                    "id": m.id.to_string(),
                    "sender": { "role": m.sender_role.as_str(), "id": m.sender_id, "name": m.sender_name },
                    "sentAt": m.sent_at.to_rfc3339(),
                    "body": m.body,
                    "attachments": attachments.iter().map(|(a, content)| json!({
                        "title": a.title,
                        "mimeType": a.mime_type,
                        "sizeBytes": a.size_bytes,
                        "sha256": a.sha256,
                        "contentBase64": base64::engine::general_purpose::STANDARD.encode(content),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect::<Vec<_>>();
    zip.add("index.json", &pretty(&index), at)?;
    // A LedgerExport always serialises.
    let ledger = serde_json::to_vec_pretty(&ledger).unwrap_or_default();
    zip.add("ledger.json", &ledger, at)?;
    zip.add("medical-profile.json", &pretty(&json!(medical)), at)?;
    zip.add("messages.json", &pretty(&json!(threads)), at)?;
    for (path, content) in contents {
        zip.add(&path, content, at)?;
    }
    zip.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_paths_are_ascii_slugs_with_their_extension() {
        assert_eq!(
            document_path(
                12,
                "Compte rendu de consultation du 27 novembre",
                "application/pdf"
            ),
            "documents/12-compte-rendu-de-consultation-du-27-novembre.pdf"
        );
        assert_eq!(
            document_path(3, "Échographie : résultats", "image/png"),
            "documents/3-echographie-resultats.png"
        );
        assert_eq!(document_path(4, "***", "text/plain"), "documents/4.txt");
    }

    #[test]
    fn crc32_is_the_zip_one() {
        assert_eq!(CRC32.checksum(b"123456789"), 0xCBF4_3926);
    }
}
