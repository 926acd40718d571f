//! The Endgame LSTM (Woodbridge et al. 2016): Embedding(vocab, 128) over names pre-padded to
//! 75 -> LSTM(128) -> Dropout(0.5) -> Dense(1) -> sigmoid, trained with binary cross-entropy.
//! Its multiclass form (the paper's second model) ends in Dense(K) -> softmax over benign and
//! the DGA families, trained with categorical cross-entropy: the same struct with `outputs = K`.
//!
//! This file is the reference: the composition of the plain layers in `src/nn/`. Where else
//! this model lives: its fast CPU path in `backend/cpu/endgame_lstm.rs` (+ `packed_lstm.rs`,
//! `lanes.rs`), its GPU path in `backend/cuda/endgame_lstm.rs` with `kernels/lstm.cu`, the
//! table binding them in `backend/architectures.rs`; its tests in tests/gradcheck.rs,
//! tests/golden.rs (PyTorch), tests/fast_cpu.rs and tests/cuda.rs.

use super::{Network, slice_of, slice_of_mut};
use crate::nn::{Dense, Embedding, Lstm, RecurrentActivation};
use crate::rng::Rng;
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndgameConfig {
    pub embedding_dim: usize,
    pub units: usize,
    pub dropout: f32,
    pub recurrent_activation: RecurrentActivation,
    /// 1: binary (sigmoid); K >= 2: multiclass (softmax over K classes, class 0 benign).
    #[serde(default = "one")]
    pub outputs: usize,
}

fn one() -> usize {
    1
}

impl Default for EndgameConfig {
    fn default() -> Self {
        EndgameConfig {
            embedding_dim: 128,
            units: 128,
            dropout: 0.5,
            recurrent_activation: RecurrentActivation::Sigmoid,
            outputs: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EndgameLstm {
    pub config: EndgameConfig,
    pub embedding: Embedding,
    pub lstm: Lstm,
    pub dense: Dense,
}

impl EndgameLstm {
    /// A freshly initialised model (Keras initialisers, in layer order).
    pub fn new(config: EndgameConfig, vocab_size: usize, rng: &mut Rng) -> Self {
        let embedding = Embedding::new(vocab_size, config.embedding_dim, rng);
        let lstm = Lstm::new(
            config.embedding_dim,
            config.units,
            config.recurrent_activation,
            rng,
        );
        let dense = Dense::new(config.units, config.outputs, rng);
        EndgameLstm {
            config,
            embedding,
            lstm,
            dense,
        }
    }

    /// A model of this shape with every weight zero: the target a model file is read into
    /// (no initialiser runs, so reading costs time in proportion to the file).
    pub fn zeros(config: EndgameConfig, vocab_size: usize) -> Self {
        use ndarray::{Array1, Array2};
        let (e, h) = (config.embedding_dim, config.units);
        EndgameLstm {
            config,
            embedding: Embedding {
                weight: Array2::zeros((vocab_size, e)),
            },
            lstm: Lstm {
                kernel: Array2::zeros((e, 4 * h)),
                recurrent: Array2::zeros((h, 4 * h)),
                bias: Array1::zeros(4 * h),
                activation: config.recurrent_activation,
            },
            dense: Dense {
                kernel: Array2::zeros((h, config.outputs)),
                bias: Array1::zeros(config.outputs),
            },
        }
    }

    /// Tensor names and shapes in file order, for a vocabulary of `vocab_size`.
    pub fn tensor_shapes(
        config: &EndgameConfig,
        vocab_size: usize,
    ) -> Vec<(&'static str, Vec<usize>)> {
        let (e, h) = (config.embedding_dim, config.units);
        vec![
            ("embedding.weight", vec![vocab_size, e]),
            ("lstm.kernel", vec![e, 4 * h]),
            ("lstm.recurrent_kernel", vec![h, 4 * h]),
            ("lstm.bias", vec![4 * h]),
            ("dense.kernel", vec![h, config.outputs]),
            ("dense.bias", vec![config.outputs]),
        ]
    }
}

impl EndgameLstm {
    /// Dropout -> Dense -> loss on the LSTM's last states `[batch, H]`: returns the summed
    /// loss and dL/d(last), and adds the dense layer's gradients to `grad`. Shared by the
    /// reference and the fast paths, which differ only in how they run the LSTM.
    pub fn head_loss_and_grads(
        &self,
        last: ArrayView2<f32>,
        labels: &[f32],
        weights: &[f32],
        denominator: f32,
        rng: &mut Rng,
        grad: &mut Dense,
    ) -> (f64, ndarray::Array2<f32>) {
        super::head::head_loss_and_grads(
            &self.dense,
            self.config.dropout,
            last,
            labels,
            weights,
            denominator,
            rng,
            grad,
        )
    }
}

impl Network for EndgameLstm {
    fn zeros_like(&self) -> Self {
        EndgameLstm {
            config: self.config,
            embedding: self.embedding.zeros_like(),
            lstm: self.lstm.zeros_like(),
            dense: self.dense.zeros_like(),
        }
    }

    fn tensors(&self) -> Vec<(&'static str, &[f32])> {
        vec![
            ("embedding.weight", slice_of(&self.embedding.weight)),
            ("lstm.kernel", slice_of(&self.lstm.kernel)),
            ("lstm.recurrent_kernel", slice_of(&self.lstm.recurrent)),
            ("lstm.bias", slice_of(&self.lstm.bias)),
            ("dense.kernel", slice_of(&self.dense.kernel)),
            ("dense.bias", slice_of(&self.dense.bias)),
        ]
    }

    fn tensors_mut(&mut self) -> Vec<&mut [f32]> {
        vec![
            slice_of_mut(&mut self.embedding.weight),
            slice_of_mut(&mut self.lstm.kernel),
            slice_of_mut(&mut self.lstm.recurrent),
            slice_of_mut(&mut self.lstm.bias),
            slice_of_mut(&mut self.dense.kernel),
            slice_of_mut(&mut self.dense.bias),
        ]
    }

    fn outputs(&self) -> usize {
        self.dense.bias.len()
    }

    fn logits(&self, indices: ArrayView2<u8>) -> Vec<f32> {
        let steps = indices.ncols();
        let embedded = self.embedding.forward(indices);
        let (last, _) = self.lstm.forward(embedded.view(), steps);
        // Dropout is the identity at inference.
        self.dense.forward(last.view()).into_raw_vec_and_offset().0
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
        let steps = indices.ncols();
        let embedded = self.embedding.forward(indices);
        let (last, cache) = self.lstm.forward(embedded.view(), steps);
        let (loss_sum, d_last) = self.head_loss_and_grads(
            last.view(),
            labels,
            weights,
            denominator,
            rng,
            &mut grad.dense,
        );
        let d_embedded = self
            .lstm
            .backward(embedded.view(), &cache, d_last.view(), &mut grad.lstm);
        self.embedding
            .backward(indices, d_embedded.view(), grad.embedding.weight.view_mut());
        loss_sum
    }
}
