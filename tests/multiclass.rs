//! The multiclass Endgame LSTM through the binary, as an analyst uses it: train on families
//! that can be told apart, read the per-class report, the misclassified names and the HTML
//! report, and predict families.

mod common;

use dga_lite::rng::Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};

use common::{dga_lite, ok};

/// Hex labels under .net: one family's style.
fn hex_names(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let label: String = (0..16 + rng.below(5))
                .map(|_| b"0123456789abcdef"[rng.below(16)] as char)
                .collect();
            format!("{label}.net")
        })
        .collect()
}

/// `n` benign names in `{prefix}benign.txt`, and a `domain,family` CSV text with `n` names of
/// each of two families: `letters` (random letters) and `hexy` (hex strings).
fn two_families(dir: &Path, prefix: &str, n: usize, seed: u64) -> (PathBuf, String) {
    let benign = common::write(
        dir,
        &format!("{prefix}benign.txt"),
        &(common::benign_names(n, seed).join("\n") + "\n"),
    );
    let mut csv = String::from("domain,family\n");
    for name in common::dga_names(n, seed + 1) {
        csv.push_str(&format!("{name},letters\n"));
    }
    for name in hex_names(n, seed + 2) {
        csv.push_str(&format!("{name},hexy\n"));
    }
    (benign, csv)
}

/// Writes benign names, and DGA names of three families: `letters`, `hexy` and `tiny`
/// (5 names: too few for a class of its own).
fn write_family_files(dir: &Path) -> (PathBuf, PathBuf) {
    let (benign, mut csv) = two_families(dir, "", 400, 11);
    for name in common::dga_names(5, 14) {
        csv.push_str(&format!("x{name},tiny\n"));
    }
    (benign, common::write(dir, "dga.csv", &csv))
}

fn train(dir: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let (benign, dga) = write_family_files(dir);
    let model = dir.join(out);
    let mut args = vec![
        "train",
        "--model-type",
        "endgame-lstm-multiclass",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--min-family-size",
        "20",
        "--epochs",
        "5",
        "--batch-size",
        "32",
        "--seed",
        "3",
        "--val-split",
        "0.1",
        "--quiet",
        "--out",
        model.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&dga_lite(&args));
    model
}

#[test]
fn multiclass_trains_names_families_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let model = train(dir.path(), "multi.safetensors", &[]);
    let model_s = model.to_str().unwrap();

    // The card lists the classes, small families merged.
    let info = ok(&dga_lite(&["model", "info", "--model", model_s]));
    assert!(info.contains("endgame-lstm-multiclass"), "{info}");
    assert!(
        info.contains("classes       4 (benign, hexy, letters, other_dga)"),
        "{info}"
    );

    // Evaluation on fresh names of each family.
    let (benign, mut csv) = two_families(dir.path(), "eval-", 100, 21);
    csv.push_str("qwertzuiopasdfgh.com,unseenfamily\n");
    let dga = common::write(dir.path(), "eval-dga.csv", &csv);
    let misclassified = dir.path().join("wrong.csv");
    let report = dir.path().join("report.html");
    let out = ok(&dga_lite(&[
        "eval",
        "--model",
        model_s,
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--json",
        "--misclassified",
        misclassified.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]));
    let json: Value = serde_json::from_str(&out).unwrap();
    let multi = &json["multiclass"];
    let classes: Vec<&str> = multi["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(classes, ["benign", "hexy", "letters", "other_dga"]);
    // The families differ in kind: a few epochs tell them apart.
    let micro = multi["micro_f1"].as_f64().unwrap();
    assert!(micro > 0.9, "micro F1 {micro}");
    for class in multi["per_class"].as_array().unwrap() {
        let name = class["class"].as_str().unwrap();
        let support = class["support"].as_u64().unwrap();
        match name {
            "benign" | "hexy" | "letters" => {
                assert_eq!(support, 100, "{name}");
                assert!(class["f1"].as_f64().unwrap() > 0.85, "{class}");
            }
            // The unseen family counts as other_dga.
            "other_dga" => assert_eq!(support, 1),
            other => panic!("unexpected class {other}"),
        }
    }
    let confusion = multi["confusion"].as_array().unwrap();
    let wrong: u64 = confusion
        .iter()
        .enumerate()
        .flat_map(|(t, row)| {
            row.as_array()
                .unwrap()
                .iter()
                .enumerate()
                .filter(move |(p, _)| *p != t)
                .map(|(_, n)| n.as_u64().unwrap())
        })
        .sum();
    // The binary score of a multiclass model is still a DGA probability.
    assert!(json["auc"].as_f64().unwrap() > 0.95, "{json}");

    // Every wrong name is in the CSV, with its true and predicted class.
    let text = std::fs::read_to_string(&misclassified).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("name,family,true_class,predicted_class,score,probability")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len() as u64, wrong, "{text}");
    for row in &rows {
        assert_eq!(row.len(), 6, "{row:?}");
        assert_ne!(row[2], row[3], "{row:?}");
        assert!(
            classes.contains(&row[2]) && classes.contains(&row[3]),
            "{row:?}"
        );
    }

    // The report is one self-contained page with every panel.
    let html = std::fs::read_to_string(&report).unwrap();
    for panel in [
        "id=\"headline\"",
        "id=\"roc\"",
        "class=\"histogram\"",
        "class=\"families\"",
        "class=\"confusion\"",
    ] {
        assert!(html.contains(panel), "report lacks {panel}");
    }
    assert!(html.matches("<svg").count() >= 4);
    assert!(!html.contains("<script"), "no scripts in the report");
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "nothing loaded from elsewhere"
    );
    assert!(html.contains("hexy") && html.contains("other_dga"));

    // predict names the family of a name in one family's style.
    let out = ok(&dga_lite(&[
        "predict",
        "--model",
        model_s,
        "--json",
        "0123456789abcdef0a.net",
        "shopnewsmail3.com",
    ]));
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["family"], "hexy", "{out}");
    assert_eq!(lines[0]["dga"], true, "{out}");
    assert_eq!(lines[1]["dga"], false, "{out}");
    let p = lines[0]["family_probability"].as_f64().unwrap();
    assert!(p > 0.5 && p <= 1.0, "{out}");
    // The TSV output adds the family and its probability after the label.
    let out = ok(&dga_lite(&[
        "predict",
        "--model",
        model_s,
        "0123456789abcdef0a.net",
    ]));
    let fields: Vec<&str> = out.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 5, "{out}");
    assert_eq!((fields[2], fields[3]), ("dga", "hexy"), "{out}");
}

