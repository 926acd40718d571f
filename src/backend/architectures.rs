//! Each architecture on each backend, in one place: which function computes a batch on the
//! fast CPU path, which scores, and which GPU model trains it. Follow a model from here to
//! its code:
//!
//! | architecture  | reference (definition)    | fast CPU path                | GPU path                     | kernels                    |
//! |---------------|---------------------------|------------------------------|------------------------------|----------------------------|
//! | Endgame LSTM  | `model/endgame_lstm.rs`   | `cpu/endgame_lstm.rs`, `cpu/packed_lstm.rs` | `cuda/endgame_lstm.rs` | `kernels/lstm.cu`, `embedding.cu`, `matmul.cu`, `loss.cu`, `optim.cu` |
//! | Snowman CNN   | `model/snowman_cnn.rs`    | `cpu/snowman_cnn.rs`         | `cuda/snowman_cnn.rs`        | `kernels/conv1d.cu`, `embedding.cu`, `matmul.cu`, `loss.cu`, `optim.cu` |
//!
//! Both share the head (`model/head.rs`: dropout, dense, sigmoid or softmax, cross-entropy)
//! and the reference drivers (`backend/reference.rs`).

use super::BackendError;
use super::cpu::endgame_lstm as fast_lstm;
use super::cpu::packed_lstm::Simd;
use super::cpu::snowman_cnn as fast_cnn;
use super::session::Session;
use crate::model::file::Net;
use crate::model::{EndgameLstm, Network, SnowmanCnn};
use crate::nn::Optimizer;
use crate::rng::Rng;

/// What the backends need from an architecture beyond `Network` (whose forward and backward
/// are the reference).
pub trait Trainable: Network + 'static {
    /// Loss and mean gradient of one batch on the fast CPU path (it computes what
    /// `reference::batch_loss_and_grads` computes; tests/fast_cpu.rs checks it).
    fn cpu_batch(
        &self,
        lanes: Simd,
        indices: &[u8],
        labels: &[f32],
        weights: &[f32],
        rng: &Rng,
    ) -> (f64, Self);
    /// Output probabilities `[n, outputs]` on the fast CPU path.
    fn cpu_probabilities(&self, indices: &[u8]) -> Vec<f32>;
    /// The network and its optimiser state moved to GPU `device`.
    fn gpu_session(
        &self,
        device: usize,
        optimizer: &Optimizer,
    ) -> Result<Box<dyn Session<Self>>, BackendError>;
    /// The network as the model file holds it.
    fn into_net(self) -> Net;
}

impl Trainable for EndgameLstm {
    fn cpu_batch(
        &self,
        lanes: Simd,
        indices: &[u8],
        labels: &[f32],
        weights: &[f32],
        rng: &Rng,
    ) -> (f64, Self) {
        fast_lstm::batch_loss_and_grads_on(lanes, self, indices, labels, weights, rng)
    }

    fn cpu_probabilities(&self, indices: &[u8]) -> Vec<f32> {
        fast_lstm::probabilities(self, indices)
    }

    fn gpu_session(
        &self,
        device: usize,
        optimizer: &Optimizer,
    ) -> Result<Box<dyn Session<Self>>, BackendError> {
        super::cuda::endgame_session(device, self, optimizer)
    }

    fn into_net(self) -> Net {
        Net::EndgameLstm(self)
    }
}

impl Trainable for SnowmanCnn {
    fn cpu_batch(
        &self,
        _lanes: Simd,
        indices: &[u8],
        labels: &[f32],
        weights: &[f32],
        rng: &Rng,
    ) -> (f64, Self) {
        // The CNN's fast path is plain loops the compiler vectorises; no lanes to choose.
        fast_cnn::batch_loss_and_grads(self, indices, labels, weights, rng)
    }

    fn cpu_probabilities(&self, indices: &[u8]) -> Vec<f32> {
        fast_cnn::scores(self, indices)
    }

    fn gpu_session(
        &self,
        device: usize,
        optimizer: &Optimizer,
    ) -> Result<Box<dyn Session<Self>>, BackendError> {
        super::cuda::snowman_session(device, self, optimizer)
    }

    fn into_net(self) -> Net {
        Net::SnowmanCnn(self)
    }
}
