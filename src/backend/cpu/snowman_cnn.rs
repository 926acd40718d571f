//! Fast CPU path of the Snowman CNN. It computes what the reference (`SnowmanCnn` through
//! `model::batch_loss_and_grads` and `model::scores`) computes, with two exact savings:
//!
//! 1. **Tables.** A window's pre-activation is `bias + sum_k x[t + k] K_k`, and `x[t + k]` is
//!    an embedding row, so `embedding[v] K_k` is the same wherever index `v` sits at offset `k`:
//!    `T_k = E K_k` (`[vocab, filters]`) turns each window into `width` row lookups.
//!    Backward accumulates `dT_k[v]`, then `dK_k = E^T dT_k` and `dE += dT_k K_k^T` per batch.
//! 2. **Padding windows.** A window wholly inside the pre-padding has the same value for every
//!    name; it is computed once, and a name only computes the windows that touch it.
//!
//! Max pooling keeps the reference's rule (the first position holding the maximum), and
//! batches run in the same fixed chunks with the same dropout masks, so results do not depend
//! on the thread count.

use crate::encode::{MAXLEN, PAD, start_of};
use crate::model::head::head_loss_and_grads;
use crate::model::{CHUNK_ROWS, Network, SnowmanCnn};
use crate::nn::{loss::sigmoid, matmul};
use crate::rng::Rng;
use ndarray::{Array1, Array2, s};
use rayon::prelude::*;

/// One branch's tables: `tables[k]` is `E K_k`; `pad` is a padding window's pre-activation.
struct Branch {
    width: usize,
    tables: Vec<Array2<f32>>,
    bias: Vec<f32>,
    pad: Vec<f32>,
}

/// Everything the fast path derives from the weights.
pub struct Tables {
    branches: Vec<Branch>,
    filters: usize,
}

impl Tables {
    pub fn new(net: &SnowmanCnn) -> Tables {
        let dim = net.config.embedding_dim;
        let branches = net
            .convs
            .iter()
            .map(|conv| {
                let tables: Vec<Array2<f32>> = (0..conv.width)
                    .map(|k| {
                        matmul(
                            net.embedding.weight.view(),
                            conv.kernel.slice(s![k * dim..(k + 1) * dim, ..]),
                        )
                    })
                    .collect();
                let bias = conv.bias.to_vec();
                let mut pad = bias.clone();
                for table in &tables {
                    for (p, &v) in pad.iter_mut().zip(table.row(PAD as usize)) {
                        *p += v;
                    }
                }
                Branch {
                    width: conv.width,
                    tables,
                    bias,
                    pad,
                }
            })
            .collect();
        Tables {
            branches,
            filters: net.config.filters,
        }
    }
}

/// Gradients of one chunk, before reduction: per branch, per offset, `dT_k`; per branch, `db`.
struct ChunkGrads {
    loss: f64,
    dense: crate::nn::Dense,
    d_tables: Vec<Vec<Array2<f32>>>,
    d_bias: Vec<Array1<f32>>,
}

