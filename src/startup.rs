//! Builds the application: database, migrations, schema, router, listener, background tasks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::config::{AppEnv, Settings};
use crate::graphql::build_schema;
use crate::http::{AppState, EdgeLimits, router};

use crate::services::Services;

/// Any startup failure, for the operator to read.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// Exports one process streams at once (each is one patient's, one at a time per patient): an
/// export reads the store for as long as the client downloads, and these are few.
const EXPORTS_AT_ONCE: usize = 4;

/// A bound, migrated, ready-to-run API.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    services: Services,
    delivery: crate::notify::Delivery,
    sweep_interval: Option<Duration>,
    purge_interval: Option<Duration>,
    relay_interval: Option<Duration>,
    checkpoint_interval: Option<Duration>,
    header_read_timeout: Duration,
    /// Cancelled when shutdown begins: readiness, websockets and background tasks watch it.
    stopping: CancellationToken,
    /// How long the listener keeps accepting after shutdown began (SHUTDOWN_GRACE_SECS).
    grace: Duration,
    /// Longest wait for requests, websockets and background tasks to finish after the grace
    /// (SHUTDOWN_TIMEOUT_SECS).
    drain_timeout: Duration,
    /// The `/metrics` listener, when METRICS_LISTEN_ADDR is set.
    metrics_listener: Option<TcpListener>,
}

