//! Dynamic batching: names from concurrent requests are scored together, in rounds (a request
//! of a few names that finds the scorer idle is scored inline instead, see `INLINE_NAMES`). A round
//! takes every waiting request of up to `max_batch` names (small requests), and when it found
//! others queued (the server is under concurrent load) it waits up to `wait` (about a
//! millisecond) for more; a lone request is scored at once. While a round is scored, new
//! requests queue up, so rounds grow with load by themselves. Scoring runs on the blocking
//! pool, off the I/O threads.
//!
//! A request larger than `max_batch` is scored in pieces, one piece per round beside the
//! small requests (a short piece when small ones are waiting), so one bulk client neither
//! delays one-name clients by more than a short piece nor keeps being scored after it left.
//!
//! The queue is bounded three ways, so clients cannot make it grow without limit or stall it:
//! by requests (`queue`) and by names (`max_queued_names`, which small requests may pass, so
//! bulk clients cannot lock out one-name ones), both answered 429 at once, and by time: a
//! request that waited past `queue_timeout` before its first piece is answered 503 (with
//! Retry-After) instead of being scored. Work whose client has gone (it timed out or
//! disconnected, so hyper dropped the request) is dropped before each round.

use super::metrics::Metrics;
use crate::backend::Scorer;
use crate::score_cache::ScoreCache;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Requests of at most this many names are never refused for the names queued ahead of them.
const SMALL_REQUEST: usize = 64;
/// Names of a large request scored in a round where small requests wait too.
const SHORT_PIECE: usize = 512;

struct Job {
    names: Vec<String>,
    reply: oneshot::Sender<Result<Vec<f32>, BatchError>>,
    queued_at: Instant,
    /// Output rows of the names scored so far (large requests fill this piece by piece).
    rows: Vec<f32>,
    /// Names scored so far.
    done: usize,
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
    /// Names whose scores are remembered (0: none).
    pub cache_names: usize,
}

#[derive(Clone)]
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
    queued_names: Arc<AtomicUsize>,
    max_queued_names: usize,
    model: Arc<Scorer>,
    /// Requests scored inline right now (see `probabilities`).
    inline: Arc<AtomicUsize>,
    /// Scores of recently asked names (`None`: no cache).
    cache: Option<Arc<ScoreCache>>,
}

/// Requests of at most this many names are scored inline, on the connection's own task, when
/// nothing waits for the batcher: a round trip through the batching task and the blocking
/// pool costs far more than scoring a few names.
const INLINE_NAMES: usize = 8;
/// Requests scored inline at once; more go through the batcher, where they share rounds.
const INLINE_AT_ONCE: usize = 2;

/// The requests the batching task holds: small ones in arrival order, and large ones being
/// scored piece by piece.
struct Waiting {
    small: VecDeque<Job>,
    large: VecDeque<Job>,
    max_batch: usize,
    /// Names in `small` (what decides whether a round is full), kept as jobs come and go.
    small_names: usize,
}

impl Waiting {
    fn len(&self) -> usize {
        self.small.len() + self.large.len()
    }

    fn push(&mut self, job: Job) {
        if job.names.len() > self.max_batch {
            self.large.push_back(job);
        } else {
            self.small_names += job.names.len();
            self.small.push_back(job);
        }
    }

    /// The next small job, if any.
    fn pop_small(&mut self) -> Option<Job> {
        let job = self.small.pop_front()?;
        self.small_names -= job.names.len();
        Some(job)
    }
}

