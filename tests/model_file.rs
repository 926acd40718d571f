//! The model file: round trip, and clear errors for truncated, corrupt, foreign and future files.

use dga_lite::backend::Scorer;
use dga_lite::encode::Vocab;
use dga_lite::model::file::Net;
use dga_lite::model::{EndgameConfig, EndgameLstm, ModelError, ModelFile, TrainingInfo};
use dga_lite::rng::Rng;
use std::collections::HashMap;

fn small_model() -> ModelFile {
    let vocab = Vocab::from_names(["abc.com", "xyz-1.net"]);
    let config = EndgameConfig {
        embedding_dim: 6,
        units: 5,
        ..EndgameConfig::default()
    };
    let net = EndgameLstm::new(config, vocab.size(), &mut Rng::new(3));
    let training = TrainingInfo {
        seed: 3,
        ..Default::default()
    };
    ModelFile::new(Net::EndgameLstm(net), vocab, 0.5, training)
}

#[test]
fn save_then_load_gives_the_same_model_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let model = small_model();
    model.save(&path).unwrap();
    let loaded = ModelFile::load(&path).unwrap();
    assert_eq!(loaded, model);
    let names = ["abc.com", "zzz.org", ""];
    assert_eq!(
        Scorer::cpu(loaded.clone()).score_names(&names),
        Scorer::cpu(model.clone()).score_names(&names)
    );
    // Same model, same bytes.
    assert_eq!(model.to_bytes(), loaded.to_bytes());
    // Nothing but the model is left in the folder (the temporary file was renamed).
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("m.safetensors")]);
}

#[test]
fn pytorch_style_readers_see_tensors_and_metadata() {
    let bytes = small_model().to_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(
        names,
        [
            "dense.bias",
            "dense.kernel",
            "embedding.weight",
            "lstm.bias",
            "lstm.kernel",
            "lstm.recurrent_kernel"
        ]
    );
    assert_eq!(st.tensor("lstm.kernel").unwrap().shape(), [6, 20]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let header: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["dga_lite"]).unwrap();
    assert_eq!(header["architecture"], "endgame-lstm");
    assert_eq!(header["maxlen"], 75);
}

fn load_bytes(bytes: &[u8]) -> Result<ModelFile, ModelError> {
    ModelFile::from_bytes(bytes, "test.safetensors")
}

#[test]
fn every_truncation_fails_cleanly() {
    let bytes = small_model().to_bytes();
    // An empty file is nobody's model; any other cut is reported as a truncated model.
    assert!(matches!(load_bytes(&[]), Err(ModelError::Foreign { .. })));
    for cut in [3, 8, 9, 20, bytes.len() / 2, bytes.len() - 1] {
        match load_bytes(&bytes[..cut]) {
            Err(e @ ModelError::Truncated { .. }) => {
                assert!(e.to_string().contains("is truncated"), "{e}")
            }
            other => panic!("truncated to {cut} bytes: {other:?}"),
        }
    }
}

#[test]
fn corrupt_weights_and_foreign_files_are_named_as_such() {
    // A NaN in the weights.
    let mut bytes = small_model().to_bytes();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = load_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");

    // Random bytes.
    let err = load_bytes(b"this is not a model file at all, just text").unwrap_err();
    assert!(err.to_string().contains("not a dga-lite model"), "{err}");

    // A valid safetensors file from someone else.
    let data = vec![0u8; 16];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &data).unwrap();
    let foreign = safetensors::serialize([("weight", view)], None).unwrap();
    let err = load_bytes(&foreign).unwrap_err();
    assert!(matches!(err, ModelError::Foreign { .. }), "{err}");
    assert!(
        err.to_string().contains("without dga-lite metadata"),
        "{err}"
    );
}

/// Rewrites the JSON metadata of a model file.
fn with_header(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    header_edited(&small_model(), edit)
}

/// `model`'s bytes with its metadata header changed by `edit`.
fn header_edited(model: &ModelFile, edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let bytes = model.to_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["dga_lite"]).unwrap();
    edit(&mut header);
    let metadata = HashMap::from([("dga_lite".to_string(), header.to_string())]);
    safetensors::serialize(st.tensors(), Some(metadata)).unwrap()
}