/// The fast equivalent of `model::batch_loss_and_grads` for the Snowman CNN.
pub fn batch_loss_and_grads(
    net: &SnowmanCnn,
    indices: &[u8],
    labels: &[f32],
    weights: &[f32],
    step_rng: &Rng,
) -> (f64, SnowmanCnn) {
    let batch = labels.len();
    assert_eq!(indices.len(), batch * MAXLEN);
    assert_eq!(weights.len(), batch);
    let tables = Tables::new(net);
    let f = tables.filters;
    let width = f * tables.branches.len();
    let vocab = net.embedding.weight.nrows();
    let blocks: Vec<ScoringBranch> = tables
        .branches
        .iter()
        .map(|b| ScoringBranch::new(b, f))
        .collect();
    let partials: Vec<ChunkGrads> = indices
        .par_chunks(CHUNK_ROWS * MAXLEN)
        .zip(labels.par_chunks(CHUNK_ROWS))
        .zip(weights.par_chunks(CHUNK_ROWS))
        .enumerate()
        .map(|(k, ((idx, lab), w))| {
            let n = lab.len();
            let mut pooled = Array2::zeros((n, width));
            let mut at = vec![None; n * width];
            for (r, row) in idx.chunks_exact(MAXLEN).enumerate() {
                let start = start_of(row);
                let pooled = pooled.row_mut(r).into_slice().expect("row");
                for (i, branch) in blocks.iter().enumerate() {
                    let cols = r * width + i * f..r * width + (i + 1) * f;
                    let out = &mut pooled[i * f..(i + 1) * f];
                    branch.pool_with_argmax(row, start, vocab, out, &mut at[cols]);
                }
            }
            let mut grads = ChunkGrads {
                loss: 0.0,
                dense: net.dense.zeros_like(),
                d_tables: tables
                    .branches
                    .iter()
                    .map(|b| vec![Array2::zeros((vocab, f)); b.width])
                    .collect(),
                d_bias: tables.branches.iter().map(|_| Array1::zeros(f)).collect(),
            };
            let mut rng = step_rng.fork(k as u64);
            let (loss, d_pooled) = head_loss_and_grads(
                &net.dense,
                net.config.dropout,
                pooled.view(),
                lab,
                w,
                batch as f32,
                &mut rng,
                &mut grads.dense,
            );
            grads.loss = loss;
            for (r, row) in idx.chunks_exact(MAXLEN).enumerate() {
                for (i, branch) in tables.branches.iter().enumerate() {
                    for j in 0..f {
                        let col = i * f + j;
                        // ReLU passes the gradient only where the maximum is positive.
                        if pooled[[r, col]] <= 0.0 {
                            continue;
                        }
                        let g = d_pooled[[r, col]];
                        grads.d_bias[i][j] += g;
                        for k in 0..branch.width {
                            let v = match at[r * width + col] {
                                Some(p) => row[p + k] as usize,
                                None => PAD as usize,
                            };
                            grads.d_tables[i][k][[v, j]] += g;
                        }
                    }
                }
            }
            grads
        })
        .collect();

    let mut total = net.zeros_like();
    let mut loss = 0.0;
    let mut d_tables: Vec<Vec<Array2<f32>>> = tables
        .branches
        .iter()
        .map(|b| vec![Array2::zeros((vocab, f)); b.width])
        .collect();
    for g in &partials {
        loss += g.loss;
        total.dense.kernel += &g.dense.kernel;
        total.dense.bias += &g.dense.bias;
        for (i, branch) in g.d_tables.iter().enumerate() {
            total.convs[i].bias += &g.d_bias[i];
            for (k, d) in branch.iter().enumerate() {
                d_tables[i][k] += d;
            }
        }
    }
    // Each branch's kernel gradient and share of the embedding's, branches side by side;
    // the shares are summed in branch order.
    let dim = net.config.embedding_dim;
    let per_branch: Vec<(Array2<f32>, Array2<f32>)> = net
        .convs
        .par_iter()
        .zip(d_tables.par_iter())
        .map(|(conv, d_tables)| {
            let mut d_kernel = Array2::zeros(conv.kernel.dim());
            let mut d_embedding = Array2::zeros(net.embedding.weight.dim());
            for (k, d_table) in d_tables.iter().enumerate() {
                let rows = s![k * dim..(k + 1) * dim, ..];
                d_kernel
                    .slice_mut(rows)
                    .assign(&matmul(net.embedding.weight.t(), d_table.view()));
                d_embedding += &matmul(d_table.view(), conv.kernel.slice(rows).t());
            }
            (d_kernel, d_embedding)
        })
        .collect();
    for (conv, (d_kernel, d_embedding)) in total.convs.iter_mut().zip(per_branch) {
        conv.kernel = d_kernel;
        total.embedding.weight += &d_embedding;
    }
    (loss, total)
}

/// Filters per SIMD block when scoring: a branch's filters are processed 16 at a time in
/// fixed-size arrays the compiler keeps in vector registers (Snowman's 15 fit one block).
const LANES: usize = 16;

/// The tables of `Tables`, laid out for scoring: per branch, `[offset][vocab][block]` blocks
/// of `LANES` filters (the last block zero-padded).
#[derive(Clone, Debug)]
struct ScoringBranch {
    width: usize,
    blocks: usize,
    rows: Vec<[f32; LANES]>,
    bias: Vec<[f32; LANES]>,
    /// max(pad, 0): a padding window's value after ReLU.
    pad: Vec<[f32; LANES]>,
}

fn to_blocks(values: &[f32], blocks: usize) -> Vec<[f32; LANES]> {
    let mut out = vec![[0.0f32; LANES]; blocks];
    for (j, &v) in values.iter().enumerate() {
        out[j / LANES][j % LANES] = v;
    }
    out
}

impl ScoringBranch {
    fn new(branch: &Branch, filters: usize) -> ScoringBranch {
        let blocks = filters.div_ceil(LANES);
        let vocab = branch.tables.first().map_or(0, |t| t.nrows());
        let mut rows = vec![[0.0f32; LANES]; branch.tables.len() * vocab * blocks];
        for (k, table) in branch.tables.iter().enumerate() {
            for (v, row) in table.rows().into_iter().enumerate() {
                for (j, &x) in row.iter().enumerate() {
                    rows[(k * vocab + v) * blocks + j / LANES][j % LANES] = x;
                }
            }
        }
        let pad: Vec<f32> = branch.pad.iter().map(|v| v.max(0.0)).collect();
        ScoringBranch {
            width: branch.width,
            blocks,
            rows,
            bias: to_blocks(&branch.bias, blocks),
            pad: to_blocks(&pad, blocks),
        }
    }

    /// Block `c` of the pre-activations of the window at position `p`: the bias plus one table
    /// row per offset, added in offset order.
    #[inline(always)]
    fn window(&self, row: &[u8], p: usize, vocab: usize, c: usize) -> [f32; LANES] {
        let mut pre = self.bias[c];
        for k in 0..self.width {
            let v = row[p + k] as usize;
            let table_row = &self.rows[(k * vocab + v) * self.blocks + c];
            for j in 0..LANES {
                pre[j] += table_row[j];
            }
        }
        pre
    }

