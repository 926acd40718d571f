//! Our engine against a PyTorch reference run (tests/reference/golden_endgame.json, written by
//! tests/reference/make_golden.py): logits, loss, every gradient, and the weights after three
//! optimiser steps, for the sigmoid/RMSprop and hard_sigmoid/Adam cases.

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

fn build(case: &Value) -> (EndgameLstm, Array2<u8>, Vec<f32>, OptimizerConfig) {
    let activation = match case["recurrent_activation"].as_str().unwrap() {
        "sigmoid" => RecurrentActivation::Sigmoid,
        "hard_sigmoid" => RecurrentActivation::HardSigmoid,
        other => panic!("unknown activation {other}"),
    };
    let config = EndgameConfig {
        embedding_dim: case["embedding_dim"].as_u64().unwrap() as usize,
        units: case["units"].as_u64().unwrap() as usize,
        dropout: 0.0,
        recurrent_activation: activation,
    };
    let vocab = case["vocab_size"].as_u64().unwrap() as usize;
    let mut net = EndgameLstm::new(config, vocab, &mut Rng::new(0));
    let names: Vec<&str> = net.tensors().iter().map(|(n, _)| *n).collect();
    for (name, dest) in names.iter().zip(net.tensors_mut()) {
        let data = numbers(&case["weights"][*name]["data"]);
        assert_eq!(data.len(), dest.len(), "{name}");
        for (d, v) in dest.iter_mut().zip(data) {
            *d = v as f32;
        }
    }
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
    let optimizer = match case["optimizer"].as_str().unwrap() {
        "rmsprop" => OptimizerConfig::rmsprop(),
        "adam" => OptimizerConfig::adam(),
        other => panic!("unknown optimizer {other}"),
    };
    (net, indices, labels, optimizer)
}

#[test]
fn endgame_lstm_matches_pytorch() {
    let golden = golden();
    let mut all_failures = Vec::new();
    for case in golden["cases"].as_array().unwrap() {
        let (mut net, indices, labels, optimizer_config) = build(case);
        let mut checker = Checker {
            case: case["name"].as_str().unwrap().to_string(),
            worst: 0.0,
            failures: Vec::new(),
        };
        let batch = labels.len();

        checker.check(
            "logits",
            &net.logits(indices.view()),
            &numbers(&case["logits"]),
        );
        let mut grad = net.zeros_like();
        let loss = net.loss_and_grads(
            indices.view(),
            &labels,
            batch as f32,
            &mut Rng::new(0),
            &mut grad,
        ) / batch as f64;
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
            let mut grad = net.zeros_like();
            let loss = net.loss_and_grads(
                indices.view(),
                &labels,
                batch as f32,
                &mut Rng::new(0),
                &mut grad,
            );
            losses.push(loss as f32 / batch as f32);
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
        all_failures.extend(
            checker
                .failures
                .into_iter()
                .map(|f| format!("{}: {f}", case["name"])),
        );
    }
    assert!(
        all_failures.is_empty(),
        "tensors beyond {TOLERANCE:e}: {all_failures:#?}"
    );
}

#[test]
fn the_comparison_notices_a_wrong_value() {
    assert!(worst_difference(&[1.0, 2.0], &[1.0, 2.0]) < 1e-12);
    assert!(worst_difference(&[1.0, 2.001], &[1.0, 2.0]) > TOLERANCE);
}

#[test]
fn snowman_cnn_matches_pytorch() {
    let text = include_str!("reference/golden_snowman.json");
    let golden: Value = serde_json::from_str(text).expect("golden file is JSON");
    let case = &golden["cases"][0];
    let usize_of = |v: &Value| v.as_u64().unwrap() as usize;
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
    let names: Vec<&str> = net.tensors().iter().map(|(n, _)| *n).collect();
    for (name, dest) in names.iter().zip(net.tensors_mut()) {
        let data = numbers(&case["weights"][*name]["data"]);
        assert_eq!(data.len(), dest.len(), "{name}");
        for (d, v) in dest.iter_mut().zip(data) {
            *d = v as f32;
        }
    }
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
    let batch = labels.len();
    let mut checker = Checker {
        case: "snowman_rmsprop".into(),
        worst: 0.0,
        failures: Vec::new(),
    };

    checker.check(
        "logits",
        &net.logits(indices.view()),
        &numbers(&case["logits"]),
    );
    let mut grad = net.zeros_like();
    let loss = net.loss_and_grads(
        indices.view(),
        &labels,
        batch as f32,
        &mut Rng::new(0),
        &mut grad,
    ) / batch as f64;
    checker.check("loss", &[loss as f32], &[case["loss"].as_f64().unwrap()]);
    for (name, g) in grad.tensors() {
        checker.check(
            &format!("grad {name}"),
            g,
            &numbers(&case["grads"][name]["data"]),
        );
    }
    let mut optimizer = Optimizer::new(OptimizerConfig::rmsprop());
    let mut losses = Vec::new();
    for _ in 0..3 {
        let mut grad = net.zeros_like();
        let loss = net.loss_and_grads(
            indices.view(),
            &labels,
            batch as f32,
            &mut Rng::new(0),
            &mut grad,
        );
        losses.push(loss as f32 / batch as f32);
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
        "snowman_rmsprop: worst relative difference over all tensors {:.2e}",
        checker.worst
    );
    assert!(
        checker.failures.is_empty(),
        "tensors beyond {TOLERANCE:e}: {:#?}",
        checker.failures
    );
}
