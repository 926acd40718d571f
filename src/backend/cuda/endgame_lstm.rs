//! The Endgame LSTM (binary and multiclass) on the GPU: training steps and scoring with every
//! tensor on the device. Per batch the host sends only the input indices, labels, loss weights
//! and the dropout mask (drawn by the same generator as the CPU path, so both devices train on
//! the same masks); the loss stays on the device until the epoch ends.
//!
//! The step mirrors the CPU reference (src/model/endgame_lstm.rs), using the exact input-table
//! identity the fast CPU path uses: z_t = (E W + b)[x_t] + h_{t-1} U.

use super::ops::{self, LstmTrace};
use super::params::DeviceParams;
use super::{CudaError, Gpu};
use crate::encode::MAXLEN;
use crate::model::{CHUNK_ROWS, EndgameLstm, Network};
use crate::nn::lstm::RecurrentActivation;
use crate::nn::{Dropout, Optimizer};
use crate::rng::Rng;
use cudarc::driver::CudaSlice;

/// Parameter tensors, in `Network::tensors` order.
const EMBEDDING: usize = 0;
const KERNEL: usize = 1;
const RECURRENT: usize = 2;
const BIAS: usize = 3;
const DENSE_KERNEL: usize = 4;
const DENSE_BIAS: usize = 5;

/// Working buffers for up to `rows` names per batch.
struct Buffers {
    rows: usize,
    indices: CudaSlice<u8>,
    labels: CudaSlice<f32>,
    weights: CudaSlice<f32>,
    mask: CudaSlice<f32>,
    table: CudaSlice<f32>,
    recurrent_t: CudaSlice<f32>,
    gates: CudaSlice<f32>,
    c_prev: CudaSlice<f32>,
    h_prev: CudaSlice<f32>,
    h_last: CudaSlice<f32>,
    dropped: CudaSlice<f32>,
    logits: CudaSlice<f32>,
    d_logits: CudaSlice<f32>,
    loss_rows: CudaSlice<f32>,
    d_dropped: CudaSlice<f32>,
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
            indices: gpu.stream.alloc_zeros::<u8>((rows * MAXLEN).max(1))?,
            labels: gpu.zeros(rows)?,
            weights: gpu.zeros(rows)?,
            mask: gpu.zeros(rows * h)?,
            table: gpu.zeros(v * g)?,
            recurrent_t: gpu.zeros(h * g)?,
            gates: gpu.zeros(steps * g)?,
            c_prev: gpu.zeros(steps * h)?,
            h_prev: gpu.zeros(steps * h)?,
            h_last: gpu.zeros(rows * h)?,
            dropped: gpu.zeros(rows * h)?,
            logits: gpu.zeros(rows * k)?,
            d_logits: gpu.zeros(rows * k)?,
            loss_rows: gpu.zeros(rows)?,
            d_dropped: gpu.zeros(rows * h)?,
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
    buffers: Option<Buffers>,
}

fn hard(net: &EndgameLstm) -> bool {
    net.lstm.activation == RecurrentActivation::HardSigmoid
}

/// The dropout mask of a batch of `rows` as the CPU path draws it: chunk `k` of
/// `CHUNK_ROWS` rows from `step_rng.fork(k)`.
pub fn batch_mask(rate: f32, rows: usize, width: usize, step_rng: &Rng) -> Vec<f32> {
    let dropout = Dropout { rate };
    let mut mask = Vec::with_capacity(rows * width);
    for (k, start) in (0..rows).step_by(CHUNK_ROWS).enumerate() {
        let n = CHUNK_ROWS.min(rows - start);
        let chunk = dropout.mask(n, width, &mut step_rng.fork(k as u64));
        mask.extend(chunk.iter());
    }
    mask
}

