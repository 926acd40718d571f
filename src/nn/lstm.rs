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
    /// The name in model files (`sigmoid`, `hard_sigmoid`).
    pub fn name(self) -> &'static str {
        match self {
            RecurrentActivation::Sigmoid => "sigmoid",
            RecurrentActivation::HardSigmoid => "hard_sigmoid",
        }
    }

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

/// One step of one row. `z` holds the pre-activations `[4H]` on entry and the gate values
/// i, f, g, o on return; writes `c_t` and `h_t`.
pub fn cell_forward(
    act: RecurrentActivation,
    z: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    let units = c.len();
    for u in 0..units {
        let i = act.apply(z[u]);
        let f = act.apply(z[units + u]);
        let g = z[2 * units + u].tanh();
        let o = act.apply(z[3 * units + u]);
        z[u] = i;
        z[units + u] = f;
        z[2 * units + u] = g;
        z[3 * units + u] = o;
        c[u] = f * c_prev[u] + i * g;
        h[u] = o * c[u].tanh();
    }
}

/// The backward of `cell_forward` for one row. `dh` is dL/dh_t; `dc` holds dL/dc_t from later
/// steps on entry and dL/dc_{t-1} on return; `dz` receives dL/dz (pre-activations).
/// `c_t` is recomputed from the gates exactly as `cell_forward` computed it.
pub fn cell_backward(
    act: RecurrentActivation,
    gates: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    let units = dc.len();
    for u in 0..units {
        let (i, f, g, o) = (
            gates[u],
            gates[units + u],
            gates[2 * units + u],
            gates[3 * units + u],
        );
        let tanh_c = (f * c_prev[u] + i * g).tanh();
        let dc_total = dc[u] + dh[u] * o * (1.0 - tanh_c * tanh_c);
        dz[u] = dc_total * g * act.derivative_from_output(i);
        dz[units + u] = dc_total * c_prev[u] * act.derivative_from_output(f);
        dz[2 * units + u] = dc_total * i * (1.0 - g * g);
        dz[3 * units + u] = dh[u] * tanh_c * act.derivative_from_output(o);
        dc[u] = dc_total * f;
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
            let z = z.as_slice_mut().expect("row block of a row-major matrix");
            let (cells_done, cells_next) = cells
                .as_slice_mut()
                .expect("contiguous")
                .split_at_mut((t + 1) * batch * units);
            let hidden_next =
                &mut hidden.as_slice_mut().expect("contiguous")[(t + 1) * batch * units..];
            for b in 0..batch {
                let row = b * units..(b + 1) * units;
                cell_forward(
                    self.activation,
                    &mut z[b * 4 * units..(b + 1) * 4 * units],
                    &cells_done[t * batch * units..][row.clone()],
                    &mut cells_next[row.clone()],
                    &mut hidden_next[row],
                );
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
            let d_h_rows = d_h.as_slice().expect("contiguous");
            let d_c_rows = d_c.as_slice_mut().expect("contiguous");
            for b in 0..batch {
                let row = t * batch + b;
                let unit_rows = b * units..(b + 1) * units;
                cell_backward(
                    self.activation,
                    cache.gates.row(row).as_slice().expect("contiguous"),
                    cache.cells.row(row).as_slice().expect("contiguous"),
                    &d_h_rows[unit_rows.clone()],
                    &mut d_c_rows[unit_rows],
                    d_z.row_mut(row).into_slice().expect("contiguous"),
                );
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