#[test]
fn a_future_version_asks_for_an_upgrade() {
    let bytes = with_header(|h| h["format_version"] = 99.into());
    let err = load_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err, ModelError::FutureVersion { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"), "{err}");
}

#[test]
fn inconsistent_metadata_is_corrupt_not_a_panic() {
    for edit in [
        (|h: &mut serde_json::Value| h["vocab"] = "aa".into()) as fn(&mut serde_json::Value),
        |h| h["config"]["units"] = 7.into(),
        |h| h["config"]["units"] = 0.into(),
        |h| h["threshold"] = 3.0.into(),
        |h| h["maxlen"] = 10.into(),
        |h| h["architecture"] = "transformer".into(),
    ] {
        let err = load_bytes(&with_header(edit)).unwrap_err();
        assert!(
            matches!(err, ModelError::Corrupt { .. } | ModelError::Foreign { .. }),
            "{err}"
        );
    }
}

#[test]
fn missing_file_is_a_read_error() {
    let err = ModelFile::load(std::path::Path::new("/no/such/model.safetensors")).unwrap_err();
    assert!(matches!(err, ModelError::Read { .. }), "{err}");
}

#[test]
fn snowman_models_round_trip_too() {
    use dga_lite::model::{SnowmanCnn, SnowmanConfig};
    let vocab = Vocab::from_names(["abc.com", "xyz-1.net"]);
    let net = SnowmanCnn::new(SnowmanConfig::default(), vocab.size(), &mut Rng::new(4));
    let model = ModelFile::new(Net::SnowmanCnn(net), vocab, 0.7, TrainingInfo::default());
    let loaded = ModelFile::from_bytes(&model.to_bytes(), "cnn").unwrap();
    assert_eq!(loaded, model);
    assert_eq!(
        Scorer::cpu(loaded.clone()).score_names(&["abc.com", "q.net"]),
        Scorer::cpu(model.clone()).score_names(&["abc.com", "q.net"])
    );
    let st = safetensors::SafeTensors::deserialize(&model.to_bytes())
        .unwrap()
        .tensor("conv2.kernel")
        .unwrap()
        .shape()
        .to_vec();
    assert_eq!(st, [6, 15, 15], "Keras layout [width, in, filters]");
}

#[test]
fn multiclass_models_keep_their_classes_and_refuse_a_mismatch() {
    let vocab = Vocab::from_names(["abc.com", "xyz-1.net"]);
    let config = EndgameConfig {
        embedding_dim: 4,
        units: 3,
        outputs: 3,
        ..EndgameConfig::default()
    };
    let net = EndgameLstm::new(config, vocab.size(), &mut Rng::new(4));
    let classes = vec!["benign".to_string(), "a".into(), "b".into()];
    // Two names for three outputs is refused.
    let two = ModelFile::new(
        Net::EndgameLstm(net.clone()),
        vocab.clone(),
        0.5,
        TrainingInfo::default(),
    )
    .with_classes(classes[..2].to_vec());
    assert!(two.is_err());
    let model = ModelFile::new(Net::EndgameLstm(net), vocab, 0.5, TrainingInfo::default())
        .with_classes(classes.clone())
        .unwrap();
    let loaded = ModelFile::from_bytes(&model.to_bytes(), "m").unwrap();
    assert_eq!(loaded, model);
    assert_eq!(loaded.classes(), classes.as_slice());
    assert_eq!(loaded.net().architecture(), "endgame-lstm-multiclass");
    // Probabilities per class sum to one; the score is their DGA part.
    let loaded = Scorer::cpu(loaded);
    let p = loaded.probabilities(&["abc.com"]);
    assert_eq!(p.len(), 3);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    let score = loaded.score_names(&["abc.com"])[0];
    assert!((score - (1.0 - p[0])).abs() < 1e-6);

    // A header whose class list does not match the weights is corrupt, not a panic.
    for edit in [
        (|h: &mut serde_json::Value| h["classes"] = serde_json::json!(["benign"]))
            as fn(&mut serde_json::Value),
        |h| h["architecture"] = "endgame-lstm".into(),
    ] {
        match load_bytes(&header_edited(&model, edit)) {
            Err(ModelError::Corrupt { .. }) => {}
            other => panic!("expected a corrupt-file error, got {other:?}"),
        }
    }
}

#[test]
fn every_model_file_carries_its_scoring_contract() {
    for file in ["endgame-default", "endgame-multiclass", "snowman-default"] {
        let path = format!("{}/data/{file}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let header: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()["dga_lite"]).unwrap();
        let contract = &header["contract"];
        assert_eq!(contract["version"], 1, "{file}");
        assert_eq!(contract["encode"]["padding_masked"], false, "{file}");
        assert!(
            contract["layers"].as_array().is_some_and(|l| !l.is_empty()),
            "{file}"
        );
    }
    // The gate activation is named exactly, Keras 2's hard sigmoid included.
    let mut config = dga_lite::model::EndgameConfig {
        embedding_dim: 3,
        units: 2,
        ..Default::default()
    };
    config.recurrent_activation = dga_lite::nn::RecurrentActivation::HardSigmoid;
    let net = dga_lite::model::EndgameLstm::new(config, 5, &mut dga_lite::rng::Rng::new(1));
    let vocab = dga_lite::encode::Vocab::from_chars(b"abc").unwrap();
    let model = ModelFile::new(
        dga_lite::model::file::Net::EndgameLstm(net),
        vocab,
        0.5,
        Default::default(),
    );
    let header: serde_json::Value = serde_json::from_str(&model.header_json()).unwrap();
    let gate = header["contract"]["gate"].as_str().unwrap();
    assert!(gate.contains("clip(0.2 x + 0.5, 0, 1)"), "{gate}");
}
