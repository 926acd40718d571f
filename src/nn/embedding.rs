//! Embedding: a learned vector per character index.

use crate::rng::Rng;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

#[derive(Clone, Debug, PartialEq)]
pub struct Embedding {
    /// `[vocab, dim]`
    pub weight: Array2<f32>,
}

impl Embedding {
    /// Keras' default initialiser: uniform in [-0.05, 0.05].
    pub fn new(vocab: usize, dim: usize, rng: &mut Rng) -> Self {
        Embedding {
            weight: super::init::uniform(rng, vocab, dim, 0.05),
        }
    }

    pub fn zeros_like(&self) -> Self {
        Embedding {
            weight: Array2::zeros(self.weight.dim()),
        }
    }

    /// `indices` is `[batch, steps]`; the output is time-major `[steps * batch, dim]`
    /// (row `t * batch + b`), the layout the LSTM consumes.
    pub fn forward(&self, indices: ArrayView2<u8>) -> Array2<f32> {
        let (batch, steps) = indices.dim();
        let dim = self.weight.ncols();
        let mut out = Array2::zeros((steps * batch, dim));
        for t in 0..steps {
            for b in 0..batch {
                out.row_mut(t * batch + b)
                    .assign(&self.weight.row(indices[[b, t]] as usize));
            }
        }
        out
    }

    /// Rows of `weight` for a flat list of indices: `[indices.len(), dim]`.
    pub fn lookup(&self, indices: &[u8]) -> Array2<f32> {
        let mut out = Array2::zeros((indices.len(), self.weight.ncols()));
        for (i, &v) in indices.iter().enumerate() {
            out.row_mut(i).assign(&self.weight.row(v as usize));
        }
        out
    }

    /// The backward of `lookup`: row `i` of `d_out` is added to `grad`'s row `indices[i]`.
    pub fn scatter(&self, indices: &[u8], d_out: ArrayView2<f32>, mut grad: ArrayViewMut2<f32>) {
        for (i, &v) in indices.iter().enumerate() {
            let mut row = grad.row_mut(v as usize);
            row += &d_out.row(i);
        }
    }

    /// Adds the gradient of the loss w.r.t. the weight to `grad`: each output row's gradient
    /// goes to the row of the index it was looked up from.
    pub fn backward(
        &self,
        indices: ArrayView2<u8>,
        d_out: ArrayView2<f32>,
        mut grad: ArrayViewMut2<f32>,
    ) {
        let (batch, steps) = indices.dim();
        for t in 0..steps {
            for b in 0..batch {
                let mut row = grad.row_mut(indices[[b, t]] as usize);
                row += &d_out.row(t * batch + b);
            }
        }
    }
}