    /// This branch's pooled features of one name into `out` (`filters` values). Without the
    /// argmax bookkeeping of training: max over windows of ReLU(pre-activation), with the same
    /// additions in the same order as `pool_with_argmax`, so the same values.
    fn pool(&self, row: &[u8], start: usize, vocab: usize, out: &mut [f32]) {
        let positions = (MAXLEN + 1).saturating_sub(self.width);
        let first_real = (start + 1).saturating_sub(self.width).min(positions);
        for c in 0..self.blocks {
            // ReLU outputs are >= 0, so starting the max at 0 folds the ReLU in exactly.
            let mut best = if first_real > 0 {
                self.pad[c]
            } else {
                [0.0f32; LANES]
            };
            for p in first_real..positions {
                let pre = self.window(row, p, vocab, c);
                for j in 0..LANES {
                    best[j] = best[j].max(pre[j]);
                }
            }
            let lo = c * LANES;
            let hi = (lo + LANES).min(out.len());
            out[lo..hi].copy_from_slice(&best[..hi - lo]);
        }
    }

    /// `pool` with training's bookkeeping: for each filter, the window the maximum came from
    /// (`None` for a padding window; the first window holding the maximum, as the reference
    /// keeps it). The reference's additions and comparisons in the same order, 16 filters at
    /// once.
    fn pool_with_argmax(
        &self,
        row: &[u8],
        start: usize,
        vocab: usize,
        out: &mut [f32],
        at: &mut [Option<usize>],
    ) {
        let positions = (MAXLEN + 1).saturating_sub(self.width);
        let first_real = (start + 1).saturating_sub(self.width).min(positions);
        for c in 0..self.blocks {
            let (mut best, mut best_at) = if first_real > 0 {
                (self.pad[c], [-1i32; LANES])
            } else {
                ([f32::NEG_INFINITY; LANES], [-1i32; LANES])
            };
            for p in first_real..positions {
                let pre = self.window(row, p, vocab, c);
                for j in 0..LANES {
                    let y = pre[j].max(0.0);
                    let better = y > best[j];
                    best[j] = if better { y } else { best[j] };
                    best_at[j] = if better { p as i32 } else { best_at[j] };
                }
            }
            let lo = c * LANES;
            let hi = (lo + LANES).min(out.len());
            out[lo..hi].copy_from_slice(&best[..hi - lo]);
            for (a, &b) in at[lo..hi].iter_mut().zip(&best_at) {
                *a = usize::try_from(b).ok();
            }
        }
    }
}

/// What scoring derives from the weights, built once per model (`ModelFile` keeps it): the
/// tables in SIMD blocks and the dense layer.
#[derive(Clone, Debug)]
pub struct CnnScorer {
    branches: Vec<ScoringBranch>,
    filters: usize,
    vocab: usize,
    kernel: Vec<f32>,
    bias: f32,
}

impl CnnScorer {
    pub fn new(net: &SnowmanCnn) -> CnnScorer {
        let tables = Tables::new(net);
        let filters = tables.filters;
        CnnScorer {
            branches: tables
                .branches
                .iter()
                .map(|b| ScoringBranch::new(b, filters))
                .collect(),
            filters,
            vocab: net.embedding.weight.nrows(),
            kernel: net.dense.kernel.column(0).to_vec(),
            bias: net.dense.bias[0],
        }
    }

    /// Probability of DGA per `[n, MAXLEN]` row, in order.
    pub fn scores(&self, indices: &[u8]) -> Vec<f32> {
        const SCORE_ROWS: usize = 512;
        let f = self.filters;
        let width = f * self.branches.len();
        let chunk = |idx: &[u8]| {
            let mut pooled = vec![0.0f32; width];
            idx.chunks_exact(MAXLEN)
                .map(|row| {
                    let start = start_of(row);
                    for (i, branch) in self.branches.iter().enumerate() {
                        let out = &mut pooled[i * f..(i + 1) * f];
                        branch.pool(row, start, self.vocab, out);
                    }
                    let logit = pooled
                        .iter()
                        .zip(&self.kernel)
                        .fold(self.bias, |acc, (&x, &w)| acc + x * w);
                    sigmoid(logit)
                })
                .collect::<Vec<_>>()
        };
        // One chunk runs on the calling thread (see the LSTM scorer).
        if indices.len() <= SCORE_ROWS * MAXLEN {
            return chunk(indices);
        }
        indices
            .par_chunks(SCORE_ROWS * MAXLEN)
            .flat_map_iter(chunk)
            .collect()
    }
}

/// The fast equivalent of `model::scores`: probability of DGA per `[n, MAXLEN]` row, in order.
pub fn scores(net: &SnowmanCnn, indices: &[u8]) -> Vec<f32> {
    CnnScorer::new(net).scores(indices)
}
