//! The LSTM + CNN ensemble (`--model-type lstm-cnn-ensemble`): trained from the command line
//! on generated names, its members are the models trained alone, its score is their weighted
//! average on every backend, its file round-trips and refuses damage, and the commands that
//! take one network refuse it clearly.

mod common;

use dga_lite::backend::{Backend, Scorer};
use dga_lite::model::file::Net;
use dga_lite::model::{LstmCnnEnsemble, ModelError, ModelFile, TrainingInfo};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `dga-lite train` on the generated files with `extra` arguments; the model written.
fn train(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let (benign, dga) = common::write_training_files(dir, 150);
    let out = dir.join(name);
    let output = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args([
            "train", "--quiet", "--epochs", "2", "--seed", "5", "--benign",
        ])
        .arg(&benign)
        .arg("--dga")
        .arg(&dga)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    common::ok(&output);
    out
}

fn members(model: &ModelFile) -> &LstmCnnEnsemble {
    match model.net() {
        Net::LstmCnnEnsemble(both) => both,
        other => panic!("not an ensemble: {}", other.architecture()),
    }
}

/// A model file holding one member alone, with the ensemble's vocabulary.
fn alone(model: &ModelFile, net: Net) -> ModelFile {
    ModelFile::new(net, model.vocab.clone(), 0.5, TrainingInfo::default())
}

#[test]
fn members_are_the_models_trained_alone_and_the_score_is_their_weighted_mean() {
    let dir = tempfile::tempdir().unwrap();
    let ensemble_path = train(
        dir.path(),
        "e.safetensors",
        &["--model-type", "lstm-cnn-ensemble"],
    );
    let lstm_path = train(
        dir.path(),
        "l.safetensors",
        &["--model-type", "endgame-lstm"],
    );
    let ensemble = ModelFile::load(&ensemble_path).unwrap();
    let lstm_alone = ModelFile::load(&lstm_path).unwrap();
    let both = members(&ensemble);
    // The LSTM member is, bit for bit, the LSTM a plain run with the same seed trains.
    assert_eq!(Net::EndgameLstm(both.lstm.clone()), *lstm_alone.net());
    assert_eq!(ensemble.vocab, lstm_alone.vocab);
    assert!((0.0..=1.0).contains(&both.lstm_weight));

    // The score: w * P_lstm + (1 - w) * P_cnn, on the fast path and on the reference.
    let names: Vec<String> = common::benign_names(40, 9)
        .into_iter()
        .chain(common::dga_names(40, 9))
        .collect();
    let lstm_scores =
        Scorer::cpu(alone(&ensemble, Net::EndgameLstm(both.lstm.clone()))).score_names(&names);
    let cnn_scores =
        Scorer::cpu(alone(&ensemble, Net::SnowmanCnn(both.cnn.clone()))).score_names(&names);
    let fast = Scorer::cpu(ensemble.clone()).score_names(&names);
    let reference = Scorer::new(ensemble.clone(), Backend::Reference)
        .unwrap()
        .score_names(&names);
    let w = both.lstm_weight;
    for (i, name) in names.iter().enumerate() {
        let expected = w * lstm_scores[i] + (1.0 - w) * cnn_scores[i];
        assert!(
            (fast[i] - expected).abs() < 1e-6,
            "{name}: {} vs {expected}",
            fast[i]
        );
        assert!(
            (reference[i] - fast[i]).abs() < 1e-5,
            "{name}: reference {} vs fast {}",
            reference[i],
            fast[i]
        );
    }

    // The card: the members as trained, the ensemble's own operating points and test report.
    let header = common::model_header(&ensemble_path);
    assert_eq!(header["architecture"], "lstm-cnn-ensemble");
    let listed: Vec<&str> = header["training"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["endgame-lstm", "snowman-cnn"]);
    assert!(
        header["operating_points"]["dga"].as_f64().is_some(),
        "{header}"
    );
    assert!(header["training"]["test_metrics"]["auc"].as_f64().is_some());
    assert_eq!(header["config"]["lstm_weight"].as_f64().unwrap() as f32, w);
    assert!(
        header["contract"]["members"]["lstm/"].is_object(),
        "{header}"
    );

    let card = common::ok(&common::dga_lite(&[
        "model",
        "info",
        "--model",
        ensemble_path.to_str().unwrap(),
    ]));
    for expected in [
        "member        endgame-lstm",
        "member        snowman-cnn",
        "verdicts      dga >= ",
    ] {
        assert!(card.contains(expected), "{expected}: {card}");
    }

    // predict with it: a verdict per name, as for any model.
    let out = common::ok(&common::dga_lite(&[
        "predict",
        "--model",
        ensemble_path.to_str().unwrap(),
        "--json",
        &names[0],
        &names[45],
    ]));
    for line in out.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(row["verdict"].is_string(), "{row}");
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let one = train(
        dir.path(),
        "1.safetensors",
        &["--model-type", "lstm-cnn-ensemble", "--threads", "1"],
    );
    let two = train(
        dir.path(),
        "2.safetensors",
        &["--model-type", "lstm-cnn-ensemble", "--threads", "2"],
    );
    assert!(std::fs::read(one).unwrap() == std::fs::read(two).unwrap());
}

