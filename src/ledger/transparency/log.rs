//! The log of chain heads in the database (checkpoints of version 3): leaves appended as
//! chains move, the complete subtrees over them, and what is read from them — roots, inclusion
//! and consistency proofs, each from O(log n) stored nodes ([`super::merkle`]), never from the
//! whole log.
//!
//! Which chains moved is not searched for (that would read every patient's chain at every
//! checkpoint): a trigger on the ledger notes each append in `ledger_moves`, in the append's
//! own transaction, and the checkpoint takes the notes ([`take_moves`]). So a checkpoint costs
//! what moved since the one before, whatever the number of patients.
//!
//! SQL is written with integers and parsed INS values only, formatted into the text: the same
//! statement then runs on both databases' placeholders.

use std::collections::{BTreeMap, BTreeSet};

use entity::{ledger_log_leaf, ledger_log_node};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryResult, Statement};

use super::checkpoint::{Head, head_leaf};
use super::merkle::{self, Frontier, Hash, Node, parse_hash};
use crate::domain::Ins;
use crate::ledger::hex;

/// Rows per statement: a batch of INS values or nodes fits every database's limits.
const BATCH: usize = 200;

async fn query(conn: &impl ConnectionTrait, sql: String) -> Result<Vec<QueryResult>, DbErr> {
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
}

/// An INS as a quoted SQL literal: parsed first, so that only the digits (and `A`/`B`) of a
/// valid INS are ever formatted into SQL.
fn ins_literal(ins: &str) -> Result<String, DbErr> {
    let ins =
        Ins::parse(ins).map_err(|e| DbErr::Custom(format!("a stored INS does not parse: {e}")))?;
    Ok(format!("'{}'", ins.as_str()))
}

/// INS values as the rows of a `VALUES` list (`('…'), ('…')`), whose one column both databases
/// name `column1`.
fn values(chains: &[impl AsRef<str>]) -> Result<String, DbErr> {
    Ok(chains
        .iter()
        .map(|ins| Ok(format!("({})", ins_literal(ins.as_ref())?)))
        .collect::<Result<Vec<_>, DbErr>>()?
        .join(", "))
}

/// Takes the notes of the chains that moved since they were last taken (deleting them, in the
/// caller's transaction): each INS once.
pub async fn take_moves(conn: &impl ConnectionTrait) -> Result<BTreeSet<String>, DbErr> {
    query(
        conn,
        "DELETE FROM ledger_moves RETURNING patient_ins".to_owned(),
    )
    .await?
    .iter()
    .map(|r| r.try_get("", "patient_ins"))
    .collect()
}

/// The current head of each chain of `chains` that has events.
pub async fn current_heads_of(
    conn: &impl ConnectionTrait,
    chains: &BTreeSet<String>,
) -> Result<Vec<Head>, DbErr> {
    let mut heads = Vec::with_capacity(chains.len());
    let chains: Vec<&String> = chains.iter().collect();
    for batch in chains.chunks(BATCH) {
        // Index probes by (patient_ins, seq) alone, whatever the size of the ledger: one
        // correlated subquery per column, one plan for the batch.
        let last =
            "FROM ledger_events e WHERE e.patient_ins = v.column1 ORDER BY e.seq DESC LIMIT 1";
        let rows = query(
            conn,
            format!(
                "SELECT * FROM (SELECT v.column1 AS patient_ins, (SELECT e.seq {last}) AS seq, \
                 (SELECT e.hash {last}) AS hash FROM (VALUES {}) AS v) AS h \
                 WHERE h.seq IS NOT NULL",
                values(batch)?
            ),
        )
        .await?;
        for r in rows {
            heads.push(Head {
                patient_ins: r.try_get("", "patient_ins")?,
                seq: r.try_get("", "seq")?,
                hash: r.try_get("", "hash")?,
            });
        }
    }
    heads.sort_by(|a, b| a.patient_ins.cmp(&b.patient_ins));
    Ok(heads)
}

