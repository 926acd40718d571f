//! Weight initialisers with Keras' definitions, drawn from our seeded generator.

use crate::rng::Rng;
use ndarray::Array2;

/// Keras `RandomUniform(-limit, limit)`.
pub fn uniform(rng: &mut Rng, rows: usize, cols: usize, limit: f32) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.uniform(-limit, limit))
}

/// Keras `GlorotUniform` for a `[fan_in, fan_out]` kernel: U(-sqrt(6/(in+out)), +sqrt(...)).
pub fn glorot_uniform(rng: &mut Rng, fan_in: usize, fan_out: usize) -> Array2<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    uniform(rng, fan_in, fan_out, limit)
}

/// Keras `Orthogonal` (gain 1) for a `[rows, cols]` kernel: a normal matrix of shape
/// `[max, min]` made orthonormal by QR with the signs of R's diagonal made positive,
/// transposed when rows < cols. Modified Gram-Schmidt gives exactly that Q (R's diagonal is
/// positive by construction). Computed in f64.
pub fn orthogonal(rng: &mut Rng, rows: usize, cols: usize) -> Array2<f32> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    let mut q = Array2::from_shape_simple_fn((tall, short), || rng.normal());
    for j in 0..short {
        for k in 0..j {
            let dot = q.column(j).dot(&q.column(k));
            let qk = q.column(k).to_owned();
            q.column_mut(j).scaled_add(-dot, &qk);
        }
        let norm = q.column(j).dot(&q.column(j)).sqrt();
        q.column_mut(j).mapv_inplace(|v| v / norm);
    }
    let q = if rows < cols { q.reversed_axes() } else { q };
    q.as_standard_layout().mapv(|v| v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_rows_are_orthonormal_when_wide() {
        let mut rng = Rng::new(5);
        let w = orthogonal(&mut rng, 8, 32);
        assert_eq!(w.dim(), (8, 32));
        let gram = w.dot(&w.t());
        for i in 0..8 {
            for j in 0..8 {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (gram[[i, j]] - expected).abs() < 1e-5,
                    "gram[{i},{j}] = {}",
                    gram[[i, j]]
                );
            }
        }
    }

    #[test]
    fn glorot_respects_its_limit() {
        let mut rng = Rng::new(1);
        let w = glorot_uniform(&mut rng, 128, 512);
        let limit = (6.0f32 / 640.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        assert!(w.iter().any(|v| v.abs() > 0.9 * limit));
    }
}
