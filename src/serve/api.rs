//! The HTTP API: Snowman-compatible `/model`, our `/v1/*`, health and metrics. Every error is
//! a JSON object `{"error": ..., "status": ...}` with the matching status code.

use super::App;
use super::batcher::BatchError;
use crate::data::normalize_name;
use crate::judge::Judged;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// Seconds to send as Retry-After (overload answers).
    retry_after: Option<u32>,
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "status": self.status.as_u16()});
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> ApiError {
        match e {
            BatchError::Busy => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests are waiting; retry shortly",
            )
            .retry_after(1),
            BatchError::Expired => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the scorer is overloaded: the request waited past the queue timeout; retry shortly",
            )
            .retry_after(1),
            BatchError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            ),
        }
    }
}

fn json_response(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The Content-Type as sent (a multipart boundary is case-sensitive).
fn content_type(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// Whether a Content-Type names `media` (media types compare case-insensitively).
fn is_media(content_type: &str, media: &str) -> bool {
    let (sent, media) = (content_type.as_bytes(), media.as_bytes());
    sent.len() >= media.len() && sent[..media.len()].eq_ignore_ascii_case(media)
}

/// Reads the whole body within the size limit and the body timeout.
async fn read_body(app: &App, body: Body, declared: Option<u64>) -> Result<Bytes, ApiError> {
    let limit = app.config.max_body_bytes;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body over {limit} bytes"),
        ));
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(app.config.body_timeout, limited.collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over {limit} bytes"),
            ))
        }
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("could not read the body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `PUT|POST /model` with form field `url` (url-encoded or multipart), as Snowman served it:
/// `{"input query": "<what was sent>", "score": "0.19122"}`; a URL is scored by its host.
pub async fn snowman(State(app): State<Arc<App>>, request: Request) -> Result<Response, ApiError> {
    let kind = content_type(&request);
    let declared = declared_length(&request);
    let body = read_body(&app, request.into_body(), declared).await?;
    let url = if is_media(&kind, "application/x-www-form-urlencoded") {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed form: {e}")))?;
        form.get("url").cloned()
    } else if is_media(&kind, "multipart/form-data") {
        multipart_field(&kind, body, "url").await?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the form as application/x-www-form-urlencoded or multipart/form-data",
        ));
    };
    let url = url.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing form field `url`")
    })?;
    let name = normalize_name(host_of_url(&url))
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    // The Snowman response has a score and nothing else, so every name is scored (its
    // scope, as everywhere), local or not.
    let name = app.config.scope.apply(&name).to_string();
    let outputs = app.model.net().outputs();
    let rows = app.batcher.probabilities(vec![name], outputs).await?;
    let scores = crate::model::head::dga_scores(&rows, outputs);
    app.metrics.names_scored.fetch_add(1, Ordering::Relaxed);
    Ok(json_response(
        json!({"input query": url, "score": format!("{:.5}", scores[0])}),
    ))
}

/// The host of what a Snowman client sends as `url`: often a whole URL
/// (`http://user@host:8080/path?q#f`), sometimes `host/path`, sometimes just the host. IPv6
/// literals keep their brackets (and are then refused as names). Used for this field only.
pub fn host_of_url(url: &str) -> &str {
    let url = url.trim();
    let rest = match url.find("://") {
        Some(at) => &url[at + 3..],
        None => url.strip_prefix("//").unwrap_or(url),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

async fn multipart_field(
    content_type: &str,
    body: Bytes,
    wanted: &str,
) -> Result<Option<String>, ApiError> {
    let bad = |e: multer::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed multipart body: {e}"),
        )
    };
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        if field.name() == Some(wanted) {
            return Ok(Some(field.text().await.map_err(bad)?));
        }
    }
    Ok(None)
}