impl GpuEndgame {
    /// Uploads `net` and the optimiser's state.
    pub fn new(gpu: Gpu, net: &EndgameLstm, optimizer: &Optimizer) -> Result<Self, CudaError> {
        let params = DeviceParams::upload(&gpu, net, optimizer)?;
        Ok(GpuEndgame {
            gpu,
            shape: net.clone(),
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
        let p = &self.params.weights;
        ops::matmul(
            &self.gpu,
            &p[EMBEDDING],
            &p[KERNEL],
            table,
            (v, 4 * h, e),
            false,
            false,
            0.0,
        )?;
        ops::add_bias_rows(&self.gpu, table, &p[BIAS], v, 4 * h)
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
        let mut b = self.buffers(n, true)?;
        let gpu = &self.gpu;
        let mask = batch_mask(self.shape.config.dropout, n, h, step_rng);
        gpu.upload_into(indices, &mut b.indices)?;
        gpu.upload_into(labels, &mut b.labels)?;
        gpu.upload_into(weights, &mut b.weights)?;
        gpu.upload_into(&mask, &mut b.mask)?;

        // Forward.
        self.input_table(&mut b.table)?;
        let p = &self.params.weights;
        let trace = LstmTrace {
            gates: &mut b.gates,
            c_prev: &mut b.c_prev,
            h_prev: &mut b.h_prev,
        };
        let hard = hard(&self.shape);
        let dims = (n, MAXLEN, h);
        ops::lstm_forward(
            gpu,
            &b.indices,
            &b.table,
            &p[RECURRENT],
            dims,
            hard,
            &mut b.h_last,
            Some(trace),
        )?;
        gpu.stream
            .memcpy_dtod(&b.h_last.slice(..n * h), &mut b.dropped.slice_mut(..n * h))?;
        ops::multiply(gpu, &mut b.dropped, &b.mask, n * h)?;
        ops::matmul(
            gpu,
            &b.dropped,
            &p[DENSE_KERNEL],
            &mut b.logits,
            (n, k, h),
            false,
            false,
            0.0,
        )?;
        ops::add_bias_rows(gpu, &mut b.logits, &p[DENSE_BIAS], n, k)?;
        ops::loss(
            gpu,
            &b.logits,
            &b.labels,
            &b.weights,
            (n, k),
            n as f32,
            &mut b.d_logits,
            &mut b.loss_rows,
        )?;
        ops::accumulate_sum(gpu, &b.loss_rows, n, &mut self.params.loss_total)?;

        // Backward: the head, then the recurrence, then the input table's factors.
        let gr = &mut self.params.grads;
        ops::matmul(
            gpu,
            &b.dropped,
            &b.d_logits,
            &mut gr[DENSE_KERNEL],
            (h, k, n),
            true,
            false,
            0.0,
        )?;
        ops::column_sums(gpu, &b.d_logits, &mut gr[DENSE_BIAS], n, k)?;
        ops::matmul(
            gpu,
            &b.d_logits,
            &p[DENSE_KERNEL],
            &mut b.d_dropped,
            (n, h, k),
            false,
            true,
            0.0,
        )?;
        ops::multiply(gpu, &mut b.d_dropped, &b.mask, n * h)?;
        ops::transpose(gpu, &p[RECURRENT], &mut b.recurrent_t, h, g)?;
        ops::lstm_backward(
            gpu,
            &b.recurrent_t,
            &b.gates,
            &b.c_prev,
            &b.d_dropped,
            dims,
            hard,
            &mut b.dz,
        )?;
        let rows = n * MAXLEN;
        ops::matmul(
            gpu,
            &b.h_prev,
            &b.dz,
            &mut gr[RECURRENT],
            (h, g, rows),
            true,
            false,
            0.0,
        )?;
        ops::scatter_rows_by_index(gpu, &b.indices, &b.dz, &mut b.d_table, (rows, v, g))?;
        ops::matmul(
            gpu,
            &b.d_table,
            &p[KERNEL],
            &mut gr[EMBEDDING],
            (v, e, g),
            false,
            true,
            0.0,
        )?;
        ops::matmul(
            gpu,
            &p[EMBEDDING],
            &b.d_table,
            &mut gr[KERNEL],
            (e, g, v),
            true,
            false,
            0.0,
        )?;
        ops::column_sums(gpu, &b.d_table, &mut gr[BIAS], v, g)?;
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
        let block = block.max(1);
        let mut b = self.buffers(block.min(n.max(1)), false)?;
        self.input_table(&mut b.table)?;
        let mut out = Vec::with_capacity(n * k);
        for start in (0..n).step_by(block) {
            let rows = block.min(n - start);
            let gpu = &self.gpu;
            gpu.upload_into(
                &indices[start * MAXLEN..(start + rows) * MAXLEN],
                &mut b.indices,
            )?;
            ops::lstm_forward(
                gpu,
                &b.indices,
                &b.table,
                &self.params.weights[RECURRENT],
                (rows, MAXLEN, h),
                hard(&self.shape),
                &mut b.h_last,
                None,
            )?;
            ops::matmul(
                gpu,
                &b.h_last,
                &self.params.weights[DENSE_KERNEL],
                &mut b.logits,
                (rows, k, h),
                false,
                false,
                0.0,
            )?;
            ops::add_bias_rows(
                gpu,
                &mut b.logits,
                &self.params.weights[DENSE_BIAS],
                rows,
                k,
            )?;
            ops::probabilities(gpu, &mut b.logits, rows, k)?;
            let values = gpu.download(&b.logits)?;
            out.extend_from_slice(&values[..rows * k]);
        }
        self.buffers = Some(b);
        Ok(out)
    }
}
