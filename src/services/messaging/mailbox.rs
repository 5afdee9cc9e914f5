//! Reading: the patient's threads and the practitioner's inbox, and a thread read in full
//! (which marks it read and, for a thread that reached a patient, is in their ledger).

use entity::thread;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, sea_query::Expr,
};

use super::{
    Conversation, InboxKey, ListedThread, ThreadKey, patient_thread, thread_messages,
    thread_not_found, with_last_messages,
};
use crate::domain::access::Access;
use crate::domain::events::ThreadRead;
use crate::domain::{ActorRef, Event, Ins, Practitioner, Rpps};
use crate::services::patient_tx::Traced;
use crate::services::views::{Attachment, Message};
use crate::services::{ServiceError, Services};

/// A thread as its practitioner reads it.
#[derive(Debug)]
pub enum PractitionerThread {
    /// It reached the patient: it may hold their replies, and this reading is in their ledger.
    Delivered(Traced<Conversation>),
    /// It never reached anyone: it holds the practitioner's own message and the bounce, nothing
    /// of a patient's, and is in no ledger.
    Undelivered(Conversation),
}

impl Services {
    /// The activated patient's threads, most recent first, `limit` of them after `after`
    /// (`ActivationRequired` before activation), read by `reader` (the patient, or a legal
    /// representative: then traced as theirs).
    pub async fn patient_threads(
        &self,
        reader: &ActorRef,
        ins: &Ins,
        after: Option<ThreadKey>,
        limit: u64,
    ) -> Result<Traced<Vec<ListedThread>>, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnMailbox).await?;
        let receipt = tx.space_read(reader, Event::MailboxConsulted).await?;
        let threads = thread::Entity::find()
            .filter(thread::Column::PatientIns.eq(ins.as_str()))
            .filter(thread::Column::Delivered.eq(true))
            .apply_if(after, |query, after| query.filter(after.rows_after()))
            .order_by_desc(thread::Column::LastMessageAt)
            .order_by_desc(thread::Column::Id)
            .limit(limit)
            .all(tx.conn())
            .await?;
        let with_last = with_last_messages(tx.conn(), threads).await?;
        tx.commit_traced(receipt, with_last).await
    }

    /// The activated patient reads a thread: it is marked read, and the reading is traced.
    #[tracing::instrument(skip_all)]
    pub async fn patient_read_thread(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        thread_id: i64,
    ) -> Result<Traced<Conversation>, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnMailbox).await?;
        let thread = patient_thread(tx.conn(), ins, thread_id).await?;
        let mut row = thread.into_active_model();
        row.patient_unread = Set(0);
        let thread = row.update(tx.conn()).await?;
        let receipt = tx
            .record(patient, Event::ThreadRead(ThreadRead { thread_id }))
            .await?;
        let messages = thread_messages(tx.conn(), thread_id).await?;
        let thread = thread.into();
        tx.commit_traced(receipt, Conversation { thread, messages })
            .await
    }

    /// A practitioner's threads: those with unread messages first, then most recent; `limit`
    /// of them after `after`. The last message of each comes without what a patient wrote:
    /// nothing here is traced, and reading the thread is.
    pub async fn inbox(
        &self,
        rpps: &Rpps,
        after: Option<InboxKey>,
        limit: u64,
    ) -> Result<Vec<ListedThread>, ServiceError> {
        let unread_first: Expr = Expr::case(thread::Column::PractitionerUnread.gt(0), 1)
            .finally(0)
            .into();
        let threads = thread::Entity::find()
            .filter(thread::Column::PractitionerRpps.eq(rpps.clone()))
            .apply_if(after, |query, after| query.filter(after.rows_after()))
            .order_by_desc(unread_first)
            .order_by_desc(thread::Column::LastMessageAt)
            .order_by_desc(thread::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(with_last_messages(&self.db, threads)
            .await?
            .into_iter()
            .map(|(thread, last)| (thread, last.map(Message::without_patient_text)))
            .collect())
    }

    /// A practitioner reads one of their threads, which marks it read. Reading what a patient
    /// wrote is in the patient's ledger, like any reading of their data.
    pub async fn practitioner_read_thread(
        &self,
        practitioner: &Practitioner,
        thread_id: i64,
    ) -> Result<PractitionerThread, ServiceError> {
        let find = || {
            thread::Entity::find_by_id(thread_id)
                .filter(thread::Column::PractitionerRpps.eq(practitioner.rpps.clone()))
        };
        let thread = find().one(&self.db).await?.ok_or_else(thread_not_found)?;
        let mut tx = self.patient_tx(&thread.patient_ins, Access::Any).await?;
        // Re-read under the patient's lock.
        let thread = find()
            .lock_exclusive()
            .one(tx.conn())
            .await?
            .ok_or_else(thread_not_found)?;
        let receipt = if thread.delivered {
            let receipt = tx
                .record(
                    &practitioner.to_ref(),
                    Event::ThreadRead(ThreadRead { thread_id }),
                )
                .await?;
            Some(receipt)
        } else {
            None
        };
        let mut row = thread.into_active_model();
        row.practitioner_unread = Set(0);
        let thread = row.update(tx.conn()).await?;
        let messages = thread_messages(tx.conn(), thread_id).await?;
        let conversation = Conversation {
            thread: thread.into(),
            messages,
        };
        Ok(match receipt {
            Some(receipt) => {
                PractitionerThread::Delivered(tx.commit_traced(receipt, conversation).await?)
            }
            None => {
                tx.commit().await?;
                PractitionerThread::Undelivered(conversation)
            }
        })
    }
}

