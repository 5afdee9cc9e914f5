//! The schema the migrations build: the same on both databases where they agree.

use std::collections::BTreeMap;

use crate::helpers::{Backend, TestApp};

/// An index created by a migration (not one backing a key), as its columns in order, whether
/// it is unique, and its predicate if it is partial.
#[derive(Debug, PartialEq, Eq)]
struct IndexShape {
    columns: Vec<String>,
    unique: bool,
    predicate: String,
}

/// The indexes of `app`'s database by name, one row per indexed column. Predicates are
/// compared without quotes, parentheses and casts, the only ways the two databases spell the
/// same condition differently.
async fn indexes(app: &TestApp) -> BTreeMap<String, IndexShape> {
    let sql = match app.backend {
        Backend::Postgres => {
            r"SELECT c.relname::text, a.attname::text,
                     CASE WHEN i.indisunique THEN 'unique' ELSE '' END,
                     COALESCE(pg_get_expr(i.indpred, i.indrelid), '')
              FROM pg_index i
              JOIN pg_class c ON c.oid = i.indexrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)
              ORDER BY c.relname, k.position"
        }
        // Indexes behind keys are SQLite's `sqlite_autoindex_*`, without SQL text.
        Backend::Sqlite => {
            r"SELECT m.name, col.name,
                     CASE WHEN list.[unique] THEN 'unique' ELSE '' END,
                     CASE WHEN list.partial THEN substr(m.sql, instr(m.sql, ' WHERE ') + 7) ELSE '' END
              FROM sqlite_master m
              JOIN pragma_index_list(m.tbl_name) list ON list.name = m.name
              JOIN pragma_index_info(m.name) col
              WHERE m.type = 'index' AND m.sql IS NOT NULL
              ORDER BY m.name, col.seqno"
        }
    };
    let mut indexes = BTreeMap::<String, IndexShape>::new();
    for row in app.query_rows(sql).await {
        let [name, column, unique, predicate] = <[String; 4]>::try_from(row).unwrap();
        indexes
            .entry(name)
            .or_insert_with(|| IndexShape {
                columns: Vec::new(),
                unique: unique == "unique",
                predicate: predicate.replace(['"', '(', ')'], "").replace("::text", ""),
            })
            .columns
            .push(column);
    }
    indexes
}

/// PostgreSQL's primary keys by name, as the columns in order.
async fn primary_keys(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let mut keys = BTreeMap::<String, Vec<String>>::new();
    for row in app
        .query_rows(
            r"SELECT c.relname::text, a.attname::text
              FROM pg_index i
              JOIN pg_class c ON c.oid = i.indexrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE i.indisprimary
              ORDER BY c.relname, k.position",
        )
        .await
    {
        let [name, column] = <[String; 2]>::try_from(row).unwrap();
        keys.entry(name).or_default().push(column);
    }
    keys
}

#[tokio::test]
async fn every_index_is_the_same_on_both_databases() {
    let postgres_app = TestApp::spawn(Backend::Postgres).await;
    let mut postgres = indexes(&postgres_app).await;
    let mut sqlite = indexes(&TestApp::spawn(Backend::Sqlite).await).await;
    // Where PostgreSQL keys a table by patient, `(patient_ins, id)`, SQLite keeps `id` as its
    // primary key (the rowid, for AUTOINCREMENT) and has a unique index of the key's name on
    // the same columns; PostgreSQL has a plain index on `id` beside its key, which SQLite's
    // rowid is (migration keys_by_patient).
    let keys = primary_keys(&postgres_app).await;
    let stand_ins: Vec<String> = sqlite
        .keys()
        .filter(|name| name.ends_with("_pkey"))
        .cloned()
        .collect();
    assert!(
        !stand_ins.is_empty(),
        "SQLite stands for the keys by patient"
    );
    for name in stand_ins {
        let stand_in = sqlite.remove(&name).unwrap();
        assert_eq!(
            stand_in,
            IndexShape {
                columns: keys[&name].clone(),
                unique: true,
                predicate: String::new(),
            },
            "SQLite's {name} is PostgreSQL's primary key"
        );
        let table = name.trim_end_matches("_pkey");
        // The work list of moved chains is read whole, never by id.
        if table == "ledger_moves" {
            continue;
        }
        let by_id = postgres
            .remove(&format!("{table}_by_id"))
            .unwrap_or_else(|| panic!("PostgreSQL looks {table} up by id"));
        assert!(
            by_id.columns.len() == 1 && keys[&name].ends_with(&by_id.columns) && !by_id.unique,
            "{table}_by_id is the id of {name}"
        );
    }
    assert_eq!(postgres, sqlite);
    assert_eq!(
        postgres["profiles_due_for_creation"],
        IndexShape {
            columns: vec!["opposition_deadline".to_owned()],
            unique: false,
            predicate: "status = 'ANNOUNCED'".to_owned(),
        },
        "the sweep's index holds announced profiles only"
    );
}
