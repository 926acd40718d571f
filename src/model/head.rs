//! The classifier head both architectures end in: Dropout -> Dense(1) -> sigmoid with binary
//! cross-entropy. Shared by the models' reference paths and the fast paths.

use crate::nn::{Dense, Dropout, loss};
use crate::rng::Rng;
use ndarray::{Array2, ArrayView2};

/// On features `[batch, width]`: returns the summed loss and dL/d(features), and adds the
/// dense layer's gradients to `grad`. The dropout mask is drawn from `rng`.
pub fn head_loss_and_grads(
    dense: &Dense,
    dropout_rate: f32,
    features: ArrayView2<f32>,
    labels: &[f32],
    denominator: f32,
    rng: &mut Rng,
    grad: &mut Dense,
) -> (f64, Array2<f32>) {
    let (batch, width) = features.dim();
    let dropout = Dropout { rate: dropout_rate };
    let mask = dropout.mask(batch, width, rng);
    let dropped = dropout.forward(features, mask.view());
    let logits = dense.forward(dropped.view());
    let mut d_logits = Array2::zeros((batch, 1));
    let loss_sum = loss::sigmoid_bce(
        logits.as_slice().expect("contiguous"),
        labels,
        denominator,
        d_logits.as_slice_mut().expect("contiguous"),
    );
    let d_dropped = dense.backward(dropped.view(), d_logits.view(), grad);
    (loss_sum, dropout.backward(d_dropped.view(), mask.view()))
}