/// A chain head as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub index: i64,
    pub head: Head,
}

impl From<ledger_log_leaf::Model> for Leaf {
    fn from(m: ledger_log_leaf::Model) -> Self {
        Self {
            index: m.leaf_index,
            head: Head {
                patient_ins: m.patient_ins.as_str().to_owned(),
                seq: m.seq,
                hash: m.hash,
            },
        }
    }
}

/// The latest leaf of each chain of `chains` among the first `size` leaves, by INS (found by
/// the index on (patient_ins, leaf_index desc): a few probes per chain).
pub async fn latest_leaves(
    conn: &impl ConnectionTrait,
    chains: &[&str],
    size: i64,
) -> Result<BTreeMap<String, Leaf>, DbErr> {
    let mut latest = BTreeMap::new();
    for batch in chains.chunks(BATCH) {
        // Index probes by (patient_ins, leaf_index) alone, whatever the size of the log: one
        // correlated subquery per column, one plan for the batch.
        let last = format!(
            "FROM ledger_log_leaves l WHERE l.patient_ins = v.column1 AND l.leaf_index < {size} \
             ORDER BY l.leaf_index DESC LIMIT 1"
        );
        let rows = query(
            conn,
            format!(
                "SELECT * FROM (SELECT v.column1 AS patient_ins, \
                 (SELECT l.leaf_index {last}) AS leaf_index, (SELECT l.seq {last}) AS seq, \
                 (SELECT l.hash {last}) AS hash FROM (VALUES {}) AS v) AS h \
                 WHERE h.leaf_index IS NOT NULL",
                values(batch)?
            ),
        )
        .await?;
        for r in rows {
            let leaf = Leaf {
                index: r.try_get("", "leaf_index")?,
                head: Head {
                    patient_ins: r.try_get("", "patient_ins")?,
                    seq: r.try_get("", "seq")?,
                    hash: r.try_get("", "hash")?,
                },
            };
            latest.insert(leaf.head.patient_ins.clone(), leaf);
        }
    }
    Ok(latest)
}

/// Of `leaves`, those whose head is no longer in its chain, as the stored hash at that
/// sequence (`None`: the sequence is gone).
pub async fn gone_from_ledger(
    conn: &impl ConnectionTrait,
    leaves: &[&Leaf],
) -> Result<Vec<(Leaf, Option<String>)>, DbErr> {
    let mut gone = Vec::new();
    for batch in leaves.chunks(BATCH) {
        let wanted = batch
            .iter()
            .map(|l| {
                // BIGINT, as the column: PostgreSQL takes a bare number for an INTEGER.
                Ok(format!(
                    "({}, CAST({} AS BIGINT))",
                    ins_literal(&l.head.patient_ins)?,
                    l.head.seq
                ))
            })
            .collect::<Result<Vec<_>, DbErr>>()?
            .join(", ");
        // One probe per leaf of the index on (patient_ins, seq), one plan for the batch.
        let stored: BTreeMap<(String, i64), String> = query(
            conn,
            format!(
                "SELECT * FROM (SELECT v.column1 AS patient_ins, v.column2 AS seq, \
                 (SELECT e.hash FROM ledger_events e WHERE e.patient_ins = v.column1 \
                 AND e.seq = v.column2) AS hash FROM (VALUES {wanted}) AS v) AS h \
                 WHERE h.hash IS NOT NULL"
            ),
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                (r.try_get("", "patient_ins")?, r.try_get("", "seq")?),
                r.try_get("", "hash")?,
            ))
        })
        .collect::<Result<_, DbErr>>()?;
        for leaf in batch {
            let hash = stored.get(&(leaf.head.patient_ins.clone(), leaf.head.seq));
            if hash != Some(&leaf.head.hash) {
                gone.push(((*leaf).clone(), hash.cloned()));
            }
        }
    }
    Ok(gone)
}

