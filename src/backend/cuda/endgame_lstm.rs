//! The Endgame LSTM (binary and multiclass) on the GPU: training steps and scoring with every
//! tensor on the device. Per batch the host sends only the input indices, labels, loss weights
//! and the dropout mask (drawn by the same generator as the CPU path, so both devices train on
//! the same masks); the loss stays on the device until the epoch ends.
//!
//! The step mirrors the CPU reference (src/model/endgame_lstm.rs), using the exact input-table
//! identity the fast CPU path uses: z_t = (E W + b)[x_t] + h_{t-1} U.

use super::head;
use super::ops::{self, LstmTrace};
use super::params::DeviceParams;
use super::{CudaError, Gpu};
use crate::encode::MAXLEN;
use crate::model::head::batch_dropout_mask;
use crate::model::{EndgameLstm, Network};
use crate::nn::Optimizer;
use crate::nn::lstm::RecurrentActivation;
use crate::rng::Rng;
use cudarc::driver::CudaSlice;

/// Where each tensor sits among the device parameters, looked up once by its name in
/// `EndgameLstm::tensors`.
#[derive(Clone, Copy)]
struct Slots {
    embedding: usize,
    kernel: usize,
    recurrent: usize,
    bias: usize,
    dense_kernel: usize,
    dense_bias: usize,
}

impl Slots {
    fn of(params: &DeviceParams) -> Result<Slots, CudaError> {
        Ok(Slots {
            embedding: params.at("embedding.weight")?,
            kernel: params.at("lstm.kernel")?,
            recurrent: params.at("lstm.recurrent_kernel")?,
            bias: params.at("lstm.bias")?,
            dense_kernel: params.at("dense.kernel")?,
            dense_bias: params.at("dense.bias")?,
        })
    }
}

/// Working buffers for up to `rows` names per batch.
struct Buffers {
    rows: usize,
    /// Labels, loss weights, mask and the head's buffers.
    head: head::Buffers,
    indices: CudaSlice<u8>,
    table: CudaSlice<f32>,
    recurrent_t: CudaSlice<f32>,
    gates: CudaSlice<f32>,
    c_prev: CudaSlice<f32>,
    h_prev: CudaSlice<f32>,
    h_last: CudaSlice<f32>,
    dz: CudaSlice<f32>,
    d_table: CudaSlice<f32>,
}

impl Buffers {
    fn new(gpu: &Gpu, net: &EndgameLstm, rows: usize, training: bool) -> Result<Self, CudaError> {
        let (v, h, k) = (
            net.embedding.weight.nrows(),
            net.lstm.units(),
            net.outputs(),
        );
        let g = 4 * h;
        let steps = if training { rows * MAXLEN } else { 0 };
        Ok(Buffers {
            rows,
            head: head::Buffers::new(gpu, rows, h, k)?,
            indices: gpu.stream.alloc_zeros::<u8>((rows * MAXLEN).max(1))?,
            table: gpu.zeros(v * g)?,
            recurrent_t: gpu.zeros(h * g)?,
            gates: gpu.zeros(steps * g)?,
            c_prev: gpu.zeros(steps * h)?,
            h_prev: gpu.zeros(steps * h)?,
            h_last: gpu.zeros(rows * h)?,
            dz: gpu.zeros(steps * g)?,
            d_table: gpu.zeros(if training { v * g } else { 1 })?,
        })
    }
}

/// An Endgame LSTM living on a GPU, with its optimiser state.
pub struct GpuEndgame {
    gpu: Gpu,
    /// Host copy of the architecture (shapes, activation); weights are on the device.
    shape: EndgameLstm,
    params: DeviceParams,
    at: Slots,
    buffers: Option<Buffers>,
}

fn hard(net: &EndgameLstm) -> bool {
    net.lstm.activation == RecurrentActivation::HardSigmoid
}

