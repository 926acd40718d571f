//! Fuzzing entry points for every parser of untrusted bytes, as proptest harnesses: the model
//! file, the training checkpoint, every input format, the `/v1/score` JSON body and the
//! Snowman endpoint's URL field. Each
//! case must end in a value or a clear error within a time bound, never a panic, and a model
//! that loads holds no more weights than its file has bytes for (memory stays proportional to
//! the input).
//!
//! Cases per harness: `DGA_LITE_FUZZ_CASES` (default 2,000, what CI runs); BENCHMARKS.md records
//! a longer run. Mutations start from valid files, so they reach deep into each parser.

use dga_lite::checkpoint::Checkpoint;
use dga_lite::data::{FeedItem, FeedReader, Format, ReadOptions};
use dga_lite::model::{ModelFile, Network, SnowmanCnn, SnowmanConfig};
use dga_lite::nn::{Optimizer, OptimizerConfig};
use dga_lite::rng::Rng;
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Longest one case may take; a parser that allocates or loops from a number it read would
/// run far past this.
const CASE_LIMIT: Duration = Duration::from_secs(2);

fn cases() -> u32 {
    std::env::var("DGA_LITE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The three shipped models' bytes: every architecture.
fn shipped_models() -> &'static [Vec<u8>] {
    static MODELS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    MODELS.get_or_init(|| {
        ["endgame-default", "endgame-multiclass", "snowman-default"]
            .iter()
            .map(|name| {
                std::fs::read(format!(
                    "{}/data/{name}.safetensors",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .expect("shipped model")
            })
            .collect()
    })
}

/// A byte-level mutation of a valid file.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        mask: u8,
    },
    Truncate {
        at: usize,
    },
    Splice {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Sets the `which`-th number of the JSON header to `value` (the header is rewritten and
    /// its length prefix fixed, so the file stays readable as safetensors).
    HeaderNumber {
        which: usize,
        value: serde_json::Number,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let number = prop_oneof![
        Just(serde_json::Number::from(0u64)),
        Just(serde_json::Number::from(u64::MAX)),
        Just(serde_json::Number::from(-1i64)),
        Just(serde_json::Number::from(1u64 << 40)),
        (0u64..100_000).prop_map(serde_json::Number::from),
        any::<f64>().prop_filter_map("finite", serde_json::Number::from_f64),
    ];
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Mutation::Splice { at, bytes }),
        (any::<usize>(), number).prop_map(|(which, value)| Mutation::HeaderNumber { which, value }),
    ]
}

/// The JSON pointers of every number in a value, in document order.
fn numbers(value: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Number(_) => out.push(at),
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                numbers(v, format!("{at}/{i}"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                numbers(v, format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// Rewrites the header of a safetensors file: `edit` gets the `key` metadata entry as JSON.
fn edit_metadata(bytes: &[u8], key: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    // Earlier mutations may have broken the header: then there is nothing to edit.
    let Some(n) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    else {
        return bytes.to_vec();
    };
    let Some(mut header) = bytes
        .get(8..8usize.saturating_add(n))
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(h).ok())
    else {
        return bytes.to_vec();
    };
    if let Some(mut inner) = header["__metadata__"][key]
        .as_str()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    {
        edit(&mut inner);
        header["__metadata__"][key] = inner.to_string().into();
    }
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

fn apply(bytes: &[u8], m: &Mutation, key: &str) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match m {
        Mutation::Flip { at, mask } => {
            let i = at % out.len();
            out[i] ^= mask;
        }
        Mutation::Truncate { at } => out.truncate(at % out.len()),
        Mutation::Splice { at, bytes } => {
            let i = at % out.len();
            out.splice(i..(i + bytes.len()).min(out.len()), bytes.iter().copied());
        }
        Mutation::HeaderNumber { which, value } => {
            out = edit_metadata(bytes, key, |json| {
                let mut found = Vec::new();
                numbers(json, String::new(), &mut found);
                if !found.is_empty()
                    && let Some(slot) = json.pointer_mut(&found[which % found.len()])
                {
                    *slot = serde_json::Value::Number(value.clone());
                }
            });
        }
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn model_files(model in 0usize..3, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let mut bytes = shipped_models()[model].clone();
        for m in &mutations {
            if bytes.len() > 8 {
                bytes = apply(&bytes, m, "dga_lite");
            }
        }
        let started = Instant::now();
        let loaded = ModelFile::from_bytes(&bytes, "fuzzed.safetensors");
        prop_assert!(started.elapsed() < CASE_LIMIT, "took {:?}", started.elapsed());
        if let Ok(model) = loaded {
            let weights: usize = match model.net() {
                dga_lite::model::file::Net::EndgameLstm(n) => n.tensors().iter().map(|(_, t)| t.len()).sum(),
                dga_lite::model::file::Net::SnowmanCnn(n) => n.tensors().iter().map(|(_, t)| t.len()).sum(),
                dga_lite::model::file::Net::LstmCnnEnsemble(n) => n.lstm.tensors().into_iter().chain(n.cnn.tensors()).map(|(_, t)| t.len()).sum(),
            };
            prop_assert!(weights * 4 <= bytes.len(), "{weights} weights from {} bytes", bytes.len());
            // A model that loads scores without panicking.
            let scores = dga_lite::backend::Scorer::cpu(model).score_names(&["google.com", "xjwqkdpqoe.net"]);
            prop_assert_eq!(scores.len(), 2);
        }
    }

    #[test]
    fn model_files_from_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let started = Instant::now();
        let _ = ModelFile::from_bytes(&bytes, "random.safetensors");
        prop_assert!(started.elapsed() < CASE_LIMIT);
    }

    #[test]
    fn checkpoints(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let (bytes, template) = checkpoint();
        let mut bytes = bytes.clone();
        for m in &mutations {
            if bytes.len() > 8 {
                bytes = apply(&bytes, m, "dga_lite_checkpoint");
            }
        }
        let started = Instant::now();
        let loaded = Checkpoint::from_bytes(
            &bytes,
            "fuzzed.ckpt",
            template,
            Optimizer::new(OptimizerConfig::adam()),
            FINGERPRINT,
            TRAIN_NAMES,
        );
        prop_assert!(started.elapsed() < CASE_LIMIT);
        if let Ok(state) = loaded {
            // What training will index with is in range.
            prop_assert_eq!(state.order.len(), TRAIN_NAMES);
            prop_assert!(state.order.iter().all(|&i| i < TRAIN_NAMES));
            prop_assert!(state.best.as_ref().is_none_or(|b| b.1 <= state.epoch));
        }
    }

    #[test]
    fn input_formats(format in 0usize..8, lines in proptest::collection::vec(line(), 0..40)) {
        let formats = [
            None,
            Some(Format::Plain),
            Some(Format::TopList),
            Some(Format::Bambenek),
            Some(Format::Netlab360),
            Some(Format::LabelledCsv),
            Some(Format::Jsonl),
            Some(Format::Zeek),
        ];
        let text = lines.join("\n");
        let started = Instant::now();
        let options = ReadOptions::format(formats[format]);
        if let Ok(mut feed) = FeedReader::new(text.as_bytes(), &options, "fuzzed") {
            let mut items = 0;
            while let Some(item) = feed.next_item() {
                items += 1;
                match item {
                    Ok(FeedItem::Record { name, .. }) => {
                        let _ = dga_lite::data::normalize_name(&name);
                    }
                    Ok(FeedItem::Bad { .. } | FeedItem::Empty { .. }) | Err(_) => {}
                }
                prop_assert!(items <= text.split('\n').count(), "more items than lines");
            }
        }
        prop_assert!(started.elapsed() < CASE_LIMIT);
    }

    #[cfg(feature = "server")]
    #[test]
    fn score_request_bodies(body in body()) {
        let started = Instant::now();
        match dga_lite::serve::api::parse_score_body(&body, 50) {
            Ok((items, raw)) => prop_assert_eq!(items.len(), raw.len()),
            Err(e) => prop_assert!((400..500).contains(&e.status())),
        }
        prop_assert!(started.elapsed() < CASE_LIMIT);
    }
}

#[cfg(feature = "server")]
proptest! {
    #![proptest_config(config())]

    /// The Snowman field's URL parsing: any text gives a part of itself, never a panic.
    #[test]
    fn snowman_urls(url in "(https?://|//)?([a-z]{0,5}(:[a-z]{0,3})?@)?(\\[[0-9a-f:]{0,8}\\]?|[A-Za-z0-9.-]{0,20})(:[0-9]{0,6})?([/?#][ -~]{0,20})?|\\PC{0,40}") {
        let host = dga_lite::serve::api::host_of_url(&url);
        prop_assert!(url.contains(host));
    }
}

/// Lines that look like each format, then get broken.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.-]{0,30}",
        "[0-9]{1,7},[a-z0-9.-]{1,30}",
        "[a-z0-9.]{1,30},Domain used by [a-z]{1,10},[0-9-]{0,10}",
        "[a-z]{1,10}\t[a-z0-9.]{1,30}\t[0-9 :-]{0,20}",
        "domain,family|[a-z0-9.]{1,20},[a-z]{0,8}|\"[a-z.,]{0,20}\",x",
        "\\{\"(domain|query|name)\": ?(\"[a-z0-9.]{0,30}\"|[0-9]+|null|\\[\\]|\\{\\})\\}",
        "#fields\t(ts\t)?(query|uid)(\t[a-z]{1,5}){0,3}|#separator \\\\x09|[0-9.]{1,5}\t[a-z0-9.-]{0,20}\t(-|\\(empty\\))",
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "\u{feff}[a-z.]{0,10}",
    ]
}

/// JSON bodies: well-formed, nearly so, and garbage.
#[cfg(feature = "server")]
fn body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        "\"[a-z0-9.-]{0,70}\"",
        "[0-9]{1,5}",
        Just("null".to_string()),
        Just("[[[[]]]]".to_string()),
        "\"\\\\u[0-9a-f]{4}[a-z.]{0,5}\"",
    ];
    prop_oneof![
        proptest::collection::vec(name, 0..60).prop_map(|names| format!(
            "{{\"domains\": [{}]}}",
            names.join(",")
        )
        .into_bytes()),
        "\\{\"domains\": ?(\\[|\\{|\"|[0-9]+|null)?\\}?".prop_map(String::into_bytes),
        (1usize..200)
            .prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
        any::<Vec<u8>>(),
    ]
}

const FINGERPRINT: &str = "fuzz";
const TRAIN_NAMES: usize = 50;

/// A valid checkpoint of a small CNN run (with optimiser state, history and a best epoch).
fn checkpoint() -> &'static (Vec<u8>, SnowmanCnn) {
    static CHECKPOINT: OnceLock<(Vec<u8>, SnowmanCnn)> = OnceLock::new();
    CHECKPOINT.get_or_init(|| {
        let config = SnowmanConfig {
            embedding_dim: 4,
            filters: 3,
            widths: vec![2, 3],
            dropout: 0.2,
        };
        let net = SnowmanCnn::new(config, 12, &mut Rng::new(1));
        let mut optimizer = Optimizer::new(OptimizerConfig::adam());
        let grads = net.zeros_like();
        let grads: Vec<&[f32]> = grads.tensors().into_iter().map(|(_, t)| t).collect();
        let mut stepped = net.clone();
        optimizer.step(&mut stepped.tensors_mut(), &grads);
        let mut order: Vec<usize> = (0..TRAIN_NAMES).collect();
        Rng::new(2).shuffle(&mut order);
        let stats = |epoch| dga_lite::checkpoint::EpochStats {
            epoch,
            loss: 0.5,
            val_auc: Some(0.9),
            val_accuracy: None,
            seconds: 1.0,
            names_per_second: 50.0,
        };
        let state = Checkpoint {
            net: stepped.clone(),
            optimizer,
            shuffle_rng: Rng::new(3),
            order,
            step: 8,
            epoch: 2,
            history: vec![stats(1), stats(2)],
            best: Some((0.9, 1, stepped)),
            stopped: false,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ckpt");
        state.save(&path, FINGERPRINT).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // The pristine checkpoint loads.
        Checkpoint::from_bytes(
            &bytes,
            "c.ckpt",
            &net,
            Optimizer::new(OptimizerConfig::adam()),
            FINGERPRINT,
            TRAIN_NAMES,
        )
        .expect("the valid checkpoint loads");
        (bytes, net)
    })
}
