//! The server on its own database: spawned on port 0 against a fresh PostgreSQL database or
//! SQLite file, dropped with it; GraphQL over HTTP; direct database access for what no API
//! shows; and the macros that run a test on both databases.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use espace_sante::clock::{ManualClock, SharedClock};
use espace_sante::config::{
    AppEnv, AuthSettings, CheckpointSettings, DatabaseSettings, HttpSettings, LettersSettings,
    LimitSettings, MailSettings, RelaySettings, RuleSettings, Secret, Settings, TelemetrySettings,
    WebSocketSettings,
};
use espace_sante::startup::{Application, StartupError};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

use super::tokens::{AUDIENCE, ISSUER, LEDGER_KEY, SECRET};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs each listed `async fn name(app: TestApp)` once on PostgreSQL and once on SQLite, as
/// `postgres::name` and `sqlite::name`.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_databases;

/// Runs each listed `async fn name(backend: Backend)` (a test that spawns its app itself, with
/// settings of its own) once per database, as `postgres::name` and `sqlite::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// A running server on its own database.
pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the `/metrics` listener, when the test configured one.
    pub metrics_address: Option<String>,
    pub backend: Backend,
    pub settings: Settings,
    pub clock: Arc<ManualClock>,
    pub database_url: String,
    client: reqwest::Client,
    postgres_db: Option<(String, String)>,
    /// The restricted role the server connects as on PostgreSQL (its URL is the settings').
    pub api_role: Option<String>,
    _sqlite_dir: Option<tempfile::TempDir>,
    /// The folder of the default content store (the settings may name another store).
    pub content_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The next person [`TestApp::person`] gives.
    people: std::sync::atomic::AtomicU32,
}

/// A GraphQL answer.
#[derive(Debug)]
pub struct Gql {
    pub data: Value,
    pub errors: Vec<Value>,
}

impl Gql {
    /// The data, asserting there was no error.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            self.errors.is_empty(),
            "unexpected errors: {:#?}",
            self.errors
        );
        &self.data
    }

    /// The code of the first error, asserting there is one.
    #[track_caller]
    pub fn code(&self) -> &str {
        self.errors
            .first()
            .and_then(|e| e["extensions"]["code"].as_str())
            .unwrap_or_else(|| {
                panic!(
                    "expected an error with a code, got {:#?} / {:#?}",
                    self.data, self.errors
                )
            })
    }

    /// The first error.
    #[track_caller]
    pub fn error(&self) -> &Value {
        self.errors
            .first()
            .unwrap_or_else(|| panic!("expected an error, got {:#?}", self.data))
    }
}

/// The moment every test starts at.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

