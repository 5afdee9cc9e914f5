//! Settings, from flags or environment variables (every flag has one), in groups by concern:
//! each subcommand takes the groups it uses, and its `--help` lists those alone. Secrets are
//! never printed: not by `--help`, not by `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::Duration;
use clap::{Args, FromArgMatches};
use sea_orm::DatabaseConnection;

use crate::auth::{AuthOptions, Authenticator, DEV_SECRET, JwksIssuer, JwksTiming, KeySource};
use crate::clock::SharedClock;
use crate::domain::Policy;
use crate::notify::{letters::Statements, relay::Relay};

/// Where the server runs. Production turns every convenience of development off: it is the
/// one setting an operator must not forget, and what it changes is listed in the manual's
/// "Running in production" (docs/src/production.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppEnv {
    /// A developer's machine: the conveniences are on, and the startup banner says so.
    Development,
    /// A real deployment.
    Production,
}

/// What `serve` reads: every group.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// `development` or `production`.
    #[arg(
        long = "app-env",
        env = "APP_ENV",
        value_enum,
        default_value = "development",
        help_heading = "Deployment"
    )]
    pub app_env: AppEnv,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub http: HttpSettings,

    #[command(flatten)]
    pub websocket: WebSocketSettings,

    #[command(flatten)]
    pub auth: AuthSettings,

    #[command(flatten)]
    pub rules: RuleSettings,

    #[command(flatten)]
    pub mail: MailSettings,

    #[command(flatten)]
    pub relay: RelaySettings,

    #[command(flatten)]
    pub letters: LettersSettings,

    #[command(flatten)]
    pub limits: LimitSettings,

    #[command(flatten)]
    pub telemetry: TelemetrySettings,

    #[command(flatten)]
    pub checkpoints: CheckpointSettings,

    /// Seconds between two runs of the background creation sweep (0 disables it).
    #[arg(
        long,
        env = "CREATION_SWEEP_INTERVAL_SECS",
        default_value_t = 60,
        help_heading = "Background tasks"
    )]
    pub creation_sweep_interval_secs: u64,

    /// Seconds between two runs of the background purge sweep, which deletes the contents of
    /// closed profiles whose retention period has ended (0 disables it).
    #[arg(
        long,
        env = "PURGE_SWEEP_INTERVAL_SECS",
        default_value_t = 3600,
        help_heading = "Background tasks"
    )]
    pub purge_sweep_interval_secs: u64,
}

impl Settings {
    /// What `serve` reads when no subcommand is given: the environment and the defaults, as
    /// `espace-sante serve` without flags would.
    pub fn from_env() -> Result<Self, clap::Error> {
        let command = Self::augment_args(clap::Command::new("espace-sante serve"));
        Self::from_arg_matches(&command.try_get_matches_from(["espace-sante serve"])?)
    }

    /// The relay and the statements these settings give, on the services' database and clock.
    pub fn delivery(
        &self,
        services: &crate::services::Services,
    ) -> Result<crate::notify::Delivery, String> {
        Ok(crate::notify::Delivery {
            relay: self.relay.relay(
                &self.mail,
                services.connection().clone(),
                services.clock.clone(),
            )?,
            statements: self
                .letters
                .statements(services.connection().clone(), services.clock.clone()),
        })
    }
}

/// The database.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseSettings {
    /// Database: `sqlite://FILE?mode=rwc` (embedded, the default) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://espace-sante.sqlite?mode=rwc"
    )]
    pub database_url: String,

    /// Longest wait for a database connection, in seconds. During an outage, requests fail
    /// after it with SERVICE_UNAVAILABLE (HTTP 503, Retry-After) instead of hanging.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub db_acquire_timeout_secs: u64,

    /// Most PostgreSQL connections the API holds (SQLite always has one). More connections
    /// than the database server has cores to run them only queue inside PostgreSQL instead of
    /// in the pool; docs/src/performance.md has the measures behind the default.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,

    /// Lets APP_ENV=production start on SQLite, knowing that whoever can write the database
    /// file can drop the triggers that keep the ledger append-only, and rewrite it: SQLite has
    /// no roles to keep the API from its own guards (docs/src/production.md).
    #[arg(long, env = "ACCEPT_UNGUARDED_LEDGER_ON_SQLITE", default_value_t = false, action = clap::ArgAction::Set)]
    pub accept_unguarded_ledger_on_sqlite: bool,

    /// Where the bytes of documents and attachments are (the database keeps their digest and
    /// size): a folder (the default, beside the embedded database), or an S3-compatible
    /// service, `s3://BUCKET?endpoint=URL&region=REGION`, with its credentials in the
    /// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never in the URL.
    #[arg(
        long,
        env = "CONTENT_STORE_URL",
        default_value = "espace-sante-contents"
    )]
    pub content_store_url: String,
}

