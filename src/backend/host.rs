//! Training on the host: the reference layers (`Backend::Reference`) or the fast CPU path
//! (`Backend::Cpu`), both summing each batch's gradient in fixed chunks, so the model does not
//! depend on the thread count. The weights stay in host memory; `download` is a copy.

use super::session::{Batch, Infer, Session};
use super::{Backend, BackendError, Trainable};
use crate::nn::Optimizer;
use crate::rng::Rng;

pub struct HostSession<N> {
    net: N,
    optimizer: Optimizer,
    /// `Reference` or `Cpu(lanes)`; never `Cuda` (see `Backend::session`).
    backend: Backend,
    loss: f64,
}

impl<N: Trainable> HostSession<N> {
    pub fn new(net: N, optimizer: Optimizer, backend: Backend) -> HostSession<N> {
        HostSession {
            net,
            optimizer,
            backend,
            loss: 0.0,
        }
    }
}

impl<N: Trainable> Infer for HostSession<N> {
    fn probabilities(&mut self, indices: &[u8]) -> Result<Vec<f32>, BackendError> {
        Ok(match self.backend {
            Backend::Reference => super::reference::probabilities(&self.net, indices),
            _ => self.net.cpu_probabilities(indices),
        })
    }

    fn describe(&self) -> String {
        self.backend.describe()
    }
}

impl<N: Trainable> Session<N> for HostSession<N> {
    fn train_step(&mut self, batch: &Batch, rng: &Rng) -> Result<(), BackendError> {
        let (i, l, w) = (&batch.indices[..], &batch.labels[..], &batch.weights[..]);
        let (loss, grad) = match self.backend {
            Backend::Cpu(lanes) => self.net.cpu_batch(lanes, i, l, w, rng),
            _ => super::reference::batch_loss_and_grads(&self.net, i, l, w, rng),
        };
        let grads: Vec<&[f32]> = grad.tensors().into_iter().map(|(_, t)| t).collect();
        self.optimizer.step(&mut self.net.tensors_mut(), &grads);
        self.loss += loss;
        Ok(())
    }

    fn take_loss(&mut self) -> Result<f64, BackendError> {
        Ok(std::mem::take(&mut self.loss))
    }

    fn running_loss(&self) -> Option<f64> {
        Some(self.loss)
    }

    fn download(&self) -> Result<(N, Optimizer), BackendError> {
        Ok((self.net.clone(), self.optimizer.clone()))
    }
}
