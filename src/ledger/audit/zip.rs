//! Reads the entries of a zip archive whose entries are stored (not compressed), as the patient
//! export writes it: enough for the offline verifier to find `ledger.json` and the files it
//! names, without a compression stack. CRCs are not checked: every file the verifier trusts is
//! checked against a SHA-256 the chain binds.

use std::collections::BTreeMap;

const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const CENTRAL_FILE_HEADER: u32 = 0x0201_4b50;
const LOCAL_FILE_HEADER: u32 = 0x0403_4b50;

/// Whether `bytes` look like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(&LOCAL_FILE_HEADER.to_le_bytes())
        || bytes.starts_with(&END_OF_CENTRAL_DIRECTORY.to_le_bytes())
}

fn u16_at(bytes: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?).into())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn usize_at(bytes: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u32_at(bytes, at)?).ok()
}

/// Every entry of a stored zip, by name (directories left out).
pub fn stored_entries(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let malformed = || "not a readable zip archive".to_owned();
    // The end record is the last 22 bytes, before a comment of at most 65,535 bytes.
    let earliest = bytes.len().saturating_sub(22 + 65_535);
    let end = (earliest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(END_OF_CENTRAL_DIRECTORY))
        .ok_or_else(malformed)?;
    let count = u16_at(bytes, end + 10).ok_or_else(malformed)?;
    let mut at = usize_at(bytes, end + 16).ok_or_else(malformed)?;
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        if u32_at(bytes, at) != Some(CENTRAL_FILE_HEADER) {
            return Err(malformed());
        }
        let method = u16_at(bytes, at + 10).ok_or_else(malformed)?;
        let size = usize_at(bytes, at + 20).ok_or_else(malformed)?;
        let name_len = u16_at(bytes, at + 28).ok_or_else(malformed)?;
        let extra_len = u16_at(bytes, at + 30).ok_or_else(malformed)?;
        let comment_len = u16_at(bytes, at + 32).ok_or_else(malformed)?;
        let local = usize_at(bytes, at + 42).ok_or_else(malformed)?;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or_else(malformed)?
            .to_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if method != 0 {
            return Err(format!(
                "{name}: compressed entries are not read; the export stores its files"
            ));
        }
        if u32_at(bytes, local) != Some(LOCAL_FILE_HEADER) {
            return Err(malformed());
        }
        let data = local
            + 30
            + u16_at(bytes, local + 26).ok_or_else(malformed)?
            + u16_at(bytes, local + 28).ok_or_else(malformed)?;
        let content = bytes.get(data..data + size).ok_or_else(malformed)?;
        entries.insert(name, content.to_vec());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip, written by the book (what the patient export writes).
    fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        for (name, content) in files {
            let offset = out.len() as u32;
            let mut common = Vec::new();
            common.extend_from_slice(&20u16.to_le_bytes());
            common.extend_from_slice(&0u16.to_le_bytes());
            common.extend_from_slice(&0u16.to_le_bytes()); // stored
            common.extend_from_slice(&[0; 8]); // time, date, crc
            common.extend_from_slice(&(content.len() as u32).to_le_bytes());
            common.extend_from_slice(&(content.len() as u32).to_le_bytes());
            common.extend_from_slice(&(name.len() as u16).to_le_bytes());
            common.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&LOCAL_FILE_HEADER.to_le_bytes());
            out.extend_from_slice(&common);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(content);
            central.extend_from_slice(&CENTRAL_FILE_HEADER.to_le_bytes());
            central.extend_from_slice(&20u16.to_le_bytes());
            central.extend_from_slice(&common);
            central.extend_from_slice(&[0; 10]); // comment length, disk, attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let start = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn stored_entries_read_back() {
        let bytes = zip(&[("ledger.json", b"{}"), ("documents/1.pdf", b"%PDF")]);
        assert!(is_zip(&bytes));
        let entries = stored_entries(&bytes).unwrap();
        assert_eq!(entries["ledger.json"], b"{}");
        assert_eq!(entries["documents/1.pdf"], b"%PDF");
        assert!(stored_entries(&bytes[..bytes.len() - 3]).is_err());
        assert!(stored_entries(b"PK\x03\x04 nothing").is_err());
    }
}
