//! Where the math runs. One enum says where (`Backend`); one trait says what a model does
//! there (`Session`: train a step, take the loss, score, download the weights); one type
//! scores names with a loaded model (`Scorer`).
//!
//! - `reference.rs`: the plain layers of `src/nn/` composed in `src/model/`, the function
//!   every other path is checked against.
//! - `cpu/`: fast CPU paths (rayon, SIMD lanes) computing the same function.
//! - `cuda/` (feature `cuda`): the same models on an NVIDIA GPU with our kernels from
//!   `kernels/`; without the feature, `cuda_absent.rs` stands in and says so.
//! - `architectures.rs`: which function runs each architecture on each backend.
//!
//! This is the only module that knows whether CUDA was compiled in.

mod architectures;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda_absent.rs"]
pub mod cuda;
mod host;
pub mod reference;
mod scorer;
mod session;

pub use architectures::Trainable;
pub use cpu::packed_lstm::Simd;
pub use scorer::Scorer;
pub use session::{Batch, Infer, Session};

use crate::nn::Optimizer;

/// Where a model's math runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The plain layers (`reference.rs`): slow, simple, the definition.
    Reference,
    /// The fast CPU paths on these SIMD lanes (`Backend::cpu()` picks the best this CPU has).
    Cpu(Simd),
    /// An NVIDIA GPU, by ordinal.
    Cuda(usize),
}

impl Default for Backend {
    fn default() -> Self {
        Backend::cpu()
    }
}

impl Backend {
    /// The fast CPU path on the best lanes this CPU runs (or lower ones, when the environment
    /// variable `DGA_LITE_LANES` says `avx2` or `portable`).
    pub fn cpu() -> Backend {
        Backend::Cpu(Simd::detect())
    }

    /// Where it runs, for people.
    pub fn describe(self) -> String {
        match self {
            Backend::Reference => "the reference layers on the CPU".into(),
            Backend::Cpu(lanes) => format!("the CPU ({} lanes)", lanes.name()),
            Backend::Cuda(device) => format!("CUDA device {device}"),
        }
    }

    /// `net` and its optimiser state, ready to train here.
    pub fn session<N: Trainable>(
        self,
        net: N,
        optimizer: Optimizer,
    ) -> Result<Box<dyn Session<N>>, BackendError> {
        match self {
            Backend::Cuda(device) => net.gpu_session(device, &optimizer),
            host => Ok(Box::new(host::HostSession::new(net, optimizer, host))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("this build has no CUDA backend (built without the `cuda` feature); use --backend cpu")]
    NotBuilt,
    #[error("{0}")]
    Gpu(String),
}
