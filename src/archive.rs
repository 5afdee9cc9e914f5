//! The patient's export as one zip archive: `index.json` (what the archive holds), `ledger.json`
//! (the whole history with its hashes, in the format `espace-sante ledger verify-export`
//! reads), `medical-profile.json`, `messages.json`, each document's bytes, byte-identical,
//! under `documents/`, and each attachment's under `attachments/`.
//!
//! The archive is streamed: its JSON entries are written first, then each file's bytes as they
//! come from the content store, so that the memory an export holds does not grow with the
//! record. File entries carry a data descriptor (their CRC-32 follows their bytes, as zip allows
//! for a stream); the central directory at the end holds every size and CRC, where readers look.
//!
//! The zip is written here, stored (not compressed): documents are PDFs and images that do not
//! compress, and a stored zip is a few dozen lines with the CRC-32 crate already in the build,
//! where a zip library would bring a compression stack. No zip64: an export over 4 GiB or 65,535
//! files is refused before a byte is sent (a record's documents are at most DOCUMENT_MAX_BYTES
//! each).

use bytes::Bytes;
use chrono::{DateTime, Datelike, Timelike, Utc};
use futures_util::stream::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::contents::ContentStore;
use crate::domain::documents::DocumentType;
use crate::services::checkpoints::{ExportedFile, LedgerExport};
use crate::services::export::RecordExport;

/// The `format` of `index.json`: version 2 keeps attachments as files beside `messages.json`,
/// which names them, where version 1 had their bytes in base64 inside it.
pub const EXPORT_FORMAT: &str = "espace-sante/export/v2";

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
#[error("the export is too large for a zip archive without zip64 ({0})")]
pub struct TooLarge(&'static str);

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
/// General purpose flag: the names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;
/// General purpose flag: the CRC-32 and sizes follow the data (a data descriptor).
const DATA_DESCRIPTOR: u16 = 1 << 3;
/// Chunks of the archive in flight between its writer and the response: the memory it holds.
const CHUNKS_IN_FLIGHT: usize = 4;
/// What one chunk of written headers or JSON holds before it is sent.
const CHUNK_BYTES: usize = 64 * 1024;

/// An entry of the archive, as planned before a byte is sent.
#[derive(Debug)]
enum Entry {
    /// Bytes at hand (the JSON files).
    Json(String, Vec<u8>),
    /// A content of the store, streamed: its path, digest and size.
    Stored(String, String, u64),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Self::Json(name, _) | Self::Stored(name, _, _) => name,
        }
    }

    fn size(&self) -> u64 {
        match self {
            Self::Json(_, bytes) => bytes.len() as u64,
            Self::Stored(_, _, size) => *size,
        }
    }
}

