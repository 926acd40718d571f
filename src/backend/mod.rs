//! Where the math runs. `cpu/` holds fast paths that compute what the reference layers in
//! `src/nn/` compute, tested against them; `cuda/` (feature `cuda`) runs the same models on an
//! NVIDIA GPU with our own kernels from `kernels/`.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

/// Where a command runs its model: `--device cpu|cuda`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    #[default]
    Cpu,
    /// An NVIDIA GPU (device 0).
    Cuda,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }
}
