//! `dga-lite serve`: the scoring service. axum routes requests; connections are served with
//! hyper directly so header-read timeouts, the connection limit and graceful shutdown are ours
//! to set. Scoring goes through the dynamic batcher (`batcher.rs`), on scoring threads of its
//! own.

pub mod api;
pub mod batcher;
pub mod client_limit;
pub mod idle_io;
pub mod metrics;

use crate::backend::Scorer;
use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Largest values the limits may take (checked by `ServeConfig::check`, and by the CLI's flags):
/// past them hyper's and tokio's timers and semaphores overflow, or one request could hold
/// more memory than a sensor has.
pub const MAX_NAMES: usize = 1_000_000;
use crate::score_cache::MAX_CAPACITY as MAX_CACHE;
pub const MAX_BODY_BYTES: usize = 256 << 20;
pub const MAX_CONNECTIONS: usize = 65_536;
pub const MAX_TIMEOUT_S: usize = 3600;
/// Each scoring thread is an OS thread: a few per core is already more than helps.
pub const MAX_SCORING_THREADS: usize = 1024;

/// Limits and timings of the service.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Most names in one `/v1/score` request.
    pub max_names: usize,
    pub max_body_bytes: usize,
    /// A client must send its request headers within this.
    pub header_timeout: Duration,
    /// ... and its body within this.
    pub body_timeout: Duration,
    /// A connection with no byte moving either way for this long is closed (idle keep-alive
    /// connections, clients that stopped reading their answers).
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Most connections from one client address.
    pub max_connections_per_client: usize,
    /// How long a request may wait for the scorer before it is answered 503.
    pub queue_timeout: Duration,
    /// Threads that score the queued requests in rounds (0: one per thread of the rayon
    /// pool, which `--threads` sizes).
    pub scoring_threads: usize,
    pub max_batch: usize,
    /// Requests allowed to wait for the batcher before answering 429.
    pub queue: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// What part of a name is scored (the registrable domain by default, as `predict`).
    pub scope: crate::scope::Scope,
    /// Score names that cannot be public instead of answering `local` for them.
    pub score_local: bool,
    /// Names whose scores are remembered, so names asked again skip the model (0: none).
    pub cache_names: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_names: 10_000,
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_connections_per_client: 128,
            queue_timeout: Duration::from_secs(2),
            scoring_threads: 0,
            max_batch: 4096,
            queue: 1024,
            drain_timeout: Duration::from_secs(10),
            scope: crate::scope::Scope::Registrable,
            score_local: false,
            cache_names: 65_536,
        }
    }
}

impl ServeConfig {
    /// Refuses limits that are zero or past what the service can honour, naming the field.
    pub fn check(&self) -> Result<(), ConfigError> {
        let counts = [
            ("max_names", self.max_names, MAX_NAMES),
            ("max_body_bytes", self.max_body_bytes, MAX_BODY_BYTES),
            ("max_connections", self.max_connections, MAX_CONNECTIONS),
            (
                "max_connections_per_client",
                self.max_connections_per_client,
                MAX_CONNECTIONS,
            ),
            ("max_batch", self.max_batch, MAX_NAMES),
            ("queue", self.queue, MAX_CONNECTIONS),
        ];
        if self.scoring_threads > MAX_SCORING_THREADS {
            return Err(ConfigError(format!(
                "scoring_threads is {}; it must be 0 (one per --threads) to {MAX_SCORING_THREADS}",
                self.scoring_threads
            )));
        }
        if self.cache_names > MAX_CACHE {
            return Err(ConfigError(format!(
                "cache_names is {}; it must be 0 (no cache) to {MAX_CACHE}",
                self.cache_names
            )));
        }
        for (name, value, max) in counts {
            if !(1..=max).contains(&value) {
                return Err(ConfigError(format!(
                    "{name} is {value}; it must be 1 to {max}"
                )));
            }
        }
        let longest = Duration::from_secs(MAX_TIMEOUT_S as u64);
        let times = [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("idle_timeout", self.idle_timeout),
            ("queue_timeout", self.queue_timeout),
            ("drain_timeout", self.drain_timeout),
        ];
        for (name, value) in times {
            if value > longest || value.is_zero() {
                return Err(ConfigError(format!(
                    "{name} is {value:?}; it must be above zero and at most {MAX_TIMEOUT_S} s"
                )));
            }
        }
        Ok(())
    }

