//! Snowman (Keegan Hines): Embedding(vocab, 15) over names pre-padded to 75 -> Conv1D of
//! widths 2, 4 and 6 with 15 filters each (valid padding) -> ReLU -> global max pool per
//! branch -> concat (45) -> Dropout(0.2) -> Dense(1) -> sigmoid, binary cross-entropy.
//!
//! This file is the reference: the composition of the plain layers in `src/nn/`. Where else
//! this model lives: its fast CPU path in `backend/cpu/snowman_cnn.rs`, its GPU path in
//! `backend/cuda/snowman_cnn.rs` with `kernels/conv1d.cu`, the table binding them in
//! `backend/architectures.rs`; its tests in tests/gradcheck.rs, tests/golden.rs (PyTorch),
//! tests/fast_cpu.rs and tests/cuda.rs.

use super::{Network, slice_of, slice_of_mut};
use crate::nn::pool::{global_max_backward, global_max_forward, relu_backward, relu_forward};
use crate::nn::{Conv1d, Dense, Embedding};
use crate::rng::Rng;
use ndarray::{Array1, Array2, ArrayView2, s};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnowmanConfig {
    pub embedding_dim: usize,
    pub filters: usize,
    pub widths: Vec<usize>,
    pub dropout: f32,
}

impl Default for SnowmanConfig {
    fn default() -> Self {
        SnowmanConfig {
            embedding_dim: 15,
            filters: 15,
            widths: vec![2, 4, 6],
            dropout: 0.2,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SnowmanCnn {
    pub config: SnowmanConfig,
    pub embedding: Embedding,
    pub convs: Vec<Conv1d>,
    pub dense: Dense,
}

/// Tensor names of the convolution of branch `i`.
pub const CONV_KERNELS: [&str; 8] = [
    "conv0.kernel",
    "conv1.kernel",
    "conv2.kernel",
    "conv3.kernel",
    "conv4.kernel",
    "conv5.kernel",
    "conv6.kernel",
    "conv7.kernel",
];
pub const CONV_BIASES: [&str; 8] = [
    "conv0.bias",
    "conv1.bias",
    "conv2.bias",
    "conv3.bias",
    "conv4.bias",
    "conv5.bias",
    "conv6.bias",
    "conv7.bias",
];

/// Most branches a model file may declare.
pub const MAX_BRANCHES: usize = CONV_KERNELS.len();

impl SnowmanCnn {
    pub fn new(config: SnowmanConfig, vocab_size: usize, rng: &mut Rng) -> Self {
        let embedding = Embedding::new(vocab_size, config.embedding_dim, rng);
        let convs = config
            .widths
            .iter()
            .map(|&w| Conv1d::new(w, config.embedding_dim, config.filters, rng))
            .collect();
        let dense = Dense::new(config.filters * config.widths.len(), 1, rng);
        SnowmanCnn {
            config,
            embedding,
            convs,
            dense,
        }
    }

    /// A model of this shape with every weight zero: the target a model file is read into.
    pub fn zeros(config: SnowmanConfig, vocab_size: usize) -> Self {
        let (e, f) = (config.embedding_dim, config.filters);
        let convs = config
            .widths
            .iter()
            .map(|&w| Conv1d {
                width: w,
                kernel: Array2::zeros((w * e, f)),
                bias: Array1::zeros(f),
            })
            .collect();
        let dense = Dense {
            kernel: Array2::zeros((f * config.widths.len(), 1)),
            bias: Array1::zeros(1),
        };
        SnowmanCnn {
            config,
            embedding: Embedding {
                weight: Array2::zeros((vocab_size, e)),
            },
            convs,
            dense,
        }
    }

    /// Tensor names and shapes in file order (kernels in Keras layout `[width, in, filters]`).
    pub fn tensor_shapes(
        config: &SnowmanConfig,
        vocab_size: usize,
    ) -> Vec<(&'static str, Vec<usize>)> {
        let (e, f) = (config.embedding_dim, config.filters);
        let mut shapes = vec![("embedding.weight", vec![vocab_size, e])];
        for (i, &w) in config.widths.iter().enumerate() {
            shapes.push((CONV_KERNELS[i], vec![w, e, f]));
            shapes.push((CONV_BIASES[i], vec![f]));
        }
        shapes.push(("dense.kernel", vec![f * config.widths.len(), 1]));
        shapes.push(("dense.bias", vec![1]));
        shapes
    }

    /// The pooled features of one name (`indices` of one row), with what backward needs.
    fn features(&self, row: &[u8]) -> Features {
        let embedded = self.embedding.lookup(row);
        let f = self.config.filters;
        let mut pooled = Array1::zeros(f * self.convs.len());
        let mut branches = Vec::with_capacity(self.convs.len());
        for (i, conv) in self.convs.iter().enumerate() {
            let mut y = conv.forward(embedded.view());
            relu_forward(&mut y);
            let (max, at) = if y.nrows() == 0 {
                (Array1::zeros(f), vec![0; f])
            } else {
                global_max_forward(y.view())
            };
            pooled.slice_mut(s![i * f..(i + 1) * f]).assign(&max);
            branches.push(Branch {
                relu_out: y,
                argmax: at,
            });
        }
        Features {
            pooled,
            embedded,
            branches,
        }
    }
}

/// One name's forward pass.
struct Features {
    /// `[branches * filters]`: the concatenated maxima.
    pooled: Array1<f32>,
    /// `[steps, embedding_dim]`
    embedded: Array2<f32>,
    branches: Vec<Branch>,
}

/// One convolution branch of one name: its ReLU output and where each filter's max was.
struct Branch {
    relu_out: Array2<f32>,
    argmax: Vec<usize>,
}

impl Network for SnowmanCnn {
    fn zeros_like(&self) -> Self {
        SnowmanCnn {
            config: self.config.clone(),
            embedding: self.embedding.zeros_like(),
            convs: self.convs.iter().map(Conv1d::zeros_like).collect(),
            dense: self.dense.zeros_like(),
        }
    }

    fn tensors(&self) -> Vec<(&'static str, &[f32])> {
        let mut t = vec![("embedding.weight", slice_of(&self.embedding.weight))];
        for (i, conv) in self.convs.iter().enumerate() {
            t.push((CONV_KERNELS[i], slice_of(&conv.kernel)));
            t.push((CONV_BIASES[i], slice_of(&conv.bias)));
        }
        t.push(("dense.kernel", slice_of(&self.dense.kernel)));
        t.push(("dense.bias", slice_of(&self.dense.bias)));
        t
    }

    fn tensors_mut(&mut self) -> Vec<&mut [f32]> {
        let mut t = vec![slice_of_mut(&mut self.embedding.weight)];
        for conv in self.convs.iter_mut() {
            t.push(slice_of_mut(&mut conv.kernel));
            t.push(slice_of_mut(&mut conv.bias));
        }
        t.push(slice_of_mut(&mut self.dense.kernel));
        t.push(slice_of_mut(&mut self.dense.bias));
        t
    }

    fn outputs(&self) -> usize {
        1
    }

    fn logits(&self, indices: ArrayView2<u8>) -> Vec<f32> {
        indices
            .rows()
            .into_iter()
            .map(|row| {
                let features = self.features(row.as_slice().expect("row-major indices"));
                features.pooled.dot(&self.dense.kernel.column(0)) + self.dense.bias[0]
            })
            .collect()
    }

    fn loss_and_grads(
        &self,
        indices: ArrayView2<u8>,
        labels: &[f32],
        weights: &[f32],
        denominator: f32,
        rng: &mut Rng,
        grad: &mut Self,
    ) -> f64 {
        let batch = indices.nrows();
        let width = self.config.filters * self.convs.len();
        let mut pooled = Array2::zeros((batch, width));
        let mut traces = Vec::with_capacity(batch);
        for (b, row) in indices.rows().into_iter().enumerate() {
            let features = self.features(row.as_slice().expect("row-major indices"));
            pooled.row_mut(b).assign(&features.pooled);
            traces.push(features);
        }
        let (loss_sum, d_pooled) = super::head::head_loss_and_grads(
            &self.dense,
            self.config.dropout,
            pooled.view(),
            labels,
            weights,
            denominator,
            rng,
            &mut grad.dense,
        );
        let f = self.config.filters;
        for (b, features) in traces.iter().enumerate() {
            let embedded = &features.embedded;
            let mut d_embedded = Array2::zeros(embedded.dim());
            for (i, (conv, branch)) in self.convs.iter().zip(&features.branches).enumerate() {
                let y = &branch.relu_out;
                if y.nrows() == 0 {
                    continue;
                }
                let d_max = d_pooled.slice(s![b, i * f..(i + 1) * f]);
                let d_y = global_max_backward(y.nrows(), &branch.argmax, d_max);
                let d_conv = relu_backward(y.view(), d_y.view());
                d_embedded += &conv.backward(embedded.view(), d_conv.view(), &mut grad.convs[i]);
            }
            let row = indices.row(b);
            self.embedding.scatter(
                row.as_slice().expect("row-major indices"),
                d_embedded.view(),
                grad.embedding.weight.view_mut(),
            );
        }
        loss_sum
    }
}