impl DatabaseSettings {
    /// The content store these settings name.
    pub fn contents(&self) -> Result<crate::contents::ContentStore, String> {
        crate::contents::ContentStore::open(&self.content_store_url).map_err(|err| err.to_string())
    }

    /// Connects to the database with these settings.
    pub async fn connect(
        &self,
        statement_timeout: Option<std::time::Duration>,
    ) -> Result<DatabaseConnection, sea_orm::DbErr> {
        crate::db::connect_with(
            &self.database_url,
            std::time::Duration::from_secs(self.db_acquire_timeout_secs),
            self.db_max_connections,
            statement_timeout,
        )
        .await
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpSettings {
    /// Address the API listens on.
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Longest time to answer an HTTP request, in seconds (then 503); websocket subscriptions
    /// are not cut.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,

    /// Longest time a client may take to send a request's head, in seconds (then the
    /// connection is closed).
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,

    /// Longest silence while a request body is read, in seconds (then 408).
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_secs: u64,

    /// Seconds the listener keeps accepting after SIGTERM, while `/readyz` answers 503 and
    /// load balancers take the replica out of rotation.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 0)]
    pub shutdown_grace_secs: u64,

    /// Longest wait, after the grace, for requests in flight, websockets' close frames and
    /// background tasks' current unit; then the process exits regardless.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
}

/// Websocket subscriptions.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Websockets")]
pub struct WebSocketSettings {
    /// Subscriptions one websocket may hold at once; one more gets an `error` message
    /// (TOO_MANY_SUBSCRIPTIONS) and the others go on.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub ws_max_subscriptions: u64,

    /// Websockets one user (token subject) may hold open at once, over every replica sharing
    /// REDIS_URL (without it, per process); one more is closed with 4429.
    #[arg(long, env = "WS_MAX_CONNECTIONS_PER_SUBJECT", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub ws_max_connections_per_subject: u64,

    /// Seconds a new websocket has to send `connection_init` and be acknowledged (then 4408).
    #[arg(long, env = "WS_INIT_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub ws_init_timeout_secs: u64,
}

impl WebSocketSettings {
    /// The limits the websocket edge enforces.
    pub fn limits(&self) -> crate::http::WebSocketLimits {
        crate::http::WebSocketLimits {
            max_subscriptions: usize::try_from(self.ws_max_subscriptions).unwrap_or(usize::MAX),
            max_connections_per_subject: usize::try_from(self.ws_max_connections_per_subject)
                .unwrap_or(usize::MAX),
            init_timeout: std::time::Duration::from_secs(self.ws_init_timeout_secs),
        }
    }
}

/// The tokens accepted (and, in development, minted).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Tokens")]
pub struct AuthSettings {
    /// HS256 secret shared with the identity provider. Without it and without JWT_ISSUERS the
    /// server runs with the public development key (development only, on a loopback address);
    /// with either, `token` refuses to mint.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Required `iss` claim of tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "espace-sante-dev")]
    pub jwt_issuer: String,

    /// Required `aud` claim of tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "espace-sante-api")]
    pub jwt_audience: String,

    /// Identity providers whose RS256/ES256 tokens are verified with their published keys, as a
    /// JSON array: `[{"issuer": "https://…", "jwks_url": "https://…/certs", "algorithms":
    /// ["RS256"], "roles": ["PRACTITIONER"], "audience": "…"}]` (`audience` optional, by default
    /// JWT_AUDIENCE).
    #[arg(long, env = "JWT_ISSUERS", value_parser = parse_issuers)]
    pub jwt_issuers: Option<JwtIssuers>,

    /// Longest token lifetime accepted, in seconds: `exp` at most this after `iat` and now.
    #[arg(long, env = "JWT_MAX_LIFETIME_SECS", default_value_t = 24 * 3600, value_parser = clap::value_parser!(u64).range(60..=30 * 24 * 3600))]
    pub jwt_max_lifetime_secs: u64,

    /// Seconds an identity provider's keys are used before being fetched again.
    #[arg(long, env = "JWKS_CACHE_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwks_cache_ttl_secs: u64,

    /// Fewest seconds between two fetches of one provider's keys (a token naming an unknown
    /// key fetches them again, at most this often).
    #[arg(long, env = "JWKS_REFETCH_INTERVAL_SECS", default_value_t = 30)]
    pub jwks_refetch_interval_secs: u64,
}

/// The identity providers of `JWT_ISSUERS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIssuers(pub Vec<JwksIssuer>);

fn parse_issuers(value: &str) -> Result<JwtIssuers, String> {
    let issuers: Vec<JwksIssuer> =
        serde_json::from_str(value).map_err(|e| format!("JWT_ISSUERS is not valid: {e}"))?;
    for issuer in &issuers {
        issuer.check()?;
    }
    Ok(JwtIssuers(issuers))
}

impl AuthSettings {
    /// The key source these settings give: the development key when none is configured.
    pub fn key_source(&self) -> Result<KeySource, String> {
        let jwks = self
            .jwt_issuers
            .as_ref()
            .map(|i| i.0.clone())
            .unwrap_or_default();
        match &self.jwt_secret {
            Some(secret) if secret.0.len() < 32 => {
                Err("JWT_SECRET must have at least 32 bytes".to_owned())
            }
            Some(secret) if secret.0 == DEV_SECRET => Err(
                "JWT_SECRET is the public development key: it is no secret; unset it to run with \
                 the development key (development only)"
                    .to_owned(),
            ),
            None if jwks.is_empty() => Ok(KeySource::Development),
            secret => Ok(KeySource::Production {
                secret: secret.as_ref().map(|s| s.0.clone()),
                jwks,
            }),
        }
    }

    /// The token checker these settings give; `clock` paces the refetch of published keys.
    pub fn authenticator(&self, clock: SharedClock) -> Result<Authenticator, String> {
        let secs = |s: u64| {
            i64::try_from(s)
                .ok()
                .and_then(Duration::try_seconds)
                .unwrap_or(Duration::MAX)
        };
        Authenticator::new(
            self.key_source()?,
            AuthOptions {
                issuer: self.jwt_issuer.clone(),
                audience: self.jwt_audience.clone(),
                max_lifetime: secs(self.jwt_max_lifetime_secs),
                jwks_timing: JwksTiming {
                    ttl: secs(self.jwks_cache_ttl_secs),
                    refetch_interval: secs(self.jwks_refetch_interval_secs),
                },
                clock,
            },
        )
    }
}

/// The key that signs the ledger's checkpoints, and how often they are made.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Ledger checkpoints")]
pub struct CheckpointSettings {
    /// The Ed25519 signing key of checkpoints, as 64 hex digits (`espace-sante keys
    /// generate`). Without it nor LEDGER_SIGNING_KEY_FILE, the public development key signs
    /// (development only: production refuses to start).
    #[arg(long, env = "LEDGER_SIGNING_KEY", hide_env_values = true)]
    pub ledger_signing_key: Option<Secret>,

    /// A file holding the signing key (64 hex digits), instead of LEDGER_SIGNING_KEY.
    #[arg(long, env = "LEDGER_SIGNING_KEY_FILE")]
    pub ledger_signing_key_file: Option<std::path::PathBuf>,

    /// Seconds between two checkpoints (0: only on demand). A checkpoint is skipped when no
    /// chain moved since the last one.
    #[arg(long, env = "CHECKPOINT_INTERVAL_SECS", default_value_t = 3600)]
    pub checkpoint_interval_secs: u64,
}

impl CheckpointSettings {
    /// The signing key these settings give: the development key when none is configured.
    pub fn signer(&self) -> Result<crate::ledger::checkpoint::CheckpointSigner, String> {
        use crate::ledger::checkpoint::CheckpointSigner;
        let signer = match (&self.ledger_signing_key, &self.ledger_signing_key_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "set LEDGER_SIGNING_KEY or LEDGER_SIGNING_KEY_FILE, not both".to_owned(),
                );
            }
            (Some(key), None) => CheckpointSigner::from_hex(&key.0)?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("LEDGER_SIGNING_KEY_FILE {}: {e}", path.display()))?;
                CheckpointSigner::from_hex(&text)
                    .map_err(|e| format!("LEDGER_SIGNING_KEY_FILE {}: {e}", path.display()))?
            }
            (None, None) => return Ok(CheckpointSigner::development()),
        };
        if signer.is_development() {
            return Err(
                "the ledger signing key is the public development key: it is no secret; unset \
                 it to run with the development key (development only)"
                    .to_owned(),
            );
        }
        Ok(signer)
    }
}

