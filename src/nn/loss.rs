//! The two output losses, each fused with its activation so it stays finite for any logit.
//!
//! Sigmoid + binary cross-entropy: for a logit `z` and label `y`,
//! `loss = max(z, 0) - z y + ln(1 + e^-|z|)`, which equals `-(y ln s + (1 - y) ln(1 - s))`
//! with `s = sigmoid(z)` but never takes the log of 0, and `dloss/dz = s - y`.
//!
//! Softmax + categorical cross-entropy: for logits `z` (K classes) and true class `y`,
//! `loss = logsumexp(z) - z_y` (with the maximum subtracted first) and
//! `dloss/dz = softmax(z) - onehot(y)`.
//!
//! Each example's loss is multiplied by its weight (1 unless classes are weighted; Keras'
//! `class_weight` does the same).

/// Numerically stable logistic function.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Sum of weighted per-example losses (accumulated in f64), and the gradient of
/// `sum / denominator` w.r.t. each logit written to `d_logits`.
/// Training passes the full batch size as `denominator` so a batch split into chunks gives
/// the gradient of the batch mean.
pub fn sigmoid_bce(
    logits: &[f32],
    labels: &[f32],
    weights: &[f32],
    denominator: f32,
    d_logits: &mut [f32],
) -> f64 {
    assert_eq!(logits.len(), labels.len());
    assert_eq!(logits.len(), weights.len());
    assert_eq!(logits.len(), d_logits.len());
    let mut total = 0.0f64;
    for (((&z, &y), &w), d) in logits
        .iter()
        .zip(labels)
        .zip(weights)
        .zip(d_logits.iter_mut())
    {
        let (z64, y64) = (z as f64, y as f64);
        total += w as f64 * (z64.max(0.0) - z64 * y64 + (-z64.abs()).exp().ln_1p());
        *d = w * (sigmoid(z) - y) / denominator;
    }
    total
}

/// Softmax of one row of logits, in place (stable: the maximum is subtracted first).
pub fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Softmax + categorical cross-entropy over `logits` `[n, classes]` (row-major) with the true
/// class of each row in `labels` (as a float: 0, 1, 2, ...). Returns the sum of weighted
/// per-example losses (f64) and writes the gradient of `sum / denominator` to `d_logits`.
pub fn softmax_cross_entropy(
    logits: &[f32],
    classes: usize,
    labels: &[f32],
    weights: &[f32],
    denominator: f32,
    d_logits: &mut [f32],
) -> f64 {
    assert!(classes >= 1);
    assert_eq!(logits.len(), labels.len() * classes);
    assert_eq!(labels.len(), weights.len());
    assert_eq!(logits.len(), d_logits.len());
    let mut total = 0.0f64;
    let rows = logits
        .chunks_exact(classes)
        .zip(d_logits.chunks_exact_mut(classes));
    for ((z, d), (&y, &w)) in rows.zip(labels.iter().zip(weights)) {
        let y = y as usize;
        assert!(y < classes, "label {y} outside {classes} classes");
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let log_sum: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
        total += w as f64 * (log_sum - z[y] as f64);
        d.copy_from_slice(z);
        softmax_in_place(d);
        d[y] -= 1.0;
        for v in d.iter_mut() {
            *v = w * *v / denominator;
        }
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
            let fused = sigmoid_bce(&[z], &[y], &[1.0], 1.0, &mut d);
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
        let loss = sigmoid_bce(&[1e4, -1e4], &[0.0, 1.0], &[1.0, 1.0], 2.0, &mut d);
        assert!((loss - 2e4).abs() < 1e-6);
        assert_eq!(d, [0.5, -0.5]);
        assert_eq!(sigmoid(-1e4), 0.0);
        assert_eq!(sigmoid(1e4), 1.0);
    }

    #[test]
    fn softmax_cross_entropy_matches_the_textbook_formula() {
        let z = [0.5f32, -1.0, 2.0, 0.25, 0.0, -3.0];
        let mut d = [0.0f32; 6];
        let loss = softmax_cross_entropy(&z, 3, &[2.0, 0.0], &[1.0, 0.5], 4.0, &mut d);
        let mut expected = 0.0f64;
        for (row, (y, w)) in [(0usize, (2usize, 1.0f64)), (1, (0, 0.5))] {
            let z = &z[row * 3..row * 3 + 3];
            let e: Vec<f64> = z.iter().map(|&v| (v as f64).exp()).collect();
            let sum: f64 = e.iter().sum();
            expected += -w * (e[y] / sum).ln();
            for k in 0..3 {
                let target = if k == y { 1.0 } else { 0.0 };
                let grad = w * (e[k] / sum - target) / 4.0;
                assert!((d[row * 3 + k] as f64 - grad).abs() < 1e-6);
            }
        }
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    #[test]
    fn softmax_cross_entropy_stays_finite_for_huge_logits() {
        let mut d = [0.0f32; 3];
        let loss = softmax_cross_entropy(&[1e4, -1e4, 0.0], 3, &[1.0], &[1.0], 1.0, &mut d);
        assert!((loss - 2e4).abs() < 1e-3, "{loss}");
        assert_eq!(d, [1.0, -1.0, 0.0]);
    }

    #[test]
    fn a_zero_weight_example_contributes_nothing() {
        let mut d = [9.0f32; 2];
        let loss = sigmoid_bce(&[3.0, -2.0], &[0.0, 0.0], &[0.0, 0.0], 1.0, &mut d);
        assert_eq!(loss, 0.0);
        assert_eq!(d, [0.0, 0.0]);
    }
}
