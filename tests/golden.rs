//! Our engine against a PyTorch reference run (tests/reference/golden_endgame.json, written by
//! tests/reference/make_golden.py): logits, loss, every gradient, and the weights after three
//! optimiser steps, for the sigmoid/RMSprop and hard_sigmoid/Adam cases, the multiclass form
//! (softmax cross-entropy with weighted examples), and the Snowman CNN.

use dga_lite::model::{EndgameConfig, EndgameLstm, Network, SnowmanCnn, SnowmanConfig};
use dga_lite::nn::{Optimizer, OptimizerConfig, RecurrentActivation};
use dga_lite::rng::Rng;
use ndarray::Array2;
use serde_json::Value;

/// Largest allowed `|ours - reference| / (|reference| + 1e-3 * max|reference tensor|)`.
/// The reference is computed in float64, so this bounds our float32 rounding through 75
/// recurrent steps: the worst tensor lands near 1e-5 (measured 1.1e-5), most near 1e-7.
const TOLERANCE: f64 = 2e-5;

fn golden() -> Value {
    let text = include_str!("reference/golden_endgame.json");
    serde_json::from_str(text).expect("golden file is JSON")
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Worst scaled difference between `ours` and `reference`.
fn worst_difference(ours: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len(), "tensor sizes differ");
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(reference)
        .map(|(&a, &b)| (a as f64 - b).abs() / (b.abs() + 1e-3 * scale + 1e-30))
        .fold(0.0, f64::max)
}

struct Checker {
    case: String,
    worst: f64,
    failures: Vec<String>,
}

impl Checker {
    fn check(&mut self, what: &str, ours: &[f32], reference: &[f64]) {
        let diff = worst_difference(ours, reference);
        println!(
            "{:<20} {:<34} worst relative difference {diff:.2e}",
            self.case, what
        );
        self.worst = self.worst.max(diff);
        if diff > TOLERANCE {
            self.failures.push(format!("{what}: {diff:.2e}"));
        }
    }
}

/// Copies the case's weights (by tensor name) into `net`.
fn load_weights<N: Network>(net: &mut N, case: &Value) {
    let names: Vec<&str> = net.tensors().iter().map(|(n, _)| *n).collect();
    for (name, dest) in names.iter().zip(net.tensors_mut()) {
        let data = numbers(&case["weights"][*name]["data"]);
        assert_eq!(data.len(), dest.len(), "{name}");
        for (d, v) in dest.iter_mut().zip(data) {
            *d = v as f32;
        }
    }
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("a count") as usize
}

/// Checks a network (holding the case's weights) against one golden case: logits, loss,
/// every gradient, then the losses and weights of three optimiser steps on the same batch.
/// Returns the failures; prints every tensor's worst difference.
fn check_case<N: Network>(mut net: N, case: &Value) -> Vec<String> {
    let rows: Vec<Vec<u8>> = case["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u8)
                .collect()
        })
        .collect();
    let indices = Array2::from_shape_vec((rows.len(), rows[0].len()), rows.concat()).unwrap();
    let labels: Vec<f32> = numbers(&case["labels"])
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let weights: Vec<f32> = match case.get("sample_weights") {
        Some(w) => numbers(w).into_iter().map(|v| v as f32).collect(),
        None => vec![1.0; labels.len()],
    };
    let optimizer_config = match case["optimizer"].as_str().unwrap() {
        "rmsprop" => OptimizerConfig::rmsprop(),
        "adam" => OptimizerConfig::adam(),
        other => panic!("unknown optimizer {other}"),
    };
    let mut checker = Checker {
        case: case["name"].as_str().unwrap().to_string(),
        worst: 0.0,
        failures: Vec::new(),
    };
    let batch = labels.len();
    // Dropout is 0 in the golden cases, so the generator's seed does not matter.
    let loss_and_grads = |net: &N| {
        let mut grad = net.zeros_like();
        let loss = net.loss_and_grads(
            indices.view(),
            &labels,
            &weights,
            batch as f32,
            &mut Rng::new(0),
            &mut grad,
        );
        (loss / batch as f64, grad)
    };

    checker.check(
        "logits",
        &net.logits(indices.view()),
        &numbers(&case["logits"]),
    );
    let (loss, grad) = loss_and_grads(&net);
    checker.check("loss", &[loss as f32], &[case["loss"].as_f64().unwrap()]);
    for (name, g) in grad.tensors() {
        checker.check(
            &format!("grad {name}"),
            g,
            &numbers(&case["grads"][name]["data"]),
        );
    }
    let mut optimizer = Optimizer::new(optimizer_config);
    let mut losses = Vec::new();
    for _ in 0..3 {
        let (loss, grad) = loss_and_grads(&net);
        losses.push(loss as f32);
        let grads: Vec<&[f32]> = grad.tensors().into_iter().map(|(_, t)| t).collect();
        optimizer.step(&mut net.tensors_mut(), &grads);
    }
    checker.check(
        "loss at each of 3 steps",
        &losses,
        &numbers(&case["losses_per_step"]),
    );
    for (name, w) in net.tensors() {
        checker.check(
            &format!("{name} after 3 steps"),
            w,
            &numbers(&case["weights_after_3_steps"][name]["data"]),
        );
    }
    println!(
        "{}: worst relative difference over all tensors {:.2e}",
        checker.case, checker.worst
    );
    checker
        .failures
        .into_iter()
        .map(|f| format!("{}: {f}", checker.case))
        .collect()
}

#[test]
fn endgame_lstm_matches_pytorch() {
    let mut failures = Vec::new();
    for case in golden()["cases"].as_array().unwrap() {
        let recurrent_activation = match case["recurrent_activation"].as_str().unwrap() {
            "sigmoid" => RecurrentActivation::Sigmoid,
            "hard_sigmoid" => RecurrentActivation::HardSigmoid,
            other => panic!("unknown activation {other}"),
        };
        let config = EndgameConfig {
            embedding_dim: usize_of(&case["embedding_dim"]),
            units: usize_of(&case["units"]),
            dropout: 0.0,
            recurrent_activation,
            outputs: case.get("outputs").map_or(1, usize_of),
        };
        let mut net = EndgameLstm::new(config, usize_of(&case["vocab_size"]), &mut Rng::new(0));
        load_weights(&mut net, case);
        failures.extend(check_case(net, case));
    }
    assert!(
        failures.is_empty(),
        "tensors beyond {TOLERANCE:e}: {failures:#?}"
    );
}

#[test]
fn snowman_cnn_matches_pytorch() {
    let golden: Value = serde_json::from_str(include_str!("reference/golden_snowman.json"))
        .expect("golden file is JSON");
    let case = &golden["cases"][0];
    let config = SnowmanConfig {
        embedding_dim: usize_of(&case["embedding_dim"]),
        filters: usize_of(&case["filters"]),
        widths: case["widths"]
            .as_array()
            .unwrap()
            .iter()
            .map(usize_of)
            .collect(),
        dropout: 0.0,
    };
    let mut net = SnowmanCnn::new(config, usize_of(&case["vocab_size"]), &mut Rng::new(0));
    load_weights(&mut net, case);
    let failures = check_case(net, case);
    assert!(
        failures.is_empty(),
        "tensors beyond {TOLERANCE:e}: {failures:#?}"
    );
}

#[test]
fn the_comparison_notices_a_wrong_value() {
    assert!(worst_difference(&[1.0, 2.0], &[1.0, 2.0]) < 1e-12);
    assert!(worst_difference(&[1.0, 2.001], &[1.0, 2.0]) > TOLERANCE);
}
