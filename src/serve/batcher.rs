//! Dynamic batching: names from concurrent requests are scored together. A batch takes the
//! first waiting request and every other one already queued (up to `max_batch` names). When
//! it found others queued (the server is under concurrent load), it waits up to `wait` (about
//! a millisecond) for more; a lone request is scored at once. While a batch is scored, new
//! requests queue up, so batches grow with load by themselves. Scoring runs on the blocking
//! pool, off the I/O threads.

use crate::model::ModelFile;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

struct Job {
    names: Vec<String>,
    reply: oneshot::Sender<Vec<f32>>,
}

/// Why a request could not be scored.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchError {
    /// Too many requests are waiting: try again later (429).
    Busy,
    /// The server is shutting down (503).
    Closed,
}

#[derive(Clone)]
pub struct Batcher {
    jobs: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the batching task on the current tokio runtime. `queue` bounds waiting requests.
    pub fn start(model: Arc<ModelFile>, max_batch: usize, wait: Duration, queue: usize) -> Batcher {
        let (jobs, mut rx) = mpsc::channel::<Job>(queue.max(1));
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
                    let deadline = tokio::time::Instant::now() + wait;
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
                let all: Vec<String> = batch.iter().flat_map(|j| j.names.iter().cloned()).collect();
                let outputs = model.net().outputs();
                let model = model.clone();
                let rows = tokio::task::spawn_blocking(move || model.probabilities(&all))
                    .await
                    .unwrap_or_default();
                let mut rest = rows.as_slice();
                for job in batch {
                    let n = (job.names.len() * outputs).min(rest.len());
                    let (mine, tail) = rest.split_at(n);
                    rest = tail;
                    // The requester may have gone (timeout, disconnect): nothing to do then.
                    let _ = job.reply.send(mine.to_vec());
                }
            }
        });
        Batcher { jobs }
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
        let expected = names.len() * outputs;
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job { names, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => BatchError::Busy,
                mpsc::error::TrySendError::Closed(_) => BatchError::Closed,
            })?;
        let scores = answer.await.map_err(|_| BatchError::Closed)?;
        if scores.len() == expected {
            Ok(scores)
        } else {
            Err(BatchError::Closed)
        }
    }
}
