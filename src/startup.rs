//! Builds the application: database, migrations, schema, router, listener, background tasks.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::graphql::build_schema;
use crate::http::{AppState, EdgeLimits, router};
use crate::rate_limit::RateLimiter;

use crate::services::Services;

/// Any startup failure, for the operator to read.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// A bound, migrated, ready-to-run API.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    services: Services,
    delivery: crate::notify::Delivery,
    sweep_interval: Option<Duration>,
    relay_interval: Option<Duration>,
}

impl Application {
    /// Connects, migrates and binds. `clock` is the time every rule reads.
    pub async fn build(settings: &Settings, clock: SharedClock) -> Result<Self, StartupError> {
        let db = crate::db::connect_api(
            &settings.database.database_url,
            settings.limits.statement_timeout(),
        )
        .await?;
        crate::db::migrate(&db).await?;
        let services = Services::new(db.clone(), clock, settings.rules.policy());
        let delivery = settings.delivery(&services)?;
        tracing::info!("emails go to {}", delivery.relay.mailer.describe());
        let auth = settings.auth.authenticator()?;
        if auth.is_development() {
            tracing::warn!(
                "no JWT_SECRET: accepting tokens signed with the public development key"
            );
        }
        let state = AppState {
            schema: build_schema(
                services.clone(),
                Arc::new(delivery.clone()),
                settings.limits.query_limits(settings.app_env),
            ),
            auth: Arc::new(auth),
            db,
            rate_limit: RateLimiter::new(
                settings.limits.rate_limit_per_minute,
                settings.limits.rate_limit_burst,
            )
            .map(Arc::new),
        };
        let limits = EdgeLimits {
            // Base64 makes 4 characters of 3 bytes; the rest of a request is small.
            max_body_bytes: settings.rules.document_max_bytes.div_ceil(3) * 4 + 1024 * 1024,
            request_timeout: Duration::from_secs(settings.http.request_timeout_secs),
        };
        let listener = TcpListener::bind(settings.http.listen).await?;
        Ok(Self {
            listener,
            router: router(state, limits),
            services,
            delivery,
            sweep_interval: (settings.creation_sweep_interval_secs > 0)
                .then(|| Duration::from_secs(settings.creation_sweep_interval_secs)),
            relay_interval: (settings.relay.relay_interval_secs > 0)
                .then(|| Duration::from_secs(settings.relay.relay_interval_secs)),
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut background = vec![tokio::spawn(crate::notify::live::listen(
            self.services.db.clone(),
            self.services.live.clone(),
        ))];
        if let Some(every) = self.sweep_interval {
            background.push(tokio::spawn(creation_sweep(self.services.clone(), every)));
        }
        if let Some(every) = self.relay_interval {
            background.push(tokio::spawn(self.delivery.relay.clone().run(every)));
        }
        // The peer address keys the rate limit of anonymous callers.
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let result = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        for task in background {
            task.abort();
        }
        result
    }
}

/// Creates due profiles periodically. A failed run is logged and retried at the next tick.
async fn creation_sweep(services: Services, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = services.create_due_profiles().await {
            tracing::error!(error.cause = %err.message(), "creation sweep failed");
        }
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
    tracing::info!("shutting down: draining in-flight requests");
}
