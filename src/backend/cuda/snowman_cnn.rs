//! The Snowman CNN on the GPU: training steps and scoring with every tensor on the device, as
//! the CPU reference (src/model/snowman_cnn.rs) computes them: Embedding -> per branch Conv1D
//! -> ReLU -> global max (one fused kernel) -> concat -> Dropout -> Dense(1) -> sigmoid BCE.

use super::head;
use super::ops::{self, ConvBranch};
use super::params::DeviceParams;
use super::{CudaError, Gpu};
use crate::encode::MAXLEN;
use crate::model::SnowmanCnn;
use crate::model::head::batch_dropout_mask;
use crate::model::snowman_cnn::{CONV_BIASES, CONV_KERNELS};
use crate::nn::Optimizer;
use crate::rng::Rng;
use cudarc::driver::CudaSlice;

/// Working buffers for up to `rows` names per batch.
struct Buffers {
    rows: usize,
    /// Labels, loss weights, mask and the head's buffers.
    head: head::Buffers,
    indices: CudaSlice<u8>,
    embedded: CudaSlice<f32>,
    pooled: CudaSlice<f32>,
    argmax: CudaSlice<i32>,
    d_embedded: CudaSlice<f32>,
}

impl Buffers {
    fn new(gpu: &Gpu, net: &SnowmanCnn, rows: usize) -> Result<Self, CudaError> {
        let e = net.config.embedding_dim;
        let width = net.config.filters * net.convs.len();
        Ok(Buffers {
            rows,
            head: head::Buffers::new(gpu, rows, width, 1)?,
            indices: gpu.stream.alloc_zeros::<u8>((rows * MAXLEN).max(1))?,
            embedded: gpu.zeros(rows * MAXLEN * e)?,
            pooled: gpu.zeros(rows * width)?,
            argmax: gpu.stream.alloc_zeros::<i32>((rows * width).max(1))?,
            d_embedded: gpu.zeros(rows * MAXLEN * e)?,
        })
    }
}

/// A Snowman CNN living on a GPU, with its optimiser state.
pub struct GpuSnowman {
    gpu: Gpu,
    shape: SnowmanCnn,
    params: DeviceParams,
    at: Slots,
    buffers: Option<Buffers>,
}

/// Where each tensor sits among the device parameters, looked up once by its name in
/// `SnowmanCnn::tensors`.
struct Slots {
    embedding: usize,
    /// Per branch: its kernel and its bias.
    convs: Vec<(usize, usize)>,
    dense_kernel: usize,
    dense_bias: usize,
}

impl Slots {
    fn of(params: &DeviceParams, branches: usize) -> Result<Slots, CudaError> {
        let convs = (0..branches)
            .map(|i| Ok((params.at(CONV_KERNELS[i])?, params.at(CONV_BIASES[i])?)))
            .collect::<Result<_, CudaError>>()?;
        Ok(Slots {
            embedding: params.at("embedding.weight")?,
            convs,
            dense_kernel: params.at("dense.kernel")?,
            dense_bias: params.at("dense.bias")?,
        })
    }
}

impl GpuSnowman {
    pub fn new(gpu: Gpu, net: &SnowmanCnn, optimizer: &Optimizer) -> Result<Self, CudaError> {
        let params = DeviceParams::upload(&gpu, net, optimizer)?;
        Ok(GpuSnowman {
            gpu,
            shape: net.clone(),
            at: Slots::of(&params, net.convs.len())?,
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

    /// Embedding lookup and every branch's pooled features into `b.pooled`.
    ///
    /// # Safety
    /// Every index uploaded into `b.indices` must be below the vocabulary size
    /// (`ops::check_indices` on the host data).
    unsafe fn features(&self, b: &mut Buffers, n: usize) -> Result<(), CudaError> {
        let gpu = &self.gpu;
        let w = &self.params.weights;
        let e = self.shape.config.embedding_dim;
        // SAFETY: the caller's contract.
        unsafe {
            ops::gather_rows(
                gpu,
                &b.indices,
                &w[self.at.embedding],
                &mut b.embedded,
                n * MAXLEN,
                e,
            )
        }?;
        for (i, &(kernel, bias)) in self.at.convs.iter().enumerate() {
            ops::conv_relu_max_forward(
                gpu,
                &b.embedded,
                &w[kernel],
                &w[bias],
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
        ops::check_indices(indices, vocab)?;
        let mut b = self.buffers(n)?;
        let mask = batch_dropout_mask(self.shape.config.dropout, n, width, step_rng);
        let gpu = &self.gpu;
        gpu.upload_into(indices, &mut b.indices)?;
        b.head.upload(gpu, labels, weights, &mask)?;

        // SAFETY: every index was checked against the vocabulary above.
        unsafe { self.features(&mut b, n) }?;
        let at = &self.at;
        let w = &self.params.weights;
        let g = &mut self.params.grads;
        // The head: loss, its gradients, and dL/d(pooled) into d_dropped.
        let (grad_kernel, grad_bias) = head::pair_mut(g, at.dense_kernel, at.dense_bias);
        head::train(
            gpu,
            &b.pooled,
            head::Dense {
                kernel: &w[at.dense_kernel],
                bias: &w[at.dense_bias],
            },
            head::DenseGrads {
                kernel: grad_kernel,
                bias: grad_bias,
            },
            &mut b.head,
            &mut self.params.loss_total,
            (n, width, 1),
        )?;

        // Backward through each branch's max, ReLU and convolution, then the embedding.
        let geometries: Vec<ConvBranch> = (0..self.shape.convs.len())
            .map(|i| self.branch(i, n))
            .collect();
        let g = &mut self.params.grads;
        gpu.stream.memset_zeros(&mut b.d_embedded)?;
        for (&geometry, &(kernel, bias)) in geometries.iter().zip(&at.convs) {
            let (grad_kernel, grad_bias) = head::pair_mut(g, kernel, bias);
            ops::conv_weight_grads(
                gpu,
                &b.embedded,
                &b.pooled,
                &b.argmax,
                &b.head.d_features,
                geometry,
                grad_kernel,
                grad_bias,
            )?;
            ops::conv_input_grads(
                gpu,
                &w[kernel],
                &b.pooled,
                &b.argmax,
                &b.head.d_features,
                geometry,
                &mut b.d_embedded,
            )?;
        }
        // SAFETY: every index was checked against the vocabulary above.
        unsafe {
            ops::scatter_rows_by_index(
                gpu,
                &b.indices,
                &b.d_embedded,
                &mut g[at.embedding],
                (n * MAXLEN, vocab, e),
            )
        }?;
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
        ops::check_indices(indices, self.shape.embedding.weight.nrows())?;
        let mut b = self.buffers(block.min(n.max(1)))?;
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(block) {
            let rows = block.min(n - start);
            self.gpu.upload_into(
                &indices[start * MAXLEN..(start + rows) * MAXLEN],
                &mut b.indices,
            )?;
            // SAFETY: every index was checked against the vocabulary above.
            unsafe { self.features(&mut b, rows) }?;
            let (gpu, w, at) = (&self.gpu, &self.params.weights, &self.at);
            let dense = head::Dense {
                kernel: &w[at.dense_kernel],
                bias: &w[at.dense_bias],
            };
            head::probabilities(gpu, &b.pooled, dense, &mut b.head.logits, (rows, width, 1))?;
            out.extend_from_slice(&gpu.download(&b.head.logits)?[..rows]);
        }
        self.buffers = Some(b);
        Ok(out)
    }
}