#[test]
fn the_file_round_trips_and_refuses_a_bad_weight_or_a_missing_member_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = train(
        dir.path(),
        "e.safetensors",
        &["--model-type", "lstm-cnn-ensemble"],
    );
    let bytes = std::fs::read(&path).unwrap();
    let model = ModelFile::from_bytes(&bytes, "e").unwrap();
    let again = model.to_bytes();
    assert!(again == bytes, "{}", model.header_json());

    // Rewrites the file with its header edited and tensors kept or dropped.
    let rewrite = |edit: &dyn Fn(&mut serde_json::Value), drop: Option<&str>| -> Vec<u8> {
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let mut header: serde_json::Value =
            serde_json::from_str(&metadata.metadata().as_ref().unwrap()["dga_lite"]).unwrap();
        edit(&mut header);
        let kept: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .tensors()
            .into_iter()
            .filter(|(name, _)| Some(name.as_str()) != drop)
            .collect();
        let meta = std::collections::HashMap::from([("dga_lite".to_string(), header.to_string())]);
        safetensors::serialize(kept, Some(meta)).unwrap()
    };
    let same = rewrite(&|_| {}, None);
    assert!(ModelFile::from_bytes(&same, "same").is_ok());
    let heavy = rewrite(&|h| h["config"]["lstm_weight"] = 1.5.into(), None);
    let err = ModelFile::from_bytes(&heavy, "heavy").unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("weight"), "{err}");
    let missing = rewrite(&|_| {}, Some("cnn/dense.bias"));
    let err = ModelFile::from_bytes(&missing, "missing").unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    let multiclass = rewrite(&|h| h["config"]["lstm"]["outputs"] = 3.into(), None);
    assert!(ModelFile::from_bytes(&multiclass, "multiclass").is_err());
}

#[test]
fn commands_that_take_one_network_refuse_the_ensemble_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 40);
    let model = dir.path().join("x.safetensors");
    let cases: [(&[&str], &str); 4] = [
        (&["train", "--val-split", "0"], "--val-split"),
        (&["train", "--checkpoint", "c.ckpt"], "--checkpoint"),
        (&["train", "--target-fpr", "2"], "--target-fpr"),
        (&["audit"], "one binary network per fold"),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_dga-lite"))
            .args(&args[..1])
            .args(["--quiet", "--model-type", "lstm-cnn-ensemble", "--benign"])
            .arg(&benign)
            .arg("--dga")
            .arg(&dga)
            .args(&args[1..])
            .arg("--out")
            .arg(&model)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!model.exists(), "{args:?} wrote a model");
    }
}
