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
//! Each step runs in `packed_lstm.rs`: the recurrent kernel packed once per batch, the product
//! and the cell fused (gates never go through memory except to be kept for training), and the
//! kernel's gradient taken at the end as one product over every stored step.
//!
//! Chunks of `CHUNK_ROWS` rows are processed in parallel and reduced in chunk order, with the
//! same dropout masks as the reference, so results do not depend on the thread count.

use super::packed_lstm::{BackwardStep, ForwardStep, Layout, PackedRecurrent, Simd};
use super::scratch;
use crate::encode::{MAXLEN, PAD, start_of};
use crate::model::head::{dga_scores, probabilities_in_place};
use crate::model::{CHUNK_ROWS, EndgameLstm, Network};
use crate::nn::{Dense, matmul};
use crate::rng::Rng;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// The weights in the step kernels' layout (see `packed_lstm.rs`).
#[derive(Clone, Debug)]
struct Packed {
    simd: Simd,
    layout: Layout,
    /// `[vocab, 4 padded]`: every index's input projection `E W_x + b`, packed columns.
    table: Vec<f32>,
    recurrent: PackedRecurrent,
}

impl Packed {
    fn new(net: &EndgameLstm, simd: Simd, with_backward: bool) -> Packed {
        let layout = Layout::new(net.lstm.units());
        let (table, recurrent) = rayon::join(
            || {
                let table =
                    matmul(net.embedding.weight.view(), net.lstm.kernel.view()) + &net.lstm.bias;
                layout.pack_columns(table.view())
            },
            || PackedRecurrent::new(net.lstm.recurrent.view(), with_backward),
        );
        Packed {
            simd,
            layout,
            table,
            recurrent,
        }
    }

    fn forward(&self, step: ForwardStep) {
        super::packed_lstm::forward_step(self.simd, &self.recurrent, step)
    }

    fn backward(&self, step: BackwardStep) {
        super::packed_lstm::backward_step(self.simd, &self.recurrent, step)
    }

    /// `c += a^T b` for `a` `[m, padded]`, `b` `[m, 4 padded]`, `c` `[padded, 4 padded]`.
    fn add_transposed_product(&self, a: &[f32], b: &[f32], m: usize, c: &mut [f32]) {
        let dim = (self.layout.padded, self.layout.gates());
        super::packed_lstm::add_transposed_product(self.simd, a, b, m, c, dim)
    }
}

impl Drop for Packed {
    fn drop(&mut self) {
        scratch::recycle(std::mem::take(&mut self.table));
    }
}

/// The states after 0..=steps padding steps from the zero state (`P_0 = 0`), padded layout.
#[derive(Clone, Debug)]
struct Prefix {
    steps: usize,
    padded: usize,
    /// Gate values of each padding step: `[steps, 4 padded]`.
    gates: Vec<f32>,
    /// `P_0 .. P_steps`: `[(steps + 1), padded]` each.
    cells: Vec<f32>,
    hidden: Vec<f32>,
}

impl Prefix {
    fn new(net: &EndgameLstm, packed: &Packed, steps: usize) -> Prefix {
        let (hp, g_cols) = (packed.layout.padded, packed.layout.gates());
        let mut p = Prefix {
            steps,
            padded: hp,
            gates: scratch::zeros(steps * g_cols),
            cells: scratch::zeros((steps + 1) * hp),
            hidden: scratch::zeros((steps + 1) * hp),
        };
        for s in 0..steps {
            let (c_done, c_next) = p.cells.split_at_mut((s + 1) * hp);
            let (h_done, h_next) = p.hidden.split_at_mut((s + 1) * hp);
            packed.forward(ForwardStep {
                act: net.lstm.activation,
                table: &packed.table,
                inputs: &[PAD],
                h_prev: &h_done[s * hp..],
                c_prev: &c_done[s * hp..],
                h: &mut h_next[..hp],
                c: &mut c_next[..hp],
                gates: Some(&mut p.gates[s * g_cols..(s + 1) * g_cols]),
            });
        }
        p
    }