/// Scores names (each checked) and builds the `results` array in request order: a score and
/// verdict (of the name's scope, `"scored"` saying which part when it is not the whole), or
/// `"local"` for a name that cannot be public, or the error.
async fn score_results(
    app: &App,
    items: Vec<Result<String, String>>,
    raw: Vec<String>,
) -> Result<Vec<Value>, ApiError> {
    // The rules every command applies (`judge`): what is scored, and the verdicts.
    let judge = crate::judge::Judge {
        policy: crate::verdict::Policy::for_model(&app.model, None),
        scope: app.config.scope,
        score_local: app.config.score_local,
        ..crate::judge::Judge::default()
    };
    let checked: Vec<Option<Result<&str, Judged>>> = items
        .iter()
        .map(|item| item.as_deref().ok().map(|name| judge.before_scoring(name)))
        .collect();
    let valid: Vec<String> = checked
        .iter()
        .filter_map(|c| c.as_ref().and_then(|r| r.as_ref().ok()))
        .map(|scored| scored.to_string())
        .collect();
    let count = valid.len() as u64;
    let outputs = app.model.net().outputs();
    let probabilities = app.batcher.probabilities(valid, outputs).await?;
    let mut rows = probabilities.chunks_exact(outputs);
    app.metrics.names_scored.fetch_add(count, Ordering::Relaxed);
    Ok(items
        .iter()
        .zip(raw)
        .zip(checked)
        .map(|((item, raw), check)| match (item, check) {
            (Ok(name), Some(Err(Judged::Local(why)))) => {
                json!({"domain": name, "local": why.reason(), "dga": false})
            }
            (Ok(name), check) => {
                let scored = match check {
                    Some(Ok(scored)) => scored,
                    _ => name.as_str(),
                };
                let row = rows.next().unwrap_or(&[]);
                let Judged::Scored {
                    score,
                    verdict,
                    family,
                } = judge.scored(&app.model, row)
                else {
                    unreachable!("a scored row is judged Scored")
                };
                let mut result = json!({
                    "domain": name,
                    "score": score,
                    "dga": verdict == crate::verdict::Verdict::Dga,
                    "verdict": verdict.name(),
                });
                if scored != name {
                    result["scored"] = scored.into();
                }
                // Multiclass models also name the most probable DGA family, for a name not
                // called benign.
                if let Some((family, p)) = family {
                    result["family"] = family.into();
                    result["family_probability"] = p.into();
                }
                result
            }
            (Err(reason), _) => json!({"domain": raw, "error": reason}),
        })
        .collect())
}

/// One name of a `/v1/score` body: normalised, or why not; and the name as sent.
pub type BodyItems = (Vec<Result<String, String>>, Vec<String>);

/// Parses a `/v1/score` body, `{"domains": [...]}`, checking every name (at most
/// `max_names`). A fuzzing entry point: any bytes give names or an `ApiError`, never a panic.
pub fn parse_score_body(body: &[u8], max_names: usize) -> Result<BodyItems, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?;
    let domains = value
        .get("domains")
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing field `domains`"))?
        .as_array()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`domains` must be an array of strings",
            )
        })?;
    if domains.len() > max_names {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} in one request; at most {max_names}",
                crate::words::count(domains.len() as u64, "name")
            ),
        ));
    }
    let mut items = Vec::with_capacity(domains.len());
    let mut raw = Vec::with_capacity(domains.len());
    for d in domains {
        match d.as_str() {
            Some(s) => {
                items.push(normalize_name(s).map_err(|e| e.to_string()));
                raw.push(s.to_string());
            }
            None => {
                items.push(Err("not a string".to_string()));
                raw.push(d.to_string());
            }
        }
    }
    Ok((items, raw))
}

/// `POST /v1/score` with `{"domains": [...]}`.
pub async fn score_batch(
    State(app): State<Arc<App>>,
    request: Request,
) -> Result<Response, ApiError> {
    if !is_media(&content_type(&request), "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send application/json",
        ));
    }
    let declared = declared_length(&request);
    let body = read_body(&app, request.into_body(), declared).await?;
    let (items, raw) = parse_score_body(&body, app.config.max_names)?;
    let results = score_results(&app, items, raw).await?;
    Ok(json_response(
        json!({"model": app.model.net().architecture(), "results": results}),
    ))
}

/// `GET /v1/score?domain=NAME`.
pub async fn score_one(
    State(app): State<Arc<App>>,
    request: Request,
) -> Result<Response, ApiError> {
    let query: HashMap<String, String> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or("")).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("malformed query string: {e}"),
            )
        })?;
    let domain = query.get("domain").ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing query parameter `domain`",
        )
    })?;
    let name = normalize_name(domain)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let results = score_results(&app, vec![Ok(name)], vec![domain.clone()]).await?;
    Ok(json_response(
        json!({"model": app.model.net().architecture(), "results": results}),
    ))
}

/// `GET /v1/model`.
pub async fn model_info(State(app): State<Arc<App>>) -> Response {
    json_response(app.model_info.clone())
}

pub async fn healthz() -> Response {
    json_response(json!({"status": "ok"}))
}

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app
        .metrics
        .render(app.batcher.queued_names(), app.batcher.cache());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route; see /v1/score, /v1/model, /model, /healthz, /metrics",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

/// Records every request in the metrics, by route template and status.
pub async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics.record(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
