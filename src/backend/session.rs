//! A model on a backend: what training and scoring ask of wherever the math runs. The host
//! session (`host.rs`: the reference layers or the fast CPU path) and each GPU model
//! (`cuda/session.rs`) implement it, so the training loop in `train.rs` is written once.

use super::BackendError;
use crate::nn::Optimizer;
use crate::rng::Rng;

/// One training batch: `[rows, MAXLEN]` indices (row-major), a label per row (binary: 0 or 1;
/// multiclass: the class index) and a loss weight per row.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub indices: Vec<u8>,
    pub labels: Vec<f32>,
    pub weights: Vec<f32>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.indices.clear();
        self.labels.clear();
        self.weights.clear();
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// Scoring on a backend: output probabilities `[n, outputs]` (row-major) of `[n, MAXLEN]`
/// indices.
pub trait Infer: Send {
    fn probabilities(&mut self, indices: &[u8]) -> Result<Vec<f32>, BackendError>;
    /// Where it runs, for people: "the CPU (avx512 lanes)", "NVIDIA H200 (sm_90)".
    fn describe(&self) -> String;
}

/// A network `N` and its optimiser state, living on a backend for a training run.
pub trait Session<N>: Infer {
    /// One optimiser step on `batch`: forward, loss, backward, update. Dropout masks come
    /// from `rng` (chunk `k` of `model::CHUNK_ROWS` rows draws from `rng.fork(k)`), the same
    /// on every backend.
    fn train_step(&mut self, batch: &Batch, rng: &Rng) -> Result<(), BackendError>;
    /// The loss summed over every step since the last call (a GPU reads it back only here).
    fn take_loss(&mut self) -> Result<f64, BackendError>;
    /// The loss summed since the last `take_loss`, where it is at hand without waiting on a
    /// device (for a progress bar); `None` on a GPU.
    fn running_loss(&self) -> Option<f64> {
        None
    }
    /// The network and optimiser state, back on the host.
    fn download(&self) -> Result<(N, Optimizer), BackendError>;
    /// The gradients of the last step, in `Network::tensors` order, where the backend keeps
    /// them (a GPU does; the parity tests compare them with the reference's).
    fn last_gradients(&self) -> Result<Option<Vec<Vec<f32>>>, BackendError> {
        Ok(None)
    }
}
