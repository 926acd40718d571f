//! The reference drivers: any `Network`'s batch loss and gradients, and its probabilities,
//! from the plain layers of `src/nn/` composed in `src/model/`. Everything faster is checked
//! against these (tests/fast_cpu.rs, tests/cuda.rs). Batches are cut into fixed chunks of
//! `CHUNK_ROWS` rows and summed in chunk order, so the result does not depend on the threads.

use crate::encode::MAXLEN;
use crate::model::{CHUNK_ROWS, Network, head};
use crate::rng::Rng;
use ndarray::ArrayView2;
use rayon::prelude::*;

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