#[test]
fn multiclass_runs_are_reproducible_and_class_weights_change_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = train(dir.path(), "a.safetensors", &["--threads", "1"]);
    let b = train(dir.path(), "b.safetensors", &["--threads", "2"]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let weighted = train(
        dir.path(),
        "w.safetensors",
        &["--class-weight", "balanced", "--threads", "2"],
    );
    assert_ne!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&weighted).unwrap()
    );
    // Capping each family (capped per-class sampling) is recorded in the split sizes.
    let split = dir.path().join("split.csv");
    let capped = train(
        dir.path(),
        "c.safetensors",
        &[
            "--max-per-class",
            "50",
            "--split-out",
            split.to_str().unwrap(),
        ],
    );
    let info = ok(&dga_lite(&[
        "model",
        "info",
        "--model",
        capped.to_str().unwrap(),
        "--json",
    ]));
    let header: Value = serde_json::from_str(&info).unwrap();
    let sizes = &header["training"]["split_sizes"];
    let total = |split: &str, class: &str| sizes[split][class].as_u64().unwrap();
    assert_eq!(
        total("train", "benign") + total("val", "benign") + total("test", "benign"),
        50
    );
    // 50 letters + 50 hexy + 5 tiny.
    assert_eq!(
        total("train", "dga") + total("val", "dga") + total("test", "dga"),
        105
    );
    // --split-out lists the same names, each with its class and split.
    let text = std::fs::read_to_string(&split).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("name,family,class,split"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 155);
    let count = |split: &str, class: &str| {
        rows.iter()
            .filter(|r| r[3] == split && (class == "dga") == (r[2] != "benign"))
            .count() as u64
    };
    for split in ["train", "val", "test"] {
        assert_eq!(count(split, "benign"), total(split, "benign"), "{split}");
        assert_eq!(count(split, "dga"), total(split, "dga"), "{split}");
    }
    let tiny: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "tiny").collect();
    assert_eq!(tiny.len(), 5);
    assert!(tiny.iter().all(|r| r[2] == "other_dga"), "{tiny:?}");
}

#[test]
fn a_family_with_no_training_names_merges_into_other_dga() {
    // One "solo" name with a test split of 0.5 lands in the test split (round(0.5) = 1), so
    // the family has no training names; every other family is large enough for its own class.
    let dir = tempfile::tempdir().unwrap();
    let benign = common::write(
        dir.path(),
        "benign.txt",
        &(common::benign_names(60, 31).join("\n") + "\n"),
    );
    let mut csv = String::from("domain,family\n");
    for name in hex_names(60, 32) {
        csv.push_str(&format!("{name},hexy\n"));
    }
    csv.push_str("qqqqzzzzxxxxwwww.com,solo\n");
    let dga = common::write(dir.path(), "dga.csv", &csv);
    let model = dir.path().join("m.safetensors");
    let split = dir.path().join("split.csv");
    ok(&dga_lite(&[
        "train",
        "--model-type",
        "endgame-lstm-multiclass",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--min-family-size",
        "5",
        "--test-split",
        "0.5",
        "--epochs",
        "1",
        "--quiet",
        "--split-out",
        split.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&split).unwrap();
    let solo = text.lines().find(|l| l.contains(",solo,")).unwrap();
    assert_eq!(solo, "qqqqzzzzxxxxwwww.com,solo,other_dga,test");
    let info = ok(&dga_lite(&[
        "model",
        "info",
        "--model",
        model.to_str().unwrap(),
    ]));
    assert!(
        info.contains("classes       3 (benign, hexy, other_dga)"),
        "{info}"
    );
}
