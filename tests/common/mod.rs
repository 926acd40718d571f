//! Small data the tests make themselves: pronounceable "benign" names and random-letter "DGA"
//! names, easy enough for a model to tell apart after a few epochs.
#![allow(dead_code)]

use dga_lite::rng::Rng;
use std::path::{Path, PathBuf};

const SYLLABLES: [&str; 24] = [
    "ba", "co", "de", "fa", "go", "hi", "jo", "ka", "le", "mo", "ne", "po", "ra", "si", "to", "vu",
    "web", "shop", "news", "mail", "cloud", "bank", "play", "home",
];
const TLDS: [&str; 4] = ["com", "net", "org", "de"];

pub fn benign_names(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let parts = 2 + rng.below(2);
            let word: String = (0..parts)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            format!("{word}{}.{}", i % 7, TLDS[rng.below(TLDS.len())])
        })
        .collect()
}

pub fn dga_names(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let len = 12 + rng.below(10);
            let label: String = (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect();
            format!("{label}.{}", TLDS[rng.below(TLDS.len())])
        })
        .collect()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// Writes `benign.txt` (plain list) and `dga.csv` (labelled CSV with families).
pub fn write_training_files(dir: &Path, per_class: usize) -> (PathBuf, PathBuf) {
    let benign = write(
        dir,
        "benign.txt",
        &(benign_names(per_class, 1).join("\n") + "\n"),
    );
    let mut csv = String::from("domain,family\n");
    for (i, name) in dga_names(per_class, 2).iter().enumerate() {
        csv.push_str(&format!(
            "{name},{}\n",
            if i % 3 == 0 { "alpha" } else { "beta" }
        ));
    }
    let dga = write(dir, "dga.csv", &csv);
    (benign, dga)
}

/// Runs the `dga-lite` binary built for these tests.
pub fn dga_lite(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dga-lite"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// The stdout of a run that must have succeeded (else both streams, in the failure).
pub fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// A model file's header, as `dga-lite model info --json` prints it.
pub fn model_header(model: &Path) -> serde_json::Value {
    let info = ok(&dga_lite(&[
        "model",
        "info",
        "--json",
        "--model",
        model.to_str().expect("UTF-8 path"),
    ]));
    serde_json::from_str(&info).expect("the header is JSON")
}
