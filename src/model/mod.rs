//! Model architectures (composed from `nn` layers) and the model file.

pub mod contract;
pub mod embedded;
pub mod endgame_lstm;
pub mod file;
pub mod head;
pub mod snowman_cnn;

pub use endgame_lstm::{EndgameConfig, EndgameLstm};
pub use file::{ModelError, ModelFile, TrainingInfo};
pub use snowman_cnn::{SnowmanCnn, SnowmanConfig};

use crate::encode::MAXLEN;
use crate::rng::Rng;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// A parameter array as a flat slice (parameters are always contiguous).
fn slice_of<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> &[f32] {
    a.as_slice().expect("parameters are contiguous")
}

fn slice_of_mut<D: ndarray::Dimension>(a: &mut ndarray::Array<f32, D>) -> &mut [f32] {
    a.as_slice_mut().expect("parameters are contiguous")
}

/// Rows per unit of parallel work. Fixed, so the arithmetic (and so every bit of the trained
/// model) does not depend on the number of threads.
pub const CHUNK_ROWS: usize = 32;

/// What training and scoring need from an architecture.
pub trait Network: Sized + Sync + Send + Clone {
    /// The same architecture with every parameter zero (used to hold gradients).
    fn zeros_like(&self) -> Self;
    /// Parameter tensors in a fixed order, with their names.
    fn tensors(&self) -> Vec<(&'static str, &[f32])>;
    /// The same tensors, mutable, in the same order.
    fn tensors_mut(&mut self) -> Vec<&mut [f32]>;
    /// Logits per example: 1 for a binary model (DGA), K for a K-class model.
    fn outputs(&self) -> usize;
    /// Inference logits `[batch, outputs]` (row-major) for `[batch, steps]` indices.
    fn logits(&self, indices: ArrayView2<u8>) -> Vec<f32>;
    /// Training pass over rows with their labels (binary: 0 or 1; multiclass: the class
    /// index) and loss weights: returns the summed weighted loss and adds the gradient of
    /// `sum / denominator` to `grad`. `rng` drives dropout.
    fn loss_and_grads(
        &self,
        indices: ArrayView2<u8>,
        labels: &[f32],
        weights: &[f32],
        denominator: f32,
        rng: &mut Rng,
        grad: &mut Self,
    ) -> f64;

    /// `self += other`, tensor by tensor.
    fn add_assign(&mut self, other: &Self) {
        for (mine, (_, theirs)) in self.tensors_mut().into_iter().zip(other.tensors()) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
    }
}

/// Loss and mean gradient of one batch (`indices` is `[batch, MAXLEN]` row-major), computed
/// in fixed chunks in parallel and summed in chunk order. `step_rng` seeds dropout: chunk `k`
/// uses `step_rng.fork(k)`.
pub fn batch_loss_and_grads<N: Network>(
    net: &N,
    indices: &[u8],
    labels: &[f32],
    weights: &[f32],
    step_rng: &Rng,
) -> (f64, N) {
    let batch = labels.len();
    assert_eq!(indices.len(), batch * MAXLEN);
    assert_eq!(weights.len(), batch);
    let partials: Vec<(f64, N)> = indices
        .par_chunks(CHUNK_ROWS * MAXLEN)
        .zip(labels.par_chunks(CHUNK_ROWS))
        .zip(weights.par_chunks(CHUNK_ROWS))
        .enumerate()
        .map(|(k, ((idx, lab), w))| {
            let view = ArrayView2::from_shape((lab.len(), MAXLEN), idx).expect("whole rows");
            let mut grad = net.zeros_like();
            let mut rng = step_rng.fork(k as u64);
            let loss = net.loss_and_grads(view, lab, w, batch as f32, &mut rng, &mut grad);
            (loss, grad)
        })
        .collect();
    let mut partials = partials.into_iter();
    let (mut loss, mut grad) = partials.next().unwrap_or_else(|| (0.0, net.zeros_like()));
    for (l, g) in partials {
        loss += l;
        grad.add_assign(&g);
    }
    (loss, grad)
}

/// Output probabilities `[n, outputs]` (see `head::probabilities_in_place`) for `[n, MAXLEN]`
/// indices, in parallel, in input order.
pub fn probabilities<N: Network>(net: &N, indices: &[u8]) -> Vec<f32> {
    const SCORE_ROWS: usize = 256;
    let outputs = net.outputs();
    indices
        .par_chunks(SCORE_ROWS * MAXLEN)
        .flat_map_iter(|idx| {
            let view =
                ArrayView2::from_shape((idx.len() / MAXLEN, MAXLEN), idx).expect("whole rows");
            let mut p = net.logits(view);
            head::probabilities_in_place(&mut p, outputs);
            p
        })
        .collect()
}

/// Scores (probability of DGA) for `[n, MAXLEN]` indices, in parallel, in input order.
pub fn scores<N: Network>(net: &N, indices: &[u8]) -> Vec<f32> {
    head::dga_scores(&probabilities(net, indices), net.outputs())
}
