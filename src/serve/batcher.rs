//! Dynamic batching: names from concurrent requests are scored together, in rounds, by
//! scoring threads of their own (as many as `--threads`, off the I/O threads). A
//! thread takes every waiting request of up to `max_batch` names (small requests) as one
//! round, scores it, answers, and takes the next: while it scores, new requests queue up, so
//! rounds grow with load by themselves and no timer holds a round open. A request of a few
//! names that is the only one being scored (always, for the CNN) is scored inline instead, on
//! its own task (`INLINE_NAMES`): waking a thread costs more than scoring a few names. Groups
//! matter for the LSTM: each step reads the recurrent weights once per block of rows, so one
//! name alone costs 2-3 times what it costs in a group of four to six.
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
use crate::model::file::Net;
use crate::score_cache::ScoreCache;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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
    /// Scoring threads (0: one per thread of the rayon pool).
    pub threads: usize,
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
    shared: Arc<Shared>,
    /// Ends the scoring threads once the last clone is gone.
    _close: Arc<CloseOnDrop>,
    max_queued_names: usize,
    /// Requests being scored now, inline or queued (see `score`).
    in_flight: Arc<AtomicUsize>,
    /// Score every small request inline (see `INLINE_NAMES`).
    inline_always: bool,
    /// Scores of recently asked names (`None`: no cache).
    cache: Option<Arc<ScoreCache>>,
}

/// What the scoring threads and the requests share: the waiting requests, and the signal that
/// wakes an idle scoring thread.
struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    config: BatcherConfig,
    metrics: Arc<Metrics>,
    model: Arc<Scorer>,
    queued_names: AtomicUsize,
}

struct State {
    waiting: Waiting,
    /// No more requests will come (every `Batcher` is gone): the threads end.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A scoring thread never panics while holding the lock (scoring runs outside it), but
        // a poisoned lock must not take the service down with it either.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives a finished or dropped job's names back to the queue's budget.
    fn release(&self, job: &Job) {
        self.queued_names
            .fetch_sub(job.names.len(), Ordering::Relaxed);
    }
}

/// Closes the queue when the last `Batcher` clone is dropped, so the threads end.
struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.ready.notify_all();
    }
}

/// Requests of at most this many names are scored inline, on the connection's own task, when
/// no other request is being scored (one client asking in turn): a round trip through a
/// scoring thread costs more than scoring a few names. Under concurrent load the LSTM's
/// queue instead, so they share rounds (a name alone costs the LSTM 2-3 times what it
/// costs in a group) and the I/O threads stay free for parsing; the CNN's are always scored
/// inline (well under a microsecond a name, less than any hand-off). Measured both ways in
/// BENCHMARKS.md.
const INLINE_NAMES: usize = 8;

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
    /// Starts the scoring threads (an error if the system refuses a thread).
    pub fn start(
        model: Arc<Scorer>,
        config: BatcherConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Batcher> {
        let threads = match config.threads {
            0 => rayon::current_num_threads().max(1),
            n => n,
        };
        let max_batch = config.max_batch.max(1);
        let inline_always = matches!(model.net(), Net::SnowmanCnn(_));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: Waiting {
                    small: VecDeque::new(),
                    large: VecDeque::new(),
                    max_batch,
                    small_names: 0,
                },
                closed: false,
            }),
            ready: Condvar::new(),
            config: config.clone(),
            metrics,
            model,
            queued_names: AtomicUsize::new(0),
        });
        // Made first, so that if a thread cannot start, the ones already started end.
        let close = Arc::new(CloseOnDrop(shared.clone()));
        for i in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("dga-lite-scorer-{i}"))
                .spawn(move || score_rounds(&shared))?;
        }
        Ok(Batcher {
            _close: close,
            shared,
            max_queued_names: config.max_queued_names.max(1),
            in_flight: Arc::new(AtomicUsize::new(0)),
            inline_always,
            cache: ScoreCache::new(config.cache_names).map(Arc::new),
        })
    }

    /// The score cache, if the service keeps one.
    pub fn cache(&self) -> Option<&ScoreCache> {
        self.cache.as_deref()
    }

    /// Names waiting for the scorer or being scored now (requests scored inline not counted).
    pub fn queued_names(&self) -> usize {
        self.shared.queued_names.load(Ordering::Relaxed)
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
        let in_flight = InFlight::enter(&self.in_flight);
        if count <= INLINE_NAMES && (in_flight.alone || self.inline_always) {
            // Score here. Scores do not depend on what a name is batched with, so the
            // answer is the same either way.
            return Ok(self.shared.model.probabilities(&names));
        }
        let queued_names = &self.shared.queued_names;
        // Reserve room for the names, or refuse: the queue's memory stays bounded. Small
        // requests are always let in (the request bound caps them), so a flood of large
        // batches cannot lock out one-name clients.
        let reserved = queued_names.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |queued| {
            let fits =
                queued + count <= self.max_queued_names || queued == 0 || count <= SMALL_REQUEST;
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
        {
            let mut state = self.shared.lock();
            let refused = if state.closed {
                Some(BatchError::Closed)
            } else if state.waiting.len() >= self.shared.config.queue.max(1) {
                Some(BatchError::Busy)
            } else {
                None
            };
            if let Some(why) = refused {
                drop(state);
                queued_names.fetch_sub(count, Ordering::Relaxed);
                return Err(why);
            }
            state.waiting.push(job);
        }
        self.shared.ready.notify_one();
        let scores = answer.await.map_err(|_| BatchError::Closed)??;
        if scores.len() == expected {
            Ok(scores)
        } else {
            Err(BatchError::Closed)
        }
    }
}