/// The export as a stream of zip bytes. Its entries are planned (and an archive too large for
/// zip refused) before anything is sent; a store that fails midway ends the stream with the
/// error, so the client sees a broken download, never a short archive taken for whole.
pub fn record_zip(
    export: &RecordExport,
    store: ContentStore,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, TooLarge> {
    let entries = plan(export)?;
    let at = export.exported_at;
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        let mut zip = ZipStream {
            tx,
            pending: Vec::with_capacity(CHUNK_BYTES),
            offset: 0,
            central: Vec::new(),
        };
        if let Err(Stop::Failed(err)) = zip.write(entries, &store, at).await {
            tracing::error!(error.cause = %err, "the export stopped midway");
            let _ = zip.tx.send(Err(err)).await;
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// Why writing stopped.
enum Stop {
    /// The client went away: nothing more to do.
    Gone,
    /// The store failed: the client must learn the archive is broken.
    Failed(std::io::Error),
}

/// A stored zip archive being streamed.
struct ZipStream {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    /// Headers and JSON not sent yet.
    pending: Vec<u8>,
    /// Bytes of the archive so far (sent and pending).
    offset: u64,
    central: Vec<u8>,
}

impl ZipStream {
    async fn write(
        &mut self,
        entries: Vec<Entry>,
        store: &ContentStore,
        at: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let count = entries.len();
        for entry in entries {
            match entry {
                Entry::Json(name, bytes) => {
                    let crc = CRC32.checksum(&bytes);
                    let size = bytes.len() as u32;
                    let offset = self.offset as u32;
                    let header = header(UTF8_NAMES, at, crc, size, &name);
                    self.push(&local_header(&header, &name)).await?;
                    self.push(&bytes).await?;
                    self.central_entry(&header, &name, offset);
                }
                Entry::Stored(name, sha256, _) => {
                    let offset = self.offset as u32;
                    let flags = UTF8_NAMES | DATA_DESCRIPTOR;
                    self.push(&local_header(&header(flags, at, 0, 0, &name), &name))
                        .await?;
                    let mut content = store
                        .stream(&sha256)
                        .await
                        .map_err(|err| Stop::Failed(std::io::Error::other(err)))?;
                    let mut digest = CRC32.digest();
                    let mut size: u64 = 0;
                    while let Some(chunk) = content.bytes.next().await {
                        let chunk =
                            chunk.map_err(|err| Stop::Failed(std::io::Error::other(err)))?;
                        digest.update(&chunk);
                        size += chunk.len() as u64;
                        self.flush().await?;
                        self.offset += chunk.len() as u64;
                        self.send(chunk).await?;
                    }
                    let crc = digest.finalize();
                    let size = size as u32;
                    let mut descriptor = Vec::with_capacity(16);
                    descriptor.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
                    descriptor.extend_from_slice(&crc.to_le_bytes());
                    descriptor.extend_from_slice(&size.to_le_bytes());
                    descriptor.extend_from_slice(&size.to_le_bytes());
                    self.push(&descriptor).await?;
                    self.central_entry(&header(flags, at, crc, size, &name), &name, offset);
                }
            }
        }
        let offset = self.offset as u32;
        let central = std::mem::take(&mut self.central);
        let size = central.len() as u32;
        self.push(&central).await?;
        let entries = count as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // this disk
        end.extend_from_slice(&0u16.to_le_bytes()); // disk of the central directory
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&size.to_le_bytes());
        end.extend_from_slice(&offset.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.push(&end).await?;
        self.flush().await
    }

    fn central_entry(&mut self, header: &[u8], name: &str, offset: u32) {
        self.central
            .extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        self.central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        self.central.extend_from_slice(header);
        self.central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        self.central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        self.central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
    }

    /// Appends `bytes` to what is pending, sending full chunks.
    async fn push(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        for piece in bytes.chunks(CHUNK_BYTES) {
            self.pending.extend_from_slice(piece);
            self.offset += piece.len() as u64;
            if self.pending.len() >= CHUNK_BYTES {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK_BYTES));
        self.send(Bytes::from(chunk)).await
    }

    async fn send(&mut self, chunk: Bytes) -> Result<(), Stop> {
        self.tx.send(Ok(chunk)).await.map_err(|_| Stop::Gone)
    }
}

/// The part of an entry's header that its local header and its central-directory record share.
fn header(flags: u16, at: DateTime<Utc>, crc: u32, size: u32, name: &str) -> Vec<u8> {
    let (time, date) = dos_time(at);
    let mut common = Vec::with_capacity(26);
    common.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    common.extend_from_slice(&flags.to_le_bytes());
    common.extend_from_slice(&0u16.to_le_bytes()); // stored
    common.extend_from_slice(&time.to_le_bytes());
    common.extend_from_slice(&date.to_le_bytes());
    common.extend_from_slice(&crc.to_le_bytes());
    common.extend_from_slice(&size.to_le_bytes()); // compressed size
    common.extend_from_slice(&size.to_le_bytes());
    common.extend_from_slice(&(name.len() as u16).to_le_bytes());
    common.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    common
}

fn local_header(header: &[u8], name: &str) -> Vec<u8> {
    let mut local = Vec::with_capacity(4 + header.len() + name.len());
    local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    local.extend_from_slice(header);
    local.extend_from_slice(name.as_bytes());
    local
}

/// Checks that `entries` fit a zip without zip64: sizes and offsets in 32 bits, names and
/// entry count in 16.
fn fits(entries: &[Entry]) -> Result<(), TooLarge> {
    u16::try_from(entries.len()).map_err(|_| TooLarge("entries"))?;
    let mut total: u64 = 22;
    for entry in entries {
        u16::try_from(entry.name().len()).map_err(|_| TooLarge("name"))?;
        u32::try_from(entry.size()).map_err(|_| TooLarge("size"))?;
        // Local header, descriptor, central record, both names.
        total += 30 + 16 + 46 + 2 * entry.name().len() as u64 + entry.size();
    }
    u32::try_from(total).map_err(|_| TooLarge("size"))?;
    Ok(())
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
    file_path("documents", id, title, mime_type)
}

/// The path of a file in the archive: under `folder`, its id, a slug of its title, its
/// extension.
fn file_path(folder: &str, id: i64, title: &str, mime_type: &str) -> String {
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
    let extension = extension_of(mime_type);
    if slug.is_empty() {
        format!("{folder}/{id}.{extension}")
    } else {
        format!("{folder}/{id}-{slug}.{extension}")
    }
}

/// The file extension of a stored MIME type.
pub fn extension_of(mime_type: &str) -> &'static str {
    match mime_type {
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "text/xml" => "xml",
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "bin",
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    // A Value always serialises.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// The entries of the archive: the JSON files, then the documents' and attachments' bytes.
fn plan(export: &RecordExport) -> Result<Vec<Entry>, TooLarge> {
    let at = export.exported_at;
    let mut files = Vec::new();
    let mut documents = Vec::new();
    let mut contents = Vec::new();
    for exported in &export.documents {
        let d = &exported.document;
        let path = exported
            .kept
            .then(|| document_path(d.id, &d.title, &d.mime_type));
        if let Some(path) = &path {
            if let Some(sequence) = exported.sequence {
                files.push(ExportedFile {
                    path: path.clone(),
                    sequence,
                    sha256: d.sha256.clone(),
                    size: d.size_bytes,
                });
            }
            contents.push(Entry::Stored(
                path.clone(),
                d.sha256.clone(),
                u64::try_from(d.size_bytes).unwrap_or(0),
            ));
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
            "purged": !exported.kept,
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
    let mut threads = Vec::with_capacity(export.threads.len());
    for t in &export.threads {
        let mut messages = Vec::with_capacity(t.messages.len());
        for (m, files) in &t.messages {
            let mut listed = Vec::with_capacity(files.len());
            for a in files {
                let path = file_path("attachments", a.id, &a.title, &a.mime_type);
                listed.push(json!({
                    "title": a.title,
                    "mimeType": a.mime_type,
                    "sizeBytes": a.size_bytes,
                    "sha256": a.sha256,
                    "file": path,
                }));
                contents.push(Entry::Stored(
                    path,
                    a.sha256.clone(),
                    u64::try_from(a.size_bytes).unwrap_or(0),
                ));
            }
            messages.push(json!({
                "id": m.id.to_string(),
                "sender": { "role": m.sender_role.as_str(), "id": m.sender_id, "name": m.sender_name },
                "sentAt": m.sent_at.to_rfc3339(),
                "body": m.body,
                "attachments": listed,
            }));
        }
        threads.push(json!({
            "id": t.thread.id.to_string(),
            "subject": t.thread.subject,
            "practitioner": {
                "rpps": t.thread.practitioner_rpps.as_str(),
                "name": t.thread.practitioner_name,
                "profession": t.thread.practitioner_profession,
            },
            "createdAt": t.thread.created_at.to_rfc3339(),
            "messages": messages,
        }));
    }
    // A LedgerExport always serialises.
    let ledger = serde_json::to_vec_pretty(&ledger).unwrap_or_default();
    let mut entries = vec![
        Entry::Json("index.json".to_owned(), pretty(&index)),
        Entry::Json("ledger.json".to_owned(), ledger),
        Entry::Json("medical-profile.json".to_owned(), pretty(&json!(medical))),
        Entry::Json("messages.json".to_owned(), pretty(&json!(threads))),
    ];
    entries.append(&mut contents);
    fits(&entries)?;
    Ok(entries)
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