/// The lifecycle rules and the document size.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rules")]
pub struct RuleSettings {
    /// Opposition window after enrolment, in days (real MES: 6 weeks).
    #[arg(long, env = "OPPOSITION_WINDOW_DAYS", default_value_t = 42)]
    pub opposition_window_days: u32,

    /// Wrong activation attempts before activation locks.
    #[arg(long, env = "ACTIVATION_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub activation_max_attempts: u32,

    /// How long activation stays locked, in minutes.
    #[arg(long, env = "ACTIVATION_LOCKOUT_MINUTES", default_value_t = 15)]
    pub activation_lockout_minutes: u32,

    /// Largest document, in bytes (message attachments count together against it).
    #[arg(long, env = "DOCUMENT_MAX_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub document_max_bytes: usize,

    /// How long an emergency access ("bris de glace") to a record lasts, in minutes (at most
    /// 24 hours).
    #[arg(long, env = "EMERGENCY_ACCESS_MINUTES", default_value_t = 240, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub emergency_access_minutes: u32,
    /// How long a closed profile is kept (documents, messages, medical profile), readable by
    /// its owner's export alone and reopenable, before the purge, in years (real MES: 10).
    #[arg(long, env = "RETENTION_YEARS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub retention_years: u32,
}

impl RuleSettings {
    /// The lifecycle rules these settings give.
    pub fn policy(&self) -> Policy {
        Policy {
            opposition_window: Duration::days(i64::from(self.opposition_window_days)),
            max_activation_attempts: i32::try_from(self.activation_max_attempts)
                .unwrap_or(i32::MAX),
            activation_lockout: Duration::minutes(i64::from(self.activation_lockout_minutes)),
            max_document_bytes: self.document_max_bytes,
            emergency_access: Duration::minutes(i64::from(self.emergency_access_minutes)),
            retention: crate::domain::lifecycle::Retention {
                years: self.retention_years,
            },
        }
    }
}

