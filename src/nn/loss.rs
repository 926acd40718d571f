//! Sigmoid + binary cross-entropy, fused so it stays finite for any logit.
//!
//! For a logit `z` and label `y`: `loss = max(z, 0) - z y + ln(1 + e^-|z|)`, which equals
//! `-(y ln s + (1 - y) ln(1 - s))` with `s = sigmoid(z)` but never takes the log of 0, and
//! `dloss/dz = s - y`.

/// Numerically stable logistic function.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Sum of per-example losses (accumulated in f64), and the gradient of
/// `sum / denominator` w.r.t. each logit written to `d_logits`.
/// Training passes the full batch size as `denominator` so a batch split into chunks gives
/// the gradient of the batch mean.
pub fn sigmoid_bce(logits: &[f32], labels: &[f32], denominator: f32, d_logits: &mut [f32]) -> f64 {
    assert_eq!(logits.len(), labels.len());
    assert_eq!(logits.len(), d_logits.len());
    let mut total = 0.0f64;
    for ((&z, &y), d) in logits.iter().zip(labels).zip(d_logits.iter_mut()) {
        let (z64, y64) = (z as f64, y as f64);
        total += z64.max(0.0) - z64 * y64 + (-z64.abs()).exp().ln_1p();
        *d = (sigmoid(z) - y) / denominator;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_textbook_formula_where_that_is_finite() {
        for &(z, y) in &[(0.3f32, 1.0f32), (-2.0, 0.0), (4.0, 0.0), (-1.5, 1.0)] {
            let s = 1.0 / (1.0 + (-(z as f64)).exp());
            let textbook = -(y as f64 * s.ln() + (1.0 - y as f64) * (1.0 - s).ln());
            let mut d = [0.0];
            let fused = sigmoid_bce(&[z], &[y], 1.0, &mut d);
            assert!(
                (fused - textbook).abs() < 1e-6,
                "z={z} y={y}: {fused} vs {textbook}"
            );
            assert!((d[0] - (s as f32 - y)).abs() < 1e-6);
        }
    }

    #[test]
    fn stays_finite_for_huge_logits() {
        let mut d = [0.0; 2];
        let loss = sigmoid_bce(&[1e4, -1e4], &[0.0, 1.0], 2.0, &mut d);
        assert!((loss - 2e4).abs() < 1e-6);
        assert_eq!(d, [0.5, -0.5]);
        assert_eq!(sigmoid(-1e4), 0.0);
        assert_eq!(sigmoid(1e4), 1.0);
    }
}
