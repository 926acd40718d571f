//! What one name costs the embedded model when scored alone and in groups: the measurement
//! behind the service's choice to queue the LSTM's concurrent one-name requests into shared
//! rounds rather than score each on its own (BENCHMARKS.md, "The service's scoring threads").
//! Each LSTM step reads the recurrent weights once per block of rows, so a name alone pays
//! that read by itself.
//!
//! cargo run --release --example group_cost [-- MODEL]

use dga_lite::backend::Scorer;
use dga_lite::model::{embedded, file::ModelFile};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = match std::env::args().nth(1) {
        Some(path) => ModelFile::load(std::path::Path::new(&path))?,
        None => embedded::default_model()?,
    };
    let scorer = Scorer::cpu(model);
    // Names shaped like the load test's fresh names (benches/load.sh): 19 characters.
    let names: Vec<String> = (0..24_000u64)
        .map(|c| format!("q{}x{:05}kz{:04}v.net", c % 16, c, (c * 7919) % 10_007))
        .collect();
    scorer.probabilities(&names[..64]); // warm up: build the scorer, fault the pages in
    println!(
        "names per call   us per name (one thread, {} names)",
        names.len()
    );
    for group in [1usize, 2, 4, 6, 8, 16, 64] {
        let started = Instant::now();
        let mut checksum = 0.0f64;
        for chunk in names.chunks(group) {
            checksum += scorer.probabilities(chunk)[0] as f64;
        }
        let per_name = started.elapsed().as_secs_f64() * 1e6 / names.len() as f64;
        println!("{group:>14}   {per_name:>11.1}   (checksum {checksum:.3})");
    }
    Ok(())
}
