//! Fast CPU paths (rayon), each tested against the reference in `src/nn/` + `src/model/`.

pub mod endgame_lstm;
pub mod fast_math;
mod lanes;
pub mod packed_lstm;
pub mod scratch;
pub mod snowman_cnn;
