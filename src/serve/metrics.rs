//! Prometheus metrics: requests by route and status, a latency histogram, names scored, and
//! what happens below the router: connections open and refused, connections cut by timeouts
//! or closed for malformed requests (hyper answers those itself), and work dropped from the
//! scoring queue.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    /// Sum of latencies in microseconds.
    latency_sum_us: AtomicU64,
    pub names_scored: AtomicU64,
    pub connections_open: AtomicU64,
    /// Refused at once with 503: the global cap, or the client address's own cap.
    pub refused_capacity: AtomicU64,
    pub refused_per_client: AtomicU64,
    /// Connections that ended in an error, by kind (idle_timeout, header_timeout, ...).
    connection_errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests answered 503 because they waited in the queue past the queue timeout.
    pub queue_expired: AtomicU64,
    /// Requests (and their names) dropped from the queue because the client had gone.
    pub abandoned_requests: AtomicU64,
    pub abandoned_names: AtomicU64,
    /// The limits in force, shown so operators can see them beside the counters.
    pub limits: Vec<(&'static str, f64)>,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_string(), status)).or_insert(0) += 1;
        }
        for (bucket, &bound) in self.buckets.iter().zip(&BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Empty counters, with the limits in force to show beside them.
    pub fn with_limits(limits: Vec<(&'static str, f64)>) -> Metrics {
        Metrics {
            limits,
            ..Metrics::default()
        }
    }

    pub fn connection_error(&self, kind: &'static str) {
        if let Ok(mut errors) = self.connection_errors.lock() {
            *errors.entry(kind).or_insert(0) += 1;
        }
    }

    /// The Prometheus text exposition format.
    /// With `queued_names`, the names the batcher holds now, and the score cache's counters.
    pub fn render(
        &self,
        queued_names: usize,
        cache: Option<&crate::score_cache::ScoreCache>,
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP dga_lite_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE dga_lite_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "dga_lite_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP dga_lite_request_seconds Request latency.\n");
        out.push_str("# TYPE dga_lite_request_seconds histogram\n");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "dga_lite_request_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "dga_lite_request_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "dga_lite_request_seconds_sum {sum}");
        let _ = writeln!(out, "dga_lite_request_seconds_count {count}");
        out.push_str("# HELP dga_lite_names_scored_total Names scored.\n");
        out.push_str("# TYPE dga_lite_names_scored_total counter\n");
        let _ = writeln!(
            out,
            "dga_lite_names_scored_total {}",
            self.names_scored.load(Ordering::Relaxed)
        );
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        header(
            &mut out,
            "dga_lite_connections_open",
            "gauge",
            "Connections open now.",
        );
        let _ = writeln!(
            out,
            "dga_lite_connections_open {}",
            load(&self.connections_open)
        );
        header(
            &mut out,
            "dga_lite_connections_refused_total",
            "counter",
            "Connections answered 503 at once, by limit.",
        );
        for (reason, count) in [
            ("max_connections", &self.refused_capacity),
            ("max_connections_per_client", &self.refused_per_client),
        ] {
            let _ = writeln!(
                out,
                "dga_lite_connections_refused_total{{reason=\"{reason}\"}} {}",
                load(count)
            );
        }
        header(
            &mut out,
            "dga_lite_connection_errors_total",
            "counter",
            "Connections ended by a timeout or a malformed request (hyper answers malformed requests 400, 414 or 431 with an empty body).",
        );
        if let Ok(errors) = self.connection_errors.lock() {
            for (kind, count) in errors.iter() {
                let _ = writeln!(
                    out,
                    "dga_lite_connection_errors_total{{kind=\"{kind}\"}} {count}"
                );
            }
        }
        let mut plain = vec![
            (
                "dga_lite_queue_expired_total",
                "counter",
                "Requests answered 503 after waiting past the queue timeout.",
                load(&self.queue_expired),
            ),
            (
                "dga_lite_abandoned_requests_total",
                "counter",
                "Queued requests dropped because their client had gone.",
                load(&self.abandoned_requests),
            ),
            (
                "dga_lite_abandoned_names_total",
                "counter",
                "Names in those requests, not scored.",
                load(&self.abandoned_names),
            ),
            (
                "dga_lite_queued_names",
                "gauge",
                "Names waiting for the scorer or being scored.",
                queued_names as u64,
            ),
        ];
        if let Some(cache) = cache {
            plain.extend([
                (
                    "dga_lite_cache_hits_total",
                    "counter",
                    "Names answered from the score cache.",
                    load(&cache.hits),
                ),
                (
                    "dga_lite_cache_misses_total",
                    "counter",
                    "Names the cache did not hold (scored by the model).",
                    load(&cache.misses),
                ),
                (
                    "dga_lite_cache_names",
                    "gauge",
                    "Names the score cache holds now.",
                    cache.len() as u64,
                ),
            ]);
        }
        for (name, kind, help, value) in plain {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        header(
            &mut out,
            "dga_lite_limit",
            "gauge",
            "The service's limits and timeouts (seconds, bytes, counts).",
        );
        for (name, value) in &self.limits {
            let _ = writeln!(out, "dga_lite_limit{{name=\"{name}\"}} {value}");
        }
        out
    }
}

/// The `# HELP` and `# TYPE` lines of one metric.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}