/// How emails leave.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Email")]
pub struct MailSettings {
    /// SMTP server for emails: `smtp://host:25` (plain), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465`. Without it, emails are written to EMAIL_DIR.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// Sender of the emails.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Mon espace santé <ne-pas-repondre@monespacesante.fr>"
    )]
    pub mail_from: String,

    /// Where emails are written as .eml files when SMTP_URL is not set.
    #[arg(long, env = "EMAIL_DIR", default_value = "outbox/emails")]
    pub email_dir: PathBuf,
}

impl MailSettings {
    /// The mailer these settings give.
    pub fn mailer(&self) -> Result<crate::notify::email::Mailer, String> {
        crate::notify::email::Mailer::new(
            self.smtp_url.as_ref().map(|s| s.0.as_str()),
            &self.mail_from,
            self.email_dir.clone(),
        )
    }
}

/// The outbox relay, which sends the emails.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Email relay")]
pub struct RelaySettings {
    /// Seconds between two rounds of the outbox relay (in `serve`, 0: no relay; run
    /// `espace-sante relay` instead).
    #[arg(long, env = "RELAY_INTERVAL_SECS", default_value_t = 5)]
    pub relay_interval_secs: u64,

    /// Attempts before an email is marked FAILED.
    #[arg(long, env = "RELAY_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub relay_max_attempts: u32,

    /// Seconds a claimed email is kept from other relays; renewed while it is being sent, so
    /// that after a relay crash its emails wait this long at most.
    #[arg(long, env = "RELAY_LEASE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(3..=86_400))]
    pub relay_lease_secs: u32,
}

impl RelaySettings {
    /// The relay these settings give, sending with `mail`'s mailer.
    pub fn relay(
        &self,
        mail: &MailSettings,
        db: DatabaseConnection,
        clock: SharedClock,
    ) -> Result<Relay, String> {
        Ok(Relay {
            db,
            clock,
            mailer: mail.mailer()?,
            max_attempts: i32::try_from(self.relay_max_attempts).unwrap_or(i32::MAX),
            lease: Duration::seconds(i64::from(self.relay_lease_secs)),
        })
    }
}

/// The postal statements.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Postal statements")]
pub struct LettersSettings {
    /// Where postal statements (PDF) and their manifests are written.
    #[arg(long, env = "LETTERS_DIR", default_value = "outbox/letters")]
    pub letters_dir: PathBuf,
}

