//! `train --hold-out-family` and `--hold-out-benign`: the held-out names are in no split, the
//! network is the one the same run trains on files without them, the card's report counts what
//! scoring those names directly gives, and bad requests are clear errors.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// `n` hex names under .net: a third family, unlike the two of `common`.
fn hex_names(n: usize) -> Vec<String> {
    let mut rng = dga_lite::rng::Rng::new(77);
    (0..n)
        .map(|_| {
            let label: String = (0..10)
                .map(|_| char::from(b"0123456789abcdef"[rng.below(16)]))
                .collect();
            format!("{label}.net")
        })
        .collect()
}

/// benign.txt, other.txt (benign names never trained on; 40 of them also in benign.txt) and
/// dga.csv with the families alpha, beta and hexy.
fn write_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let names = common::benign_names(700, 1);
    let benign = common::write(dir, "benign.txt", &names[..600].join("\n"));
    let other = common::write(dir, "other.txt", &names[560..].join("\n"));
    let mut csv = String::from("domain,family\n");
    for (i, name) in common::dga_names(600, 2).iter().enumerate() {
        let family = if i % 2 == 0 { "alpha" } else { "beta" };
        csv.push_str(&format!("{name},{family}\n"));
    }
    for name in hex_names(150) {
        csv.push_str(&format!("{name},hexy\n"));
    }
    (benign, other, common::write(dir, "dga.csv", &csv))
}

fn train(benign: &Path, dga: &Path, extra: &[&str], out: &Path) -> std::process::Output {
    let mut args = vec![
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--model-type",
        "snowman-cnn",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--test-split",
        "0.2",
        "--val-split",
        "0.2",
        "--seed",
        "5",
        "--threads",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::dga_lite(&args)
}

/// The flags that hold out the family hexy and the names of `other`.
fn hold_out(other: &Path) -> [&str; 4] {
    [
        "--hold-out-family",
        "hexy",
        "--hold-out-benign",
        other.to_str().unwrap(),
    ]
}

/// Scores of `names` by `model`, as `predict` gives them (whole names, no verdict rules).
fn scores(model: &Path, names: &[String], dir: &Path) -> Vec<f32> {
    let input = common::write(dir, "to-score.txt", &names.join("\n"));
    let out = common::ok(&common::dga_lite(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--scope",
        "fqdn",
        "--score-local",
        "--json",
    ]));
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            // The score is the model's f32, printed exactly.
            v["score"].as_f64().unwrap() as f32
        })
        .collect()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn held_out_names_are_in_no_split_and_the_report_counts_their_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, other, dga) = write_files(dir.path());
    let model = dir.path().join("m.safetensors");
    let split = dir.path().join("split.csv");
    let mut extra = hold_out(&other).to_vec();
    extra.extend(["--split-out", split.to_str().unwrap()]);
    let output = train(&benign, &dga, &extra, &model);
    let printed = common::ok(&output);
    assert!(
        printed.contains("held out of every split") && printed.contains("hexy"),
        "{printed}"
    );

    // No held-out name in any split, and every other name in one.
    let hexy: HashSet<String> = hex_names(150).into_iter().collect();
    let other_names: HashSet<String> = lines(&other).into_iter().collect();
    let split_names: HashSet<String> = lines(&split)[1..]
        .iter()
        .map(|row| row.split(',').next().unwrap().to_string())
        .collect();
    assert!(split_names.is_disjoint(&hexy));
    assert!(split_names.is_disjoint(&other_names));
    let trained_benign: HashSet<String> = lines(&benign)
        .into_iter()
        .filter(|n| !other_names.contains(n))
        .collect();
    assert!(trained_benign.is_subset(&split_names));
    assert!(
        common::dga_names(600, 2)
            .iter()
            .all(|n| split_names.contains(n))
    );

    let info = common::ok(&common::dga_lite(&[
        "model",
        "info",
        "--model",
        model.to_str().unwrap(),
    ]));
    assert!(info.contains("held out") && info.contains("hexy"), "{info}");

    // The card's report is what scoring the held-out names directly gives.
    let header = common::model_header(&model);
    let report = &header["training"]["held_out"];
    let points = &report["points"];
    // The points are f32s, printed so that they read back exactly.
    let dga_point = points["dga"].as_f64().unwrap() as f32;
    let suspicious_point = points["suspicious"].as_f64().unwrap() as f32;
    let at = |scores: &[f32], point: f32| scores.iter().filter(|&&s| s >= point).count();

    let hexy: Vec<String> = hexy.into_iter().collect();
    let hexy_scores = scores(&model, &hexy, dir.path());
    let n_hexy = hexy.len();
    assert_eq!(report["dga"]["names"], n_hexy);
    assert_eq!(report["dga"]["families"]["hexy"]["names"], n_hexy);
    for (key, point) in [("dga", dga_point), ("suspicious", suspicious_point)] {
        let expected = at(&hexy_scores, point) as f64 / n_hexy as f64;
        assert_eq!(
            report["dga"]["recall"][key].as_f64(),
            Some(expected),
            "{key}"
        );
        assert_eq!(
            report["dga"]["families"]["hexy"]["recall"][key].as_f64(),
            Some(expected)
        );
    }

    let other_names: Vec<String> = other_names.into_iter().collect();
    let other_scores = scores(&model, &other_names, dir.path());
    let n_other = other_names.len();
    assert_eq!(report["benign"]["names"], n_other);
    for (key, point) in [("dga", dga_point), ("suspicious", suspicious_point)] {
        let called = at(&other_scores, point);
        assert_eq!(report["benign"]["false_positives"][key], called, "{key}");
        assert_eq!(
            report["benign"]["false_positive_rate"][key].as_f64(),
            Some(called as f64 / n_other as f64)
        );
    }
    // The highest-scoring held-out benign names, highest first.
    let highest = report["benign"]["highest"].as_array().unwrap();
    assert_eq!(highest.len(), 10);
    let top = other_scores.iter().cloned().fold(f32::MIN, f32::max);
    assert_eq!(highest[0][1].as_f64().unwrap() as f32, top);
    assert!(report["dga"]["auc_against_test_benign"].as_f64().is_some());
    assert!(report["auc_both_held_out"].as_f64().is_some());
}

