//! The Snowman CNN on the GPU: training steps and scoring with every tensor on the device, as
//! the CPU reference (src/model/snowman_cnn.rs) computes them: Embedding -> per branch Conv1D
//! -> ReLU -> global max (one fused kernel) -> concat -> Dropout -> Dense(1) -> sigmoid BCE.

use super::endgame_lstm::batch_mask;
use super::ops::{self, ConvBranch};
use super::params::DeviceParams;
use super::{CudaError, Gpu};
use crate::encode::MAXLEN;
use crate::model::SnowmanCnn;
use crate::nn::Optimizer;
use crate::rng::Rng;
use cudarc::driver::CudaSlice;

/// Working buffers for up to `rows` names per batch.
struct Buffers {
    rows: usize,
    indices: CudaSlice<u8>,
    labels: CudaSlice<f32>,
    weights: CudaSlice<f32>,
    mask: CudaSlice<f32>,
    embedded: CudaSlice<f32>,
    pooled: CudaSlice<f32>,
    argmax: CudaSlice<i32>,
    dropped: CudaSlice<f32>,
    logits: CudaSlice<f32>,
    d_logits: CudaSlice<f32>,
    loss_rows: CudaSlice<f32>,
    d_dropped: CudaSlice<f32>,
    d_embedded: CudaSlice<f32>,
}

impl Buffers {
    fn new(gpu: &Gpu, net: &SnowmanCnn, rows: usize) -> Result<Self, CudaError> {
        let e = net.config.embedding_dim;
        let width = net.config.filters * net.convs.len();
        Ok(Buffers {
            rows,
            indices: gpu.stream.alloc_zeros::<u8>((rows * MAXLEN).max(1))?,
            labels: gpu.zeros(rows)?,
            weights: gpu.zeros(rows)?,
            mask: gpu.zeros(rows * width)?,
            embedded: gpu.zeros(rows * MAXLEN * e)?,
            pooled: gpu.zeros(rows * width)?,
            argmax: gpu.stream.alloc_zeros::<i32>((rows * width).max(1))?,
            dropped: gpu.zeros(rows * width)?,
            logits: gpu.zeros(rows)?,
            d_logits: gpu.zeros(rows)?,
            loss_rows: gpu.zeros(rows)?,
            d_dropped: gpu.zeros(rows * width)?,
            d_embedded: gpu.zeros(rows * MAXLEN * e)?,
        })
    }
}

/// A Snowman CNN living on a GPU, with its optimiser state.
pub struct GpuSnowman {
    gpu: Gpu,
    shape: SnowmanCnn,
    params: DeviceParams,
    buffers: Option<Buffers>,
}

impl GpuSnowman {
    pub fn new(gpu: Gpu, net: &SnowmanCnn, optimizer: &Optimizer) -> Result<Self, CudaError> {
        let params = DeviceParams::upload(&gpu, net, optimizer)?;
        Ok(GpuSnowman {
            gpu,
            shape: net.clone(),
            params,
            buffers: None,
        })
    }

    fn buffers(&mut self, rows: usize) -> Result<Buffers, CudaError> {
        match self.buffers.take() {
            Some(b) if b.rows >= rows => Ok(b),
            _ => Buffers::new(&self.gpu, &self.shape, rows),
        }
    }

    /// The geometry of branch `i` for a batch of `n`.
    fn branch(&self, i: usize, n: usize) -> ConvBranch {
        let f = self.shape.config.filters;
        ConvBranch {
            batch: n,
            steps: MAXLEN,
            dim: self.shape.config.embedding_dim,
            filters: f,
            window: self.shape.convs[i].width,
            offset: i * f,
            width: f * self.shape.convs.len(),
        }
    }

    /// Tensor positions in `Network::tensors` order.
    fn kernel_at(i: usize) -> usize {
        1 + 2 * i
    }

    fn dense_at(&self) -> usize {
        1 + 2 * self.shape.convs.len()
    }

    /// Embedding lookup and every branch's pooled features into `b.pooled`.
    fn features(&self, b: &mut Buffers, n: usize) -> Result<(), CudaError> {
        let gpu = &self.gpu;
        let w = &self.params.weights;
        let e = self.shape.config.embedding_dim;
        ops::gather_rows(gpu, &b.indices, &w[0], &mut b.embedded, n * MAXLEN, e)?;
        for i in 0..self.shape.convs.len() {
            let k = Self::kernel_at(i);
            ops::conv_relu_max_forward(
                gpu,
                &b.embedded,
                &w[k],
                &w[k + 1],
                self.branch(i, n),
                &mut b.pooled,
                &mut b.argmax,
            )?;
        }
        Ok(())
    }

