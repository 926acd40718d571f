//! The `dga-lite` binary, run the way a user runs it: train on small generated data, evaluate,
//! predict, and check reproducibility bit for bit.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{dga_lite, ok};

fn train(dir: &Path, out: &str, seed: &str, threads: &str) -> Output {
    let (benign, dga) = common::write_training_files(dir, 300);
    let out = dir.join(out);
    dga_lite(&[
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--seed",
        seed,
        "--threads",
        threads,
        "--val-split",
        "0.1",
        "--patience",
        "2",
        "--target-fpr",
        "0.05",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn train_eval_predict_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let output = train(dir.path(), "m.safetensors", "7", "2");
    let stdout = ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("ROC AUC"), "{stdout}");
    assert!(
        stderr.contains("epoch 3/3") && stderr.contains("validation AUC"),
        "{stderr}"
    );
    let model = dir.path().join("m.safetensors");
    let model = model.to_str().unwrap();

    // --target-fpr chose the threshold on the validation split, and the model records it.
    assert!(stderr.contains("target FPR 0.05"), "{stderr}");
    let header: serde_json::Value = serde_json::from_str(&ok(&dga_lite(&[
        "model", "info", "--json", "--model", model,
    ])))
    .unwrap();
    let threshold = header["threshold"].as_f64().unwrap();
    assert!(
        threshold > 0.0 && threshold < 1.0 && threshold != 0.5,
        "threshold {threshold}"
    );

    // eval --json: the stable keys, and a model that learned the toy task.
    let benign = common::write(
        dir.path(),
        "eval-benign.txt",
        &common::benign_names(100, 11).join("\n"),
    );
    let mut dga_csv = String::from("domain,family\n");
    for name in common::dga_names(100, 12) {
        dga_csv.push_str(&format!("{name},gamma\n"));
    }
    let dga = common::write(dir.path(), "eval-dga.csv", &dga_csv);
    let stdout = ok(&dga_lite(&[
        "eval",
        "--model",
        model,
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["n"], 200);
    for key in ["accuracy", "auc", "precision", "recall", "f1"] {
        assert!(report[key].is_number(), "{key} missing: {report}");
    }
    for key in ["0.01", "0.001", "0.0001"] {
        assert!(
            report["tpr_at_fpr"][key].is_number(),
            "tpr_at_fpr {key}: {report}"
        );
    }
    assert_eq!(report["per_family"]["gamma"]["n"], 100);
    assert!(report["per_family"]["gamma"]["recall"].is_number());
    assert!(
        report["auc"].as_f64().unwrap() > 0.9,
        "the toy task should be learned: {report}"
    );

    // predict: names as arguments, one invalid; the run goes on.
    let stdout = ok(&dga_lite(&[
        "predict",
        "--model",
        model,
        "bahome3.com",
        "not a name",
        "QWXKZJRTPLMV.NET.",
    ]));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("bahome3.com\t"));
    assert!(lines[1].contains("error"), "{stdout}");
    assert!(lines[2].starts_with("qwxkzjrtplmv.net\t"), "{stdout}");

    // predict --json from stdin, in input order, with line numbers.
    let mut child = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["predict", "--model", model, "--input", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a.com\nbad..name\nzqxjkvbw.org\n")
        .unwrap();
    let stdout = ok(&child.wait_with_output().unwrap());
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["domain"], "a.com");
    assert!(rows[0]["score"].is_number() && rows[0]["dga"].is_boolean());
    assert_eq!(rows[1]["line"], 2);
    assert!(rows[1]["error"].is_string());
    assert_eq!(rows[2]["domain"], "zqxjkvbw.org");
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    ok(&train(dir.path(), "a.safetensors", "5", "2"));
    ok(&train(dir.path(), "b.safetensors", "5", "2"));
    ok(&train(dir.path(), "c.safetensors", "5", "1"));
    ok(&train(dir.path(), "d.safetensors", "6", "2"));
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert!(
        read("a.safetensors") == read("b.safetensors"),
        "same seed, same threads: bytes differ"
    );
    assert!(
        read("a.safetensors") == read("c.safetensors"),
        "1 thread vs 2 threads: bytes differ"
    );
    assert!(
        read("a.safetensors") != read("d.safetensors"),
        "a different seed should give a different model"
    );
}

#[test]
fn user_errors_are_clear_and_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dga_lite(&["predict", "--model", "/no/such/model.safetensors", "a.com"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.starts_with("error: cannot read model"), "{stderr}");

    let junk = common::write(dir.path(), "junk.safetensors", "definitely not a model");
    let out = dga_lite(&["predict", "--model", junk.to_str().unwrap(), "a.com"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a dga-lite model"));
    assert_eq!(out.status.code(), Some(1));

    let (benign, dga) = common::write_training_files(dir.path(), 10);
    let out = dga_lite(&[
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--val-split",
        "0",
        "--patience",
        "2",
        "--target-fpr",
        "0.05",
        "--out",
        "x",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--val-split"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = dga_lite(&[
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--val-split",
        "0",
        "--target-fpr",
        "0.001",
        "--out",
        "x",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--val-split"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let empty = common::write(dir.path(), "empty.txt", "");
    let out = dga_lite(&[
        "train",
        "--benign",
        empty.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--out",
        "x",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for args in [
        &["predict", "--model", "m", "--threshold", "2", "a.com"][..],
        &["bogus"],
        &["train"],
    ] {
        let out = dga_lite(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}

#[test]
fn help_teaches() {
    let stdout = ok(&dga_lite(&["--help"]));
    assert!(
        stdout.contains("train") && stdout.contains("predict") && stdout.contains("Examples"),
        "{stdout}"
    );
    let stdout = ok(&dga_lite(&["train", "--help"]));
    assert!(
        stdout.contains("--max-per-class") && stdout.contains("bit for bit"),
        "{stdout}"
    );
}

#[test]
fn the_embedded_default_scores_with_no_files() {
    let stdout = ok(&dga_lite(&["predict", "google.com", "xjwqkdpqoe.net"]));
    let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    let score = |row: &Vec<&str>| row[1].parse::<f32>().unwrap();
    assert_eq!(rows[0][0], "google.com");
    assert!(score(&rows[0]) < 0.01 && score(&rows[1]) > 0.9, "{stdout}");
    // Verdicts follow the model's operating points (validation FPR 1e-3 and 1e-2).
    let header: serde_json::Value =
        serde_json::from_str(&ok(&dga_lite(&["model", "info", "--json"]))).unwrap();
    let point = |which: &str| header["operating_points"][which].as_f64().unwrap() as f32;
    let (dga, suspicious) = (point("dga"), point("suspicious"));
    assert!(suspicious < dga, "{header}");
    for row in &rows {
        let expected = if score(row) >= dga {
            "dga"
        } else if score(row) >= suspicious {
            "suspicious"
        } else {
            "benign"
        };
        assert_eq!(row[2], expected, "{stdout}");
    }
    assert_eq!(rows[0][2], "benign", "{stdout}");
    assert_ne!(rows[1][2], "benign", "{stdout}");
    let lenient = ok(&dga_lite(&[
        "predict",
        "--threshold",
        "0.5",
        "xjwqkdpqoe.net",
    ]));
    assert!(lenient.trim_end().ends_with("\tdga"), "{lenient}");

    let info = ok(&dga_lite(&["model", "info"]));
    assert!(
        info.contains("endgame-lstm") && info.contains("Model card"),
        "{info}"
    );
    let header: serde_json::Value =
        serde_json::from_str(&ok(&dga_lite(&["model", "info", "--json"]))).unwrap();
    assert_eq!(header["format"], "dga-lite-model");
    assert!(header["training"]["test_metrics"]["auc"].as_f64().unwrap() > 0.99);
}

#[test]
fn snowman_cnn_trains_evaluates_and_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 300);
    let model = dir.path().join("cnn.safetensors");
    let train = |out: &std::path::Path, threads: &str| {
        dga_lite(&[
            "train",
            "--model-type",
            "snowman-cnn",
            "--benign",
            benign.to_str().unwrap(),
            "--dga",
            dga.to_str().unwrap(),
            "--epochs",
            "4",
            "--batch-size",
            "32",
            "--seed",
            "3",
            "--threads",
            threads,
            "--optimizer",
            "adam",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let stdout = ok(&train(&model, "2"));
    assert!(stdout.contains("ROC AUC"), "{stdout}");
    let info: serde_json::Value = serde_json::from_str(&ok(&dga_lite(&[
        "model",
        "info",
        "--json",
        "--model",
        model.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(info["architecture"], "snowman-cnn");
    assert_eq!(info["config"]["widths"], serde_json::json!([2, 4, 6]));
    assert!(
        info["config"]["dropout"].as_f64().unwrap() > 0.19
            && info["config"]["dropout"].as_f64().unwrap() < 0.21
    );
    assert!(
        info["training"]["test_metrics"]["auc"].as_f64().unwrap() > 0.9,
        "{info}"
    );

    let out = ok(&dga_lite(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--json",
        "bahome3.com",
        "qwxkzjrtplmvbd.net",
    ]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        rows[0]["score"].as_f64().unwrap() < rows[1]["score"].as_f64().unwrap(),
        "{out}"
    );

    // Reproducible at any thread count, like the LSTM.
    let again = dir.path().join("cnn-1thread.safetensors");
    ok(&train(&again, "1"));
    assert!(
        std::fs::read(&model).unwrap() == std::fs::read(&again).unwrap(),
        "CNN model differs between 1 and 2 threads"
    );
}

#[test]
fn a_resumed_run_ends_bit_identical_to_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 1500);
    let run = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "train",
            "--benign",
            benign.to_str().unwrap(),
            "--dga",
            dga.to_str().unwrap(),
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--seed",
            "11",
            "--val-split",
            "0.1",
            "--optimizer",
            "adam",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let dga_lite = |args: &[String]| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        dga_lite(&refs)
    };
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    // Uninterrupted.
    ok(&dga_lite(&run(&["--out", &path("whole.safetensors")])));

    // Stopped after one epoch, then resumed to three.
    let mut first = run(&[
        "--out",
        &path("part.safetensors"),
        "--checkpoint",
        &path("a.ckpt"),
    ]);
    let epochs = first.iter().position(|a| a == "--epochs").unwrap() + 1;
    first[epochs] = "1".to_string();
    ok(&dga_lite(&first));
    ok(&dga_lite(&run(&[
        "--out",
        &path("resumed.safetensors"),
        "--resume",
        &path("a.ckpt"),
    ])));
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    assert!(
        read("whole.safetensors") == read("resumed.safetensors"),
        "resumed model differs"
    );

    // Killed (SIGKILL) as soon as its first checkpoint exists, then resumed.
    let args = run(&[
        "--out",
        &path("killed.safetensors"),
        "--checkpoint",
        &path("b.ckpt"),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(&args)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !dir.path().join("b.ckpt").exists()
        && started.elapsed() < std::time::Duration::from_secs(60)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    ok(&dga_lite(&run(&[
        "--out",
        &path("killed.safetensors"),
        "--resume",
        &path("b.ckpt"),
    ])));
    assert!(
        read("whole.safetensors") == read("killed.safetensors"),
        "model resumed after a kill differs"
    );

    // A checkpoint of another run is refused with a reason.
    let mut other_seed = run(&["--out", &path("x.safetensors"), "--resume", &path("a.ckpt")]);
    let seed = other_seed.iter().position(|a| a == "--seed").unwrap() + 1;
    other_seed[seed] = "12".to_string();
    let other = dga_lite(&other_seed);
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("other data or settings"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
}

#[test]
fn fine_tuning_keeps_the_vocabulary_records_lineage_and_eval_compares() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 300);
    let parent = dir.path().join("parent.safetensors");
    ok(&dga_lite(&[
        "train",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "1",
        "--out",
        parent.to_str().unwrap(),
    ]));
    // A new DGA style: hex labels with '_', a character the parent never saw.
    let hex: Vec<String> = (0..300u64)
        .map(|i| format!("x_{:016x}.org", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    let new_dga = common::write(dir.path(), "new-dga.txt", &hex.join("\n"));
    let new_benign = common::write(
        dir.path(),
        "new-benign.txt",
        &common::benign_names(300, 21).join("\n"),
    );
    let child = dir.path().join("child.safetensors");
    let out = dga_lite(&[
        "train",
        "--init",
        parent.to_str().unwrap(),
        "--replay",
        "100",
        "--benign",
        new_benign.to_str().unwrap(),
        "--dga",
        new_dga.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--seed",
        "2",
        "--out",
        child.to_str().unwrap(),
    ]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replay: 100 DGA names"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let info = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&ok(&dga_lite(&[
            "model",
            "info",
            "--json",
            "--model",
            path.to_str().unwrap(),
        ])))
        .unwrap()
    };
    let (p, c) = (info(&parent), info(&child));
    assert_eq!(
        c["vocab"], p["vocab"],
        "the child keeps its parent's vocabulary"
    );
    assert!(!p["vocab"].as_str().unwrap().contains('_'));
    let parent_hash: String = Sha256::digest(std::fs::read(&parent).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(c["training"]["lineage"][0]["sha256"], parent_hash.as_str());
    assert_eq!(c["training"]["lineage"][0]["seed"], 1);
    // Without --dropout the child trains with its parent's rate.
    assert_eq!(c["config"]["dropout"], p["config"]["dropout"]);

    // Before and after, side by side, on the new style.
    let held_out: Vec<String> = (1000..1100u64)
        .map(|i| format!("x_{:016x}.org", i.wrapping_mul(0x2545_F491_4F6C_DD1D)))
        .collect();
    let eval_dga = common::write(dir.path(), "eval-dga.txt", &held_out.join("\n"));
    let eval_benign = common::write(
        dir.path(),
        "eval-benign.txt",
        &common::benign_names(100, 31).join("\n"),
    );
    let args = [
        "eval",
        "--model",
        parent.to_str().unwrap(),
        "--model",
        child.to_str().unwrap(),
        "--benign",
        eval_benign.to_str().unwrap(),
        "--dga",
        eval_dga.to_str().unwrap(),
    ];
    let table = ok(&dga_lite(&args));
    assert!(
        table.contains("side by side")
            && table.contains("parent.safetensors")
            && table.contains("child.safetensors"),
        "{table}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let both: serde_json::Value = serde_json::from_str(&ok(&dga_lite(&json_args))).unwrap();
    let auc = |i: usize| both[i]["report"]["auc"].as_f64().unwrap();
    assert!(
        auc(1) >= auc(0),
        "fine-tuning on the new style should not make it worse: {} -> {}",
        auc(0),
        auc(1)
    );

    let lone = dga_lite(&[
        "train",
        "--replay",
        "5",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--out",
        "x",
    ]);
    assert!(String::from_utf8_lossy(&lone.stderr).contains("--init"));
}

#[test]
fn fine_tuning_takes_a_dropout_rate_and_refuses_another_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 150);
    let parent = dir.path().join("parent.safetensors");
    let child = dir.path().join("child.safetensors");
    let inputs = [
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ];
    let train = |extra: &[&str]| {
        let mut args = vec!["train"];
        args.extend_from_slice(&inputs);
        args.extend_from_slice(extra);
        dga_lite(&args)
    };
    ok(&train(&[
        "--model-type",
        "snowman-cnn",
        "--out",
        parent.to_str().unwrap(),
    ]));
    let config = |path: &std::path::Path| common::model_header(path)["config"].clone();
    assert_eq!(config(&parent)["dropout"].as_f64(), Some(0.2f32 as f64));

    ok(&train(&[
        "--init",
        parent.to_str().unwrap(),
        "--dropout",
        "0.4",
        "--out",
        child.to_str().unwrap(),
    ]));
    let (p, c) = (config(&parent), config(&child));
    assert_eq!(c["dropout"].as_f64(), Some(0.4f32 as f64));
    // Only the rate changed: the architecture is the parent's.
    assert_eq!(c["widths"], p["widths"]);
    assert_eq!(common::model_header(&child)["architecture"], "snowman-cnn");

    let refused = train(&[
        "--init",
        parent.to_str().unwrap(),
        "--model-type",
        "endgame-lstm",
        "--out",
        dir.path().join("other.safetensors").to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("leave out --model-type"), "{err}");
    assert!(!dir.path().join("other.safetensors").exists());
}
