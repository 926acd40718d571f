//! Model architectures (composed from `nn` layers) and the model file.

pub mod contract;
pub mod embedded;
pub mod endgame_lstm;
pub mod ensemble;
pub mod file;
pub mod head;
pub mod held_out_report;
pub mod snowman_cnn;

pub use endgame_lstm::{EndgameConfig, EndgameLstm};
pub use ensemble::{EnsembleConfig, LstmCnnEnsemble};
pub use file::{ModelError, ModelFile, TrainingInfo};
pub use snowman_cnn::{SnowmanCnn, SnowmanConfig};

/// The model to train, with its configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    EndgameLstm(EndgameConfig),
    /// The Endgame LSTM with a softmax over benign and the DGA families (`outputs` is set
    /// from the families found in the training data).
    EndgameLstmMulticlass(EndgameConfig),
    SnowmanCnn(SnowmanConfig),
    /// Both, trained on the same split and averaged (`model/ensemble.rs`).
    LstmCnnEnsemble(EndgameConfig, SnowmanConfig),
}

impl Architecture {
    /// The name models and flags use: endgame-lstm, endgame-lstm-multiclass, snowman-cnn,
    /// lstm-cnn-ensemble.
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::EndgameLstm(_) => "endgame-lstm",
            Architecture::EndgameLstmMulticlass(_) => "endgame-lstm-multiclass",
            Architecture::SnowmanCnn(_) => "snowman-cnn",
            Architecture::LstmCnnEnsemble(..) => "lstm-cnn-ensemble",
        }
    }
}

use crate::rng::Rng;
use ndarray::ArrayView2;

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