impl GpuEndgame {
    /// Uploads `net` and the optimiser's state.
    pub fn new(gpu: Gpu, net: &EndgameLstm, optimizer: &Optimizer) -> Result<Self, CudaError> {
        let params = DeviceParams::upload(&gpu, net, optimizer)?;
        Ok(GpuEndgame {
            gpu,
            shape: net.clone(),
            at: Slots::of(&params)?,
            params,
            buffers: None,
        })
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn buffers(&mut self, rows: usize, training: bool) -> Result<Buffers, CudaError> {
        match self.buffers.take() {
            Some(b) if b.rows >= rows && (!training || b.gates.len() > 1) => Ok(b),
            _ => Buffers::new(&self.gpu, &self.shape, rows, training),
        }
    }

    /// The input table `E W + b` into `table`.
    fn input_table(&self, table: &mut CudaSlice<f32>) -> Result<(), CudaError> {
        let (v, e, h) = (
            self.shape.embedding.weight.nrows(),
            self.shape.embedding.weight.ncols(),
            self.shape.lstm.units(),
        );
        let (p, at) = (&self.params.weights, self.at);
        ops::matmul(
            &self.gpu,
            &p[at.embedding],
            &p[at.kernel],
            table,
            (v, 4 * h, e),
            false,
            false,
            0.0,
        )?;
        ops::add_bias_rows(&self.gpu, table, &p[at.bias], v, 4 * h)
    }

    /// One training step on a batch (`indices` `[n, MAXLEN]`): forward, loss, backward and
    /// the optimiser's update, all on the device. The loss is added to the epoch's total.
    pub fn train_step(
        &mut self,
        indices: &[u8],
        labels: &[f32],
        weights: &[f32],
        step_rng: &Rng,
    ) -> Result<(), CudaError> {
        let n = labels.len();
        if n == 0 {
            return Ok(());
        }
        let (v, e, h, k) = (
            self.shape.embedding.weight.nrows(),
            self.shape.embedding.weight.ncols(),
            self.shape.lstm.units(),
            self.shape.outputs(),
        );
        let g = 4 * h;
        ops::check_indices(indices, v)?;
        let mut b = self.buffers(n, true)?;
        let gpu = &self.gpu;
        let mask = batch_dropout_mask(self.shape.config.dropout, n, h, step_rng);
        gpu.upload_into(indices, &mut b.indices)?;
        b.head.upload(gpu, labels, weights, &mask)?;

        // Forward through the recurrence to the last hidden state.
        self.input_table(&mut b.table)?;
        let at = self.at;
        let trace = LstmTrace {
            gates: &mut b.gates,
            c_prev: &mut b.c_prev,
            h_prev: &mut b.h_prev,
        };
        let hard = hard(&self.shape);
        let dims = (n, MAXLEN, h);
        // SAFETY: every index was checked against the table's `v` rows above.
        unsafe {
            ops::lstm_forward(
                gpu,
                &b.indices,
                &b.table,
                &self.params.weights[at.recurrent],
                dims,
                hard,
                &mut b.h_last,
                Some(trace),
            )
        }?;

        // The head: loss, its gradients, and dL/d(h_last) into d_dropped.
        let p = &self.params.weights;
        let gr = &mut self.params.grads;
        let (grad_kernel, grad_bias) = head::pair_mut(gr, at.dense_kernel, at.dense_bias);
        head::train(
            gpu,
            &b.h_last,
            head::Dense {
                kernel: &p[at.dense_kernel],
                bias: &p[at.dense_bias],
            },
            head::DenseGrads {
                kernel: grad_kernel,
                bias: grad_bias,
            },
            &mut b.head,
            &mut self.params.loss_total,
            (n, h, k),
        )?;

        // Backward through the recurrence, then the input table's factors.
        let gr = &mut self.params.grads;
        ops::transpose(gpu, &p[at.recurrent], &mut b.recurrent_t, h, g)?;
        ops::lstm_backward(
            gpu,
            &b.recurrent_t,
            &b.gates,
            &b.c_prev,
            &b.head.d_features,
            dims,
            hard,
            &mut b.dz,
        )?;
        let rows = n * MAXLEN;
        ops::matmul(
            gpu,
            &b.h_prev,
            &b.dz,
            &mut gr[at.recurrent],
            (h, g, rows),
            true,
            false,
            0.0,
        )?;
        // SAFETY: every index was checked against the `v` rows above.
        unsafe {
            ops::scatter_rows_by_index(gpu, &b.indices, &b.dz, &mut b.d_table, (rows, v, g))
        }?;
        ops::matmul(
            gpu,
            &b.d_table,
            &p[at.kernel],
            &mut gr[at.embedding],
            (v, e, g),
            false,
            true,
            0.0,
        )?;
        ops::matmul(
            gpu,
            &p[at.embedding],
            &b.d_table,
            &mut gr[at.kernel],
            (e, g, v),
            true,
            false,
            0.0,
        )?;
        ops::column_sums(gpu, &b.d_table, &mut gr[at.bias], v, g)?;
        self.buffers = Some(b);
        self.params.update(&self.gpu)
    }

    /// The summed loss since the last call (reads it back: once per epoch).
    pub fn take_loss(&mut self) -> Result<f64, CudaError> {
        self.params.take_loss(&self.gpu)
    }

    /// The gradients of the last step, in `Network::tensors` order (for parity tests).
    pub fn gradients(&self) -> Result<Vec<Vec<f32>>, CudaError> {
        self.params.gradients(&self.gpu)
    }

    /// The model and optimiser state, back on the host.
    pub fn download(&self) -> Result<(EndgameLstm, Optimizer), CudaError> {
        self.params.download(&self.gpu, &self.shape)
    }

    /// Output probabilities `[n, outputs]` of `[n, MAXLEN]` indices (see
    /// `model::probabilities`), in blocks of up to `block` names.
    pub fn probabilities(&mut self, indices: &[u8], block: usize) -> Result<Vec<f32>, CudaError> {
        let n = indices.len() / MAXLEN;
        let (h, k) = (self.shape.lstm.units(), self.shape.outputs());
        ops::check_indices(indices, self.shape.embedding.weight.nrows())?;
        let block = block.max(1);
        let mut b = self.buffers(block.min(n.max(1)), false)?;
        self.input_table(&mut b.table)?;
        let (p, at) = (&self.params.weights, self.at);
        let mut out = Vec::with_capacity(n * k);
        for start in (0..n).step_by(block) {
            let rows = block.min(n - start);
            let gpu = &self.gpu;
            gpu.upload_into(
                &indices[start * MAXLEN..(start + rows) * MAXLEN],
                &mut b.indices,
            )?;
            // SAFETY: every index was checked against the table's rows above.
            unsafe {
                ops::lstm_forward(
                    gpu,
                    &b.indices,
                    &b.table,
                    &p[at.recurrent],
                    (rows, MAXLEN, h),
                    hard(&self.shape),
                    &mut b.h_last,
                    None,
                )
            }?;
            let dense = head::Dense {
                kernel: &p[at.dense_kernel],
                bias: &p[at.dense_bias],
            };
            head::probabilities(gpu, &b.h_last, dense, &mut b.head.logits, (rows, h, k))?;
            let values = gpu.download(&b.head.logits)?;
            out.extend_from_slice(&values[..rows * k]);
        }
        self.buffers = Some(b);
        Ok(out)
    }
}
