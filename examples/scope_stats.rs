//! The measurements behind two scoring defaults (BENCHMARKS.md, "Scope and non-public names"):
//! which labelled names the Public Suffix List's private section changes, how the embedded
//! model judges them each way, and which names would be called `local`.
//!
//! cargo run --release --example scope_stats -- ../shared/data/benign.csv ../shared/data/dga.csv

use dga_lite::backend::Scorer;
use dga_lite::data::{self, Class};
use dga_lite::model::embedded;
use dga_lite::public_name::not_public;
use dga_lite::scope::registrable_under;
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let [benign_path, dga_path] = paths.as_slice() else {
        return Err("give the benign and the DGA file".into());
    };
    let scorer = Scorer::cpu(embedded::default_model()?);
    let threshold = scorer.threshold;
    for (path, class) in [(benign_path, Class::Benign), (dga_path, Class::Dga)] {
        let (samples, _) = data::read_samples_from(path, class, None)?;
        println!("== {path}: {} names", samples.len());
        // Names that would be called local, by reason and family.
        let mut local: BTreeMap<(&str, String), usize> = BTreeMap::new();
        for s in &samples {
            if let Some(why) = not_public(&s.name) {
                let family = s.family.as_deref().unwrap_or("-").to_string();
                *local.entry((why.reason(), family)).or_default() += 1;
            }
        }
        let local_total: usize = local.values().sum();
        println!("would be called local: {local_total}");
        for ((why, family), n) in &local {
            println!("  {why:<32} {family:<24} {n}");
        }
        // Names the private section changes: what is scored either way.
        let changed: Vec<&str> = samples
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| registrable_under(n, false) != registrable_under(n, true))
            .collect();
        let mut suffixes: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &changed {
            let with_private = registrable_under(n, true);
            let suffix = with_private
                .split_once('.')
                .map_or(with_private, |(_, s)| s);
            *suffixes.entry(suffix).or_default() += 1;
        }
        let mut top: Vec<(&str, usize)> = suffixes.into_iter().collect();
        top.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        println!(
            "under a private-section suffix: {} ({:.3}%); top suffixes: {:?}",
            changed.len(),
            100.0 * changed.len() as f64 / samples.len().max(1) as f64,
            &top[..top.len().min(12)]
        );
        for (label, private) in [("ICANN only", false), ("ICANN + private", true)] {
            let scored: Vec<&str> = changed
                .iter()
                .map(|n| registrable_under(n, private))
                .collect();
            let scores = scorer.score_names(&scored);
            let called = scores.iter().filter(|&&s| s >= threshold).count();
            let mean = scores.iter().map(|&s| s as f64).sum::<f64>() / scores.len().max(1) as f64;
            println!(
                "  scope {label:<16}: called dga {called} of {} at the model's threshold {threshold}, mean score {mean:.4}",
                changed.len()
            );
        }
        // The same names scored whole (today's default, --scope fqdn).
        let scores = scorer.score_names(&changed);
        let called = scores.iter().filter(|&&s| s >= threshold).count();
        println!(
            "  scope whole name      : called dga {called} of {}",
            changed.len()
        );
    }
    Ok(())
}
