//! The write of what a unit of work recorded: ledger events, each with the outbox rows of its
//! notice. On PostgreSQL it is one statement whatever their number: each event's insert is a
//! data-modifying `WITH`, and each outbox row takes its event's id from it. SQLite has no
//! data-modifying `WITH`: there it is a statement per row, which its single writer makes cheap.
//!
//! The events arrive chained (sequence, previous hash and hash computed under the patient's
//! lock, see [`crate::ledger::chained`]); only their ids are the database's to give.

use entity::values::Channel;
use entity::{ledger_event, notification};
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, IntoColumnRef, Query, ReturningClause,
    SelectStatement, WithClause,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, Iterable, QueryResult, QueryTrait,
};

/// One recorded event and what its notice queues.
#[derive(Debug)]
pub(super) struct Entry {
    /// The event: chained and to insert, or already in the chain (`written`).
    pub event: ledger_event::Model,
    /// Whether the event is already in the chain (a notice told later than its event).
    pub written: bool,
    /// The notice's outbox rows, one per channel and recipient; their event's id is set here.
    pub outbox: Vec<notification::ActiveModel>,
}

/// An outbox row written: its id and channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Queued {
    pub id: i64,
    pub channel: Channel,
}

/// Writes `entries` in the caller's transaction and gives back the outbox rows written.
pub(super) async fn write(
    conn: &DatabaseTransaction,
    entries: Vec<Entry>,
) -> Result<Vec<Queued>, DbErr> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    match conn.get_database_backend() {
        DbBackend::Postgres => write_in_one_statement(conn, &entries).await,
        _ => write_row_by_row(conn, entries).await,
    }
}

/// Writes `entries`, which queue no notice, and runs `read` in the same statement on
/// PostgreSQL (`WITH e0 AS (INSERT INTO ledger_events …) SELECT …`): a traced reading in one
/// round trip. The events commit with the transaction, before the rows read leave the server.
/// On SQLite, the writes, then the read.
pub(super) async fn write_and_read(
    conn: &DatabaseTransaction,
    entries: Vec<Entry>,
    read: SelectStatement,
) -> Result<Vec<QueryResult>, DbErr> {
    if entries.iter().any(|e| !e.outbox.is_empty()) {
        return Err(DbErr::Custom(
            "a traced read whose event queues a notice is written, then read".to_owned(),
        ));
    }
    let backend = conn.get_database_backend();
    if backend != DbBackend::Postgres {
        write_row_by_row(conn, entries).await?;
        return conn.query_all_raw(backend.build(&read)).await;
    }
    let (with, _) = event_inserts(&entries);
    conn.query_all_raw(DbBackend::Postgres.build(&read.with(with)))
        .await
}

/// The inserts of the entries' new events, as `WITH` queries `e0`, `e1`, …, and each entry's
/// event id as an expression (a sub-select of its insert, or its id when already written).
fn event_inserts(entries: &[Entry]) -> (WithClause, Vec<Expr>) {
    let mut with = WithClause::new();
    let mut event_id = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        if entry.written {
            event_id.push(Expr::val(entry.event.id));
            continue;
        }
        let name = format!("e{i}");
        let mut insert = ledger_event::Entity::insert(new_event(&entry.event)).into_query();
        insert.returning_col(ledger_event::Column::Id);
        with.cte(
            CommonTableExpression::new()
                .query(insert)
                .table_name(Alias::new(&name))
                .to_owned(),
        );
        event_id.push(Expr::cust(format!("(SELECT id FROM {name})")));
    }
    (with, event_id)
}

/// PostgreSQL: `WITH e0 AS (INSERT INTO ledger_events … RETURNING id), e1 AS (…)
/// INSERT INTO notifications … VALUES (…, (SELECT id FROM e0)), … RETURNING id, channel`.
async fn write_in_one_statement(
    conn: &DatabaseTransaction,
    entries: &[Entry],
) -> Result<Vec<Queued>, DbErr> {
    let (with, event_id) = event_inserts(entries);
    let inserts = entries.iter().filter(|e| !e.written).count();
    let rows: Vec<(usize, &notification::ActiveModel)> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, entry)| entry.outbox.iter().map(move |row| (i, row)))
        .collect();
    if rows.is_empty() && inserts == 0 {
        // Events already written, and a notice routed nowhere: nothing to write.
        return Ok(Vec::new());
    }
    let statement = if rows.is_empty() {
        // The events' inserts run whether or not the main query reads them.
        let nothing = Query::select()
            .expr_as(Expr::val(0_i64), Alias::new("id"))
            .and_where(Expr::cust("false"))
            .to_owned();
        DbBackend::Postgres.build(&nothing.with(with))
    } else {
        let mut insert = outbox_insert(&rows, &event_id);
        insert.returning(ReturningClause::Columns(vec![
            notification::Column::Id.into_column_ref(),
            notification::Column::Channel.into_column_ref(),
        ]));
        if inserts == 0 {
            DbBackend::Postgres.build(&insert)
        } else {
            DbBackend::Postgres.build(&insert.with(with))
        }
    };
    conn.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| {
            Ok(Queued {
                id: row.try_get("", "id")?,
                channel: row.try_get("", "channel")?,
            })
        })
        .collect()
}

/// The outbox rows in one insert, each row's event id from `event_id` (by entry).
fn outbox_insert(
    rows: &[(usize, &notification::ActiveModel)],
    event_id: &[Expr],
) -> InsertStatement {
    let columns: Vec<notification::Column> = notification::Column::iter()
        .filter(|c| !matches!(c, notification::Column::Id))
        .collect();
    let mut insert = Query::insert();
    insert
        .into_table(notification::Entity)
        .columns(columns.clone());
    for (entry, row) in rows {
        insert.values_panic(columns.iter().map(|column| match column {
            notification::Column::LedgerEventId => event_id[*entry].clone(),
            column => match row.get(*column) {
                ActiveValue::Set(value) | ActiveValue::Unchanged(value) => Expr::val(value),
                ActiveValue::NotSet => Expr::cust("DEFAULT"),
            },
        }));
    }
    insert
}

/// SQLite: each event, then its outbox rows with its id.
async fn write_row_by_row(
    conn: &DatabaseTransaction,
    entries: Vec<Entry>,
) -> Result<Vec<Queued>, DbErr> {
    let mut queued = Vec::new();
    for entry in entries {
        let id = if entry.written {
            entry.event.id
        } else {
            ledger_event::Entity::insert(new_event(&entry.event))
                .exec(conn)
                .await?
                .last_insert_id
        };
        for mut row in entry.outbox {
            row.ledger_event_id = ActiveValue::Set(id);
            let row = notification::Entity::insert(row)
                .exec_with_returning(conn)
                .await?;
            queued.push(Queued {
                id: row.id,
                channel: row.channel,
            });
        }
    }
    Ok(queued)
}

/// The insert of a chained event (its id the database's).
fn new_event(event: &ledger_event::Model) -> ledger_event::ActiveModel {
    let mut row = ledger_event::ActiveModel::from(event.clone()).reset_all();
    row.id = ActiveValue::NotSet;
    row
}
