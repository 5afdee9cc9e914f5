//! Database connection and migrations, for PostgreSQL and the embedded SQLite, and the checks
//! a production start makes instead of migrating.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

/// Connects to `url`, waiting at most `acquire_timeout` for a connection from the pool.
///
/// The server keeps this short (DB_ACQUIRE_TIMEOUT_SECS): during an outage, a request that
/// waited half a minute for a connection would hold its client and a task for nothing; it
/// fails fast instead, with a code that says to retry. On PostgreSQL, the API's connections
/// are opened with `statement_timeout` (`Some`): a statement that runs longer is cancelled by
/// the server, so that no request holds a connection (and its locks) past it. SQLite has no
/// such setting; its one connection is bounded by the request timeout.
///
/// SQLite gets a single connection: it has no row locks and allows one writer, so one
/// connection serialises transactions (including the per-patient ledger appends) instead of
/// failing them with `SQLITE_BUSY`. It is the newcomer's database, not production's.
pub async fn connect_with(
    url: &str,
    acquire_timeout: Duration,
    max_connections: u32,
    statement_timeout: Option<Duration>,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        options.max_connections(1).min_connections(1);
    } else {
        // sqlx pings every connection it hands out (a round trip before each request's first
        // statement) unless told otherwise; a connection in use a moment ago needs no ping, and
        // one idle for a while (which a proxy or the server may have dropped) still gets it.
        // Measured by the benchmark: one round trip fewer per request (docs/src/performance.md).
        options
            .max_connections(max_connections)
            .test_before_acquire_if_idle_for(Duration::from_secs(30));
        if let Some(timeout) = statement_timeout {
            options.statement_timeout(timeout);
        }
    }
    Database::connect(options).await
}

/// Applies pending migrations. With none pending it changes nothing and creates nothing, so the
/// tools that call it (`relay`, `letters`) also run as the API's restricted role, which may
/// not create the migration table.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if Migrator::get_pending_migrations_read_only(db)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    Migrator::up(db, None).await
}

/// Checks that the database is ready for a production start, which never migrates: the schema
/// is exactly this build's (`espace-sante migrate`, run as the owner role, brings it there)
/// and, on PostgreSQL, the API's role is a restricted one and the server keeps what it
/// acknowledges. Every problem found is named in the error, for the operator to fix at once.
pub async fn check_production(db: &DatabaseConnection) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(problem) = schema_problem(db).await {
        problems.push(problem);
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                ROLE_AND_DURABILITY,
            ))
            .await
            .and_then(|row| row.ok_or_else(|| DbErr::RecordNotFound("current role".to_owned())))
            .map_err(|err| format!("cannot read the database role and settings: {err}"))?;
        let get_bool = |col: &str| row.try_get::<bool>("", col).unwrap_or(true);
        let role = RoleFacts {
            name: row.try_get("", "rolname").unwrap_or_default(),
            superuser: get_bool("rolsuper"),
            replication: get_bool("rolreplication"),
            bypass_rls: get_bool("rolbypassrls"),
            owned_tables: row
                .try_get::<Option<String>>("", "owned_tables")
                .unwrap_or_else(|_| Some("?".to_owned())),
        };
        problems.extend(role_problems(&role));
        problems.extend(durability_problems(
            &row.try_get::<String>("", "fsync").unwrap_or_default(),
            &row.try_get::<String>("", "synchronous_commit")
                .unwrap_or_default(),
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "production start refused (docs/src/production.md): {}",
            problems.join("; ")
        ))
    }
}

/// The API's role and the server's durability settings, in one row. A table counts as owned
/// when the role may act as its owner: it owns it, or is a member of the owning role (`SET
/// ROLE` away from it), or is a superuser.
const ROLE_AND_DURABILITY: &str = r"
SELECT r.rolname::text AS rolname, r.rolsuper, r.rolreplication, r.rolbypassrls,
       (SELECT string_agg(t.schemaname || '.' || t.tablename, ', ' ORDER BY t.schemaname, t.tablename)
          FROM pg_tables t
         WHERE t.schemaname NOT IN ('pg_catalog', 'information_schema')
           AND pg_has_role(current_user, t.tableowner, 'MEMBER')) AS owned_tables,
       current_setting('fsync') AS fsync,
       current_setting('synchronous_commit') AS synchronous_commit
  FROM pg_roles r
 WHERE r.rolname = current_user";

