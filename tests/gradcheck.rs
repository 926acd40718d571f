//! Every layer's backward pass against central finite differences, over random shapes and
//! values (proptest). The loss is `sum(output * R)` for a fixed random `R`, so `d_out = R`.
//! Layers run in f32; the finite differences are taken with a step of 1e-2 and the loss summed
//! in f64, and must agree with the analytic gradient to 2e-2 relative (plus 2e-3 absolute).

use dga_lite::model::{EndgameConfig, EndgameLstm, Network, SnowmanCnn, SnowmanConfig};
use dga_lite::nn::{Conv1d, Dense, Dropout, Embedding, Lstm, RecurrentActivation, loss, pool};
use dga_lite::rng::Rng;
use ndarray::Array2;
use proptest::prelude::*;

const EPS: f32 = 1e-2;

fn close(analytic: f32, numeric: f64) -> bool {
    let (a, n) = (analytic as f64, numeric);
    (a - n).abs() <= 2e-3 + 2e-2 * a.abs().max(n.abs())
}

fn random(rows: usize, cols: usize, scale: f32, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.uniform(-scale, scale))
}

fn weighted_sum(out: &Array2<f32>, r: &Array2<f32>) -> f64 {
    out.iter()
        .zip(r.iter())
        .map(|(&o, &w)| o as f64 * w as f64)
        .sum()
}

