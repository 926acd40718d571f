//! `dga-lite predict`: scores names from the command line, a file or standard input, one
//! output row per input record.

use super::args::PredictArgs;
use super::progress::Terminal;
use anyhow::{Context, bail};
use dga_lite::data;
use dga_lite::predict::{self, PredictOptions, PredictSummary, Query};
use dga_lite::scope::AllowList;
use dga_lite::words::count;
use std::io::{self, Write};

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    super::set_threads(&args.common)?;
    let threshold = super::check_threshold(args.threshold)?;
    if args.names.is_empty() && args.input.is_none() {
        bail!("nothing to score: give names as arguments or --input FILE (- for stdin)");
    }
    let model = super::load_scorer(args.model.as_deref(), &args.common)?;
    let mut allow_text = String::new();
    for path in &args.allow {
        let cannot =
            |e: &dyn std::fmt::Display| format!("cannot read allow list {}: {e}", path.display());
        let bytes = dga_lite::bounded_read::read_regular_file(path, 64 << 20, "allow list")
            .map_err(|e| anyhow::anyhow!(cannot(&e)))?;
        let text = String::from_utf8(bytes).map_err(|e| anyhow::anyhow!(cannot(&e)))?;
        // A byte-order mark is not part of the first entry.
        allow_text.push_str(text.strip_prefix('\u{feff}').unwrap_or(&text));
        allow_text.push('\n');
    }
    let (allow, bad) = AllowList::parse(&allow_text);
    for (line, why) in bad.iter().take(5) {
        eprintln!("allow list: skipped entry {line}: {why}");
    }
    let options = PredictOptions {
        judge: dga_lite::judge::Judge {
            policy: dga_lite::verdict::Policy::for_model(&model, threshold),
            scope: args.scoring.scope.scope(),
            score_local: args.scoring.score_local,
            allow,
        },
        json: args.json,
        only_dga: args.only_dga,
        cache: dga_lite::score_cache::ScoreCache::new(args.cache_names).map(std::sync::Arc::new),
    };
    let lines = Terminal::new(false);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut summary = PredictSummary::default();
    if !args.names.is_empty() {
        let queries: Vec<Query> = args
            .names
            .into_iter()
            .map(|n| Query::new(None, n))
            .collect();
        predict::write_block(&model, &queries, &options, &mut out, &mut summary, &lines)
            .context("cannot write to standard output")?;
    }
    if let Some(input) = &args.input {
        let reader = data::open_input(input)?;
        let read = data::ReadOptions {
            format: args.format.map(|f| f.format()),
            column: args.column.as_deref().map(data::ColumnSpec::parse),
            field: args.field.clone(),
        };
        let s = predict::predict_stream(&model, reader, input, &read, &options, &mut out, &lines)?;
        summary.add(s);
    }
    out.flush().context("cannot write to standard output")?;
    if summary.invalid > 0 || summary.allowed > 0 || summary.local > 0 || summary.empty > 0 {
        eprintln!(
            "{} scored, {} flagged as DGA, {} allowed, {} local, {} invalid, {} empty",
            count(summary.scored, "name"),
            summary.flagged,
            summary.allowed,
            summary.local,
            summary.invalid,
            summary.empty
        );
    }
    Ok(())
}
