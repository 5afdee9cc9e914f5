//! Emails: over SMTP when configured (one URL: `smtp://` plain, `smtp://…?tls=required` for
//! STARTTLS, `smtps://` for TLS), otherwise written as `.eml` files to a folder, so that a
//! newcomer's `cargo run` can read what would have been sent.

use std::path::PathBuf;

use entity::notification;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why an email was not sent.
#[derive(Debug)]
pub enum SendError {
    /// Worth retrying later (a 4xx answer, a connection failure).
    Transient(String),
    /// Never going to work (a 5xx answer, an invalid address).
    Permanent(String),
}

/// Where emails go.
#[derive(Debug, Clone)]
pub enum Mailer {
    /// A real SMTP server.
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// `.eml` files in a folder.
    Folder { dir: PathBuf, from: Mailbox },
}

impl Mailer {
    /// An SMTP mailer for `url`, or a folder mailer when there is none.
    pub fn new(smtp_url: Option<&str>, from: &str, dir: PathBuf) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("MAIL_FROM is not an address: {e}"))?;
        Ok(match smtp_url {
            Some(url) => Self::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("SMTP_URL is not usable: {e}"))?
                    .build(),
                from,
            },
            None => Self::Folder { dir, from },
        })
    }

    /// Where emails go, for the startup log (no credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { .. } => "an SMTP server (SMTP_URL)".to_owned(),
            Self::Folder { dir, .. } => format!(
                "the folder {} (.eml files; set SMTP_URL to send)",
                dir.display()
            ),
        }
    }

    /// Sends the email of one outbox row.
    pub async fn send(&self, row: &notification::Model) -> Result<(), SendError> {
        let (Self::Smtp { from, .. } | Self::Folder { from, .. }) = self;
        let email = build(row, from)?;
        match self {
            Self::Smtp { transport, .. } => transport.send(email).await.map(drop).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Self::Folder { dir, .. } => {
                let write = async {
                    tokio::fs::create_dir_all(dir).await?;
                    tokio::fs::write(dir.join(format!("{}.eml", row.id)), email.formatted()).await
                };
                write
                    .await
                    .map_err(|e| SendError::Transient(format!("cannot write the email: {e}")))
            }
        }
    }
}

/// The stable Message-ID of an outbox row: a resend after a crash carries the same one, so a
/// duplicate is recognisable.
pub fn message_id(row: &notification::Model) -> String {
    format!(
        "<notification-{}.event-{}@espace-sante>",
        row.id, row.ledger_event_id
    )
}

fn build(row: &notification::Model, from: &Mailbox) -> Result<Message, SendError> {
    let to: Mailbox = row
        .recipient
        .parse()
        .map_err(|e| SendError::Permanent(format!("the recipient is not an address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(message_id(row)))
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .header(ContentTransferEncoding::Base64)
                .body(row.body.clone()),
        )
        .map_err(|e| SendError::Permanent(format!("the email cannot be built: {e}")))
}
