//! Sending: a practitioner writes to a patient (delivered, or bounced back without a DMP), the
//! activated patient replies within a thread.

use super::{
    BOUNCE_BODY, NewMessage, Sent, bump, insert_message, message_body, open_thread, patient_thread,
    replay, validate_attachments,
};
use crate::domain::access::Access;
use crate::domain::content::ContentDigest;
use crate::domain::documents::{IdempotencyKey, short_text};
use crate::domain::events::{AttachmentDigest, MessageStored};
use crate::domain::{ActorRef, ActorRole, Event, Ins, Practitioner, has_dmp};
use crate::services::idempotency::RequestHash;
use crate::services::live::{self, Recipient};
use crate::services::{ServiceError, Services};

impl Services {
    /// A practitioner sends a message to a patient. Delivered and notified when the patient has a
    /// profile (created or activated); otherwise accepted and bounced back into the
    /// practitioner's inbox, with nothing stored for the patient.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn send_message(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        input: &NewMessage,
    ) -> Result<Sent, ServiceError> {
        let subject = short_text(&input.subject, "the subject", 200)
            .map_err(|e| ServiceError::bad_input("subject", e.to_string()))?;
        let body = message_body(&input.body)?;
        let key = IdempotencyKey::parse(&input.idempotency_key)
            .map_err(|e| ServiceError::bad_input("idempotencyKey", e.to_string()))?;
        let files =
            validate_attachments(&input.attachments, self.policy.max_document_bytes).await?;
        let hash = RequestHash::of(
            [ins.as_str(), subject.as_str(), body.as_str()]
                .into_iter()
                .chain(files.iter().map(|f| f.digest.sha256.as_str())),
        );

        // Locks in a fixed order, the patient's then the sender's inbox (as replies do): the
        // replay check below is then safe from a concurrent retry, and a bounce's id commits in
        // the order of the inbox feed.
        let rpps = practitioner.rpps.clone();
        let actor = practitioner.to_ref();
        let mut tx = self.patient_tx(ins, Access::Any).await?;
        live::lock_inbox(tx.conn(), &rpps).await?;
        if let Some(earlier) = replay(tx.conn(), ins, &actor.id, &key, &hash).await? {
            return Ok(earlier);
        }
        let now = tx.now();
        let delivered = tx.status().is_some_and(has_dmp);
        // The sender's copy keeps the attachments, delivered or not.
        self.keep_files(tx.conn(), &files).await?;
        let thread = open_thread(tx.conn(), practitioner, ins, &subject, delivered, now).await?;
        let sent = insert_message(
            tx.conn(),
            &thread,
            &actor,
            &subject,
            &body,
            false,
            Some((&key, &hash)),
            files,
            now,
        )
        .await?;
        let thread = if delivered {
            let received = MessageStored {
                thread_id: thread.id,
                message_id: sent.message.id,
                body: Some(ContentDigest::of(body.as_bytes())),
                attachments: Some(
                    sent.attachments
                        .iter()
                        .map(|a| AttachmentDigest {
                            id: a.id,
                            sha256: a.sha256.clone(),
                            size: a.size_bytes,
                        })
                        .collect(),
                ),
            };
            tx.record(&actor, Event::MessageReceived(received)).await?;
            bump(tx.conn(), thread, now, ActorRole::Patient).await?
        } else {
            // Not in any patient's ledger; logged for operations without the INS.
            tracing::info!(
                "message undeliverable: no Mon espace santé profile; bounced to the sender"
            );
            let bounce = insert_message(
                tx.conn(),
                &thread,
                &ActorRef::system(),
                &format!("Non distribué : {subject}"),
                BOUNCE_BODY,
                true,
                None,
                Vec::new(),
                now,
            )
            .await?;
            tx.announce_after_commit(live::Announcement::Message(bounce.message.id));
            tx.ring_after_commit(Recipient::Practitioner(rpps));
            bump(tx.conn(), thread, now, ActorRole::Practitioner).await?
        };
        tx.commit().await?;
        Ok(Sent {
            message: sent,
            thread: thread.into(),
        })
    }

    /// The activated patient replies within one of their threads (never starts one).
    #[tracing::instrument(skip_all)]
    pub async fn reply(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        thread_id: i64,
        body: &str,
        key: &str,
    ) -> Result<Sent, ServiceError> {
        let body = message_body(body)?;
        let key = IdempotencyKey::parse(key)
            .map_err(|e| ServiceError::bad_input("idempotencyKey", e.to_string()))?;
        let hash = RequestHash::of([ins.as_str(), &thread_id.to_string(), &body]);
        let mut tx = self.patient_tx(ins, Access::OwnMailbox).await?;
        if let Some(earlier) = replay(tx.conn(), ins, &patient.id, &key, &hash).await? {
            return Ok(earlier);
        }
        let now = tx.now();
        let thread = patient_thread(tx.conn(), ins, thread_id).await?;
        live::lock_inbox(tx.conn(), &thread.practitioner_rpps).await?;
        let subject = format!("Re : {}", thread.subject);
        let sent = insert_message(
            tx.conn(),
            &thread,
            patient,
            &subject,
            &body,
            false,
            Some((&key, &hash)),
            Vec::new(),
            now,
        )
        .await?;
        let thread = bump(tx.conn(), thread, now, ActorRole::Practitioner).await?;
        let replied = MessageStored {
            thread_id,
            message_id: sent.message.id,
            body: Some(ContentDigest::of(body.as_bytes())),
            attachments: None,
        };
        tx.record(patient, Event::MessageReplied(replied)).await?;
        tx.announce_after_commit(live::Announcement::Message(sent.message.id));
        tx.ring_after_commit(Recipient::Practitioner(thread.practitioner_rpps.clone()));
        tx.commit().await?;
        Ok(Sent {
            message: sent,
            thread: thread.into(),
        })
    }
}