impl LettersSettings {
    /// The statement writer these settings give.
    pub fn statements(&self, db: DatabaseConnection, clock: SharedClock) -> Statements {
        Statements {
            db,
            clock,
            dir: self.letters_dir.clone(),
        }
    }
}

/// What one request may cost, and how often a caller may ask.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitSettings {
    /// Largest GraphQL query text, in bytes, refused before parsing.
    #[arg(long, env = "QUERY_MAX_BYTES", default_value_t = 32 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub query_max_bytes: u64,

    /// Deepest field nesting of a query, fragments expanded.
    #[arg(long, env = "QUERY_MAX_DEPTH", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    pub query_max_depth: u64,

    /// Most fields in a query, fragments counted as many times as they are spread.
    #[arg(long, env = "QUERY_MAX_FIELDS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub query_max_fields: u64,

    /// Most aliases in a query, fragments expanded.
    #[arg(long, env = "QUERY_MAX_ALIASES", default_value_t = 30)]
    pub query_max_aliases: u64,

    /// Highest cost of a query: 1 per field, 200 per traced field (patientRecord,
    /// patientDocument, me.document, ledgerIntegrity); the default allows 4 of those.
    #[arg(long, env = "QUERY_MAX_COST", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub query_max_cost: u64,

    /// Longest list in a request's inputs (arguments and variables).
    #[arg(long, env = "INPUT_MAX_LIST_ITEMS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub input_max_list_items: u64,

    /// Longest time a PostgreSQL statement of the API may run, in seconds (then it is
    /// cancelled); 0: no limit.
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT_SECS", default_value_t = 10)]
    pub statement_timeout_secs: u64,

    /// Requests per minute per caller (token subject, or IP address without a token) on
    /// POST /graphql; 0: no rate limit.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 300)]
    pub rate_limit_per_minute: u32,

    /// Requests a caller may send at once before the per-minute rate applies.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Redis that every replica counts the rate limit and the websocket caps in
    /// (`redis://host:6379`); unset: each process counts alone. While it is out of reach,
    /// each replica counts alone and says so (log, `shared_limits_reachable`).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

    /// Prefix of the keys written to REDIS_URL, to keep deployments sharing one Redis apart.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "espace-sante")]
    pub redis_key_prefix: String,
}

impl LimitSettings {
    /// The query limits these settings give; introspection and suggestions are open to
    /// authenticated callers in development only.
    pub fn query_limits(&self, app_env: AppEnv) -> crate::graphql::limits::QueryLimits {
        crate::graphql::limits::QueryLimits {
            max_bytes: usize::try_from(self.query_max_bytes).unwrap_or(usize::MAX),
            max_depth: self.query_max_depth,
            max_fields: self.query_max_fields,
            max_aliases: self.query_max_aliases,
            max_cost: self.query_max_cost,
            max_list_items: usize::try_from(self.input_max_list_items).unwrap_or(usize::MAX),
            open_to_authenticated: app_env == AppEnv::Development,
        }
    }

    /// The limits on each caller these settings give.
    pub fn limiter(&self) -> Result<crate::rate_limit::Limiter, String> {
        crate::rate_limit::Limiter::new(
            self.rate_limit_per_minute,
            self.rate_limit_burst,
            self.redis_url.as_ref().map(|url| url.0.as_str()),
            &self.redis_key_prefix,
        )
    }

    /// The statement timeout, if any.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        (self.statement_timeout_secs > 0)
            .then(|| std::time::Duration::from_secs(self.statement_timeout_secs))
    }
}

/// Metrics and traces for the operator. Both are off unless configured: the metrics say how
/// busy the service is and which errors it gives (no patient data), which is still not for
/// the public, so they are served on a listener of their own that nobody reaches by accident
/// through the API's address.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetrySettings {
    /// Address of the Prometheus `/metrics` listener (e.g. `127.0.0.1:9464`); unset: no
    /// metrics are served. Never the API's own address: put it on a private interface.
    #[arg(long, env = "METRICS_LISTEN_ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// A secret string: `Debug` and `Display` print nothing of it.
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("a secret cannot be empty".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_closes_introspection_and_suggestions_to_everyone() {
        let command = Settings::augment_args(clap::Command::new("serve"));
        let settings = Settings::from_arg_matches(&command.get_matches_from(["serve"]))
            .expect("the defaults parse");
        let limits = &settings.limits;
        assert!(
            limits
                .query_limits(AppEnv::Development)
                .open_to_authenticated
        );
        assert!(
            !limits
                .query_limits(AppEnv::Production)
                .open_to_authenticated
        );
    }
}