/// The latest leaf of every chain among the first `size` leaves, with the hash the ledger
/// holds now at its sequence (`None`: gone). What the audit and the restore drill compare;
/// it reads every chain's latest leaf.
pub async fn latest_leaves_against_ledger(
    conn: &impl ConnectionTrait,
    size: i64,
) -> Result<Vec<(Leaf, Option<String>)>, DbErr> {
    let sql = format!(
        "SELECT l.leaf_index, l.patient_ins, l.seq, l.hash, e.hash AS stored \
         FROM ledger_log_leaves l LEFT JOIN ledger_events e \
         ON e.patient_ins = l.patient_ins AND e.seq = l.seq \
         WHERE l.leaf_index < {size} AND NOT EXISTS (SELECT 1 FROM ledger_log_leaves n \
         WHERE n.patient_ins = l.patient_ins AND n.leaf_index > l.leaf_index \
         AND n.leaf_index < {size}) ORDER BY l.leaf_index"
    );
    query(conn, sql)
        .await?
        .iter()
        .map(|r| {
            Ok((
                Leaf {
                    index: r.try_get("", "leaf_index")?,
                    head: Head {
                        patient_ins: r.try_get("", "patient_ins")?,
                        seq: r.try_get("", "seq")?,
                        hash: r.try_get("", "hash")?,
                    },
                },
                r.try_get("", "stored")?,
            ))
        })
        .collect()
}

/// The stored hashes of `wanted` (a node absent, or whose hash is not 64 hex digits, is not
/// in the map).
pub async fn nodes(
    conn: &impl ConnectionTrait,
    wanted: &BTreeSet<Node>,
) -> Result<BTreeMap<Node, Hash>, DbErr> {
    let mut found = BTreeMap::new();
    let wanted: Vec<&Node> = wanted.iter().collect();
    for batch in wanted.chunks(BATCH) {
        let mut by_level: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for n in batch {
            by_level
                .entry(n.level)
                .or_default()
                .push(n.index.to_string());
        }
        let condition = by_level
            .iter()
            .map(|(level, idx)| format!("(level = {level} AND idx IN ({}))", idx.join(",")))
            .collect::<Vec<_>>()
            .join(" OR ");
        for r in query(
            conn,
            format!("SELECT level, idx, hash FROM ledger_log_nodes WHERE {condition}"),
        )
        .await?
        {
            let (level, index, hash): (i32, i64, String) = (
                r.try_get("", "level")?,
                r.try_get("", "idx")?,
                r.try_get("", "hash")?,
            );
            if let (Ok(level), Ok(index), Some(hash)) = (
                u32::try_from(level),
                u64::try_from(index),
                parse_hash(&hash),
            ) {
                found.insert(Node { level, index }, hash);
            }
        }
    }
    Ok(found)
}

/// The roots of the leaf ranges `ranges`, from the stored nodes and `fresh` (nodes computed
/// but not stored yet); `None` when a node is missing.
async fn range_roots(
    conn: &impl ConnectionTrait,
    ranges: &[(u64, u64)],
    fresh: &BTreeMap<Node, Hash>,
) -> Result<Option<Vec<Hash>>, DbErr> {
    let wanted: BTreeSet<Node> = ranges
        .iter()
        .flat_map(|(a, b)| merkle::range_nodes(*a, *b))
        .filter(|n| !fresh.contains_key(n))
        .collect();
    let mut known = nodes(conn, &wanted).await?;
    known.extend(fresh.iter().map(|(n, h)| (*n, *h)));
    Ok(ranges
        .iter()
        .map(|(a, b)| merkle::range_root(*a, *b, |n| known.get(&n).copied()))
        .collect())
}

/// The root of the first `size` leaves, from the stored nodes; `None` when one is missing.
pub async fn root_at(conn: &impl ConnectionTrait, size: u64) -> Result<Option<Hash>, DbErr> {
    Ok(range_roots(conn, &[(0, size)], &BTreeMap::new())
        .await?
        .and_then(|roots| roots.first().copied()))
}

