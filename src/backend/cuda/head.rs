//! The classifier head on the GPU, as `model/head.rs` computes it on the CPU, shared by both
//! GPU models: Dropout -> Dense(K) -> sigmoid BCE (K = 1) or softmax cross-entropy (K >= 2)
//! and its backward in training; Dense(K) -> probabilities in scoring.

use super::{CudaError, Gpu, ops};
use cudarc::driver::CudaSlice;

/// The dense layer's weights (`[width, K]` kernel, `[K]` bias).
pub struct Dense<'a> {
    pub kernel: &'a CudaSlice<f32>,
    pub bias: &'a CudaSlice<f32>,
}

/// The dense layer's gradients, written (not added to) by `train`.
pub struct DenseGrads<'a> {
    pub kernel: &'a mut CudaSlice<f32>,
    pub bias: &'a mut CudaSlice<f32>,
}

/// A batch's labels, loss weights and dropout mask, and the head's working buffers, for up
/// to `rows` names of `width` features and `k` outputs. Part of each GPU model's buffers.
pub struct Buffers {
    pub labels: CudaSlice<f32>,
    pub weights: CudaSlice<f32>,
    /// `[rows, width]`: 0 or 1 / (1 - rate), drawn by `model::head::batch_dropout_mask`.
    pub mask: CudaSlice<f32>,
    pub dropped: CudaSlice<f32>,
    pub logits: CudaSlice<f32>,
    pub d_logits: CudaSlice<f32>,
    pub loss_rows: CudaSlice<f32>,
    /// dL/d(features) `[rows, width]`, through the mask: what `train` hands back.
    pub d_features: CudaSlice<f32>,
}

impl Buffers {
    pub fn new(gpu: &Gpu, rows: usize, width: usize, k: usize) -> Result<Buffers, CudaError> {
        Ok(Buffers {
            labels: gpu.zeros(rows)?,
            weights: gpu.zeros(rows)?,
            mask: gpu.zeros(rows * width)?,
            dropped: gpu.zeros(rows * width)?,
            logits: gpu.zeros(rows * k)?,
            d_logits: gpu.zeros(rows * k)?,
            loss_rows: gpu.zeros(rows)?,
            d_features: gpu.zeros(rows * width)?,
        })
    }

    /// Uploads a batch's labels, loss weights and dropout mask.
    pub fn upload(
        &mut self,
        gpu: &Gpu,
        labels: &[f32],
        weights: &[f32],
        mask: &[f32],
    ) -> Result<(), CudaError> {
        gpu.upload_into(labels, &mut self.labels)?;
        gpu.upload_into(weights, &mut self.weights)?;
        gpu.upload_into(mask, &mut self.mask)
    }
}

/// One training step of the head on `features` `[n, width]`: the loss of the batch (mean over
/// its `n` rows) is added to `loss_total`, the dense layer's gradients go to `grads`, and
/// dL/d(features) to `b.d_features`.
pub fn train(
    gpu: &Gpu,
    features: &CudaSlice<f32>,
    dense: Dense,
    grads: DenseGrads,
    b: &mut Buffers,
    loss_total: &mut CudaSlice<f64>,
    (n, width, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    // Forward: dropout, dense, loss.
    gpu.stream.memcpy_dtod(
        &features.slice(..n * width),
        &mut b.dropped.slice_mut(..n * width),
    )?;
    ops::multiply(gpu, &mut b.dropped, &b.mask, n * width)?;
    ops::matmul(
        gpu,
        &b.dropped,
        dense.kernel,
        &mut b.logits,
        (n, k, width),
        false,
        false,
        0.0,
    )?;
    ops::add_bias_rows(gpu, &mut b.logits, dense.bias, n, k)?;
    ops::loss(
        gpu,
        &b.logits,
        &b.labels,
        &b.weights,
        (n, k),
        n as f32,
        &mut b.d_logits,
        &mut b.loss_rows,
    )?;
    ops::accumulate_sum(gpu, &b.loss_rows, n, loss_total)?;
    // Backward: the dense layer's gradients, then back through it and the mask.
    ops::matmul(
        gpu,
        &b.dropped,
        &b.d_logits,
        grads.kernel,
        (width, k, n),
        true,
        false,
        0.0,
    )?;
    ops::column_sums(gpu, &b.d_logits, grads.bias, n, k)?;
    ops::matmul(
        gpu,
        &b.d_logits,
        dense.kernel,
        &mut b.d_features,
        (n, width, k),
        false,
        true,
        0.0,
    )?;
    ops::multiply(gpu, &mut b.d_features, &b.mask, n * width)
}

/// Scoring: output probabilities of `rows` feature rows `[rows, width]` into `logits`
/// (`[rows, K]`, sigmoid for K = 1, softmax per row otherwise).
pub fn probabilities(
    gpu: &Gpu,
    features: &CudaSlice<f32>,
    dense: Dense,
    logits: &mut CudaSlice<f32>,
    (rows, width, k): (usize, usize, usize),
) -> Result<(), CudaError> {
    ops::matmul(
        gpu,
        features,
        dense.kernel,
        logits,
        (rows, k, width),
        false,
        false,
        0.0,
    )?;
    ops::add_bias_rows(gpu, logits, dense.bias, rows, k)?;
    ops::probabilities(gpu, logits, rows, k)
}

/// Two different elements of `v`, both mutable (a tensor's kernel and bias gradients).
pub fn pair_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b, "two different tensors");
    if a < b {
        let (left, right) = v.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = v.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

#[cfg(test)]
mod tests {
    use super::pair_mut;

    #[test]
    fn pair_mut_gives_the_two_asked_for_in_either_order() {
        let mut v = [10, 11, 12, 13];
        let (a, b) = pair_mut(&mut v, 1, 3);
        (*a, *b) = (*a + 100, *b + 200);
        let (c, d) = pair_mut(&mut v, 2, 0);
        (*c, *d) = (*c + 300, *d + 400);
        assert_eq!(v, [410, 111, 312, 213]);
    }
}
