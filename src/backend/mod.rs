//! Where the math runs. `cpu/` holds fast paths that compute what the reference layers in
//! `src/nn/` compute, tested against them; a CUDA backend will sit beside it.

pub mod cpu;