impl TestApp {
    /// A valid INS no one else in this test has: each test counts its people from 0 (its
    /// database is its own), so a test never picks numbers by hand.
    pub fn person(&self) -> String {
        super::fixtures::ins(
            self.people
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Spawns the application on a fresh database of `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns the application with settings changed by `configure`.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        Self::try_spawn_with(backend, configure).await.unwrap()
    }

    /// Like [`TestApp::spawn_with`], with the startup error of settings the server refuses.
    pub async fn try_spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Result<Self, StartupError> {
        if std::env::var_os("TEST_LOG").is_some() {
            espace_sante::telemetry::init("pretty");
        }
        let (database_url, postgres_db, sqlite_dir) = match backend {
            Backend::Postgres => {
                let admin = std::env::var("TEST_DATABASE_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
                let name = format!("espace_sante_test_{:016x}", rand::random::<u64>());
                let conn = Database::connect(&admin)
                    .await
                    .expect("PostgreSQL must be reachable (see README)");
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin)
                    .to_owned();
                (format!("{base}/{name}"), Some((admin, name)), None)
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("test.sqlite").display()
                );
                (url, None, Some(dir))
            }
        };
        // Contents go to a folder of the test's own (tests/api/contents.rs tries S3).
        let content_dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            app_env: AppEnv::Development,
            database: DatabaseSettings {
                database_url: database_url.clone(),
                db_acquire_timeout_secs: 2,
                db_max_connections: 20,
                // The production tests on SQLite accept it; `production_refuses_sqlite_*`
                // tries the refusal.
                accept_unguarded_ledger_on_sqlite: backend == Backend::Sqlite,
                content_store_url: content_dir.path().display().to_string(),
            },
            http: HttpSettings {
                listen: "127.0.0.1:0".parse().unwrap(),
                request_timeout_secs: 30,
                header_read_timeout_secs: 10,
                body_read_timeout_secs: 30,
                shutdown_grace_secs: 0,
                shutdown_timeout_secs: 30,
            },
            websocket: WebSocketSettings {
                ws_max_subscriptions: 20,
                ws_max_connections_per_subject: 8,
                ws_init_timeout_secs: 10,
            },
            auth: AuthSettings {
                jwt_secret: Some(Secret(SECRET.to_owned())),
                jwt_issuer: ISSUER.to_owned(),
                jwt_audience: AUDIENCE.to_owned(),
                jwt_issuers: None,
                jwt_max_lifetime_secs: 24 * 3600,
                jwks_cache_ttl_secs: 3600,
                jwks_refetch_interval_secs: 30,
            },
            rules: RuleSettings {
                opposition_window_days: 42,
                activation_max_attempts: 5,
                activation_lockout_minutes: 15,
                document_max_bytes: 64 * 1024,
                emergency_access_minutes: 240,
                retention_years: 10,
            },
            mail: MailSettings {
                smtp_url: None,
                mail_from: "Mon espace santé <ne-pas-repondre@monespacesante.fr>".to_owned(),
                email_dir: std::env::temp_dir().join(format!(
                    "espace-sante-test-emails-{:016x}",
                    rand::random::<u64>()
                )),
            },
            relay: RelaySettings {
                relay_interval_secs: 0,
                relay_max_attempts: 3,
                relay_lease_secs: 60,
            },
            letters: LettersSettings {
                letters_dir: std::env::temp_dir().join(format!(
                    "espace-sante-test-letters-{:016x}",
                    rand::random::<u64>()
                )),
            },
            limits: LimitSettings {
                query_max_bytes: 32 * 1024,
                query_max_depth: 12,
                query_max_fields: 500,
                query_max_aliases: 30,
                query_max_cost: 1000,
                input_max_list_items: 1000,
                statement_timeout_secs: 10,
                // On, but out of the way of tests that do not test it.
                rate_limit_per_minute: 60_000,
                rate_limit_burst: 10_000,
                redis_url: None,
                redis_key_prefix: "espace-sante".to_owned(),
            },
            telemetry: TelemetrySettings {
                metrics_listen: None,
            },
            checkpoints: CheckpointSettings {
                ledger_signing_key: Some(Secret(LEDGER_KEY.to_owned())),
                ledger_signing_key_file: None,
                // Tests make checkpoints when they need them.
                checkpoint_interval_secs: 0,
            },
            creation_sweep_interval_secs: 0,
            purge_sweep_interval_secs: 0,
        };
        configure(&mut settings);
        // On PostgreSQL the server runs as the restricted role an operator gives it (docs/src/production.md), in both modes, so that every test proves the grants; the
        // test keeps the owner's connection (`database_url`). Not when the test chose its own.
        let api_role =
            if backend == Backend::Postgres && settings.database.database_url == database_url {
                let (role, url) = restricted_role(&database_url).await;
                settings.database.database_url = url;
                Some(role)
            } else {
                if settings.app_env == AppEnv::Production {
                    // Production does not migrate: the operator does, first.
                    let owner = Database::connect(&settings.database.database_url)
                        .await
                        .unwrap();
                    migration::Migrator::up(&owner, None).await.unwrap();
                }
                None
            };
        let clock = Arc::new(ManualClock::new(start_time()));
        let shared: SharedClock = clock.clone();
        let app = Application::build(&settings, shared).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            metrics_address,
            backend,
            settings,
            clock,
            database_url,
            client: reqwest::Client::new(),
            postgres_db,
            api_role,
            _sqlite_dir: sqlite_dir,
            content_dir,
            shutdown: Some(shutdown),
            server: Some(server),
            people: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// Begins the server's graceful shutdown, as SIGTERM does, and hands out the server's
    /// task, which ends when the shutdown is complete.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.server.take().expect("the server is shut down once")
    }

    /// Posts a GraphQL request with an optional bearer token.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "GraphQL over HTTP answers 200 even for errors, got {}",
            response.status()
        );
        let body: Value = response.json().await.unwrap();
        Gql {
            data: body["data"].clone(),
            errors: body["errors"].as_array().cloned().unwrap_or_default(),
        }
    }

    /// A GET on a plain route.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// A direct connection to the test database, for what no API shows (the outbox bodies,
    /// tampering as a superuser).
    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.database_url).await.unwrap()
    }

    /// Holds the lock on a patient's profile row, as a writer would, until the returned
    /// transaction ends: the server's next unit of work on that patient waits for it.
    pub async fn hold_profile_lock(&self, person: &str) -> sea_orm::DatabaseTransaction {
        use sea_orm::TransactionTrait;
        let holder = self.db().await.begin().await.unwrap();
        holder
            .execute_unprepared(&format!(
                "SELECT ins FROM profiles WHERE ins = '{person}' FOR UPDATE"
            ))
            .await
            .unwrap();
        holder
    }

    /// Moves the server's clock.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Runs a query on a direct connection and returns every column as text.
    pub async fn query_rows(&self, sql: &str) -> Vec<Vec<String>> {
        let db = self.db().await;
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|row| {
                (0..)
                    .map_while(|i| {
                        row.try_get_by_index::<Option<String>>(i)
                            .or_else(|_| {
                                row.try_get_by_index::<Option<i64>>(i)
                                    .map(|v| v.map(|v| v.to_string()))
                            })
                            .or_else(|_| {
                                row.try_get_by_index::<Option<i32>>(i)
                                    .map(|v| v.map(|v| v.to_string()))
                            })
                            .ok()
                            .map(Option::unwrap_or_default)
                    })
                    .collect()
            })
            .collect()
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> usize {
        self.query_rows(&format!("SELECT COUNT(*) FROM {table}"))
            .await[0][0]
            .parse()
            .unwrap()
    }

    /// The digests of the contents in the test's own content store (its folder), sorted.
    pub fn stored_contents(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                    // object_store's local store writes `name#N` while a put is in progress.
                    if name.len() == 64 {
                        out.push(name.to_owned());
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self.content_dir.path(), &mut out);
        out.sort();
        out
    }

    /// The SHA-256 of the documents of a record, by id.
    pub async fn document_digests(&self, person: &str) -> Vec<String> {
        self.query_rows(&format!(
            "SELECT sha256 FROM documents WHERE patient_ins = '{person}' ORDER BY id"
        ))
        .await
        .into_iter()
        .map(|row| row[0].clone())
        .collect()
    }

    /// Overwrites the bytes the test's own content store keeps under `sha256`, as someone
    /// with write access to the bucket could.
    pub fn overwrite_content(&self, sha256: &str, bytes: &[u8]) {
        let folder = self.content_dir.path().join("sha256").join(&sha256[..2]);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(sha256), bytes).unwrap();
    }

