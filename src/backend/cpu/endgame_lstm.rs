//! Fast CPU path of the Endgame LSTM. It computes what the reference (`EndgameLstm` through
//! `model::batch_loss_and_grads` and `model::scores`) computes, with three exact savings:
//!
//! 1. **Input table.** `embedding[v] * kernel + bias` is the same wherever index `v` occurs,
//!    so the input projection of every step is a row of `table = E W + b` (`[vocab, 4H]`).
//!    Backward accumulates `d_table[v] += dz`, then `dE = d_table W^T`, `dW = E^T d_table`,
//!    `db = colsum(d_table)`.
//! 2. **Shared padding prefix.** Names are pre-padded, so every name starts with a run of
//!    padding steps from the zero state: the states `P_0 .. P_s` of that run are the same for
//!    every name and are computed once per batch. A name of length `L` starts its own steps at
//!    `t0 = 75 - L` from `P_t0`. Backward sums the gradients that reach each `P_t` and runs
//!    through the prefix once.
//! 3. **Length-sorted rows.** Within a chunk, rows are sorted by `t0`, so at step `t` the
//!    active rows are a leading block and the recurrent product covers only them.
//!
//! Chunks of `CHUNK_ROWS` rows are processed in parallel and reduced in chunk order, with the
//! same dropout masks as the reference, so results do not depend on the thread count.

use super::{lstm_cell, small_gemm};
use crate::encode::{MAXLEN, PAD};
use crate::model::head::{dga_scores, probabilities_in_place};
use crate::model::{CHUNK_ROWS, EndgameLstm, Network};
use crate::nn::lstm::RecurrentActivation;
use crate::nn::{Dense, matmul};
use crate::rng::Rng;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Number of leading padding indices of a row: the step its name starts at.
fn start_of(row: &[u8]) -> usize {
    row.iter().take_while(|&&v| v == PAD).count()
}

/// `[vocab, 4H]`: every index's input projection, bias included.
fn input_table(net: &EndgameLstm) -> Array2<f32> {
    matmul(net.embedding.weight.view(), net.lstm.kernel.view()) + &net.lstm.bias
}

/// The states after 0..=steps padding steps from the zero state (`P_0 = 0`).
#[derive(Clone, Debug)]
struct Prefix {
    steps: usize,
    units: usize,
    /// Gate values of each padding step: `[steps, 4H]`.
    gates: Vec<f32>,
    /// `P_0 .. P_steps`: `[(steps + 1), H]` each.
    cells: Vec<f32>,
    hidden: Vec<f32>,
}

impl Prefix {
    fn new(net: &EndgameLstm, table: &Array2<f32>, steps: usize) -> Prefix {
        let units = net.lstm.units();
        let mut p = Prefix {
            steps,
            units,
            gates: vec![0.0; steps * 4 * units],
            cells: vec![0.0; (steps + 1) * units],
            hidden: vec![0.0; (steps + 1) * units],
        };
        for s in 0..steps {
            let z = &mut p.gates[s * 4 * units..(s + 1) * 4 * units];
            z.copy_from_slice(table.row(PAD as usize).as_slice().expect("contiguous"));
            small_gemm::add_product(
                &p.hidden[s * units..(s + 1) * units],
                net.lstm.recurrent.view(),
                z,
                1,
            );
            let (c_done, c_next) = p.cells.split_at_mut((s + 1) * units);
            let h_next = &mut p.hidden[(s + 1) * units..(s + 2) * units];
            lstm_cell::forward(
                net.lstm.activation,
                units,
                z,
                &c_done[s * units..],
                &mut c_next[..units],
                h_next,
            );
        }
        p
    }

    fn cell(&self, t: usize) -> &[f32] {
        &self.cells[t * self.units..(t + 1) * self.units]
    }

    fn hidden(&self, t: usize) -> &[f32] {
        &self.hidden[t * self.units..(t + 1) * self.units]
    }