/// Checks `analytic[k]` against the central difference of `loss` when element `k` of the
/// tensor that `get` selects is moved by +-EPS. With `skip_kinks` (for layers with kinks:
/// hard_sigmoid, ReLU, max), the estimate is also taken with a quarter of the step: if the two
/// disagree beyond what smooth curvature explains, a kink lies within reach and the coordinate
/// is not judged; otherwise the smaller step's estimate is the one compared.
fn check_tensor<M: Clone>(
    what: &str,
    model: &M,
    get: &dyn Fn(&mut M) -> &mut [f32],
    analytic: &[f32],
    loss: &dyn Fn(&M) -> f64,
    skip_kinks: bool,
) -> Result<usize, TestCaseError> {
    let n = analytic.len();
    let mut checked = 0;
    // At most 24 coordinates per tensor, spread over it.
    let stride = n.div_ceil(24).max(1);
    for k in (0..n).step_by(stride) {
        let diff = |eps: f32| {
            let mut plus = model.clone();
            get(&mut plus)[k] += eps;
            let mut minus = model.clone();
            get(&mut minus)[k] -= eps;
            (loss(&plus) - loss(&minus)) / (2.0 * eps as f64)
        };
        let mut numeric = diff(EPS);
        if skip_kinks {
            // Near a kink (a ReLU at zero, two windows tied for the max) the estimate drifts
            // with the step: skip a coordinate whose estimates at three steps disagree.
            let finer = diff(EPS / 4.0);
            let finest = diff(EPS / 16.0);
            let agree = |a: f64, b: f64| (a - b).abs() <= 1e-4 + 1e-3 * a.abs().max(b.abs());
            if !agree(numeric, finer) || !agree(finer, finest) {
                continue;
            }
            numeric = finer;
        }
        prop_assert!(
            close(analytic[k], numeric),
            "{what}[{k}]: analytic {} vs numeric {numeric}",
            analytic[k]
        );
        checked += 1;
    }
    Ok(checked)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn dense_gradients(batch in 1usize..6, inputs in 1usize..7, outputs in 1usize..5, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = random(batch, inputs, 1.0, &mut rng);
        let r = random(batch, outputs, 1.0, &mut rng);
        let mut dense = Dense::new(inputs, outputs, &mut rng);
        dense.bias = random(1, outputs, 0.5, &mut rng).into_shape_with_order(outputs).unwrap();
        let mut grad = dense.zeros_like();
        let dx = dense.backward(x.view(), r.view(), &mut grad);
        let loss = |d: &(Dense, Array2<f32>)| weighted_sum(&d.0.forward(d.1.view()), &r);
        let state = (dense.clone(), x.clone());
        check_tensor("kernel", &state, &|s| s.0.kernel.as_slice_mut().unwrap(), grad.kernel.as_slice().unwrap(), &loss, false)?;
        check_tensor("bias", &state, &|s| s.0.bias.as_slice_mut().unwrap(), grad.bias.as_slice().unwrap(), &loss, false)?;
        check_tensor("x", &state, &|s| s.1.as_slice_mut().unwrap(), dx.as_slice().unwrap(), &loss, false)?;
    }

    #[test]
    fn embedding_gradients(batch in 1usize..5, steps in 1usize..6, vocab in 2usize..8, dim in 1usize..5, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let indices = Array2::from_shape_simple_fn((batch, steps), || rng.below(vocab) as u8);
        let r = random(batch * steps, dim, 1.0, &mut rng);
        let emb = Embedding::new(vocab, dim, &mut rng);
        let mut grad = emb.zeros_like();
        emb.backward(indices.view(), r.view(), grad.weight.view_mut());
        let loss = |e: &Embedding| weighted_sum(&e.forward(indices.view()), &r);
        check_tensor("weight", &emb, &|e| e.weight.as_slice_mut().unwrap(), grad.weight.as_slice().unwrap(), &loss, false)?;
    }

    #[test]
    fn dropout_gradients(rows in 1usize..6, cols in 1usize..6, rate in 0.0f32..0.9, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = random(rows, cols, 1.0, &mut rng);
        let r = random(rows, cols, 1.0, &mut rng);
        let dropout = Dropout { rate };
        let mask = dropout.mask(rows, cols, &mut rng);
        let dx = dropout.backward(r.view(), mask.view());
        let loss = |x: &Array2<f32>| weighted_sum(&dropout.forward(x.view(), mask.view()), &r);
        check_tensor("x", &x, &|x| x.as_slice_mut().unwrap(), dx.as_slice().unwrap(), &loss, false)?;
        // Kept values are scaled by exactly 1 / (1 - rate).
        for &m in mask.iter() {
            prop_assert!(m == 0.0 || (m - 1.0 / (1.0 - rate)).abs() < 1e-6);
        }
    }

    #[test]
    fn sigmoid_bce_gradients(n in 1usize..8, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let logits: Vec<f32> = (0..n).map(|_| rng.uniform(-6.0, 6.0)).collect();
        let labels: Vec<f32> = (0..n).map(|_| (rng.below(2)) as f32).collect();
        let weights: Vec<f32> = (0..n).map(|_| rng.uniform(0.1, 3.0)).collect();
        let mut d = vec![0.0; n];
        loss::sigmoid_bce(&logits, &labels, &weights, n as f32, &mut d);
        let f = |z: &Vec<f32>| { let mut scratch = vec![0.0; n]; loss::sigmoid_bce(z, &labels, &weights, n as f32, &mut scratch) / n as f64 };
        check_tensor("logits", &logits, &|z| z.as_mut_slice(), &d, &f, false)?;
    }

    #[test]
    fn softmax_cross_entropy_gradients(n in 1usize..6, classes in 2usize..7, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let logits: Vec<f32> = (0..n * classes).map(|_| rng.uniform(-6.0, 6.0)).collect();
        let labels: Vec<f32> = (0..n).map(|_| rng.below(classes) as f32).collect();
        let weights: Vec<f32> = (0..n).map(|_| rng.uniform(0.1, 3.0)).collect();
        let mut d = vec![0.0; n * classes];
        loss::softmax_cross_entropy(&logits, classes, &labels, &weights, n as f32, &mut d);
        let f = |z: &Vec<f32>| {
            let mut scratch = vec![0.0; n * classes];
            loss::softmax_cross_entropy(z, classes, &labels, &weights, n as f32, &mut scratch) / n as f64
        };
        check_tensor("logits", &logits, &|z| z.as_mut_slice(), &d, &f, false)?;
    }

    #[test]
    fn lstm_gradients(
        batch in 1usize..4, steps in 1usize..6, inputs in 1usize..5, units in 1usize..5,
        hard in any::<bool>(), seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        let activation = if hard { RecurrentActivation::HardSigmoid } else { RecurrentActivation::Sigmoid };
        let mut lstm = Lstm::new(inputs, units, activation, &mut rng);
        lstm.recurrent.mapv_inplace(|v| v * 1.5);
        lstm.bias = random(1, 4 * units, 0.5, &mut rng).into_shape_with_order(4 * units).unwrap();
        let x = random(steps * batch, inputs, 1.0, &mut rng);
        let r = random(batch, units, 1.0, &mut rng);
        let (_, cache) = lstm.forward(x.view(), steps);
        let mut grad = lstm.zeros_like();
        let dx = lstm.backward(x.view(), &cache, r.view(), &mut grad);
        let loss = |s: &(Lstm, Array2<f32>)| weighted_sum(&s.0.forward(s.1.view(), steps).0, &r);
        let state = (lstm.clone(), x.clone());
        let mut checked = 0;
        checked += check_tensor("kernel", &state, &|s| s.0.kernel.as_slice_mut().unwrap(), grad.kernel.as_slice().unwrap(), &loss, hard)?;
        checked += check_tensor("recurrent", &state, &|s| s.0.recurrent.as_slice_mut().unwrap(), grad.recurrent.as_slice().unwrap(), &loss, hard)?;
        checked += check_tensor("bias", &state, &|s| s.0.bias.as_slice_mut().unwrap(), grad.bias.as_slice().unwrap(), &loss, hard)?;
        checked += check_tensor("x", &state, &|s| s.1.as_slice_mut().unwrap(), dx.as_slice().unwrap(), &loss, hard)?;
        prop_assert!(checked > 0, "no coordinate was checked");
    }

    #[test]
    fn endgame_model_gradients(
        batch in 1usize..4, vocab in 3usize..8, seed in any::<u64>(), hard in any::<bool>(),
        outputs in prop_oneof![Just(1usize), 2usize..5]
    ) {
        // The whole chain: embedding -> LSTM -> dropout -> dense -> sigmoid BCE (one output)
        // or softmax cross-entropy (the multiclass form), at small sizes and over full
        // 75-step sequences, with weighted examples.
        let mut rng = Rng::new(seed);
        let activation = if hard { RecurrentActivation::HardSigmoid } else { RecurrentActivation::Sigmoid };
        let config = EndgameConfig { embedding_dim: 3, units: 4, dropout: 0.25, recurrent_activation: activation, outputs };
        let net = EndgameLstm::new(config, vocab, &mut rng);
        let steps = dga_lite::encode::MAXLEN;
        let indices = Array2::from_shape_simple_fn((batch, steps), || rng.below(vocab) as u8);
        let labels: Vec<f32> = (0..batch).map(|i| (i % outputs.max(2)) as f32).collect();
        let weights: Vec<f32> = (0..batch).map(|_| rng.uniform(0.5, 2.0)).collect();
        let dropout_seed = Rng::new(seed ^ 1);
        let mut grad = net.zeros_like();
        net.loss_and_grads(indices.view(), &labels, &weights, batch as f32, &mut dropout_seed.clone(), &mut grad);
        let loss = |n: &EndgameLstm| {
            let mut g = n.zeros_like();
            n.loss_and_grads(indices.view(), &labels, &weights, batch as f32, &mut dropout_seed.clone(), &mut g) / batch as f64
        };
        let names: Vec<&str> = net.tensors().iter().map(|(name, _)| *name).collect();
        let analytic: Vec<Vec<f32>> = grad.tensors().iter().map(|(_, t)| t.to_vec()).collect();
        for (k, name) in names.iter().enumerate() {
            check_tensor(name, &net, &|n| n.tensors_mut().swap_remove(k), &analytic[k], &loss, hard)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn conv1d_gradients(steps in 1usize..12, inputs in 1usize..5, filters in 1usize..5, width in 1usize..5, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let mut conv = Conv1d::new(width, inputs, filters, &mut rng);
        conv.bias = random(1, filters, 0.5, &mut rng).into_shape_with_order(filters).unwrap();
        let x = random(steps, inputs, 1.0, &mut rng);
        let positions = conv.outputs(steps);
        let r = random(positions, filters, 1.0, &mut rng);
        let mut grad = conv.zeros_like();
        let dx = conv.backward(x.view(), r.view(), &mut grad);
        prop_assert_eq!(dx.dim(), x.dim());
        let loss = |s: &(Conv1d, Array2<f32>)| weighted_sum(&s.0.forward(s.1.view()), &r);
        let state = (conv.clone(), x.clone());
        check_tensor("kernel", &state, &|s| s.0.kernel.as_slice_mut().unwrap(), grad.kernel.as_slice().unwrap(), &loss, false)?;
        check_tensor("bias", &state, &|s| s.0.bias.as_slice_mut().unwrap(), grad.bias.as_slice().unwrap(), &loss, false)?;
        check_tensor("x", &state, &|s| s.1.as_slice_mut().unwrap(), dx.as_slice().unwrap(), &loss, false)?;
    }

    #[test]
    fn relu_and_global_max_pool_gradients(steps in 1usize..10, filters in 1usize..6, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = random(steps, filters, 1.0, &mut rng);
        let r: Vec<f32> = (0..filters).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let forward = |x: &Array2<f32>| {
            let mut y = x.clone();
            pool::relu_forward(&mut y);
            let (max, _) = pool::global_max_forward(y.view());
            max.iter().zip(&r).map(|(&m, &w)| m as f64 * w as f64).sum::<f64>()
        };
        let mut y = x.clone();
        pool::relu_forward(&mut y);
        let (_, at) = pool::global_max_forward(y.view());
        let d_y = pool::global_max_backward(steps, &at, ndarray::ArrayView1::from(&r));
        let dx = pool::relu_backward(y.view(), d_y.view());
        // Max and ReLU have kinks (ties, zero): skip coordinates within reach of one.
        check_tensor("x", &x, &|x| x.as_slice_mut().unwrap(), dx.as_slice().unwrap(), &forward, true)?;
    }

    #[test]
    fn snowman_model_gradients(batch in 1usize..4, vocab in 3usize..8, seed in any::<u64>()) {
        // The whole chain at small sizes, full 75-step sequences of random lengths.
        let mut rng = Rng::new(seed);
        let config = SnowmanConfig { embedding_dim: 3, filters: 2, widths: vec![2, 4], dropout: 0.25 };
        let mut net = SnowmanCnn::new(config, vocab, &mut rng);
        // Keras' embedding init (+-0.05) makes activations so small that the finite-difference
        // step (1e-2) switches which window holds the max; use weights on the step's scale.
        net.embedding.weight.mapv_inplace(|v| v * 20.0);
        let steps = dga_lite::encode::MAXLEN;
        let mut indices = Array2::<u8>::zeros((batch, steps));
        for b in 0..batch {
            let len = 1 + rng.below(20);
            for t in steps - len..steps {
                indices[[b, t]] = 1 + rng.below(vocab - 1) as u8;
            }
        }
        let labels: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
        let weights = vec![1.0f32; batch];
        let dropout_seed = Rng::new(seed ^ 1);
        let mut grad = net.zeros_like();
        net.loss_and_grads(indices.view(), &labels, &weights, batch as f32, &mut dropout_seed.clone(), &mut grad);
        let loss = |n: &SnowmanCnn| {
            let mut g = n.zeros_like();
            n.loss_and_grads(indices.view(), &labels, &weights, batch as f32, &mut dropout_seed.clone(), &mut g) / batch as f64
        };
        let names: Vec<&str> = net.tensors().iter().map(|(name, _)| *name).collect();
        let analytic: Vec<Vec<f32>> = grad.tensors().iter().map(|(_, t)| t.to_vec()).collect();
        let mut checked = 0;
        for (k, name) in names.iter().enumerate() {
            checked += check_tensor(name, &net, &|n| n.tensors_mut().swap_remove(k), &analytic[k], &loss, true)?;
        }
        prop_assert!(checked > 10, "only {checked} coordinates were away from kinks");
    }
}

#[test]
fn hard_sigmoid_is_flat_when_saturated() {
    // Gates pinned at 0 or 1 pass no gradient through their pre-activation.
    let a = RecurrentActivation::HardSigmoid;
    assert_eq!(a.apply(3.0), 1.0);
    assert_eq!(a.apply(-3.0), 0.0);
    assert_eq!(a.derivative_from_output(1.0), 0.0);
    assert_eq!(a.derivative_from_output(0.0), 0.0);
    assert_eq!(a.derivative_from_output(a.apply(1.0)), 0.2);
}

#[test]
fn finite_differences_catch_a_wrong_gradient() {
    // The checker itself must fail on a gradient that is off.
    let x = vec![0.5f32, -1.0];
    let loss = |x: &Vec<f32>| (x[0] as f64).powi(2) + 3.0 * x[1] as f64;
    let right = [1.0f32, 3.0];
    let wrong = [1.0f32, 2.5];
    assert!(check_tensor("x", &x, &|x| x.as_mut_slice(), &right, &loss, false).is_ok());
    assert!(check_tensor("x", &x, &|x| x.as_mut_slice(), &wrong, &loss, false).is_err());
}
