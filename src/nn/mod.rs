//! Layers and optimisers: the CPU reference. Each layer's forward and backward sit side by
//! side in its own file; layers never read files or know about models.

pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod loss;
pub mod lstm;
pub mod optim;

pub use dense::Dense;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use lstm::{Lstm, RecurrentActivation};
pub use optim::{Optimizer, OptimizerConfig};
