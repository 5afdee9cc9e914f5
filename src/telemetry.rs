//! Logging: readable in a terminal, JSON in production. `RUST_LOG` filters as usual. Logs go
//! to stderr, so that stdout holds only what a command answers (a token, a report) for scripts.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Does nothing if one is already installed (tests).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal only: a file or a pipe gets plain text, and
        // NO_COLOR (https://no-color.org) is honoured.
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        );
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Metrics: the global recorder of the `metrics` facade (which the services, the relay and the
/// GraphQL layer write to) and the `/metrics` listener that renders it for Prometheus.
///
/// The listener is off unless `METRICS_LISTEN_ADDR` is set, and it is a listener of its own:
/// the API's address never serves `/metrics`, so exposing the API does not expose them.
pub mod metrics {
    use std::sync::OnceLock;

    use axum::Router;
    use axum::extract::State;
    use axum::http::header;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use entity::notification;
    use entity::values::{Channel, DeliveryStatus};
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
    use sea_orm::{
        ColumnTrait, DbBackend, EntityTrait, ExprTrait, QueryFilter, QuerySelect, sea_query::Expr,
    };
    use tokio::net::TcpListener;

    use crate::services::Services;

    /// Latency buckets, in seconds: 1 ms to 10 s, finest where the API's targets are (10-100 ms).
    const LATENCY_BUCKETS: &[f64] = &[
        0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    ];

    /// The process's Prometheus recorder, installed as the global one on first use (a process
    /// has one global recorder; the test suite's servers share it).
    pub fn prometheus() -> PrometheusHandle {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                    .map(PrometheusBuilder::build_recorder)
                    .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
                let handle = recorder.handle();
                // Fails only if another recorder was installed first: then ours renders what
                // this module measures at scrape time, and the other gets the rest.
                let _ = metrics::set_global_recorder(recorder);
                handle
            })
            .clone()
    }

    /// Serves `GET /metrics` on `listener` until the task is aborted.
    pub async fn serve(listener: TcpListener, services: Services) {
        let app = Router::new()
            .route("/metrics", get(render))
            .with_state((services, prometheus()));
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error.cause = %err, "the metrics listener stopped");
        }
    }

    async fn render(
        State((services, handle)): State<(Services, PrometheusHandle)>,
    ) -> impl IntoResponse {
        sample(&services).await;
        handle.run_upkeep();
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
    }

    /// Reads the gauges that are states rather than events, at scrape time: the pool, the
    /// outbox backlog, the live subscribers.
    async fn sample(services: &Services) {
        let db = services.connection();
        let (size, idle, max) = match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        let idle = Ord::min(u32::try_from(idle).unwrap_or(u32::MAX), size);
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(size - idle));
        metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("db_pool_max_connections").set(f64::from(max));
        metrics::gauge!("live_subscribers").set(services.live.subscriber_count() as f64);

        let backlog = notification::Entity::find()
            .select_only()
            .column(notification::Column::Channel)
            .column_as(Expr::col(notification::Column::Id).count(), "pending")
            .column_as(Expr::col(notification::Column::CreatedAt).min(), "oldest")
            .filter(notification::Column::Status.eq(DeliveryStatus::Pending))
            .group_by(notification::Column::Channel)
            .into_tuple::<(Channel, i64, Option<chrono::DateTime<chrono::Utc>>)>()
            .all(db)
            .await;
        let now = services.clock.now();
        match backlog {
            Ok(rows) => {
                for &channel in Channel::ALL {
                    let (pending, oldest) = rows
                        .iter()
                        .find(|(c, _, _)| *c == channel)
                        .map_or((0, None), |(_, n, oldest)| (*n, *oldest));
                    let age = oldest.map_or(0.0, |t| (now - t).num_milliseconds() as f64 / 1e3);
                    metrics::gauge!("outbox_pending", "channel" => channel.as_str())
                        .set(pending as f64);
                    metrics::gauge!("outbox_oldest_pending_age_seconds", "channel" => channel.as_str())
                        .set(age.max(0.0));
                }
                metrics::gauge!("metrics_sample_failed").set(0.0);
            }
            Err(err) => {
                tracing::warn!(error.cause = %err, "metrics: the outbox backlog could not be read");
                metrics::gauge!("metrics_sample_failed").set(1.0);
            }
        }
    }
}
