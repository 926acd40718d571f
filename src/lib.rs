//! dga-lite: telling machine-generated (DGA) domain names from real ones.
//!
//! Data flows one way: `data` (read feeds) -> `encode` (characters to indices) -> `model`
//! (architectures built from `nn` layers) -> `train` / `metrics` / `predict`. The CLI in
//! `main.rs` only parses flags and calls into this library.

pub mod atomic_file;
pub mod backend;
pub mod bench;
pub mod bounded_read;
pub mod checkpoint;
pub mod class_metrics;
pub mod classes;
pub mod data;
pub mod encode;
pub mod evaluate;
pub mod judge;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod predict;
pub mod progress;
pub mod public_name;
pub mod report;
pub mod rng;
pub mod scope;
pub mod score_cache;
#[cfg(feature = "server")]
pub mod serve;
pub mod train;
pub mod verdict;
pub mod words;
