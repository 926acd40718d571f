//! Dynamic batching: names from concurrent requests are scored together. A batch takes the
//! first waiting request and every other one already queued (up to `max_batch` names). When
//! it found others queued (the server is under concurrent load), it waits up to `wait` (about
//! a millisecond) for more; a lone request is scored at once. While a batch is scored, new
//! requests queue up, so batches grow with load by themselves. Scoring runs on the blocking
//! pool, off the I/O threads.
//!
//! The queue is bounded three ways, so clients cannot make it grow without limit or stall it:
//! by requests (`queue`) and by names (`max_queued_names`), both answered 429 at once, and by
//! time: a request that waited past `queue_timeout` is answered 503 (with Retry-After) instead
//! of being scored. Work whose client has gone (it timed out or disconnected, so hyper
//! dropped the request) is dropped before it is scored, and a request larger than a batch is
//! scored in batch-sized pieces that stop when its client goes.

use super::metrics::Metrics;
use crate::model::ModelFile;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

struct Job {
    names: Vec<String>,
    reply: oneshot::Sender<Result<Vec<f32>, BatchError>>,
    queued_at: Instant,
}

/// Why a request could not be scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// Too many requests or names are waiting: try again later (429).
    Busy,
    /// The request waited in the queue past the queue timeout (503).
    Expired,
    /// The server is shutting down (503).
    Closed,
}

/// How the batcher is sized.
#[derive(Clone, Debug)]
pub struct BatcherConfig {
    pub max_batch: usize,
    pub wait: Duration,
    /// Requests allowed to wait.
    pub queue: usize,
    /// Names allowed to wait, over all requests.
    pub max_queued_names: usize,
    pub queue_timeout: Duration,
}

#[derive(Clone)]
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
    queued_names: Arc<AtomicUsize>,
    max_queued_names: usize,
}

impl Batcher {
    /// Starts the batching task on the current tokio runtime.
    pub fn start(model: Arc<ModelFile>, config: BatcherConfig, metrics: Arc<Metrics>) -> Batcher {
        let (jobs, mut rx) = mpsc::channel::<Job>(config.queue.max(1));
        let queued_names = Arc::new(AtomicUsize::new(0));
        let queued = queued_names.clone();
        let max_batch = config.max_batch.max(1);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let mut names: usize = batch[0].names.len();
                while names < max_batch {
                    match rx.try_recv() {
                        Ok(job) => {
                            names += job.names.len();
                            batch.push(job);
                        }
                        Err(_) => break,
                    }
                }
                if batch.len() > 1 {
                    let deadline = Instant::now() + config.wait;
                    while names < max_batch {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(job)) => {
                                names += job.names.len();
                                batch.push(job);
                            }
                            _ => break,
                        }
                    }
                }
                queued.fetch_sub(names, Ordering::Relaxed);
                let live = drop_dead_jobs(batch, config.queue_timeout, &metrics);
                if live.is_empty() {
                    continue;
                }
                let model = model.clone();
                let scored =
                    tokio::task::spawn_blocking(move || score_jobs(&model, live, max_batch)).await;
                let Ok(scored) = scored else { continue };
                for (job, rows) in scored {
                    // The requester may have gone meanwhile: nothing to do then.
                    let _ = job.reply.send(rows.ok_or(BatchError::Closed));
                }
            }
        });
        Batcher {
            jobs,
            queued_names,
            max_queued_names: config.max_queued_names.max(1),
        }
    }

    /// Output probabilities of normalised names (`[n, outputs]` row-major, see
    /// `ModelFile::probabilities`), sharing a batch with concurrent requests.
    pub async fn probabilities(
        &self,
        names: Vec<String>,
        outputs: usize,
    ) -> Result<Vec<f32>, BatchError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let count = names.len();
        let expected = count * outputs;
        // Reserve room for the names, or refuse: the queue's memory stays bounded.
        let reserved =
            self.queued_names
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                    (queued + count <= self.max_queued_names || queued == 0)
                        .then_some(queued + count)
                });
        if reserved.is_err() {
            return Err(BatchError::Busy);
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            names,
            reply,
            queued_at: Instant::now(),
        };
        if let Err(e) = self.jobs.try_send(job) {
            self.queued_names.fetch_sub(count, Ordering::Relaxed);
            return Err(match e {
                mpsc::error::TrySendError::Full(_) => BatchError::Busy,
                mpsc::error::TrySendError::Closed(_) => BatchError::Closed,
            });
        }
        let scores = answer.await.map_err(|_| BatchError::Closed)??;
        if scores.len() == expected {
            Ok(scores)
        } else {
            Err(BatchError::Closed)
        }
    }
}

/// Drops jobs whose client has gone and answers those that waited too long.
fn drop_dead_jobs(batch: Vec<Job>, queue_timeout: Duration, metrics: &Metrics) -> Vec<Job> {
    let now = Instant::now();
    let mut live = Vec::with_capacity(batch.len());
    for job in batch {
        if job.reply.is_closed() {
            metrics.abandoned_requests.fetch_add(1, Ordering::Relaxed);
            metrics
                .abandoned_names
                .fetch_add(job.names.len() as u64, Ordering::Relaxed);
        } else if now.duration_since(job.queued_at) > queue_timeout {
            metrics.queue_expired.fetch_add(1, Ordering::Relaxed);
            let _ = job.reply.send(Err(BatchError::Expired));
        } else {
            live.push(job);
        }
    }
    live
}

/// Scores the jobs' names in pieces of at most `max_batch`, stopping a job's work when its
/// client goes. Each job gets its rows, or `None` when it was given up.
fn score_jobs(model: &ModelFile, jobs: Vec<Job>, max_batch: usize) -> Vec<(Job, Option<Vec<f32>>)> {
    if jobs.iter().all(|j| j.names.len() <= max_batch) {
        // The common case: one call for every job's names together.
        let all: Vec<&str> = jobs
            .iter()
            .flat_map(|j| j.names.iter().map(String::as_str))
            .collect();
        let rows = model.probabilities(&all);
        let per_name = model.net().outputs();
        let mut rest = rows.as_slice();
        return jobs
            .into_iter()
            .map(|job| {
                let (mine, tail) = rest.split_at((job.names.len() * per_name).min(rest.len()));
                rest = tail;
                (job, Some(mine.to_vec()))
            })
            .collect();
    }
    jobs.into_iter()
        .map(|job| {
            let mut rows = Vec::new();
            for piece in job.names.chunks(max_batch) {
                if job.reply.is_closed() {
                    return (job, None);
                }
                rows.extend(model.probabilities(piece));
            }
            (job, Some(rows))
        })
        .collect()
}
