//! `dga-lite serve`: the scoring service. axum routes requests; connections are served with
//! hyper directly so header-read timeouts, the connection limit and graceful shutdown are ours
//! to set. Scoring goes through the dynamic batcher, on the blocking pool.

pub mod api;
pub mod batcher;
pub mod metrics;

use crate::model::ModelFile;
use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

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
    pub max_connections: usize,
    /// How long a batch stays open for more requests.
    pub batch_wait: Duration,
    pub max_batch: usize,
    /// Requests allowed to wait for the batcher before answering 429.
    pub queue: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_names: 10_000,
            max_body_bytes: 1 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_connections: 512,
            batch_wait: Duration::from_millis(1),
            max_batch: 4096,
            queue: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// What every handler shares.
pub struct App {
    pub model: Arc<ModelFile>,
    pub batcher: batcher::Batcher,
    pub config: ServeConfig,
    pub metrics: metrics::Metrics,
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

fn describe(model: &ModelFile) -> serde_json::Value {
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

/// A raw 503 for connections over the limit: written before any request is read.
fn over_capacity() -> Vec<u8> {
    let body = r#"{"error":"too many connections; retry shortly","status":503}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves until `shutdown` resolves, then stops accepting, drains requests in flight (up to
/// `drain_timeout`) and returns.
pub async fn serve(
    model: Arc<ModelFile>,
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let batcher = batcher::Batcher::start(
        model.clone(),
        config.max_batch,
        config.batch_wait,
        config.queue,
    );
    let app = Arc::new(App {
        model_info: describe(&model),
        model,
        batcher,
        config: config.clone(),
        metrics: metrics::Metrics::default(),
    });
    let service = TowerToHyperService::new(router(app));
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = stream.write_all(&over_capacity()).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let connection = http.serve_connection(TokioIo::new(stream), service.clone());
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(config.drain_timeout, graceful.shutdown()).await;
    Ok(())
}