impl Services {
    /// An attachment, for its download (`GET /attachments/{id}/content`): reading it is reading
    /// its thread, with the same rules and the same trace as [`Self::patient_read_thread`] (the
    /// patient) or [`Self::practitioner_read_thread`] (the thread's practitioner). Any other
    /// id, or one of a thread that is not the caller's, is `NotFound`.
    pub async fn open_attachment(
        &self,
        reader: &crate::domain::Actor,
        attachment_id: i64,
    ) -> Result<Attachment, ServiceError> {
        let not_found = || ServiceError::NotFound("no such attachment in your mailbox".to_owned());
        let thread_id = attachment_thread(&self.db, attachment_id)
            .await?
            .ok_or_else(not_found)?;
        let conversation = match reader {
            crate::domain::Actor::Patient { ins, .. } => self
                .patient_read_thread(&reader.to_ref(), ins, thread_id)
                .await
                .map_err(|err| match err {
                    ServiceError::NotFound(_) => not_found(),
                    other => other,
                })?
                .into_inner(),
            crate::domain::Actor::Practitioner(practitioner) => {
                match self.practitioner_read_thread(practitioner, thread_id).await {
                    Ok(PractitionerThread::Delivered(read)) => read.into_inner(),
                    Ok(PractitionerThread::Undelivered(conversation)) => conversation,
                    Err(ServiceError::NotFound(_)) => return Err(not_found()),
                    Err(other) => return Err(other),
                }
            }
            _ => {
                return Err(ServiceError::Forbidden(
                    "only the patient and the practitioner of a conversation download its \
                     attachments"
                        .to_owned(),
                ));
            }
        };
        conversation
            .messages
            .into_iter()
            .flat_map(|m| m.attachments)
            .find(|a| a.id == attachment_id)
            .ok_or_else(not_found)
    }
}

/// The thread an attachment belongs to (nothing of it is read but the id).
async fn attachment_thread(
    conn: &impl sea_orm::ConnectionTrait,
    attachment_id: i64,
) -> Result<Option<i64>, ServiceError> {
    let Some(attachment) = entity::message_attachment::Entity::find_by_id(attachment_id)
        .select_only()
        .column(entity::message_attachment::Column::MessageId)
        .into_tuple::<i64>()
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(entity::message::Entity::find_by_id(attachment)
        .select_only()
        .column(entity::message::Column::ThreadId)
        .into_tuple::<i64>()
        .one(conn)
        .await?)
}
