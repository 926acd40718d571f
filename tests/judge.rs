//! `judge` (what the Python package and other library callers use) says what `predict` says:
//! the same verdict words and the same scores bit for bit, with and without the name cache.

use dga_lite::backend::Scorer;
use dga_lite::data::{Format, ReadOptions};
use dga_lite::judge::{Judge, Judged};
use dga_lite::predict::{PredictOptions, predict_stream};
use dga_lite::progress::Silent;
use dga_lite::score_cache::ScoreCache;
use dga_lite::verdict::Policy;

const NAMES: [&str; 10] = [
    "google.com",
    "xjwqkdpqoe.net",
    "mail.google.accounts.login.secure.update.static.xjwqkdpqoe.net",
    "brwc0cb383d1f42",
    "printer.local",
    "1.0.168.192.in-addr.arpa",
    "a..b",
    "   ",
    "WWW.Example.COM.",
    "qxkwhjvbnrtplm.biz",
];

/// `predict`'s JSON lines for NAMES: (word, score) per name.
fn predicted(scorer: &Scorer) -> Vec<(String, f32)> {
    let options = PredictOptions {
        judge: Judge {
            policy: Policy::for_model(scorer, None),
            ..Judge::default()
        },
        json: true,
        ..PredictOptions::default()
    };
    let input = NAMES.join("\n") + "\n";
    let mut out = Vec::new();
    predict_stream(
        scorer,
        input.as_bytes(),
        "names",
        &ReadOptions::format(Some(Format::Plain)),
        &options,
        &mut out,
        &Silent,
    )
    .expect("predict runs");
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let word = if row.get("error").is_some() {
                "invalid".to_string()
            } else if row.get("local").is_some() {
                "local".to_string()
            } else if row.get("empty").is_some() {
                "empty".to_string()
            } else {
                row["verdict"].as_str().unwrap().to_string()
            };
            let score = row
                .get("score")
                .map_or(f32::NAN, |s| s.as_f64().unwrap() as f32);
            (word, score)
        })
        .collect()
}

#[test]
fn judge_gives_what_predict_prints_with_and_without_the_cache() {
    let scorer = Scorer::cpu(dga_lite::model::embedded::default_model().unwrap());
    let expected = predicted(&scorer);
    assert_eq!(expected.len(), NAMES.len());
    let judge = Judge::for_model(&scorer);
    let inputs: Vec<Option<&str>> = NAMES.iter().map(|n| Some(*n)).collect();
    let cache = ScoreCache::new(4).unwrap();
    // Uncached, then twice through a small cache (the second pass hits it).
    let runs = [
        judge.judge(&scorer, None, &inputs),
        judge.judge(&scorer, Some(&cache), &inputs),
        judge.judge(&scorer, Some(&cache), &inputs),
    ];
    assert!(cache.hits.load(std::sync::atomic::Ordering::Relaxed) > 0);
    for judged in &runs {
        for ((got, (word, score)), name) in judged.iter().zip(&expected).zip(NAMES) {
            assert_eq!(got.word(), word, "{name}");
            assert_eq!(
                got.score().to_bits(),
                score.to_bits(),
                "{name}: {} vs {score}",
                got.score()
            );
        }
    }
    // The words of this list, and the prefix evasion judged on the registrable domain.
    let words: Vec<&str> = runs[0].iter().map(Judged::word).collect();
    assert_eq!(words[3..8], ["local", "local", "local", "invalid", "empty"]);
    assert_eq!(runs[0][1].score(), runs[0][2].score());
    assert!(matches!(runs[0][0], Judged::Scored { family: None, .. }));
    // A missing value is `empty`.
    assert_eq!(judge.judge(&scorer, None, &[None]), vec![Judged::Empty]);
}
