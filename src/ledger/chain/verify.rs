//! Re-verification of chains: what `ledgerIntegrity` and `espace-sante ledger verify` run.

use crate::domain::Ins;
use entity::ledger_event;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::canonical::{fields_digest, is_hex_of};
use super::{EventFields, GENESIS_HASH};

/// The result of checking one patient's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub patient_ins: String,
    /// Events read.
    pub events: u64,
    /// The first event that does not verify, with the reason; `None` when the chain verifies.
    pub first_broken: Option<(i64, &'static str)>,
    /// The hash of the last event read (the chain's head).
    pub head_hash: Option<String>,
}

impl ChainReport {
    /// Whether every event verified.
    pub fn verified(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Folds events, in sequence order, into a report: what every verification runs, from rows
/// (`verify_rows`) or from an export's JSON (`push_fields`).
#[derive(Debug)]
pub struct ChainChecker {
    report: ChainReport,
    expected_seq: i64,
    prev_hash: String,
}

impl ChainChecker {
    /// A checker for the chain of `patient_ins`, from sequence 1.
    pub fn new(patient_ins: &str) -> Self {
        Self {
            report: ChainReport {
                patient_ins: patient_ins.to_owned(),
                events: 0,
                first_broken: None,
                head_hash: None,
            },
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
        }
    }

    /// The next event, as a row.
    pub fn push(&mut self, event: &ledger_event::Model) {
        self.push_fields(event.into(), &event.hash);
    }

    /// The next event, as its hashed fields and its stated hash.
    pub fn push_fields(&mut self, event: EventFields<'_>, hash: &str) {
        self.report.events += 1;
        if self.report.first_broken.is_none() {
            let problem = if event.patient != self.report.patient_ins {
                Some("event of another patient")
            } else if event.seq != self.expected_seq {
                Some("sequence gap or reordering")
            } else if event.prev_hash != self.prev_hash {
                Some("previous hash does not match the previous event")
            } else if !is_hex_of(hash, &fields_digest(event)) {
                Some("content does not match its hash")
            } else {
                None
            };
            if let Some(problem) = problem {
                self.report.first_broken = Some((self.expected_seq.min(event.seq), problem));
            }
        }
        self.expected_seq = event.seq + 1;
        hash.clone_into(&mut self.prev_hash);
    }

    /// The next event, known only by its sequence and hashes (withheld from its reader): its
    /// place and link are checked, its own hash cannot be; the next event's hash covers it.
    pub fn push_linked(&mut self, seq: i64, prev_hash: &str, hash: &str) {
        self.report.events += 1;
        if self.report.first_broken.is_none() {
            let problem = if seq != self.expected_seq {
                Some("sequence gap or reordering")
            } else if prev_hash != self.prev_hash {
                Some("previous hash does not match the previous event")
            } else {
                None
            };
            if let Some(problem) = problem {
                self.report.first_broken = Some((self.expected_seq.min(seq), problem));
            }
        }
        self.expected_seq = seq + 1;
        hash.clone_into(&mut self.prev_hash);
    }

    /// The patient whose chain this is.
    pub fn patient(&self) -> &str {
        &self.report.patient_ins
    }

    /// The report so far (the head is the last hash pushed).
    pub fn finish(mut self) -> ChainReport {
        if self.report.events > 0 {
            self.report.head_hash = Some(self.prev_hash);
        }
        self.report
    }
}

/// Verifies one patient's chain from its rows, in sequence order: no database (what the
/// benchmark measures).
pub fn verify_rows(patient_ins: &str, events: &[ledger_event::Model]) -> ChainReport {
    let mut checker = ChainChecker::new(patient_ins);
    for event in events {
        checker.push(event);
    }
    checker.finish()
}

/// Verifies one patient's chain.
pub async fn verify_chain(
    conn: &impl ConnectionTrait,
    patient_ins: &str,
) -> Result<ChainReport, DbErr> {
    let events = ledger_event::Entity::find()
        .filter(ledger_event::Column::PatientIns.eq(patient_ins))
        .order_by_asc(ledger_event::Column::Seq)
        .all(conn)
        .await?;
    Ok(verify_rows(patient_ins, &events))
}

/// Rows [`verify_all`] reads per query.
const PAGE: u64 = 10_000;

/// Verifies every chain. The events stream in (patient, sequence) order, a page at a time on
/// the ledger's unique index, rather than one query per patient: a million events are a hundred
/// queries, not one per chain.
pub async fn verify_all(conn: &impl ConnectionTrait) -> Result<Vec<ChainReport>, DbErr> {
    verify_all_in_pages(conn, PAGE).await
}

/// [`verify_all`], reading `page` rows per query (the tests make chains cross pages).
pub async fn verify_all_in_pages(
    conn: &impl ConnectionTrait,
    page: u64,
) -> Result<Vec<ChainReport>, DbErr> {
    // `gt` on expressions, in this function only: the trait also gives integers `min`/`max`.
    use sea_orm::sea_query::ExprTrait as _;
    let page_size = Ord::max(page, 1);
    let mut reports = Vec::new();
    let mut chain: Option<ChainChecker> = None;
    let mut after: Option<(Ins, i64)> = None;
    loop {
        let mut page = ledger_event::Entity::find()
            .order_by_asc(ledger_event::Column::PatientIns)
            .order_by_asc(ledger_event::Column::Seq)
            .limit(page_size);
        if let Some((patient, seq)) = &after {
            // A row-value comparison, which both databases answer with a range scan of the
            // (patient_ins, seq) index; the same test spelled with OR scans the table.
            page = page.filter(
                Expr::tuple([
                    Expr::col(ledger_event::Column::PatientIns),
                    Expr::col(ledger_event::Column::Seq),
                ])
                .gt(Expr::tuple([
                    Expr::value(patient.as_str()),
                    Expr::value(*seq),
                ])),
            );
        }
        let rows = page.all(conn).await?;
        for row in &rows {
            if chain
                .as_ref()
                .is_none_or(|c| c.patient() != row.patient_ins.as_str())
            {
                reports.extend(chain.take().map(ChainChecker::finish));
                chain = Some(ChainChecker::new(row.patient_ins.as_str()));
            }
            if let Some(chain) = chain.as_mut() {
                chain.push(row);
            }
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == page_size => {
                after = Some((last.patient_ins.clone(), last.seq));
            }
            _ => break,
        }
    }
    reports.extend(chain.map(ChainChecker::finish));
    Ok(reports)
}