    /// Makes every ledger append fail from now on, as a full disk or a broken constraint would.
    pub async fn refuse_ledger_appends(&self) {
        let db = self.db().await;
        let statements: &[&str] = match self.backend {
            Backend::Postgres => &[
                "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'ledger unavailable'; END $$",
                "CREATE TRIGGER refuse_insert BEFORE INSERT ON ledger_events FOR EACH ROW EXECUTE FUNCTION refuse_insert()",
            ],
            Backend::Sqlite => &[
                "CREATE TRIGGER refuse_insert BEFORE INSERT ON ledger_events BEGIN SELECT RAISE(ABORT, 'ledger unavailable'); END",
            ],
        };
        for statement in statements {
            db.execute_unprepared(statement).await.unwrap();
        }
    }
}

/// The grants of the API's role, as the operator runs them after every migration.
pub const API_ROLE_GRANTS: &str = include_str!("../../../docs/sql/grant-api-role.sql");

/// Does what the operator does on PostgreSQL (docs/src/production.md) on the database
/// at `owner_url`: migrates as the owner, creates a login role of the API's kind and grants it
/// [`API_ROLE_GRANTS`]. Returns the role and the URL to connect as it.
async fn restricted_role(owner_url: &str) -> (String, String) {
    let owner = Database::connect(owner_url).await.unwrap();
    migration::Migrator::up(&owner, None).await.unwrap();
    let role = format!("espace_sante_api_{:016x}", rand::random::<u64>());
    let password = format!("{:032x}", rand::random::<u128>());
    owner
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}' \
             NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        ))
        .await
        .unwrap();
    grant_api_role(&owner, &role).await;
    owner.close().await.unwrap();
    let (scheme, rest) = owner_url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    (role.clone(), format!("{scheme}://{role}:{password}@{host}"))
}

/// Runs [`API_ROLE_GRANTS`] for `role`, on a connection of the tables' owner.
pub async fn grant_api_role(owner: &DatabaseConnection, role: &str) {
    owner
        .execute_unprepared(&API_ROLE_GRANTS.replace("espace_sante_api", role))
        .await
        .unwrap();
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Drop the PostgreSQL database on a thread of its own: Drop cannot await, and the test's
        // runtime may be shutting down. FORCE ends the server's pooled connections.
        if let Some((admin, name)) = self.postgres_db.take() {
            let api_role = self.api_role.take();
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(conn) = Database::connect(&admin).await {
                        let _ = conn
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        // Roles belong to the cluster: this one goes once its database did.
                        if let Some(role) = api_role {
                            let _ = conn
                                .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
                                .await;
                        }
                    }
                });
            })
            .join();
        }
    }
}
