//! `GET /metrics` in Prometheus' text format (DESIGN.md "Never silent"): mirror lag (a push
//! accepted → GitHub has its refs), runs by direction, outcome and error class with their
//! durations, webhook delivery attempts by result, and — read from the database at each scrape, so every process sharing it reports
//! the same — queue depth, the age of the oldest pending request, and leases held. Behind a bearer
//! token when `GITBLIXT_METRICS_TOKEN` is set.

use app::ssr::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;

struct Metrics {
    registry: Registry,
    lag: HistogramVec,
    runs: IntCounterVec,
    duration: HistogramVec,
    queue_depth: IntGauge,
    oldest_pending: IntGauge,
    leases: IntGauge,
    webhooks: IntCounterVec,
    lateness: Histogram,
    database: HistogramVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("gitblixt".into()), None)?;
    let lag = HistogramVec::new(
        HistogramOpts::new("mirror_lag_seconds", "From a push accepted by GitBlixt to GitHub having its refs (push mirrors).")
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0]),
        &["trigger"],
    )?;
    let runs = IntCounterVec::new(
        Opts::new("mirror_runs_total", "Mirror runs by direction, outcome and error class."),
        &["direction", "outcome", "class"],
    )?;
    let duration = HistogramVec::new(
        HistogramOpts::new("mirror_run_duration_seconds", "How long mirror runs take.").buckets(vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0]),
        &["direction", "outcome"],
    )?;
    let queue_depth = IntGauge::new("mirror_queue_depth", "Mirrors with a sync requested and not running.")?;
    let oldest_pending = IntGauge::new("mirror_oldest_pending_seconds", "Age of the oldest pending sync request.")?;
    let leases = IntGauge::new("mirror_leases_held", "Mirror runs holding a lease now.")?;
    let webhooks = IntCounterVec::new(Opts::new("webhook_deliveries_total", "Webhook delivery attempts by result."), &["result"])?;
    let lateness = Histogram::with_opts(
        HistogramOpts::new("pull_schedule_lateness_seconds", "From a pull mirror's scheduled time to its run's start.")
            .buckets(vec![1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0]),
    )?;
    let database = HistogramVec::new(
        HistogramOpts::new("sync_queue_database_seconds", "Database time of the sync queue: a scheduler pass (requesting due pull mirrors), a worker's claim.")
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]),
        &["step"],
    )?;
    registry.register(Box::new(lag.clone()))?;
    registry.register(Box::new(runs.clone()))?;
    registry.register(Box::new(duration.clone()))?;
    registry.register(Box::new(queue_depth.clone()))?;
    registry.register(Box::new(oldest_pending.clone()))?;
    registry.register(Box::new(leases.clone()))?;
    registry.register(Box::new(webhooks.clone()))?;
    registry.register(Box::new(lateness.clone()))?;
    registry.register(Box::new(database.clone()))?;
    Ok(Metrics { registry, lag, runs, duration, queue_depth, oldest_pending, leases, webhooks, lateness, database })
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| match build() {
    Ok(m) => Some(m),
    Err(e) => {
        tracing::error!(error = %e, "metrics could not be set up");
        None
    }
});

/// Records a finished run: `class` is the error class (`none` on success).
pub fn run_finished(direction: &str, outcome: &str, class: &str, seconds: f64) {
    if let Some(m) = METRICS.as_ref() {
        m.runs.with_label_values(&[direction, outcome, class]).inc();
        m.duration.with_label_values(&[direction, outcome]).observe(seconds);
    }
}

/// Records a webhook delivery attempt: `delivered`, `retrying` or `failed` (given up).
pub fn webhook_attempt(result: &str) {
    if let Some(m) = METRICS.as_ref() {
        m.webhooks.with_label_values(&[result]).inc();
    }
}

/// Records how late a scheduled pull started.
pub fn pull_lateness(seconds: f64) {
    if let Some(m) = METRICS.as_ref() {
        m.lateness.observe(seconds.max(0.0));
    }
}

/// Records the database time of one step of the sync queue: `pass` (the scheduler's request of
/// due pull mirrors) or `claim` (a worker looking for its next run and taking its lease).
pub fn queue_database(step: &str, seconds: f64) {
    if let Some(m) = METRICS.as_ref() {
        m.database.with_label_values(&[step]).observe(seconds);
    }
}

/// Records how long GitHub waited for a change GitBlixt accepted.
pub fn lag(trigger: &str, seconds: f64) {
    if let Some(m) = METRICS.as_ref() {
        m.lag.with_label_values(&[trigger]).observe(seconds);
    }
}

pub fn routes(state: AppState, token: Option<SecretString>) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(move |state, headers| scrape(state, headers, token.clone()))).with_state(state)
}

fn authorized(headers: &HeaderMap, token: Option<&SecretString>) -> bool {
    let Some(token) = token else { return true };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    let (a, b) = (given.as_bytes(), token.expose_secret().as_bytes());
    // Constant time in the token's content.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap, token: Option<SecretString>) -> Response {
    if !authorized(&headers, token.as_ref()) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"GitBlixt metrics\"")], "401 Unauthorized\n").into_response();
    }
    let Some(m) = METRICS.as_ref() else { return (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response() };
    match app::ssr::mirrors::queue_stats(&state.db).await {
        Ok(q) => {
            m.queue_depth.set(q.pending);
            m.oldest_pending.set(q.oldest_pending_seconds);
            m.leases.set(q.leases);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the queue failed"),
    }
    let mut body = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&m.registry.gather(), &mut body) {
        tracing::error!(error = %e, "metrics could not be encoded");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
