//! Inverted dropout: in training each value is kept with probability `1 - rate` and scaled by
//! `1 / (1 - rate)`; at inference the layer is the identity.

use crate::rng::Rng;
use ndarray::{Array2, ArrayView2};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    pub rate: f32,
}

impl Dropout {
    /// A mask of `0` or `1 / (1 - rate)` for a `[rows, cols]` input, drawn from `rng`.
    pub fn mask(&self, rows: usize, cols: usize, rng: &mut Rng) -> Array2<f32> {
        let scale = if self.rate < 1.0 {
            1.0 / (1.0 - self.rate)
        } else {
            0.0
        };
        Array2::from_shape_simple_fn((rows, cols), || {
            if rng.next_f32() < self.rate {
                0.0
            } else {
                scale
            }
        })
    }

    pub fn forward(&self, x: ArrayView2<f32>, mask: ArrayView2<f32>) -> Array2<f32> {
        &x * &mask
    }

    pub fn backward(&self, d_out: ArrayView2<f32>, mask: ArrayView2<f32>) -> Array2<f32> {
        &d_out * &mask
    }
}
