//! LSTM with Keras semantics, returning the last hidden state.
//!
//! Gates are packed in Keras order i, f, c, o along the last axis of `kernel` `[in, 4H]`,
//! `recurrent` `[H, 4H]` and `bias` `[4H]`. For each step, with `a` the recurrent activation:
//! ```text
//! z = x_t kernel + h_{t-1} recurrent + bias
//! i = a(z_i)   f = a(z_f)   g = tanh(z_c)   o = a(z_o)
//! c_t = f * c_{t-1} + i * g        h_t = o * tanh(c_t)        (h_0 = c_0 = 0)
//! ```
//! Inputs and states are time-major: row `t * batch + b`.

use crate::rng::Rng;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, Axis, s};

/// The activation of the i, f and o gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentActivation {
    Sigmoid,
    /// Keras 2.x: `clip(0.2 x + 0.5, 0, 1)`.
    HardSigmoid,
}

impl RecurrentActivation {
    pub fn apply(self, z: f32) -> f32 {
        match self {
            RecurrentActivation::Sigmoid => super::loss::sigmoid(z),
            RecurrentActivation::HardSigmoid => (0.2 * z + 0.5).clamp(0.0, 1.0),
        }
    }

    /// Derivative expressed through the output `y = apply(z)`.
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            RecurrentActivation::Sigmoid => y * (1.0 - y),
            RecurrentActivation::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    0.2
                } else {
                    0.0
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lstm {
    /// `[in, 4H]`
    pub kernel: Array2<f32>,
    /// `[H, 4H]`
    pub recurrent: Array2<f32>,
    /// `[4H]`
    pub bias: Array1<f32>,
    pub activation: RecurrentActivation,
}

/// What the forward pass keeps for the backward pass.
pub struct LstmCache {
    steps: usize,
    batch: usize,
    /// Gate activations i, f, g, o for every step: `[steps * batch, 4H]`.
    gates: Array2<f32>,
    /// Cell states, `c_0` (zeros) first: `[(steps + 1) * batch, H]`.
    cells: Array2<f32>,
    /// Hidden states, `h_0` (zeros) first: `[(steps + 1) * batch, H]`.
    hidden: Array2<f32>,
}

impl Lstm {
    /// Keras defaults: glorot-uniform kernel, orthogonal recurrent kernel, zero bias with the
    /// forget gate's bias at 1 (`unit_forget_bias`).
    pub fn new(
        inputs: usize,
        units: usize,
        activation: RecurrentActivation,
        rng: &mut Rng,
    ) -> Self {
        let kernel = super::init::glorot_uniform(rng, inputs, 4 * units);
        let recurrent = super::init::orthogonal(rng, units, 4 * units);
        let mut bias = Array1::zeros(4 * units);
        bias.slice_mut(s![units..2 * units]).fill(1.0);
        Lstm {
            kernel,
            recurrent,
            bias,
            activation,
        }
    }

    pub fn zeros_like(&self) -> Self {
        Lstm {
            kernel: Array2::zeros(self.kernel.dim()),
            recurrent: Array2::zeros(self.recurrent.dim()),
            bias: Array1::zeros(self.bias.len()),
            activation: self.activation,
        }
    }

    pub fn units(&self) -> usize {
        self.recurrent.nrows()
    }

    /// `x`: `[steps * batch, in]` time-major. Returns the last hidden state `[batch, H]`.
    pub fn forward(&self, x: ArrayView2<f32>, steps: usize) -> (Array2<f32>, LstmCache) {
        let batch = x.nrows().checked_div(steps).unwrap_or(0);
        let units = self.units();
        // Input projections of all steps in one matrix product.
        let mut gates = super::matmul(x, self.kernel.view()) + &self.bias;
        let mut cells = Array2::<f32>::zeros(((steps + 1) * batch, units));
        let mut hidden = Array2::<f32>::zeros(((steps + 1) * batch, units));
        for t in 0..steps {
            let rows = t * batch..(t + 1) * batch;
            let mut z = gates.slice_mut(s![rows.clone(), ..]);
            general_mat_mul(
                1.0,
                &hidden.slice(s![rows.clone(), ..]),
                &self.recurrent,
                1.0,
                &mut z,
            );
            for b in 0..batch {
                let mut zb = z.row_mut(b);
                for u in 0..units {
                    let i = self.activation.apply(zb[u]);
                    let f = self.activation.apply(zb[units + u]);
                    let g = zb[2 * units + u].tanh();
                    let o = self.activation.apply(zb[3 * units + u]);
                    zb[u] = i;
                    zb[units + u] = f;
                    zb[2 * units + u] = g;
                    zb[3 * units + u] = o;
                    let c = f * cells[[t * batch + b, u]] + i * g;
                    cells[[(t + 1) * batch + b, u]] = c;
                    hidden[[(t + 1) * batch + b, u]] = o * c.tanh();
                }
            }
        }
        let last = hidden.slice(s![steps * batch.., ..]).to_owned();
        (
            last,
            LstmCache {
                steps,
                batch,
                gates,
                cells,
                hidden,
            },
        )
    }

    /// Back-propagation through time from dL/dh_T. Adds the parameter gradients to `grad`
    /// and returns dL/dx (`[steps * batch, in]`).
    pub fn backward(
        &self,
        x: ArrayView2<f32>,
        cache: &LstmCache,
        d_last: ArrayView2<f32>,
        grad: &mut Lstm,
    ) -> Array2<f32> {
        let (steps, batch, units) = (cache.steps, cache.batch, self.units());
        let mut d_z = Array2::<f32>::zeros((steps * batch, 4 * units));
        let mut d_h = d_last.to_owned();
        let mut d_c = Array2::<f32>::zeros((batch, units));
        for t in (0..steps).rev() {
            for b in 0..batch {
                let row = t * batch + b;
                let gates = cache.gates.row(row);
                let mut dz = d_z.row_mut(row);
                for u in 0..units {
                    let (i, f, g, o) = (
                        gates[u],
                        gates[units + u],
                        gates[2 * units + u],
                        gates[3 * units + u],
                    );
                    let c = cache.cells[[row + batch, u]];
                    let c_prev = cache.cells[[row, u]];
                    let tanh_c = c.tanh();
                    let dh = d_h[[b, u]];
                    let dc = d_c[[b, u]] + dh * o * (1.0 - tanh_c * tanh_c);
                    dz[u] = dc * g * self.activation.derivative_from_output(i);
                    dz[units + u] = dc * c_prev * self.activation.derivative_from_output(f);
                    dz[2 * units + u] = dc * i * (1.0 - g * g);
                    dz[3 * units + u] = dh * tanh_c * self.activation.derivative_from_output(o);
                    d_c[[b, u]] = dc * f;
                }
            }
            let dz_t = d_z.slice(s![t * batch..(t + 1) * batch, ..]);
            d_h = super::matmul(dz_t, self.recurrent.t());
        }
        let h_prev = cache.hidden.slice(s![..steps * batch, ..]);
        general_mat_mul(1.0, &h_prev.t(), &d_z, 1.0, &mut grad.recurrent);
        general_mat_mul(1.0, &x.t(), &d_z, 1.0, &mut grad.kernel);
        grad.bias += &d_z.sum_axis(Axis(0));
        super::matmul(d_z.view(), self.kernel.t())
    }
}