impl Application {
    /// Connects, migrates (in development) or checks the database (in production), and binds.
    /// `clock` is the time every rule reads.
    pub async fn build(settings: &Settings, clock: SharedClock) -> Result<Self, StartupError> {
        // Before anything else: a start that must be refused touches no database.
        let auth = settings.auth.authenticator(clock.clone())?;
        let signer = settings.checkpoints.signer()?;
        check_key_source(settings, &auth, signer.is_development())?;
        if settings.app_env == AppEnv::Production && signer.is_development() {
            return Err(
                "APP_ENV=production needs a ledger signing key: set LEDGER_SIGNING_KEY \
                        or LEDGER_SIGNING_KEY_FILE (`espace-sante keys generate`); the public \
                        development key is never accepted in production"
                    .into(),
            );
        }
        if settings.app_env == AppEnv::Production
            && settings.database.database_url.starts_with("sqlite:")
            && !settings.database.accept_unguarded_ledger_on_sqlite
        {
            return Err(
                "APP_ENV=production runs on PostgreSQL: on SQLite, whoever can write the \
                 database file can drop the triggers that keep the ledger append-only. Set \
                 DATABASE_URL to postgres://…, or ACCEPT_UNGUARDED_LEDGER_ON_SQLITE=true to \
                 accept that risk"
                    .into(),
            );
        }
        let contents = settings.database.contents()?;
        tracing::info!("contents go to {}", contents.describe());
        let db = settings
            .database
            .connect(settings.limits.statement_timeout())
            .await?;
        match settings.app_env {
            AppEnv::Development => crate::db::migrate(&db).await?,
            // Production runs as a role that cannot change the schema (nor the ledger's guards):
            // `espace-sante migrate` runs as the owner, before.
            AppEnv::Production => crate::db::check_production(&db).await?,
        }
        if settings.telemetry.metrics_listen.is_some() {
            // Installed before anything measures, so that nothing measured is lost.
            crate::telemetry::metrics::prometheus();
        }
        check_signing_key(settings.app_env, &db, &signer).await?;
        let services = Services::new(db.clone(), clock, settings.rules.policy(), contents)
            .with_checkpoint_signer(signer);
        // Contents kept in the database by an older version move to the store: by themselves
        // in development, by `espace-sante content migrate` in production, before the start.
        match settings.app_env {
            AppEnv::Development => {
                services.migrate_contents().await.map_err(|e| e.message())?;
            }
            AppEnv::Production => {
                let left = services
                    .contents_left_in_database()
                    .await
                    .map_err(|e| e.message())?;
                if left > 0 {
                    return Err(format!(
                        "{left} content(s) are still in the database: run `espace-sante content \
                         migrate` (resumable) to move them to CONTENT_STORE_URL, then start"
                    )
                    .into());
                }
            }
        }
        let delivery = settings.delivery(&services)?;
        tracing::info!("emails go to {}", delivery.relay.mailer.describe());
        let stopping = CancellationToken::new();
        let auth = Arc::new(auth);
        let state = AppState {
            schema: build_schema(
                services.clone(),
                Arc::new(delivery.clone()),
                auth.clone(),
                settings.limits.query_limits(settings.app_env),
            ),
            auth,
            db,
            services: services.clone(),
            limiter: Arc::new(settings.limits.limiter()?),
            stopping: stopping.clone(),
            graphiql: settings.app_env == AppEnv::Development,
            exports: Arc::new(crate::http::rest::ExportGate::new(EXPORTS_AT_ONCE)),
        };
        let limits = EdgeLimits {
            // Base64 makes 4 characters of 3 bytes; the rest of a request is small.
            max_body_bytes: settings.rules.document_max_bytes.div_ceil(3) * 4 + 1024 * 1024,
            request_timeout: Duration::from_secs(settings.http.request_timeout_secs),
            body_read_timeout: Duration::from_secs(settings.http.body_read_timeout_secs),
            websocket: settings.websocket.limits(),
        };
        let listener = TcpListener::bind(settings.http.listen).await?;
        let metrics_listener = match settings.telemetry.metrics_listen {
            Some(address) => Some(TcpListener::bind(address).await?),
            None => None,
        };
        Ok(Self {
            listener,
            router: router(state, limits),
            services,
            delivery,
            sweep_interval: (settings.creation_sweep_interval_secs > 0)
                .then(|| Duration::from_secs(settings.creation_sweep_interval_secs)),
            purge_interval: (settings.purge_sweep_interval_secs > 0)
                .then(|| Duration::from_secs(settings.purge_sweep_interval_secs)),
            relay_interval: (settings.relay.relay_interval_secs > 0)
                .then(|| Duration::from_secs(settings.relay.relay_interval_secs)),
            checkpoint_interval: (settings.checkpoints.checkpoint_interval_secs > 0)
                .then(|| Duration::from_secs(settings.checkpoints.checkpoint_interval_secs)),
            header_read_timeout: Duration::from_secs(settings.http.header_read_timeout_secs),
            stopping,
            grace: Duration::from_secs(settings.http.shutdown_grace_secs),
            drain_timeout: Duration::from_secs(settings.http.shutdown_timeout_secs),
            metrics_listener,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The port of the `/metrics` listener, if metrics are served.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Serves until `shutdown` completes, then stops cleanly, within the grace and the drain
    /// timeout:
    /// - at once, `/readyz` answers 503, websockets are closed with 1001 (going away: clients
    ///   reconnect to another replica), and background tasks take no new work;
    /// - for the grace, the listener still accepts, while load balancers take the replica out;
    /// - then the requests in flight, the websockets' last frames and the background tasks'
    ///   current unit (an email being sent, a sweep, a checkpoint) finish, for at most the
    ///   drain timeout, after which what is left is abandoned.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopping = self.stopping;
        let mut background = vec![
            // The live listener holds no unit of work: ended with the process.
            tokio::spawn(crate::notify::live::listen(
                self.services.connection().clone(),
                self.services.live.clone(),
            )),
        ];
        if let Some(listener) = self.metrics_listener {
            background.push(tokio::spawn(crate::telemetry::metrics::serve(
                listener,
                self.services.clone(),
            )));
        }
        // The announcing task tells the other replicas what the requests commit, until the
        // last request has finished (below).
        let announced = CancellationToken::new();
        let announcer = tokio::spawn(crate::notify::live::announce(
            self.services.connection().clone(),
            self.services.live.clone(),
            announced.clone(),
        ));
        let mut units = Vec::new();
        if let Some(every) = self.sweep_interval {
            units.push(tokio::spawn(creation_sweep(
                self.services.clone(),
                every,
                stopping.clone(),
            )));
        }
        if let Some(every) = self.checkpoint_interval {
            units.push(tokio::spawn(checkpoints(
                self.services.clone(),
                every,
                stopping.clone(),
            )));
        }
        if let Some(every) = self.purge_interval {
            units.push(tokio::spawn(purge_sweep(
                self.services.clone(),
                every,
                stopping.clone(),
            )));
        }
        if let Some(every) = self.relay_interval {
            units.push(tokio::spawn(
                self.delivery.relay.clone().run(every, stopping.clone()),
            ));
        }
        let grace = self.grace;
        let signalled = stopping.clone();
        let deadline = serve(
            self.listener,
            self.router,
            self.header_read_timeout,
            async move {
                shutdown.await;
                tracing::info!(
                    grace_secs = grace.as_secs(),
                    "shutting down: not ready, websockets closed, background tasks finishing"
                );
                signalled.cancel();
                tokio::time::sleep(grace).await;
            },
            self.drain_timeout,
        )
        .await;
        for task in units {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("a background task did not finish in time; abandoned");
                abort.abort();
            }
        }
        announced.cancel();
        if tokio::time::timeout_at(deadline, announcer).await.is_err() {
            tracing::warn!("the last live events could not be told to the other replicas in time");
        }
        for task in background {
            task.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Accepts connections until `shutdown` completes, then waits for the requests in flight and
/// the websockets, until `drain_timeout` at most; returns that deadline.
///
/// `axum::serve` would do, but it does not expose hyper's header read timeout: without it, a
/// client that sends half a request head holds a connection (and a task) forever. So this is
/// axum's loop, on hyper's HTTP/1 builder with a timer. (The body has its own timeout, a layer
/// of the router.) An upgraded connection (a websocket) stays in the loop's watch through the
/// [`crate::http::Held`] its handler keeps.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> tokio::time::Instant {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // Closed (all senders dropped) when shutdown begins; each connection holds a receiver
    // until it is done, so the sender's `closed()` tells when all are.
    let (stop, stopping) = tokio::sync::watch::channel(());
    let (done, connections) = tokio::sync::watch::channel(());
    futures_util::pin_mut!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait rather than spin, as axum does.
                    tracing::warn!(error.cause = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer address keys the rate limit of anonymous callers (axum's `ConnectInfo`).
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
                .layer(axum::Extension(crate::http::Held::new(connections.clone()))),
        );
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        let held = connections.clone();
        tokio::spawn(async move {
            futures_util::pin_mut!(connection);
            let mut running = true;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(err) = result {
                            tracing::debug!(error.cause = %err, "connection ended on an error");
                        }
                        break;
                    }
                    // Once: the connection finishes the request in flight, then closes.
                    _ = stopping.changed(), if running => {
                        running = false;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(held);
        });
    }
    drop(listener);
    // Wake every connection: each finishes its request in flight and closes.
    let _ = stop.send(());
    drop(stopping);
    drop(connections);
    let deadline = tokio::time::Instant::now() + drain_timeout;
    if tokio::time::timeout_at(deadline, done.closed())
        .await
        .is_err()
    {
        tracing::warn!("connections still open at the drain timeout; abandoned");
    }
    deadline
}

/// The mode's rules for keys: production never accepts the public development key (it needs
/// JWT_SECRET or JWT_ISSUERS, and keys fetched over https); development accepts it only on a
/// loopback address. Development says what it is in a banner on stderr at every start, whatever
/// RUST_LOG keeps: a log filter must not hide that anyone may sign tokens.
fn check_key_source(
    settings: &Settings,
    auth: &Authenticator,
    development_signing_key: bool,
) -> Result<(), StartupError> {
    match settings.app_env {
        AppEnv::Production => {
            if auth.is_development() {
                return Err("APP_ENV=production needs a key source: set JWT_SECRET or \
                            JWT_ISSUERS (the public development key is never accepted in \
                            production)"
                    .into());
            }
            let issuers = settings.auth.jwt_issuers.iter().flat_map(|i| &i.0);
            if let Some(plain) = issuers.into_iter().find(|i| !i.is_https()) {
                return Err(format!(
                    "APP_ENV=production: the keys of issuer {} must be fetched over https",
                    plain.issuer
                )
                .into());
            }
            Ok(())
        }
        AppEnv::Development => {
            let loopback = settings.http.listen.ip().is_loopback();
            if auth.is_development() && !loopback {
                return Err(format!(
                    "the public development key is accepted only on a loopback address, not on \
                     {}: listen on 127.0.0.1 or [::1], or set JWT_SECRET or JWT_ISSUERS",
                    settings.http.listen.ip()
                )
                .into());
            }
            // eprintln!, not tracing: RUST_LOG=error must not hide it.
            eprintln!("{}", development_banner(auth.is_development()));
            if development_signing_key {
                eprintln!(
                    "espace-sante: ledger checkpoints are signed with the PUBLIC DEVELOPMENT KEY \
                     (anyone can forge them); set LEDGER_SIGNING_KEY or LEDGER_SIGNING_KEY_FILE"
                );
            }
            Ok(())
        }
    }
}

/// Whether this server's key may sign the next checkpoint: only the current key of the key set
/// does (any key, before the first checkpoint). A key retired by a rotation, or one no rotation
/// introduced, is a configuration that would never sign: production refuses to start with it,
/// as it refuses the development key, so that a rollout with the wrong key file stops at the
/// first replica instead of leaving the log unsigned; development starts, says so, and refuses
/// each checkpoint. A key set that does not verify is the ledger's problem, not the
/// configuration's: the server starts (it signs nothing over it) and `ledger verify` says why.
async fn check_signing_key(
    app_env: AppEnv,
    db: &sea_orm::DatabaseConnection,
    signer: &crate::ledger::checkpoint::CheckpointSigner,
) -> Result<(), StartupError> {
    use crate::ledger::checkpoint::{CheckpointError, signing_refusal};
    match (signing_refusal(db, signer).await?, app_env) {
        (None, _) => Ok(()),
        (Some(CheckpointError::Key(refusal)), AppEnv::Production) => Err(format!(
            "APP_ENV=production: this server would sign no checkpoint: {refusal} \
             (LEDGER_SIGNING_KEY or LEDGER_SIGNING_KEY_FILE)"
        )
        .into()),
        (Some(refusal), _) => {
            tracing::warn!(
                checkpoint.key_id = %signer.key_id(),
                "this server will sign no checkpoint: {refusal}"
            );
            Ok(())
        }
    }
}

/// What development mode prints at every start.
fn development_banner(development_key: bool) -> String {
    let key = if development_key {
        "ACCEPTS TOKENS SIGNED WITH THE PUBLIC DEVELOPMENT KEY (anyone can sign in as anyone)"
    } else {
        "accepts tokens from the configured key sources"
    };
    format!(
        "espace-sante: DEVELOPMENT MODE (APP_ENV=development): GraphiQL is served, and the API \
         {key}. Set APP_ENV=production for a deployment."
    )
}

/// Creates due profiles and ends the representation of those who turned 18, periodically. A
/// failed run is logged and retried at the next tick.
async fn creation_sweep(services: Services, every: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while next_tick(&mut ticker, &stop).await {
        if let Err(err) = services.create_due_profiles().await {
            tracing::error!(error.cause = %err.message(), "creation sweep failed");
        }
        // The same period suits the end of minors' representation (a birthday is a day long).
        if let Err(err) = services.end_representations_at_majority().await {
            tracing::error!(error.cause = %err.message(), "majority sweep failed");
        }
    }
}

/// Purges, periodically, the closed profiles whose retention period has ended (by the services'
/// clock). A failed run is logged and retried at the next tick.
async fn purge_sweep(services: Services, every: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while next_tick(&mut ticker, &stop).await {
        if let Err(err) = services.purge_due_profiles().await {
            tracing::error!(error.cause = %err.message(), "purge sweep failed");
        }
        // The same period suits the objects a crash or a refused feed left in the store.
        if let Err(err) = services.sweep_contents().await {
            tracing::error!(error.cause = %err.message(), "content sweep failed");
        }
    }
}

/// Makes a checkpoint periodically (the first at start). A failed run is logged and tried
/// again at the next tick; a refusal (a ledger that diverges from the last checkpoint, a key
/// retired by a rotation) is logged by the service and never signed.
async fn checkpoints(services: Services, every: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while next_tick(&mut ticker, &stop).await {
        match services.checkpoint_now().await {
            Ok(crate::services::checkpoints::CheckpointOutcome::Created(c)) => {
                tracing::info!(
                    checkpoint.index = c.index,
                    checkpoint.tree_size = c.tree_size,
                    "ledger checkpoint signed"
                );
            }
            Ok(crate::services::checkpoints::CheckpointOutcome::Unchanged(_))
            | Err(crate::services::ServiceError::Conflict(_)) => {}
            Err(err) => tracing::error!(error.cause = %err.message(), "ledger checkpoint failed"),
        }
    }
}

/// Waits for the next tick: `false` once `stop` is cancelled (a unit begun is finished by its
/// loop; none begins after).
async fn next_tick(ticker: &mut tokio::time::Interval, stop: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        () = stop.cancelled() => false,
        _ = ticker.tick() => true,
    }
}

/// Completes on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
