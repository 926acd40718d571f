//! The fast exp / sigmoid / tanh against float64 over their whole useful range.

use dga_lite::backend::cpu::fast_math;
use proptest::prelude::*;

/// Relative error of `got` against the f64 truth, with a floor at the smallest normal f32.
fn rel(got: f32, truth: f64) -> f64 {
    (got as f64 - truth).abs() / truth.abs().max(f32::MIN_POSITIVE as f64)
}

#[test]
fn dense_sweep_stays_within_a_few_ulps() {
    let (mut worst_exp, mut worst_sig, mut worst_tanh) = (0.0f64, 0.0f64, 0.0f64);
    let mut x = -87.0f32;
    while x < 88.0 {
        worst_exp = worst_exp.max(rel(fast_math::exp(x), (x as f64).exp()));
        x += 0.000_37;
    }
    let mut x = -30.0f32;
    while x < 30.0 {
        let s = 1.0 / (1.0 + (-(x as f64)).exp());
        worst_sig = worst_sig.max(rel(fast_math::sigmoid(x), s));
        worst_tanh = worst_tanh.max(rel(fast_math::tanh(x), (x as f64).tanh()));
        x += 0.000_13;
    }
    println!(
        "worst relative error: exp {worst_exp:.2e}, sigmoid {worst_sig:.2e}, tanh {worst_tanh:.2e}"
    );
    // float32 epsilon is 1.19e-7: these are a few ulps.
    assert!(worst_exp < 4e-7, "exp {worst_exp:e}");
    assert!(worst_sig < 4e-7, "sigmoid {worst_sig:e}");
    assert!(worst_tanh < 4e-7, "tanh {worst_tanh:e}");
}

proptest! {
    #[test]
    fn tiny_and_huge_arguments(x in prop_oneof![-1e-3f32..1e-3, -1e4f32..1e4, -100.0f32..100.0]) {
        let t = fast_math::tanh(x);
        prop_assert!(rel(t, (x as f64).tanh()) < 4e-7 || (t.abs() == 1.0 && x.abs() > 9.0));
        let s = fast_math::sigmoid(x);
        prop_assert!((0.0..=1.0).contains(&s));
        prop_assert!((s as f64 - 1.0 / (1.0 + (-(x as f64)).exp())).abs() < 1e-7);
    }
}