/// The frontier of the first `size` leaves, to append after them; `None` when a node is
/// missing.
pub async fn frontier(conn: &impl ConnectionTrait, size: u64) -> Result<Option<Frontier>, DbErr> {
    let known = nodes(conn, &Frontier::nodes_of(size).into_iter().collect()).await?;
    Ok(Frontier::new(size, |n| known.get(&n).copied()))
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves, from the leaf
/// up; `None` when a node is missing.
pub async fn inclusion_path(
    conn: &impl ConnectionTrait,
    index: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, DbErr> {
    range_roots(
        conn,
        &merkle::inclusion_ranges(index, size),
        &BTreeMap::new(),
    )
    .await
}

/// The consistency proof from the tree of the first `first` leaves to that of the first
/// `second`, from the stored nodes and `fresh`; `None` when a node is missing.
pub async fn consistency_path(
    conn: &impl ConnectionTrait,
    first: u64,
    second: u64,
    fresh: &BTreeMap<Node, Hash>,
) -> Result<Option<Vec<Hash>>, DbErr> {
    range_roots(conn, &merkle::consistency_ranges(first, second), fresh).await
}

/// Appends `heads` to `frontier`, in memory: the complete subtrees they complete, by key.
pub fn extend(frontier: &mut Frontier, heads: &[Head]) -> BTreeMap<Node, Hash> {
    let mut fresh = BTreeMap::new();
    for h in heads {
        fresh.extend(frontier.push(head_leaf(&h.patient_ins, h.seq, &h.hash)));
    }
    fresh
}

/// Stores `heads` as the leaves from index `first` on, logged by checkpoint `checkpoint_idx`,
/// and `fresh`, the subtrees they complete ([`extend`]).
pub async fn store(
    conn: &impl ConnectionTrait,
    checkpoint_idx: i64,
    first: u64,
    heads: &[Head],
    fresh: &BTreeMap<Node, Hash>,
) -> Result<(), DbErr> {
    let full = || DbErr::Custom("the log of heads is full".to_owned());
    let first = i64::try_from(first).map_err(|_| full())?;
    let mut leaves = Vec::with_capacity(heads.len());
    for (i, h) in heads.iter().enumerate() {
        leaves.push(ledger_log_leaf::ActiveModel {
            leaf_index: Set(first
                .checked_add(i64::try_from(i).map_err(|_| full())?)
                .ok_or_else(full)?),
            patient_ins: Set(Ins::parse(&h.patient_ins)
                .map_err(|e| DbErr::Custom(format!("a stored INS does not parse: {e}")))?),
            seq: Set(h.seq),
            hash: Set(h.hash.clone()),
            checkpoint_idx: Set(checkpoint_idx),
        });
    }
    for batch in leaves.chunks(BATCH) {
        ledger_log_leaf::Entity::insert_many(batch.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    let mut nodes = Vec::with_capacity(fresh.len());
    for (n, h) in fresh {
        nodes.push(ledger_log_node::ActiveModel {
            level: Set(i32::try_from(n.level).map_err(|_| full())?),
            idx: Set(i64::try_from(n.index).map_err(|_| full())?),
            hash: Set(hex(h)),
        });
    }
    for batch in nodes.chunks(BATCH) {
        ledger_log_node::Entity::insert_many(batch.to_vec())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Rows read at a time by [`verify_stored`].
const PAGE: i64 = 10_000;

/// Whether the stored log is the one its leaves make, for a log whose latest checkpoint has
/// `size` leaves: leaves numbered from 0 without gaps and no more than `size`, each leaf's
/// node its leaf hash, each inner node the hash of its two children, and exactly the complete
/// subtrees a log of that size has. Then every root and proof read from the nodes is the one
/// the leaves give. Reads the whole log, a page at a time. Each problem is one line.
pub async fn verify_stored(conn: &impl ConnectionTrait, size: i64) -> Result<Vec<String>, DbErr> {
    let mut problems = Vec::new();
    let mut next = 0i64;
    loop {
        let rows = query(
            conn,
            format!(
                "SELECT l.leaf_index, l.patient_ins, l.seq, l.hash, n.hash AS node \
                 FROM ledger_log_leaves l LEFT JOIN ledger_log_nodes n \
                 ON n.level = 0 AND n.idx = l.leaf_index \
                 WHERE l.leaf_index >= {next} ORDER BY l.leaf_index LIMIT {PAGE}"
            ),
        )
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let index: i64 = r.try_get("", "leaf_index")?;
            if index != next {
                problems.push(format!(
                    "the log of heads has no leaf {next}: leaves are missing"
                ));
            }
            let (ins, seq, hash): (String, i64, String) = (
                r.try_get("", "patient_ins")?,
                r.try_get("", "seq")?,
                r.try_get("", "hash")?,
            );
            let node: Option<String> = r.try_get("", "node")?;
            if node.as_deref() != Some(hex(&head_leaf(&ins, seq, &hash)).as_str()) {
                problems.push(format!(
                    "the log of heads: leaf {index} ({ins}, sequence {seq}) is not the hash \
                     stored for it: changed"
                ));
            }
            next = index + 1;
        }
    }
    if next > size {
        problems.push(format!(
            "the log of heads holds {next} leaves, its latest checkpoint signed {size}"
        ));
    }
    let mut after = (0i32, -1i64);
    loop {
        let rows = query(
            conn,
            format!(
                "SELECT p.level, p.idx, p.hash, a.hash AS left_hash, b.hash AS right_hash \
                 FROM ledger_log_nodes p \
                 LEFT JOIN ledger_log_nodes a ON a.level = p.level - 1 AND a.idx = 2 * p.idx \
                 LEFT JOIN ledger_log_nodes b ON b.level = p.level - 1 AND b.idx = 2 * p.idx + 1 \
                 WHERE p.level > 0 AND (p.level > {} OR (p.level = {} AND p.idx > {})) \
                 ORDER BY p.level, p.idx LIMIT {PAGE}",
                after.0, after.0, after.1
            ),
        )
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let (level, idx): (i32, i64) = (r.try_get("", "level")?, r.try_get("", "idx")?);
            let children: Option<(String, String)> = r
                .try_get::<Option<String>>("", "left_hash")?
                .zip(r.try_get::<Option<String>>("", "right_hash")?);
            let expected = children.and_then(|(a, b)| {
                Some(hex(&merkle::node_hash(&parse_hash(&a)?, &parse_hash(&b)?)))
            });
            if expected.as_deref() != Some(r.try_get::<String>("", "hash")?.as_str()) {
                problems.push(format!(
                    "the log of heads: node (level {level}, index {idx}) is not the hash of its \
                     two children: changed"
                ));
            }
            after = (level, idx);
        }
    }
    // Exactly the complete subtrees of `next` leaves: none missing, none made up.
    let counts: BTreeMap<i32, i64> = query(
        conn,
        "SELECT level, COUNT(*) AS n FROM ledger_log_nodes GROUP BY level".to_owned(),
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get("", "level")?, r.try_get("", "n")?)))
    .collect::<Result<_, DbErr>>()?;
    let levels: BTreeSet<u32> = (0..63)
        .take_while(|l| next >> l > 0)
        .chain(counts.keys().filter_map(|l| u32::try_from(*l).ok()))
        .collect();
    for level in levels {
        let expected = next.checked_shr(level).unwrap_or(0);
        let stored = i32::try_from(level)
            .ok()
            .and_then(|l| counts.get(&l))
            .copied()
            .unwrap_or(0);
        if stored != expected {
            problems.push(format!(
                "the log of heads: {stored} node(s) at level {level}, a log of {next} leaves has \
                 {expected}"
            ));
        }
    }
    Ok(problems)
}