    fn cell(&self, t: usize) -> &[f32] {
        &self.cells[t * self.padded..(t + 1) * self.padded]
    }

    fn hidden(&self, t: usize) -> &[f32] {
        &self.hidden[t * self.padded..(t + 1) * self.padded]
    }

    /// Back-propagates the gradients that reached each `P_t` (`[(steps + 1), padded]` each)
    /// through the padding steps, adding to `d_table[PAD]` and `d_recurrent` (packed).
    fn backward(
        &self,
        net: &EndgameLstm,
        packed: &Packed,
        d_h: &[f32],
        d_c: &[f32],
        d_table: &mut [f32],
        d_recurrent: &mut [f32],
    ) {
        let (hp, g_cols) = (self.padded, packed.layout.gates());
        let mut dz = scratch::copy_of(&self.gates);
        let mut dh = d_h[self.steps * hp..(self.steps + 1) * hp].to_vec();
        let mut dc = d_c[self.steps * hp..(self.steps + 1) * hp].to_vec();
        let pad_row = &mut d_table[PAD as usize * g_cols..(PAD as usize + 1) * g_cols];
        for s in (0..self.steps).rev() {
            let dz_s = &mut dz[s * g_cols..(s + 1) * g_cols];
            packed.backward(BackwardStep {
                act: net.lstm.activation,
                gates_to_dz: dz_s,
                c_prev: self.cell(s),
                dh: &mut dh,
                dc: &mut dc,
            });
            for (d, &g) in pad_row.iter_mut().zip(dz_s.iter()) {
                *d += g;
            }
            for u in 0..hp {
                dh[u] += d_h[s * hp + u];
                dc[u] += d_c[s * hp + u];
            }
        }
        packed.add_transposed_product(&self.hidden, &dz, self.steps, d_recurrent);
        scratch::recycle(dz);
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        for v in [&mut self.gates, &mut self.cells, &mut self.hidden] {
            scratch::recycle(std::mem::take(v));
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
    /// Gates of every active row at every step, `[stored rows, 4 padded]`; the backward pass
    /// turns them into dL/dz in place, for the recurrent kernel's gradient at the end.
    gates: Vec<f32>,
    h_prev: Vec<f32>,
    c_prev: Vec<f32>,
    /// Last hidden state of each sorted row: `[n, padded]`.
    last: Vec<f32>,
}

impl Drop for Trace {
    fn drop(&mut self) {
        for v in [
            &mut self.gates,
            &mut self.h_prev,
            &mut self.c_prev,
            &mut self.last,
        ] {
            scratch::recycle(std::mem::take(v));
        }
    }
}

/// Forward through the LSTM for one chunk (`indices` is `[n, MAXLEN]`); returns the trace
/// (with per-step stores only when `keep` is set, for training).
fn chunk_forward(
    net: &EndgameLstm,
    packed: &Packed,
    prefix: &Prefix,
    indices: &[u8],
    keep: bool,
) -> Trace {
    let (hp, g_cols) = (packed.layout.padded, packed.layout.gates());
    let n = indices.len() / MAXLEN;
    let row_start = |r: usize| start_of(&indices[r * MAXLEN..(r + 1) * MAXLEN]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&r| row_start(r));
    let starts: Vec<usize> = order.iter().map(|&r| row_start(r)).collect();
    let first = starts.first().copied().unwrap_or(MAXLEN);
    // Two state buffers, read one and write the other at each step. A row keeps its prefix
    // state in both until it starts (rows that never start, empty names, end there).
    let (mut h, mut c) = (scratch::zeros(n * hp), scratch::zeros(n * hp));
    let (mut h_next, mut c_next) = (scratch::zeros(n * hp), scratch::zeros(n * hp));
    for k in 0..n {
        for state in [&mut h, &mut h_next] {
            state[k * hp..(k + 1) * hp].copy_from_slice(prefix.hidden(starts[k]));
        }
        for state in [&mut c, &mut c_next] {
            state[k * hp..(k + 1) * hp].copy_from_slice(prefix.cell(starts[k]));
        }
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
    if keep {
        let stored: usize = trace.starts.iter().map(|&s| MAXLEN - s.min(MAXLEN)).sum();
        trace.gates = scratch::zeros(stored * g_cols);
        trace.h_prev = scratch::zeros(stored * hp);
        trace.c_prev = scratch::zeros(stored * hp);
    }
    let mut inputs = vec![0u8; n];
    let mut active = 0;
    let mut offset = 0;
    for t in first..MAXLEN {
        while active < n && trace.starts[active] <= t {
            active += 1;
        }
        for k in 0..active {
            inputs[k] = indices[trace.order[k] * MAXLEN + t];
        }
        if keep {
            let at = offset * hp..(offset + active) * hp;
            trace.h_prev[at.clone()].copy_from_slice(&h[..active * hp]);
            trace.c_prev[at].copy_from_slice(&c[..active * hp]);
        }
        let gates = if keep {
            Some(&mut trace.gates[offset * g_cols..(offset + active) * g_cols])
        } else {
            None
        };
        packed.forward(ForwardStep {
            act: net.lstm.activation,
            table: &packed.table,
            inputs: &inputs[..active],
            h_prev: &h[..active * hp],
            c_prev: &c[..active * hp],
            h: &mut h_next[..active * hp],
            c: &mut c_next[..active * hp],
            gates,
        });
        std::mem::swap(&mut h, &mut h_next);
        std::mem::swap(&mut c, &mut c_next);
        if keep {
            trace.active.push(active);
            trace.offsets.push(offset);
            offset += active;
        }
    }
    trace.last = h;
    for v in [h_next, c, c_next] {
        scratch::recycle(v);
    }
    trace
}

/// Gradients of one chunk, before reduction (the LSTM's in the packed layout).
struct ChunkGrads {
    loss: f64,
    dense: Dense,
    /// `[vocab, 4 padded]`.
    d_table: Vec<f32>,
    /// `[padded, 4 padded]`.
    d_recurrent: Vec<f32>,
    /// Gradients reaching each prefix state `P_t`: `[(MAXLEN + 1), padded]` each.
    d_prefix_h: Vec<f32>,
    d_prefix_c: Vec<f32>,
}

impl ChunkGrads {
    fn new(net: &EndgameLstm, vocab: usize, layout: Layout) -> ChunkGrads {
        let (hp, g_cols) = (layout.padded, layout.gates());
        ChunkGrads {
            loss: 0.0,
            dense: net.dense.zeros_like(),
            d_table: scratch::zeros(vocab * g_cols),
            d_recurrent: scratch::zeros(hp * g_cols),
            d_prefix_h: scratch::zeros((MAXLEN + 1) * hp),
            d_prefix_c: scratch::zeros((MAXLEN + 1) * hp),
        }
    }
}

impl Drop for ChunkGrads {
    fn drop(&mut self) {
        for v in [
            &mut self.d_table,
            &mut self.d_recurrent,
            &mut self.d_prefix_h,
            &mut self.d_prefix_c,
        ] {
            scratch::recycle(std::mem::take(v));
        }
    }
}

/// Backward through the LSTM for one chunk from dL/dh_last (sorted rows, `[n, padded]`).
fn chunk_backward(
    net: &EndgameLstm,
    packed: &Packed,
    mut trace: Trace,
    indices: &[u8],
    d_last: Vec<f32>,
    grads: &mut ChunkGrads,
) {
    let (hp, g_cols) = (packed.layout.padded, packed.layout.gates());
    let n = trace.order.len();
    let mut dh = d_last;
    let mut dc = scratch::zeros(n * hp);
    // Rows whose names are empty hand their gradient straight to the last prefix state.
    let mut settled = n;
    let settle = |k: usize, t: usize, dh: &[f32], dc: &[f32], grads: &mut ChunkGrads| {
        for u in 0..hp {
            grads.d_prefix_h[t * hp + u] += dh[k * hp + u];
            grads.d_prefix_c[t * hp + u] += dc[k * hp + u];
        }
    };
    while settled > 0 && trace.starts[settled - 1] >= MAXLEN {
        settled -= 1;
        settle(settled, MAXLEN, &dh, &dc, grads);
    }
    for t in (trace.first..MAXLEN).rev() {
        let j = t - trace.first;
        let (active, offset) = (trace.active[j], trace.offsets[j]);
        let dz = &mut trace.gates[offset * g_cols..(offset + active) * g_cols];
        packed.backward(BackwardStep {
            act: net.lstm.activation,
            gates_to_dz: dz,
            c_prev: &trace.c_prev[offset * hp..(offset + active) * hp],
            dh: &mut dh[..active * hp],
            dc: &mut dc[..active * hp],
        });
        for (k, dz_row) in dz.chunks_exact(g_cols).enumerate() {
            let v = indices[trace.order[k] * MAXLEN + t] as usize;
            for (d, &g) in grads.d_table[v * g_cols..(v + 1) * g_cols]
                .iter_mut()
                .zip(dz_row)
            {
                *d += g;
            }
        }
        // Rows that started at this step are done: their gradient belongs to P_t.
        while settled > 0 && trace.starts[settled - 1] == t {
            settled -= 1;
            settle(settled, t, &dh, &dc, grads);
        }
    }
    // dL/dW_h in one product over every stored step: h_prev^T dz.
    let stored = trace.h_prev.len() / hp;
    packed.add_transposed_product(&trace.h_prev, &trace.gates, stored, &mut grads.d_recurrent);
    scratch::recycle(dh);
    scratch::recycle(dc);
}

/// `out += part(g)` for every chunk's gradients `g`, in chunk order: each element adds the
/// chunks' values in that order whichever thread sums it (the elements are split across
/// threads), so the result does not depend on the thread count.
fn add_in_order(out: &mut [f32], partials: &[ChunkGrads], part: fn(&ChunkGrads) -> &Vec<f32>) {
    const SPAN: usize = 8192;
    out.par_chunks_mut(SPAN).enumerate().for_each(|(i, out)| {
        for g in partials {
            for (a, b) in out.iter_mut().zip(&part(g)[i * SPAN..]) {
                *a += b;
            }
        }
    });
}

/// The fast equivalent of `model::batch_loss_and_grads` for the Endgame LSTM.
pub fn batch_loss_and_grads(
    net: &EndgameLstm,
    indices: &[u8],
    labels: &[f32],
    weights: &[f32],
    step_rng: &Rng,
) -> (f64, EndgameLstm) {
    batch_loss_and_grads_on(Simd::detect(), net, indices, labels, weights, step_rng)
}

/// `batch_loss_and_grads` on the given lanes (tests run every kind on one machine).
pub fn batch_loss_and_grads_on(
    simd: Simd,
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
    let packed = Packed::new(net, simd, true);
    let hp = packed.layout.padded;
    let vocab = net.embedding.weight.nrows();
    let prefix_steps = indices
        .chunks_exact(MAXLEN)
        .map(start_of)
        .max()
        .unwrap_or(0);
    let prefix = Prefix::new(net, &packed, prefix_steps);
    // Each chunk's gradient buffers come from this thread's pool and go back to it.
    let mut partials: Vec<ChunkGrads> = (0..batch.div_ceil(CHUNK_ROWS))
        .map(|_| ChunkGrads::new(net, vocab, packed.layout))
        .collect();
    indices
        .par_chunks(CHUNK_ROWS * MAXLEN)
        .zip(labels.par_chunks(CHUNK_ROWS))
        .zip(weights.par_chunks(CHUNK_ROWS))
        .zip(partials.par_iter_mut())
        .enumerate()
        .for_each(|(k, (((idx, lab), w), grads))| {
            let n = lab.len();
            let trace = chunk_forward(net, &packed, &prefix, idx, true);
            let mut last = Array2::zeros((n, units));
            for (sorted, &r) in trace.order.iter().enumerate() {
                for (d, &v) in last.row_mut(r).iter_mut().zip(&trace.last[sorted * hp..]) {
                    *d = v;
                }
            }
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
            let mut d_sorted = scratch::zeros(n * hp);
            for (sorted, &r) in trace.order.iter().enumerate() {
                for (d, &g) in d_sorted[sorted * hp..].iter_mut().zip(d_last.row(r)) {
                    *d = g;
                }
            }
            chunk_backward(net, &packed, trace, idx, d_sorted, grads);
        });

    // Reduced in chunk order, whatever thread ran each chunk.
    let mut total = net.zeros_like();
    let mut loss = 0.0;
    let mut sum = ChunkGrads::new(net, vocab, packed.layout);
    add_in_order(&mut sum.d_table, &partials, |g| &g.d_table);
    add_in_order(&mut sum.d_recurrent, &partials, |g| &g.d_recurrent);
    add_in_order(&mut sum.d_prefix_h, &partials, |g| &g.d_prefix_h);
    add_in_order(&mut sum.d_prefix_c, &partials, |g| &g.d_prefix_c);
    for g in &partials {
        loss += g.loss;
        total.dense.kernel += &g.dense.kernel;
        total.dense.bias += &g.dense.bias;
    }
    prefix.backward(
        net,
        &packed,
        &sum.d_prefix_h,
        &sum.d_prefix_c,
        &mut sum.d_table,
        &mut sum.d_recurrent,
    );
    // The recurrent kernel's gradient on one thread, the table's three on the other.
    let layout = packed.layout;
    let (recurrent, d_table) = rayon::join(
        || layout.unpack_columns(&sum.d_recurrent, units),
        || layout.unpack_columns(&sum.d_table, vocab),
    );
    let d_table = Array2::from_shape_vec((vocab, 4 * units), d_table).expect("table shape");
    total.lstm.recurrent =
        Array2::from_shape_vec((units, 4 * units), recurrent).expect("recurrent shape");
    total.embedding.weight = matmul(d_table.view(), net.lstm.kernel.t());
    total.lstm.kernel = matmul(net.embedding.weight.t(), d_table.view());
    total.lstm.bias = d_table.sum_axis(Axis(0));
    (loss, total)
}

/// What scoring needs besides the weights, computed once per model: the input table and the
/// states after every padding-prefix length (0 to 75 steps).
#[derive(Clone, Debug)]
pub struct Scorer {
    packed: Packed,
    prefix: Prefix,
}

impl Scorer {
    pub fn new(net: &EndgameLstm) -> Scorer {
        Scorer::on(Simd::detect(), net)
    }

    /// A scorer on the given lanes (tests run every kind on one machine).
    pub fn on(simd: Simd, net: &EndgameLstm) -> Scorer {
        let packed = Packed::new(net, simd, false);
        let prefix = Prefix::new(net, &packed, MAXLEN);
        Scorer { packed, prefix }
    }

    /// Output probabilities `[n, outputs]` per `[n, MAXLEN]` row, in order (see
    /// `model::probabilities`); `net` must be the model this scorer was built for.
    pub fn probabilities(&self, net: &EndgameLstm, indices: &[u8]) -> Vec<f32> {
        const SCORE_ROWS: usize = 256;
        let units = net.lstm.units();
        let outputs = net.outputs();
        let chunk = |idx: &[u8]| {
            let trace = chunk_forward(net, &self.packed, &self.prefix, idx, false);
            let hp = self.packed.layout.padded;
            let padded =
                ArrayView2::from_shape((trace.order.len(), hp), &trace.last).expect("block");
            let last = padded.slice(ndarray::s![.., ..units]);
            let mut logits = net.dense.forward(last);
            let logits = logits.as_slice_mut().expect("row-major");
            probabilities_in_place(logits, outputs);
            let mut out = vec![0.0f32; trace.order.len() * outputs];
            for (sorted, &r) in trace.order.iter().enumerate() {
                out[r * outputs..(r + 1) * outputs]
                    .copy_from_slice(&logits[sorted * outputs..(sorted + 1) * outputs]);
            }
            out
        };
        // One chunk runs on the calling thread: handing it to the pool and waiting costs
        // more than scoring a few names (the service's one-name requests).
        if indices.len() <= SCORE_ROWS * MAXLEN {
            return chunk(indices);
        }
        indices
            .par_chunks(SCORE_ROWS * MAXLEN)
            .flat_map_iter(chunk)
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
