//! A real SMTP server for the tests (RFC 5321, the subset a client needs), on a loopback port:
//! it receives what the relay sends, and can answer with temporary or permanent failures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One email received.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// A header's value, unfolded and with RFC 2047 encoded-words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| decode_words(value.trim()))
        })
    }

    /// The text body (base64 transfer encoding, as the relay sends it).
    pub fn body(&self) -> String {
        use base64::Engine;
        let encoded: String = self
            .data
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap(),
        )
        .unwrap()
    }
}

/// Decodes `=?utf-8?b?…?=` and `=?utf-8?q?…?=` words; the space between two encoded words is
/// not part of the text (RFC 2047, 6.2).
fn decode_words(value: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut previous_encoded = false;
    for word in value.split(' ') {
        let decoded = word
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .and_then(|w| {
                let mut parts = w.splitn(3, '?');
                let (_, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
                let bytes = match encoding.to_ascii_lowercase().as_str() {
                    "b" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()?,
                    _ => quoted_printable(&text.replace('_', " ")),
                };
                String::from_utf8(bytes).ok()
            });
        let encoded = decoded.is_some();
        let joins_encoded_words = encoded && previous_encoded;
        if !out.is_empty() && !joins_encoded_words {
            out.push(' ');
        }
        out.push_str(&decoded.unwrap_or_else(|| word.to_owned()));
        previous_encoded = encoded;
    }
    out
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&text[i + 1..i + 3], 16).ok())
            .flatten();
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// An SMTP server on 127.0.0.1.
#[derive(Clone)]
pub struct SmtpServer {
    pub url: String,
    received: Arc<Mutex<Vec<Mail>>>,
    /// Recipient → (reply code, how many more times), for RCPT TO.
    failures: Arc<Mutex<HashMap<String, (u16, usize)>>>,
    /// How long the answer to a message's end is held back (a slow mail server).
    data_delay: Arc<Mutex<std::time::Duration>>,
    /// Messages whose DATA has begun.
    data_begun: Arc<std::sync::atomic::AtomicUsize>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let server = Self {
            url,
            received: Arc::default(),
            failures: Arc::default(),
            data_delay: Arc::default(),
            data_begun: Arc::default(),
        };
        let handle = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(handle.clone().session(socket));
            }
        });
        server
    }

    /// Answers `code` to `RCPT TO:<recipient>` the next `times` times.
    pub fn fail(&self, recipient: &str, code: u16, times: usize) {
        self.failures
            .lock()
            .unwrap()
            .insert(recipient.to_owned(), (code, times));
    }

    /// Holds the answer to each message's end for `by`: the message is received, but the
    /// client hears so only then.
    pub fn answer_data_after(&self, by: std::time::Duration) {
        *self.data_delay.lock().unwrap() = by;
    }

    /// How many messages have begun (DATA accepted), received or not yet.
    pub fn data_begun(&self) -> usize {
        self.data_begun.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Mail> {
        self.received.lock().unwrap().clone()
    }

    async fn session(self, socket: tokio::net::TcpStream) {
        let (reader, mut writer) = socket.into_split();
        let mut lines = BufReader::new(reader).lines();
        let _ = writer.write_all(b"220 test.local ESMTP\r\n").await;
        let (mut from, mut to) = (String::new(), Vec::new());
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") {
                "250-test.local\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n".into()
            } else if upper.starts_with("HELO")
                || upper.starts_with("NOOP")
                || upper.starts_with("RSET")
            {
                "250 OK\r\n".into()
            } else if upper.starts_with("MAIL FROM:") {
                from = address(&line);
                to.clear();
                "250 OK\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                let recipient = address(&line);
                let failure = {
                    let mut failures = self.failures.lock().unwrap();
                    match failures.get_mut(&recipient) {
                        Some((code, times)) if *times > 0 => {
                            *times -= 1;
                            Some(*code)
                        }
                        _ => None,
                    }
                };
                match failure {
                    Some(code) if code >= 500 => {
                        format!("{code} 5.1.1 <{recipient}>: no such user\r\n")
                    }
                    Some(code) => format!("{code} 4.3.0 try again later\r\n"),
                    None => {
                        to.push(recipient);
                        "250 OK\r\n".into()
                    }
                }
            } else if upper == "DATA" {
                let _ = writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                self.data_begun
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut data = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    data.push(
                        line.strip_prefix('.')
                            .map(str::to_owned)
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(line),
                    );
                }
                self.received.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: to.clone(),
                    data: data.join("\r\n"),
                });
                let delay = *self.data_delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                "250 OK queued\r\n".into()
            } else if upper.starts_with("QUIT") {
                let _ = writer.write_all(b"221 bye\r\n").await;
                break;
            } else {
                "502 command not implemented\r\n".into()
            };
            if writer.write_all(reply.as_bytes()).await.is_err() {
                break;
            }
        }
    }
}

fn address(line: &str) -> String {
    line.split(['<', '>']).nth(1).unwrap_or("").to_owned()
}
