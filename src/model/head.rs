//! The classifier head every architecture ends in: Dropout -> Dense(K) -> the output loss.
//! With one output (K = 1) that is sigmoid with binary cross-entropy (the binary models);
//! with K >= 2 it is softmax with categorical cross-entropy over K classes (the multiclass
//! LSTM). Shared by the models' reference paths and the fast paths.

use super::CHUNK_ROWS;
use crate::nn::{Dense, Dropout, loss};
use crate::rng::Rng;
use ndarray::{Array2, ArrayView2};

/// On features `[batch, width]` with each row's label (binary: 0 or 1; multiclass: the class
/// index) and weight: returns the summed weighted loss and dL/d(features), and adds the dense
/// layer's gradients to `grad`. The dropout mask is drawn from `rng`.
#[allow(clippy::too_many_arguments)]
pub fn head_loss_and_grads(
    dense: &Dense,
    dropout_rate: f32,
    features: ArrayView2<f32>,
    labels: &[f32],
    weights: &[f32],
    denominator: f32,
    rng: &mut Rng,
    grad: &mut Dense,
) -> (f64, Array2<f32>) {
    let (batch, width) = features.dim();
    let dropout = Dropout { rate: dropout_rate };
    let mask = dropout.mask(batch, width, rng);
    let dropped = dropout.forward(features, mask.view());
    let logits = dense.forward(dropped.view());
    let outputs = logits.ncols();
    let mut d_logits = Array2::zeros((batch, outputs));
    let (z, d) = (
        logits.as_slice().expect("contiguous"),
        d_logits.as_slice_mut().expect("contiguous"),
    );
    let loss_sum = if outputs == 1 {
        loss::sigmoid_bce(z, labels, weights, denominator, d)
    } else {
        loss::softmax_cross_entropy(z, outputs, labels, weights, denominator, d)
    };
    let d_dropped = dense.backward(dropped.view(), d_logits.view(), grad);
    (loss_sum, dropout.backward(d_dropped.view(), mask.view()))
}

/// The dropout mask of a whole batch of `rows` (`[rows, width]`, row-major), as the CPU paths
/// draw it: they cut a batch into chunks of `CHUNK_ROWS` rows and chunk `k` draws its mask in
/// `head_loss_and_grads` from `step_rng.fork(k)`. A GPU draws the same masks with this, so
/// both train on the same dropout.
pub fn batch_dropout_mask(rate: f32, rows: usize, width: usize, step_rng: &Rng) -> Vec<f32> {
    let dropout = Dropout { rate };
    let mut mask = Vec::with_capacity(rows * width);
    for (k, start) in (0..rows).step_by(CHUNK_ROWS).enumerate() {
        let n = CHUNK_ROWS.min(rows - start);
        let chunk = dropout.mask(n, width, &mut step_rng.fork(k as u64));
        mask.extend(chunk.iter());
    }
    mask
}

/// Turns logits `[n, K]` (row-major) into output probabilities in place: the sigmoid for
/// K = 1 (probability of DGA), the softmax of each row for K >= 2 (probability of each class).
pub fn probabilities_in_place(logits: &mut [f32], outputs: usize) {
    if outputs == 1 {
        for z in logits.iter_mut() {
            *z = loss::sigmoid(*z);
        }
    } else {
        for row in logits.chunks_exact_mut(outputs) {
            loss::softmax_in_place(row);
        }
    }
}

/// The DGA score of each row of output probabilities `[n, K]`: the probability itself for
/// K = 1, and `1 - P(benign)` (class 0 is benign) for K >= 2, computed as the sum of the DGA
/// classes' probabilities, which keeps its precision when P(benign) is close to 1.
pub fn dga_scores(probabilities: &[f32], outputs: usize) -> Vec<f32> {
    if outputs == 1 {
        probabilities.to_vec()
    } else {
        probabilities.chunks_exact(outputs).map(dga_score).collect()
    }
}

/// `dga_scores` of one row (NaN for an empty row).
pub fn dga_score(row: &[f32]) -> f32 {
    match row {
        [] => f32::NAN,
        [p] => *p,
        [_, dga @ ..] => dga.iter().sum::<f32>().min(1.0),
    }
}