    /// One training step on a batch, all on the device; the loss adds to the epoch's total.
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
        let vocab = self.shape.embedding.weight.nrows();
        let e = self.shape.config.embedding_dim;
        let width = self.shape.config.filters * self.shape.convs.len();
        let mut b = self.buffers(n)?;
        let mask = batch_mask(self.shape.config.dropout, n, width, step_rng);
        let gpu = &self.gpu;
        gpu.upload_into(indices, &mut b.indices)?;
        gpu.upload_into(labels, &mut b.labels)?;
        gpu.upload_into(weights, &mut b.weights)?;
        gpu.upload_into(&mask, &mut b.mask)?;

        self.features(&mut b, n)?;
        let d = self.dense_at();
        let w = &self.params.weights;
        gpu.stream.memcpy_dtod(
            &b.pooled.slice(..n * width),
            &mut b.dropped.slice_mut(..n * width),
        )?;
        ops::multiply(gpu, &mut b.dropped, &b.mask, n * width)?;
        ops::matmul(
            gpu,
            &b.dropped,
            &w[d],
            &mut b.logits,
            (n, 1, width),
            false,
            false,
            0.0,
        )?;
        ops::add_bias_rows(gpu, &mut b.logits, &w[d + 1], n, 1)?;
        ops::loss(
            gpu,
            &b.logits,
            &b.labels,
            &b.weights,
            (n, 1),
            n as f32,
            &mut b.d_logits,
            &mut b.loss_rows,
        )?;
        ops::accumulate_sum(gpu, &b.loss_rows, n, &mut self.params.loss_total)?;

        let geometries: Vec<ConvBranch> = (0..self.shape.convs.len())
            .map(|i| self.branch(i, n))
            .collect();
        let g = &mut self.params.grads;
        ops::matmul(
            gpu,
            &b.dropped,
            &b.d_logits,
            &mut g[d],
            (width, 1, n),
            true,
            false,
            0.0,
        )?;
        ops::column_sums(gpu, &b.d_logits, &mut g[d + 1], n, 1)?;
        ops::matmul(
            gpu,
            &b.d_logits,
            &w[d],
            &mut b.d_dropped,
            (n, width, 1),
            false,
            true,
            0.0,
        )?;
        ops::multiply(gpu, &mut b.d_dropped, &b.mask, n * width)?;
        gpu.stream.memset_zeros(&mut b.d_embedded)?;
        for (i, &geometry) in geometries.iter().enumerate() {
            let k = Self::kernel_at(i);
            let (kernels, biases) = g.split_at_mut(k + 1);
            ops::conv_weight_grads(
                gpu,
                &b.embedded,
                &b.pooled,
                &b.argmax,
                &b.d_dropped,
                geometry,
                &mut kernels[k],
                &mut biases[0],
            )?;
            ops::conv_input_grads(
                gpu,
                &w[k],
                &b.pooled,
                &b.argmax,
                &b.d_dropped,
                geometry,
                &mut b.d_embedded,
            )?;
        }
        ops::scatter_rows_by_index(
            gpu,
            &b.indices,
            &b.d_embedded,
            &mut g[0],
            (n * MAXLEN, vocab, e),
        )?;
        self.buffers = Some(b);
        self.params.update(&self.gpu)
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The summed loss since the last call (reads it back: once per epoch).
    pub fn take_loss(&mut self) -> Result<f64, CudaError> {
        self.params.take_loss(&self.gpu)
    }

    pub fn gradients(&self) -> Result<Vec<Vec<f32>>, CudaError> {
        self.params.gradients(&self.gpu)
    }

    pub fn download(&self) -> Result<(SnowmanCnn, Optimizer), CudaError> {
        self.params.download(&self.gpu, &self.shape)
    }

    /// Probability of DGA per `[n, MAXLEN]` row, in blocks of up to `block` names.
    pub fn probabilities(&mut self, indices: &[u8], block: usize) -> Result<Vec<f32>, CudaError> {
        let n = indices.len() / MAXLEN;
        let block = block.max(1);
        let width = self.shape.config.filters * self.shape.convs.len();
        let mut b = self.buffers(block.min(n.max(1)))?;
        let d = self.dense_at();
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(block) {
            let rows = block.min(n - start);
            self.gpu.upload_into(
                &indices[start * MAXLEN..(start + rows) * MAXLEN],
                &mut b.indices,
            )?;
            self.features(&mut b, rows)?;
            let gpu = &self.gpu;
            let w = &self.params.weights;
            ops::matmul(
                gpu,
                &b.pooled,
                &w[d],
                &mut b.logits,
                (rows, 1, width),
                false,
                false,
                0.0,
            )?;
            ops::add_bias_rows(gpu, &mut b.logits, &w[d + 1], rows, 1)?;
            ops::probabilities(gpu, &mut b.logits, rows, 1)?;
            out.extend_from_slice(&gpu.download(&b.logits)?[..rows]);
        }
        self.buffers = Some(b);
        Ok(out)
    }
}