    /// Back-propagates the gradients that reached each `P_t` (`[(steps + 1), H]` each)
    /// through the padding steps, adding to `d_table[PAD]` and `d_recurrent`.
    fn backward(
        &self,
        net: &EndgameLstm,
        d_h: &[f32],
        d_c: &[f32],
        d_table: &mut Array2<f32>,
        d_recurrent: &mut Array2<f32>,
    ) {
        let units = self.units;
        let mut dz = vec![0.0f32; 4 * units];
        let mut dh = d_h[self.steps * units..(self.steps + 1) * units].to_vec();
        let mut dc = d_c[self.steps * units..(self.steps + 1) * units].to_vec();
        for s in (0..self.steps).rev() {
            let gates = &self.gates[s * 4 * units..(s + 1) * 4 * units];
            lstm_cell::backward(
                net.lstm.activation,
                units,
                gates,
                self.cell(s),
                &dh,
                &mut dc,
                &mut dz,
            );
            for (d, &g) in d_table.row_mut(PAD as usize).iter_mut().zip(&dz) {
                *d += g;
            }
            small_gemm::add_transposed_product(self.hidden(s), &dz, d_recurrent.view_mut(), 1);
            small_gemm::product_transposed(&dz, net.lstm.recurrent.view(), &mut dh, 1);
            for u in 0..units {
                dh[u] += d_h[s * units + u];
                dc[u] += d_c[s * units + u];
            }
        }
    }
}

/// What the forward pass of one chunk keeps for its backward pass.
struct Trace {
    /// `order[k]` is the chunk row at sorted position `k` (sorted by start step).
    order: Vec<usize>,
    /// Start step of each sorted row.
    starts: Vec<usize>,
    /// First step any row is active.
    first: usize,
    /// Active rows at step `first + j`, and where that step's rows begin in the stores.
    active: Vec<usize>,
    offsets: Vec<usize>,
    gates: Vec<f32>,
    h_prev: Vec<f32>,
    c_prev: Vec<f32>,
    /// Last hidden state of each sorted row: `[n, H]`.
    last: Vec<f32>,
}

/// Forward through the LSTM for one chunk (`indices` is `[n, MAXLEN]`); returns the trace
/// (with per-step stores only when `keep` is set, for training).
fn chunk_forward(
    net: &EndgameLstm,
    table: &Array2<f32>,
    prefix: &Prefix,
    indices: &[u8],
    keep: bool,
) -> Trace {
    let units = net.lstm.units();
    let n = indices.len() / MAXLEN;
    let row_start = |r: usize| start_of(&indices[r * MAXLEN..(r + 1) * MAXLEN]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&r| row_start(r));
    let starts: Vec<usize> = order.iter().map(|&r| row_start(r)).collect();
    let first = starts.first().copied().unwrap_or(MAXLEN);
    let mut h = vec![0.0f32; n * units];
    let mut c = vec![0.0f32; n * units];
    // Rows that never start (empty names) end in the prefix state.
    for k in 0..n {
        h[k * units..(k + 1) * units].copy_from_slice(prefix.hidden(starts[k]));
        c[k * units..(k + 1) * units].copy_from_slice(prefix.cell(starts[k]));
    }
    let mut trace = Trace {
        order,
        starts,
        first,
        active: Vec::new(),
        offsets: Vec::new(),
        gates: Vec::new(),
        h_prev: Vec::new(),
        c_prev: Vec::new(),
        last: Vec::new(),
    };
    let mut z = vec![0.0f32; n * 4 * units];
    let mut c_prev = vec![0.0f32; n * units];
    let mut active = 0;
    let mut offset = 0;
    for t in first..MAXLEN {
        while active < n && trace.starts[active] <= t {
            active += 1;
        }
        for k in 0..active {
            let v = indices[trace.order[k] * MAXLEN + t] as usize;
            z[k * 4 * units..(k + 1) * 4 * units]
                .copy_from_slice(table.row(v).as_slice().expect("contiguous"));
        }
        small_gemm::add_product(&h, net.lstm.recurrent.view(), &mut z, active);
        c_prev[..active * units].copy_from_slice(&c[..active * units]);
        if keep {
            trace.h_prev.extend_from_slice(&h[..active * units]);
            trace.c_prev.extend_from_slice(&c[..active * units]);
        }
        lstm_cell::forward(
            net.lstm.activation,
            units,
            &mut z[..active * 4 * units],
            &c_prev[..active * units],
            &mut c[..active * units],
            &mut h[..active * units],
        );
        if keep {
            trace.gates.extend_from_slice(&z[..active * 4 * units]);
            trace.active.push(active);
            trace.offsets.push(offset);
            offset += active;
        }
    }
    trace.last = h;
    trace
}