/// What a production start needs to know of its PostgreSQL role.
#[derive(Debug)]
struct RoleFacts {
    name: String,
    superuser: bool,
    replication: bool,
    bypass_rls: bool,
    /// The tables the role may act as the owner of, if any.
    owned_tables: Option<String>,
}

/// Why the role may not run the API in production: with any of these powers its credentials
/// could undo the ledger's guards (disable or drop the triggers, skip them as a replica,
/// rewrite the tables).
fn role_problems(role: &RoleFacts) -> Vec<String> {
    let name = &role.name;
    let mut problems = Vec::new();
    if role.superuser {
        problems.push(format!("the database role {name} is a superuser"));
    }
    if role.replication {
        problems.push(format!("the database role {name} has REPLICATION"));
    }
    if role.bypass_rls {
        problems.push(format!("the database role {name} has BYPASSRLS"));
    }
    if let Some(tables) = &role.owned_tables
        && !role.superuser
    {
        problems.push(format!(
            "the database role {name} owns (or may act as the owner of) {tables}"
        ));
    }
    problems
}

/// Why the server would lose acknowledged writes: `fsync = off` loses them (and may corrupt
/// the database) in a crash, `synchronous_commit = off` acknowledges commits before they are
/// on disk. The other `synchronous_commit` levels (`on`, `local`, `remote_write`,
/// `remote_apply`) all flush locally first.
fn durability_problems(fsync: &str, synchronous_commit: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if fsync.eq_ignore_ascii_case("off") {
        problems.push("PostgreSQL runs with fsync = off".to_owned());
    }
    if synchronous_commit.eq_ignore_ascii_case("off") {
        problems.push("PostgreSQL runs with synchronous_commit = off".to_owned());
    }
    problems
}

/// Whether the schema differs from this build's migrations, read without creating anything (the
/// API's role may not).
async fn schema_problem(db: &DatabaseConnection) -> Option<String> {
    match Migrator::get_pending_migrations_read_only(db).await {
        Ok(pending) if pending.is_empty() => None,
        Ok(pending) => Some(format!(
            "the database schema is behind this build: {} migration(s) not applied ({}); run \
             `espace-sante migrate` as the owner role first",
            pending.len(),
            pending
                .iter()
                .map(|m| m.name().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        // Applied migrations this build does not know, or the table cannot be read.
        Err(err) => Some(format!(
            "the applied migrations do not match this build: {err}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricted() -> RoleFacts {
        RoleFacts {
            name: "espace_sante_api".to_owned(),
            superuser: false,
            replication: false,
            bypass_rls: false,
            owned_tables: None,
        }
    }

    #[test]
    fn a_restricted_role_may_run_production() {
        assert!(role_problems(&restricted()).is_empty());
    }

    #[test]
    fn a_role_with_power_over_the_ledger_may_not_run_production() {
        for role in [
            RoleFacts {
                superuser: true,
                owned_tables: Some("public.ledger_events".to_owned()),
                ..restricted()
            },
            RoleFacts {
                owned_tables: Some("public.ledger_events".to_owned()),
                ..restricted()
            },
            RoleFacts {
                replication: true,
                ..restricted()
            },
            RoleFacts {
                bypass_rls: true,
                ..restricted()
            },
        ] {
            assert_eq!(role_problems(&role).len(), 1, "{role:?}");
        }
    }

    #[test]
    fn production_refuses_a_server_that_may_lose_acknowledged_commits() {
        assert!(durability_problems("on", "on").is_empty());
        for level in ["local", "remote_write", "remote_apply"] {
            assert!(durability_problems("on", level).is_empty(), "{level}");
        }
        assert_eq!(
            durability_problems("off", "on"),
            ["PostgreSQL runs with fsync = off"]
        );
        assert_eq!(
            durability_problems("on", "off"),
            ["PostgreSQL runs with synchronous_commit = off"]
        );
        assert_eq!(durability_problems("off", "off").len(), 2);
    }
}
