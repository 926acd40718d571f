//! `dga-lite audit` finds label noise: DGA names hidden in a benign file and real names hidden
//! in a DGA file come out at the top of its ranking; bad input is a clear error.

mod common;

use std::process::Command;

fn audit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .arg("audit")
        .args(args)
        .args(["--quiet", "--threads", "2"])
        .output()
        .expect("binary runs")
}

#[test]
fn hidden_mislabelled_names_are_ranked_at_the_top() {
    let dir = tempfile::tempdir().unwrap();
    let hidden_dga = common::dga_names(12, 90);
    let hidden_benign = common::benign_names(12, 91);
    let mut benign = common::benign_names(600, 1);
    benign.extend(hidden_dga.iter().cloned());
    let mut dga = common::dga_names(600, 2);
    dga.extend(hidden_benign.iter().cloned());
    let benign_file = common::write(dir.path(), "benign.txt", &benign.join("\n"));
    let dga_file = common::write(dir.path(), "dga.txt", &dga.join("\n"));
    let out = dir.path().join("suspects.csv");
    let run = |out: &std::path::Path| {
        let output = audit(&[
            "--benign",
            benign_file.to_str().unwrap(),
            "--dga",
            dga_file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--folds",
            "4",
            "--epochs",
            "6",
            "--batch-size",
            "32",
        ]);
        common::ok(&output);
        std::fs::read_to_string(out).unwrap()
    };
    let csv = run(&out);
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let hidden = |row: &Vec<&str>| {
        (row[2] == "benign" && hidden_dga.iter().any(|h| h == row[1]))
            || (row[2] == "dga" && hidden_benign.iter().any(|h| h == row[1]))
    };
    // Most of the 24 hidden names are found, and what is ranked at the top is hidden names.
    let found = rows.iter().filter(|r| hidden(r)).count();
    assert!(
        found >= 16,
        "only {found} of the 24 hidden names found:\n{csv}"
    );
    let top = rows.len().min(24);
    let top_hidden = rows[..top].iter().filter(|r| hidden(r)).count();
    assert!(
        top_hidden * 10 >= top * 9,
        "{top_hidden} of the top {top} are hidden names:\n{csv}"
    );
    // Seeded: the same inputs give the same file.
    let again = run(&dir.path().join("again.csv"));
    assert_eq!(csv, again);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let benign = common::write(dir.path(), "b.txt", &common::benign_names(20, 1).join("\n"));
    let dga = common::write(dir.path(), "d.txt", &common::dga_names(20, 2).join("\n"));
    let one = common::write(dir.path(), "one.txt", "xjwqkdpqoe.net\n");
    let empty = common::write(dir.path(), "empty.txt", "not a name!\n\n");
    let out = dir.path().join("s.csv");
    let out = out.to_str().unwrap();
    for (args, expected) in [
        (
            vec![
                "--benign",
                benign.to_str().unwrap(),
                "--dga",
                empty.to_str().unwrap(),
            ],
            "no valid names",
        ),
        (
            vec![
                "--benign",
                benign.to_str().unwrap(),
                "--dga",
                one.to_str().unwrap(),
            ],
            "fewer than --folds 5",
        ),
        (
            vec![
                "--benign",
                benign.to_str().unwrap(),
                "--dga",
                dga.to_str().unwrap(),
                "--folds",
                "30",
            ],
            "fewer than --folds 30",
        ),
        (
            vec![
                "--benign",
                benign.to_str().unwrap(),
                "--dga",
                dga.to_str().unwrap(),
                "--folds",
                "1",
            ],
            "--folds",
        ),
        (
            vec![
                "--benign",
                benign.to_str().unwrap(),
                "--dga",
                dga.to_str().unwrap(),
                "--model-type",
                "endgame-lstm-multiclass",
            ],
            "one binary network per fold",
        ),
    ] {
        let mut all = args.clone();
        all.extend(["--out", out]);
        let output = audit(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!std::path::Path::new(out).exists(), "no file on error");
}

/// `train --exclude` drops the names of a list (the audit's CSV or one name per line) from
/// training and validation, keeps the test split as drawn without it (reported twice: as
/// drawn and audited), and records the list in the model card.
#[test]
fn train_exclude_drops_listed_names_and_records_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 120);
    let benign_names = common::benign_names(120, 1);
    let csv = format!(
        "rank,name,label,family,oof_score,confidence,fold\n1,{},benign,,0.99,0.99,1\n2,not-in-the-data.com,dga,,0.01,0.99,2\n",
        benign_names[0]
    );
    let list = common::write(dir.path(), "suspects.csv", &csv);
    // Twenty names: some land in the test split (a fifth of the data), most do not.
    let listed_plain: Vec<&str> = benign_names[1..21].iter().map(String::as_str).collect();
    let plain = common::write(
        dir.path(),
        "drop.txt",
        &format!("# reviewed\n{}\n", listed_plain.join("\n")),
    );
    let model = dir.path().join("m.safetensors");
    let train = |exclude: Option<&std::path::Path>, split: &std::path::Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dga-lite"));
        command
            .args(["train", "--quiet", "--epochs", "1", "--test-split", "0.2"])
            .arg("--benign")
            .arg(&benign)
            .arg("--dga")
            .arg(&dga)
            .arg("--split-out")
            .arg(split)
            .arg("--out")
            .arg(&model);
        if let Some(file) = exclude {
            command.arg("--exclude").arg(file);
        }
        let stdout = common::ok(&command.output().unwrap());
        let split = std::fs::read_to_string(split).unwrap();
        let part = |which: &str| -> Vec<String> {
            split
                .lines()
                .filter(|l| l.split(',').nth(3) == Some(which))
                .map(|l| l.split(',').next().unwrap().to_string())
                .collect()
        };
        (stdout, part("train"), part("val"), part("test"))
    };
    let (plain_stdout, _, _, test_without) = train(None, &dir.path().join("s0.csv"));
    assert!(!plain_stdout.contains("audited"), "{plain_stdout}");
    for (file, listed, listed_names) in [
        (&list, 2, vec![benign_names[0].as_str()]),
        (&plain, 20, listed_plain.clone()),
    ] {
        let (stdout, train_part, val_part, test_part) =
            train(Some(file), &dir.path().join("s1.csv"));
        // The test split is the one drawn without a list; the others lost the listed names.
        assert_eq!(test_part, test_without);
        for name in &listed_names {
            assert!(!train_part.iter().any(|n| n == name), "{name} trained on");
            assert!(!val_part.iter().any(|n| n == name), "{name} validated on");
        }
        let in_test = listed_names
            .iter()
            .filter(|n| test_part.iter().any(|t| t == *n))
            .count();
        assert!(
            stdout.contains("held-out test split without the --exclude names"),
            "{stdout}"
        );
        let header = common::model_header(&model);
        let training = &header["training"];
        let excluded = &training["excluded"];
        assert_eq!(excluded["listed"], listed, "{excluded}");
        assert_eq!(excluded["in_test"], in_test, "{excluded}");
        assert_eq!(
            excluded["dropped"],
            listed_names.len() - in_test,
            "{excluded}"
        );
        assert_eq!(excluded["sha256"].as_str().unwrap().len(), 64);
        // The audited report counts the test split less the listed names in it.
        let total =
            |m: &serde_json::Value| m["n_benign"].as_u64().unwrap() + m["n_dga"].as_u64().unwrap();
        if in_test > 0 {
            assert_eq!(
                total(&training["audited_test_metrics"]) + in_test as u64,
                total(&training["test_metrics"]),
                "{training}"
            );
        }
    }
    let bad = common::write(dir.path(), "bad.txt", "not a name!\n");
    let output = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(["train", "--quiet", "--epochs", "1", "--benign"])
        .arg(&benign)
        .arg("--dga")
        .arg(&dga)
        .arg("--exclude")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("x.safetensors"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--exclude"));
}
