//! 1-D convolution over one sequence, valid padding, stride 1, Keras layout:
//! `kernel` is `[width, in, filters]`, `bias` is `[filters]`, and
//! `y[t, f] = bias[f] + sum_k sum_c x[t + k, c] * kernel[k, c, f]` for `t` in `0..=T - width`.
//!
//! Computed as a matrix product on the unrolled windows (`im2col`): row `t` of `windows` is
//! `x[t..t + width]` flattened, and `kernel` flattened is `[width * in, filters]`.

use crate::rng::Rng;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, Axis};

#[derive(Clone, Debug, PartialEq)]
pub struct Conv1d {
    pub width: usize,
    /// `[width * in, filters]`: `kernel[k, c, f]` at row `k * in + c`.
    pub kernel: Array2<f32>,
    pub bias: Array1<f32>,
}

impl Conv1d {
    /// Keras defaults: glorot-uniform kernel with fan_in = width * in and fan_out =
    /// width * filters, zero bias.
    pub fn new(width: usize, inputs: usize, filters: usize, rng: &mut Rng) -> Self {
        let limit = (6.0 / ((width * inputs + width * filters) as f64)).sqrt() as f32;
        Conv1d {
            width,
            kernel: super::init::uniform(rng, width * inputs, filters, limit),
            bias: Array1::zeros(filters),
        }
    }

    pub fn zeros_like(&self) -> Self {
        Conv1d {
            width: self.width,
            kernel: Array2::zeros(self.kernel.dim()),
            bias: Array1::zeros(self.bias.len()),
        }
    }

    fn inputs(&self) -> usize {
        self.kernel.nrows() / self.width
    }

    /// Number of output positions for a sequence of `steps`.
    pub fn outputs(&self, steps: usize) -> usize {
        (steps + 1).saturating_sub(self.width)
    }

    /// The unrolled windows of `x` (`[T, in]`): `[T - width + 1, width * in]`.
    fn windows(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let (steps, inputs) = x.dim();
        let positions = self.outputs(steps);
        let mut windows = Array2::zeros((positions, self.width * inputs));
        for t in 0..positions {
            for k in 0..self.width {
                windows
                    .row_mut(t)
                    .slice_mut(ndarray::s![k * inputs..(k + 1) * inputs])
                    .assign(&x.row(t + k));
            }
        }
        windows
    }

    /// `x`: `[T, in]` -> `[T - width + 1, filters]`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let windows = self.windows(x);
        super::matmul(windows.view(), self.kernel.view()) + &self.bias
    }

    /// Adds dL/dkernel and dL/dbias to `grad`; returns dL/dx (`[T, in]`).
    pub fn backward(
        &self,
        x: ArrayView2<f32>,
        d_out: ArrayView2<f32>,
        grad: &mut Conv1d,
    ) -> Array2<f32> {
        let windows = self.windows(x);
        general_mat_mul(1.0, &windows.t(), &d_out, 1.0, &mut grad.kernel);
        grad.bias += &d_out.sum_axis(Axis(0));
        let d_windows = super::matmul(d_out, self.kernel.t());
        let inputs = self.inputs();
        let mut d_x = Array2::zeros(x.dim());
        for t in 0..d_windows.nrows() {
            for k in 0..self.width {
                let mut row = d_x.row_mut(t + k);
                row += &d_windows
                    .row(t)
                    .slice(ndarray::s![k * inputs..(k + 1) * inputs]);
            }
        }
        d_x
    }
}