#[test]
fn holding_out_trains_the_network_that_files_without_the_names_train() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, other, dga) = write_files(dir.path());
    let with_flags = dir.path().join("flags.safetensors");
    common::ok(&train(&benign, &dga, &hold_out(&other), &with_flags));
    // The same inputs with the held-out names removed by hand.
    let other_names = lines(&other);
    let kept_benign: Vec<String> = lines(&benign)
        .into_iter()
        .filter(|n| !other_names.contains(n))
        .collect();
    let kept_dga: Vec<String> = lines(&dga)
        .into_iter()
        .filter(|row| !row.ends_with(",hexy"))
        .collect();
    let benign2 = common::write(dir.path(), "benign2.txt", &kept_benign.join("\n"));
    let dga2 = common::write(dir.path(), "dga2.csv", &kept_dga.join("\n"));
    let by_hand = dir.path().join("hand.safetensors");
    common::ok(&train(&benign2, &dga2, &[], &by_hand));

    let mut probe = common::benign_names(30, 9);
    probe.extend(common::dga_names(30, 10));
    probe.extend(hex_names(30));
    assert_eq!(
        scores(&with_flags, &probe, dir.path()),
        scores(&by_hand, &probe, dir.path())
    );
}

#[test]
fn bad_hold_out_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, _, dga) = write_files(dir.path());
    let model = dir.path().join("m.safetensors");
    let stderr = |extra: &[&str]| {
        let output = train(&benign, &dga, extra, &model);
        assert!(!output.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    let err = stderr(&["--hold-out-family", "nosuchfamily"]);
    assert!(
        err.contains("\"nosuchfamily\"") && err.contains("alpha, beta, hexy"),
        "{err}"
    );
    let err = stderr(&["--hold-out-family", "alpha,beta,hexy"]);
    assert!(err.contains("every DGA name"), "{err}");
    let err = stderr(&["--hold-out-benign", benign.to_str().unwrap()]);
    assert!(err.contains("every benign name"), "{err}");
    let missing = dir.path().join("missing.txt");
    let err = stderr(&["--hold-out-benign", missing.to_str().unwrap()]);
    assert!(err.contains("missing.txt"), "{err}");
    assert!(!model.exists(), "a refused run wrote a model");
}