impl Batcher {
    /// Starts the batching task on the current tokio runtime.
    pub fn start(model: Arc<Scorer>, config: BatcherConfig, metrics: Arc<Metrics>) -> Batcher {
        let (jobs, rx) = mpsc::channel::<Job>(config.queue.max(1));
        let queued_names = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(
            model.clone(),
            config.clone(),
            metrics,
            rx,
            queued_names.clone(),
        ));
        Batcher {
            jobs,
            queued_names,
            max_queued_names: config.max_queued_names.max(1),
            model,
            inline: Arc::new(AtomicUsize::new(0)),
            cache: ScoreCache::new(config.cache_names).map(Arc::new),
        }
    }

    /// The score cache, if the service keeps one.
    pub fn cache(&self) -> Option<&ScoreCache> {
        self.cache.as_deref()
    }

    /// Names waiting for the scorer or being scored now (requests scored inline not counted).
    pub fn queued_names(&self) -> usize {
        self.queued_names.load(Ordering::Relaxed)
    }

    /// Output probabilities of normalised names (`[n, outputs]` row-major, see
    /// `ModelFile::probabilities`): from the cache where it holds them, the rest scored (inline
    /// or sharing a batch with concurrent requests) and remembered.
    pub async fn probabilities(
        &self,
        names: Vec<String>,
        outputs: usize,
    ) -> Result<Vec<f32>, BatchError> {
        let Some(cache) = &self.cache else {
            return self.score(names, outputs).await;
        };
        let found = cache.lookup(&names);
        let missing = ScoreCache::missing(&names, &found);
        let scored = if missing.is_empty() {
            Vec::new()
        } else {
            self.score(missing.clone(), outputs).await?
        };
        cache.insert(&missing, &scored, outputs);
        ScoreCache::merge(found, &scored, outputs).ok_or(BatchError::Closed)
    }

    /// `probabilities` without the cache.
    async fn score(&self, names: Vec<String>, outputs: usize) -> Result<Vec<f32>, BatchError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let count = names.len();
        let expected = count * outputs;
        if count <= INLINE_NAMES
            && self.queued_names.load(Ordering::Relaxed) == 0
            && let Some(_slot) = InlineSlot::take(&self.inline)
        {
            // The scorer is idle: score here. Scores do not depend on what a name is
            // batched with, so the answer is the same either way.
            return Ok(self.model.probabilities(&names));
        }
        // Reserve room for the names, or refuse: the queue's memory stays bounded. Small
        // requests are always let in (the request bound caps them), so a flood of large
        // batches cannot lock out one-name clients.
        let reserved =
            self.queued_names
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
                    let fits = queued + count <= self.max_queued_names
                        || queued == 0
                        || count <= SMALL_REQUEST;
                    fits.then_some(queued + count)
                });
        if reserved.is_err() {
            return Err(BatchError::Busy);
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            names,
            reply,
            queued_at: Instant::now(),
            rows: Vec::new(),
            done: 0,
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

/// One of the `INLINE_AT_ONCE` places for inline scoring, given back when dropped.
struct InlineSlot<'a>(&'a AtomicUsize);

impl<'a> InlineSlot<'a> {
    fn take(count: &'a AtomicUsize) -> Option<InlineSlot<'a>> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < INLINE_AT_ONCE).then_some(n + 1)
            })
            .ok()
            .map(|_| InlineSlot(count))
    }
}

