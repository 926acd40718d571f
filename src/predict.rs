//! Scoring names for people and pipelines: streams input in blocks, scores each block in
//! parallel, and writes one line per name in input order. Invalid names get an error line and
//! the run goes on.

use crate::data::{self, DataError, FeedItem, FeedReader, Format};
use crate::model::ModelFile;
use std::io::{self, BufRead, Write};

/// Names scored per block: bounds memory on any input size.
const BLOCK: usize = 16 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct PredictOptions {
    pub threshold: f32,
    pub json: bool,
}

/// Counts of what a run wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictSummary {
    pub scored: u64,
    pub flagged: u64,
    pub invalid: u64,
}

/// One input name: where it came from and what it was.
pub struct Query {
    pub line: Option<u64>,
    pub raw: String,
    /// The normalised name, or why it is not a host name.
    pub name: Result<String, String>,
}

impl Query {
    pub fn new(line: Option<u64>, raw: String) -> Query {
        let name = data::normalize_name(&raw).map_err(|e| e.to_string());
        Query { line, raw, name }
    }
}

/// Scores a block of queries and writes their lines.
pub fn write_block(
    model: &ModelFile,
    queries: &[Query],
    options: PredictOptions,
    out: &mut dyn Write,
    summary: &mut PredictSummary,
) -> io::Result<()> {
    let valid: Vec<&str> = queries
        .iter()
        .filter_map(|q| q.name.as_deref().ok())
        .collect();
    let mut scores = model.score_names(&valid).into_iter();
    for query in queries {
        match &query.name {
            Ok(name) => {
                let score = scores.next().expect("one score per valid name");
                let dga = score >= options.threshold;
                summary.scored += 1;
                summary.flagged += u64::from(dga);
                if options.json {
                    let mut obj = serde_json::json!({"domain": name, "score": score, "dga": dga});
                    if let Some(line) = query.line {
                        obj["line"] = line.into();
                    }
                    writeln!(out, "{obj}")?;
                } else {
                    writeln!(
                        out,
                        "{name}\t{score:.6}\t{}",
                        if dga { "dga" } else { "benign" }
                    )?;
                }
            }
            Err(reason) => {
                summary.invalid += 1;
                if options.json {
                    let mut obj = serde_json::json!({"domain": query.raw, "error": reason});
                    if let Some(line) = query.line {
                        obj["line"] = line.into();
                    }
                    writeln!(out, "{obj}")?;
                } else {
                    writeln!(out, "{}\t-\terror: {reason}", query.raw.escape_debug())?;
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("writing output: {0}")]
    Output(io::Error),
    #[error("reading {0}: {1}")]
    Input(String, io::Error),
}

/// Scores every record of a feed (any format `data` reads) in input order.
pub fn predict_stream<R: BufRead>(
    model: &ModelFile,
    reader: R,
    source: &str,
    format: Option<Format>,
    options: PredictOptions,
    out: &mut dyn Write,
) -> Result<PredictSummary, PredictError> {
    let mut feed = FeedReader::new(reader, format, source)?;
    let mut summary = PredictSummary::default();
    let mut block = Vec::with_capacity(BLOCK);
    loop {
        let item = feed
            .next_item()
            .transpose()
            .map_err(|e| PredictError::Input(source.to_string(), e))?;
        let at_end = item.is_none();
        match item {
            Some(FeedItem::Record { line, name, .. }) => block.push(Query::new(Some(line), name)),
            Some(FeedItem::Bad { line, reason, text }) => block.push(Query {
                line: Some(line),
                raw: text,
                name: Err(reason),
            }),
            None => {}
        }
        if block.len() == BLOCK || (at_end && !block.is_empty()) {
            write_block(model, &block, options, out, &mut summary).map_err(PredictError::Output)?;
            block.clear();
        }
        if at_end {
            break;
        }
    }
    out.flush().map_err(PredictError::Output)?;
    Ok(summary)
}