    /// The limits as (name, value) pairs for `/metrics`.
    fn as_gauges(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("max_names", self.max_names as f64),
            ("cache_names", self.cache_names as f64),
            ("max_body_bytes", self.max_body_bytes as f64),
            ("max_connections", self.max_connections as f64),
            (
                "max_connections_per_client",
                self.max_connections_per_client as f64,
            ),
            ("header_timeout_seconds", self.header_timeout.as_secs_f64()),
            ("body_timeout_seconds", self.body_timeout.as_secs_f64()),
            ("idle_timeout_seconds", self.idle_timeout.as_secs_f64()),
            ("queue_timeout_seconds", self.queue_timeout.as_secs_f64()),
            ("queue_requests", self.queue as f64),
            ("queue_names", self.max_queued_names() as f64),
        ]
    }

    /// Names allowed to wait for the scorer over all requests: a few full requests' worth.
    fn max_queued_names(&self) -> usize {
        (4 * self.max_names).max(4 * self.max_batch)
    }
}

/// What every handler shares.
pub struct App {
    pub model: Arc<Scorer>,
    pub batcher: batcher::Batcher,
    pub config: ServeConfig,
    pub metrics: Arc<metrics::Metrics>,
    pub model_info: serde_json::Value,
}

/// The routes, with metrics recorded for each request.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/model", post(api::snowman).put(api::snowman))
        .route("/v1/score", post(api::score_batch).get(api::score_one))
        .route("/v1/model", get(api::model_info))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            api::track,
        ))
        .with_state(app)
}

fn describe(model: &Scorer) -> serde_json::Value {
    let t = &model.training;
    json!({
        "architecture": model.net().architecture(),
        "vocabulary_size": model.vocab.size(),
        "threshold": model.threshold,
        "classes": model.classes(),
        "training_data": t.inputs.iter().map(|i| json!({"path": i.path, "sha256": i.sha256, "class": i.class, "names": i.names})).collect::<Vec<_>>(),
        "seed": t.seed,
        "metrics": t.test_metrics,
    })
}

/// A raw 503 for connections over a limit: written before any request is read.
fn over_capacity(why: &str) -> Vec<u8> {
    let body = json!({"error": format!("{why}; retry shortly"), "status": 503}).to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a refused connection without waiting on it for long: a client that never reads
/// must not hold the task.
fn refuse(stream: tokio::net::TcpStream, why: &'static str) {
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = stream.write_all(&over_capacity(why)).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}

/// The kind of error a connection ended with, for `/metrics`.
fn error_kind(error: &hyper::Error) -> &'static str {
    let io_kind = std::error::Error::source(error)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .map(|e| e.kind());
    if io_kind == Some(std::io::ErrorKind::TimedOut) {
        "idle_timeout"
    } else if error.is_timeout() {
        "header_timeout"
    } else if error.is_parse_too_large() {
        "request_head_too_large"
    } else if error.is_parse() {
        "malformed_request"
    } else if error.is_incomplete_message() {
        "incomplete_request"
    } else {
        "other"
    }
}

/// A service setting out of its range (`ServeConfig::check`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Serves until `shutdown` resolves, then stops accepting, drains requests in flight (up to
/// `drain_timeout`) and returns.
pub async fn serve(
    model: Arc<Scorer>,
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    config
        .check()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let metrics = Arc::new(metrics::Metrics::with_limits(config.as_gauges()));
    let batcher = batcher::Batcher::start(
        model.clone(),
        batcher::BatcherConfig {
            max_batch: config.max_batch,
            threads: config.scoring_threads,
            queue: config.queue,
            max_queued_names: config.max_queued_names(),
            queue_timeout: config.queue_timeout,
            cache_names: config.cache_names,
        },
        metrics.clone(),
    )?;
    let app = Arc::new(App {
        model_info: describe(&model),
        model,
        batcher,
        config: config.clone(),
        metrics: metrics.clone(),
    });
    let service = TowerToHyperService::new(router(app));
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let per_client = client_limit::ClientLimit::new(config.max_connections_per_client);
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    let timed_out: Arc<dyn Fn() + Send + Sync> = {
        let metrics = metrics.clone();
        Arc::new(move || metrics.connection_error("idle_timeout"))
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics.refused_capacity.fetch_add(1, Ordering::Relaxed);
            refuse(stream, "too many connections");
            continue;
        };
        let Some(client_permit) = per_client.try_acquire(peer.ip()) else {
            metrics.refused_per_client.fetch_add(1, Ordering::Relaxed);
            refuse(stream, "too many connections from this address");
            continue;
        };
        let io = idle_io::IdleIo::new(stream, config.idle_timeout, timed_out.clone());
        let connection = http.serve_connection(TokioIo::new(io), service.clone());
        let watched = graceful.watch(connection);
        let metrics = metrics.clone();
        metrics.connections_open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                let kind = error_kind(&e);
                // The idle timer counts its own cuts as it makes them.
                if kind != "idle_timeout" {
                    metrics.connection_error(kind);
                }
            }
            metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop(client_permit);
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(config.drain_timeout, graceful.shutdown()).await;
    Ok(())
}