/// Gradients of one chunk, before reduction.
struct ChunkGrads {
    loss: f64,
    dense: Dense,
    d_table: Array2<f32>,
    d_recurrent: Array2<f32>,
    /// Gradients reaching each prefix state `P_t`: `[(MAXLEN + 1), H]` each.
    d_prefix_h: Vec<f32>,
    d_prefix_c: Vec<f32>,
}

/// Backward through the LSTM for one chunk from dL/dh_last (sorted rows).
fn chunk_backward(
    net: &EndgameLstm,
    trace: &Trace,
    indices: &[u8],
    d_last: Vec<f32>,
    grads: &mut ChunkGrads,
) {
    let units = net.lstm.units();
    let act: RecurrentActivation = net.lstm.activation;
    let n = trace.order.len();
    let mut dh = d_last;
    let mut dc = vec![0.0f32; n * units];
    let mut dz = vec![0.0f32; n * 4 * units];
    // Rows whose names are empty hand their gradient straight to the last prefix state.
    let mut settled = n;
    let settle = |k: usize, dh: &[f32], dc: &[f32], grads: &mut ChunkGrads| {
        let t = trace.starts[k];
        for u in 0..units {
            grads.d_prefix_h[t * units + u] += dh[k * units + u];
            grads.d_prefix_c[t * units + u] += dc[k * units + u];
        }
    };
    while settled > 0 && trace.starts[settled - 1] >= MAXLEN {
        settled -= 1;
        settle(settled, &dh, &dc, grads);
    }
    for t in (trace.first..MAXLEN).rev() {
        let j = t - trace.first;
        let (active, offset) = (trace.active[j], trace.offsets[j]);
        lstm_cell::backward(
            act,
            units,
            &trace.gates[offset * 4 * units..(offset + active) * 4 * units],
            &trace.c_prev[offset * units..(offset + active) * units],
            &dh[..active * units],
            &mut dc[..active * units],
            &mut dz[..active * 4 * units],
        );
        for k in 0..active {
            let v = indices[trace.order[k] * MAXLEN + t] as usize;
            let mut table_row = grads.d_table.row_mut(v);
            for (d, &g) in table_row
                .iter_mut()
                .zip(&dz[k * 4 * units..(k + 1) * 4 * units])
            {
                *d += g;
            }
        }
        let h_prev = &trace.h_prev[offset * units..(offset + active) * units];
        small_gemm::add_transposed_product(h_prev, &dz, grads.d_recurrent.view_mut(), active);
        small_gemm::product_transposed(&dz, net.lstm.recurrent.view(), &mut dh, active);
        // Rows that started at this step are done: their gradient belongs to P_t.
        while settled > 0 && trace.starts[settled - 1] == t {
            settled -= 1;
            settle(settled, &dh, &dc, grads);
        }
    }
}

