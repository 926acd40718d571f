//! Dense (fully connected) layer: `y = x W + b`, Keras layout (`W` is `[in, out]`).

use crate::rng::Rng;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, Axis};

#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// `[in, out]`
    pub kernel: Array2<f32>,
    /// `[out]`
    pub bias: Array1<f32>,
}

impl Dense {
    /// Glorot-uniform kernel, zero bias (Keras defaults).
    pub fn new(inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        Dense {
            kernel: super::init::glorot_uniform(rng, inputs, outputs),
            bias: Array1::zeros(outputs),
        }
    }

    pub fn zeros_like(&self) -> Self {
        Dense {
            kernel: Array2::zeros(self.kernel.dim()),
            bias: Array1::zeros(self.bias.len()),
        }
    }

    /// `x`: `[batch, in]` -> `[batch, out]`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        super::matmul(x, self.kernel.view()) + &self.bias
    }

    /// Adds dL/dW and dL/db to `grad`; returns dL/dx.
    pub fn backward(
        &self,
        x: ArrayView2<f32>,
        d_out: ArrayView2<f32>,
        grad: &mut Dense,
    ) -> Array2<f32> {
        general_mat_mul(1.0, &x.t(), &d_out, 1.0, &mut grad.kernel);
        grad.bias += &d_out.sum_axis(Axis(0));
        super::matmul(d_out, self.kernel.t())
    }
}
