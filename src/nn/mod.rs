//! Layers and optimisers: the CPU reference. Each layer's forward and backward sit side by
//! side in its own file; layers never read files or know about models.

pub mod conv1d;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod loss;
pub mod lstm;
pub mod optim;
pub mod pool;

pub use conv1d::Conv1d;
pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use lstm::{Lstm, RecurrentActivation};
pub use optim::{Optimizer, OptimizerConfig};

use ndarray::{Array2, ArrayView2, linalg::general_mat_mul};

/// `a b` into a new row-major matrix (ndarray's `dot` may return column-major results when
/// an operand is a transposed view; the layers hand out row-major arrays only).
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>) -> Array2<f32> {
    let mut out = Array2::zeros((a.nrows(), b.ncols()));
    general_mat_mul(1.0, &a, &b, 0.0, &mut out);
    out
}