impl Drop for InlineSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The batching task: gathers requests, drops dead ones, scores a round, answers.
async fn run(
    model: Arc<Scorer>,
    config: BatcherConfig,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Job>,
    queued_names: Arc<AtomicUsize>,
) {
    let max_batch = config.max_batch.max(1);
    let mut waiting = Waiting {
        small: VecDeque::new(),
        large: VecDeque::new(),
        max_batch,
        small_names: 0,
    };
    // Gives a finished or dropped job's names back to the queue's budget.
    let release = |job: &Job| {
        queued_names.fetch_sub(job.names.len(), Ordering::Relaxed);
    };
    loop {
        if waiting.len() == 0 {
            match rx.recv().await {
                Some(job) => waiting.push(job),
                None => return,
            }
        }
        // Everything already queued (within the request bound), then, under concurrent
        // load, a short wait for more small requests to fill the round.
        let before = waiting.len();
        while waiting.len() < config.queue.max(1) {
            match rx.try_recv() {
                Ok(job) => waiting.push(job),
                Err(_) => break,
            }
        }
        if waiting.len() > 1 && waiting.len() > before {
            let deadline = Instant::now() + config.wait;
            while waiting.small_names < max_batch && waiting.len() < config.queue.max(1) {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => waiting.push(job),
                    _ => break,
                }
            }
        }
        drop_dead_jobs(&mut waiting, config.queue_timeout, &metrics, &release);
        if waiting.len() == 0 {
            continue;
        }

        // The round: small requests in arrival order up to max_batch names, and a piece of
        // the oldest large request (short when small requests share the round).
        let mut small = Vec::new();
        let mut names = 0;
        while let Some(job) = waiting.small.front() {
            if names > 0 && names + job.names.len() > max_batch {
                break;
            }
            names += job.names.len();
            small.extend(waiting.pop_small());
        }
        let large = waiting.large.pop_front();
        let piece = if small.is_empty() {
            max_batch
        } else {
            SHORT_PIECE.min(max_batch)
        };
        let model = model.clone();
        let scored =
            tokio::task::spawn_blocking(move || score_round(&model, small, large, piece)).await;
        let Ok((small, large)) = scored else { continue };
        for job in small {
            release(&job);
            // The requester may have gone meanwhile: nothing to do then.
            let _ = job.reply.send(Ok(job.rows));
        }
        if let Some(job) = large {
            if job.done == job.names.len() {
                release(&job);
                let _ = job.reply.send(Ok(job.rows));
            } else {
                // Back to the front: it keeps its turn among the large requests.
                waiting.large.push_front(job);
            }
        }
    }
}

/// Drops jobs whose client has gone and answers those that waited too long for their
/// first piece.
fn drop_dead_jobs(
    waiting: &mut Waiting,
    queue_timeout: Duration,
    metrics: &Metrics,
    release: &dyn Fn(&Job),
) {
    let now = Instant::now();
    for queue in [&mut waiting.small, &mut waiting.large] {
        for job in std::mem::take(queue) {
            if job.reply.is_closed() {
                metrics.abandoned_requests.fetch_add(1, Ordering::Relaxed);
                metrics
                    .abandoned_names
                    .fetch_add((job.names.len() - job.done) as u64, Ordering::Relaxed);
                release(&job);
            } else if job.done == 0 && now.duration_since(job.queued_at) > queue_timeout {
                metrics.queue_expired.fetch_add(1, Ordering::Relaxed);
                release(&job);
                let _ = job.reply.send(Err(BatchError::Expired));
            } else {
                queue.push_back(job);
            }
        }
    }
    waiting.small_names = waiting.small.iter().map(|j| j.names.len()).sum();
}

/// Scores the small jobs' names and the next `piece` names of the large job in one call,
/// and hands each job its rows.
fn score_round(
    model: &Scorer,
    mut small: Vec<Job>,
    mut large: Option<Job>,
    piece: usize,
) -> (Vec<Job>, Option<Job>) {
    let mut all: Vec<&str> = small
        .iter()
        .flat_map(|j| j.names.iter().map(String::as_str))
        .collect();
    let large_range = large.as_ref().map(|job| {
        let end = (job.done + piece).min(job.names.len());
        job.done..end
    });
    if let (Some(job), Some(range)) = (&large, &large_range) {
        all.extend(job.names[range.clone()].iter().map(String::as_str));
    }
    let rows = model.probabilities(&all);
    let outputs = model.net().outputs();
    let mut rest = rows.as_slice();
    for job in &mut small {
        let (mine, tail) = rest.split_at((job.names.len() * outputs).min(rest.len()));
        job.rows = mine.to_vec();
        job.done = job.names.len();
        rest = tail;
    }
    if let (Some(job), Some(range)) = (&mut large, large_range) {
        job.rows.extend_from_slice(rest);
        job.done = range.end;
    }
    (small, large)
}
