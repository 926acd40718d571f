//! A network's parameters on the device: weights, gradients and optimiser slots, one buffer per
//! tensor in `Network::tensors` order, with the optimiser's update (Keras' rules, as
//! src/nn/optim.rs) and the way back to the host.

use super::{CudaError, Gpu, ops};
use crate::model::Network;
use crate::nn::{Optimizer, OptimizerConfig};
use cudarc::driver::CudaSlice;

pub struct DeviceParams {
    /// Each tensor's name (`Network::tensors`), so models look their tensors up by name.
    names: Vec<&'static str>,
    pub weights: Vec<CudaSlice<f32>>,
    pub grads: Vec<CudaSlice<f32>>,
    config: OptimizerConfig,
    steps: u64,
    /// `[slot][tensor]` (RMSprop 1, Adam 2), as `Optimizer::slots`.
    slots: Vec<Vec<CudaSlice<f32>>>,
    /// The summed training loss since the last `take_loss`, kept on the device.
    pub loss_total: CudaSlice<f64>,
}

impl DeviceParams {
    /// Where the tensor called `name` sits in `weights` and `grads`.
    pub fn at(&self, name: &str) -> Result<usize, CudaError> {
        self.names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| CudaError::Driver(format!("the network has no tensor {name}")))
    }

    /// Uploads `net`'s tensors and the optimiser's state (empty slots start at zero, as on
    /// the CPU).
    pub fn upload<N: Network>(
        gpu: &Gpu,
        net: &N,
        optimizer: &Optimizer,
    ) -> Result<DeviceParams, CudaError> {
        let tensors = net.tensors();
        let mut weights = Vec::with_capacity(tensors.len());
        let mut grads = Vec::with_capacity(tensors.len());
        for (_, t) in &tensors {
            weights.push(gpu.upload(t)?);
            grads.push(gpu.zeros(t.len())?);
        }
        let slot_count = match optimizer.config {
            OptimizerConfig::Rmsprop { .. } => 1,
            OptimizerConfig::Adam { .. } => 2,
        };
        let mut slots = Vec::with_capacity(slot_count);
        for s in 0..slot_count {
            let mut slot = Vec::with_capacity(tensors.len());
            for (k, (_, t)) in tensors.iter().enumerate() {
                slot.push(match optimizer.slots.get(s).and_then(|v| v.get(k)) {
                    Some(values) => gpu.upload(values)?,
                    None => gpu.zeros(t.len())?,
                });
            }
            slots.push(slot);
        }
        Ok(DeviceParams {
            names: tensors.iter().map(|(name, _)| *name).collect(),
            weights,
            grads,
            config: optimizer.config,
            steps: optimizer.steps,
            slots,
            loss_total: gpu.stream.alloc_zeros::<f64>(1)?,
        })
    }

    /// The summed loss since the last call (reads it back: once per epoch).
    pub fn take_loss(&mut self, gpu: &Gpu) -> Result<f64, CudaError> {
        let total = gpu.download(&self.loss_total)?[0];
        gpu.stream.memset_zeros(&mut self.loss_total)?;
        Ok(total)
    }

    /// The optimiser's step over every tensor, from the gradients in `grads`.
    pub fn update(&mut self, gpu: &Gpu) -> Result<(), CudaError> {
        self.steps += 1;
        match self.config {
            OptimizerConfig::Rmsprop { lr, rho, eps } => {
                for ((w, g), ms) in self
                    .weights
                    .iter_mut()
                    .zip(&self.grads)
                    .zip(self.slots[0].iter_mut())
                {
                    ops::rmsprop_step(gpu, w, g, ms, (lr, rho, eps))?;
                }
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let alpha = crate::nn::optim::adam_step_size(lr, beta1, beta2, self.steps);
                let (first, second) = self.slots.split_at_mut(1);
                for (((w, g), m), v) in self
                    .weights
                    .iter_mut()
                    .zip(&self.grads)
                    .zip(first[0].iter_mut())
                    .zip(second[0].iter_mut())
                {
                    ops::adam_step(gpu, w, g, m, v, (alpha, beta1, beta2, eps))?;
                }
            }
        }
        Ok(())
    }

    /// The gradients of the last step, in tensor order.
    pub fn gradients(&self, gpu: &Gpu) -> Result<Vec<Vec<f32>>, CudaError> {
        self.grads.iter().map(|g| gpu.download(g)).collect()
    }

    /// `shape` with the device's weights, and the optimiser's state.
    pub fn download<N: Network>(&self, gpu: &Gpu, shape: &N) -> Result<(N, Optimizer), CudaError> {
        let mut net = shape.clone();
        for (dest, src) in net.tensors_mut().into_iter().zip(&self.weights) {
            let values = gpu.download(src)?;
            dest.copy_from_slice(&values[..dest.len()]);
        }
        let mut slots = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let mut tensors = Vec::with_capacity(slot.len());
            for (t, (_, like)) in slot.iter().zip(net.tensors()) {
                let mut values = gpu.download(t)?;
                values.truncate(like.len());
                tensors.push(values);
            }
            slots.push(tensors);
        }
        let optimizer = Optimizer {
            config: self.config,
            steps: self.steps,
            slots: if self.steps == 0 { Vec::new() } else { slots },
        };
        Ok((net, optimizer))
    }
}