/// The fast equivalent of `model::batch_loss_and_grads` for the Endgame LSTM.
pub fn batch_loss_and_grads(
    net: &EndgameLstm,
    indices: &[u8],
    labels: &[f32],
    weights: &[f32],
    step_rng: &Rng,
) -> (f64, EndgameLstm) {
    let batch = labels.len();
    assert_eq!(indices.len(), batch * MAXLEN);
    assert_eq!(weights.len(), batch);
    let units = net.lstm.units();
    let table = input_table(net);
    let prefix_steps = indices
        .chunks_exact(MAXLEN)
        .map(start_of)
        .max()
        .unwrap_or(0);
    let prefix = Prefix::new(net, &table, prefix_steps);
    let partials: Vec<ChunkGrads> = indices
        .par_chunks(CHUNK_ROWS * MAXLEN)
        .zip(labels.par_chunks(CHUNK_ROWS))
        .zip(weights.par_chunks(CHUNK_ROWS))
        .enumerate()
        .map(|(k, ((idx, lab), w))| {
            let n = lab.len();
            let trace = chunk_forward(net, &table, &prefix, idx, true);
            let mut last = Array2::zeros((n, units));
            for (sorted, &r) in trace.order.iter().enumerate() {
                last.row_mut(r).assign(
                    &ArrayView2::from_shape(
                        (1, units),
                        &trace.last[sorted * units..(sorted + 1) * units],
                    )
                    .expect("row")
                    .row(0),
                );
            }
            let mut grads = ChunkGrads {
                loss: 0.0,
                dense: net.dense.zeros_like(),
                d_table: Array2::zeros(table.dim()),
                d_recurrent: Array2::zeros(net.lstm.recurrent.dim()),
                d_prefix_h: vec![0.0; (MAXLEN + 1) * units],
                d_prefix_c: vec![0.0; (MAXLEN + 1) * units],
            };
            let mut rng = step_rng.fork(k as u64);
            let (loss, d_last) = net.head_loss_and_grads(
                last.view(),
                lab,
                w,
                batch as f32,
                &mut rng,
                &mut grads.dense,
            );
            grads.loss = loss;
            let mut d_sorted = vec![0.0f32; n * units];
            for (sorted, &r) in trace.order.iter().enumerate() {
                for (d, &g) in d_sorted[sorted * units..(sorted + 1) * units]
                    .iter_mut()
                    .zip(d_last.row(r))
                {
                    *d = g;
                }
            }
            chunk_backward(net, &trace, idx, d_sorted, &mut grads);
            grads
        })
        .collect();

    let mut total = net.zeros_like();
    let mut loss = 0.0;
    let mut d_table = Array2::zeros(table.dim());
    let mut d_prefix_h = vec![0.0f32; (MAXLEN + 1) * units];
    let mut d_prefix_c = vec![0.0f32; (MAXLEN + 1) * units];
    for g in &partials {
        loss += g.loss;
        d_table += &g.d_table;
        total.lstm.recurrent += &g.d_recurrent;
        total.dense.kernel += &g.dense.kernel;
        total.dense.bias += &g.dense.bias;
        for (a, b) in d_prefix_h.iter_mut().zip(&g.d_prefix_h) {
            *a += b;
        }
        for (a, b) in d_prefix_c.iter_mut().zip(&g.d_prefix_c) {
            *a += b;
        }
    }
    prefix.backward(
        net,
        &d_prefix_h,
        &d_prefix_c,
        &mut d_table,
        &mut total.lstm.recurrent,
    );
    total.embedding.weight = matmul(d_table.view(), net.lstm.kernel.t());
    total.lstm.kernel = matmul(net.embedding.weight.t(), d_table.view());
    total.lstm.bias = d_table.sum_axis(Axis(0));
    (loss, total)
}

/// What scoring needs besides the weights, computed once per model: the input table and the
/// states after every padding-prefix length (0 to 75 steps).
#[derive(Clone, Debug)]
pub struct Scorer {
    table: Array2<f32>,
    prefix: Prefix,
}

impl Scorer {
    pub fn new(net: &EndgameLstm) -> Scorer {
        let table = input_table(net);
        let prefix = Prefix::new(net, &table, MAXLEN);
        Scorer { table, prefix }
    }

    /// Output probabilities `[n, outputs]` per `[n, MAXLEN]` row, in order (see
    /// `model::probabilities`); `net` must be the model this scorer was built for.
    pub fn probabilities(&self, net: &EndgameLstm, indices: &[u8]) -> Vec<f32> {
        const SCORE_ROWS: usize = 256;
        let units = net.lstm.units();
        let outputs = net.outputs();
        indices
            .par_chunks(SCORE_ROWS * MAXLEN)
            .flat_map_iter(|idx| {
                let trace = chunk_forward(net, &self.table, &self.prefix, idx, false);
                let last =
                    ArrayView2::from_shape((trace.order.len(), units), &trace.last).expect("block");
                let mut logits = net.dense.forward(last);
                let logits = logits.as_slice_mut().expect("row-major");
                probabilities_in_place(logits, outputs);
                let mut out = vec![0.0f32; trace.order.len() * outputs];
                for (sorted, &r) in trace.order.iter().enumerate() {
                    out[r * outputs..(r + 1) * outputs]
                        .copy_from_slice(&logits[sorted * outputs..(sorted + 1) * outputs]);
                }
                out
            })
            .collect()
    }

    /// Probability of DGA per `[n, MAXLEN]` row, in order.
    pub fn scores(&self, net: &EndgameLstm, indices: &[u8]) -> Vec<f32> {
        dga_scores(&self.probabilities(net, indices), net.outputs())
    }
}

/// The fast equivalent of `model::scores`: probability of DGA per `[n, MAXLEN]` row, in order.
pub fn scores(net: &EndgameLstm, indices: &[u8]) -> Vec<f32> {
    Scorer::new(net).scores(net, indices)
}

/// The fast equivalent of `model::probabilities`.
pub fn probabilities(net: &EndgameLstm, indices: &[u8]) -> Vec<f32> {
    Scorer::new(net).probabilities(net, indices)
}