/// A request inside `Batcher::score`, counted while it lasts.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    /// No other request was being scored when this one came.
    alone: bool,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> InFlight<'a> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        InFlight {
            count,
            alone: before == 0,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One scoring thread: takes a round of waiting requests, scores it, answers, and again,
/// until the service closes.
fn score_rounds(shared: &Shared) {
    let release = |job: &Job| shared.release(job);
    loop {
        let (small, large, piece) = {
            let mut state = shared.lock();
            loop {
                drop_dead_jobs(
                    &mut state.waiting,
                    shared.config.queue_timeout,
                    &shared.metrics,
                    &release,
                );
                if state.waiting.len() > 0 {
                    break take_round(&mut state.waiting);
                }
                if state.closed {
                    return;
                }
                state = shared.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let in_round = small.iter().chain(&large).map(|j| j.names.len()).sum();
        // A panic while scoring (a bug) must not take the thread with it: the round's
        // requests are dropped, so their clients get 503, and the thread goes on.
        let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            score_round(&shared.model, small, large, piece)
        }));
        let Ok((small, large)) = scored else {
            shared.queued_names.fetch_sub(in_round, Ordering::Relaxed);
            continue;
        };
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
                shared.lock().waiting.large.push_front(job);
                shared.ready.notify_one();
            }
        }
    }
}

/// The next round: small requests in arrival order up to `max_batch` names, and a piece of
/// the oldest large request (short when small requests share the round).
fn take_round(waiting: &mut Waiting) -> (Vec<Job>, Option<Job>, usize) {
    let mut small = Vec::new();
    let mut names = 0;
    while let Some(job) = waiting.small.front() {
        if names > 0 && names + job.names.len() > waiting.max_batch {
            break;
        }
        names += job.names.len();
        small.extend(waiting.pop_small());
    }
    let large = waiting.large.pop_front();
    let piece = if small.is_empty() {
        waiting.max_batch
    } else {
        SHORT_PIECE.min(waiting.max_batch)
    };
    (small, large, piece)
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
    let expired = |job: &Job| job.done == 0 && now.duration_since(job.queued_at) > queue_timeout;
    for queue in [&mut waiting.small, &mut waiting.large] {
        // This runs under the queue's lock before every round: rebuild the queue only when
        // something in it is to go (usually nothing is).
        if !queue
            .iter()
            .any(|job| job.reply.is_closed() || expired(job))
        {
            continue;
        }
        for job in std::mem::take(queue) {
            if job.reply.is_closed() {
                metrics.abandoned_requests.fetch_add(1, Ordering::Relaxed);
                metrics
                    .abandoned_names
                    .fetch_add((job.names.len() - job.done) as u64, Ordering::Relaxed);
                release(&job);
            } else if expired(&job) {
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
