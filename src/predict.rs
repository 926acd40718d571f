//! Scoring names for people and pipelines: streams input in blocks, scores each block in
//! parallel, and writes exactly one row per input record, in input order: a score, or
//! `allowed`, `local` (a name no public resolver answers: see `public_name`), `empty` (a
//! blank line, Zeek's `-`) or an error, and the run goes on. Comment
//! and header lines (`#...`, a CSV header) are not records and get no row.
//!
//! Output carries the input through: in TSV, the original line follows the name, score and
//! label (for every format but plain lists); in JSON lines, it is under `"input"` (the object
//! itself for JSON input, the line's text otherwise).

use crate::backend::Scorer;
use crate::data::{self, DataError, FeedItem, FeedReader, Format, ReadOptions};
use crate::judge::{Judge, Judged};
use crate::progress::Progress;
use crate::score_cache::ScoreCache;
use crate::verdict::Verdict;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

/// Names scored per block: bounds memory on any input size.
const BLOCK: usize = 16 * 1024;
/// Invalid lines shown on stderr when `--only-dga` keeps them out of the output.
const SHOWN_ERRORS: u64 = 5;

#[derive(Clone, Debug, Default)]
pub struct PredictOptions {
    /// The rules: verdict policy, scope, allow list, `local` names (see `judge`).
    pub judge: Judge,
    pub json: bool,
    /// Write only names called DGA (invalid lines go to stderr, counted).
    pub only_dga: bool,
    /// Scores of recent names (exact: the same rows the model gives), when there is one.
    pub cache: Option<Arc<ScoreCache>>,
}

/// Counts of what a run wrote: every input row is exactly one of scored, invalid, allowed,
/// local or empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictSummary {
    pub scored: u64,
    pub flagged: u64,
    pub invalid: u64,
    pub allowed: u64,
    /// Names that cannot be public (`local`), not scored.
    pub local: u64,
    /// Rows without a name: blank lines, Zeek's `-` and `(empty)`.
    pub empty: u64,
}

impl PredictSummary {
    pub fn add(&mut self, other: PredictSummary) {
        self.scored += other.scored;
        self.flagged += other.flagged;
        self.invalid += other.invalid;
        self.allowed += other.allowed;
        self.local += other.local;
        self.empty += other.empty;
    }
}

/// One input name: where it came from and what it was.
pub struct Query {
    pub line: Option<u64>,
    pub raw: String,
    /// The normalised name, or why it is not a host name.
    pub name: Result<String, String>,
    /// The input line to carry through to the output, and whether it is JSON.
    pub input: Option<(String, bool)>,
}

/// Why a query has no name to score when it is empty: it gets the verdict `empty`.
const EMPTY: &str = "empty";

impl Query {
    pub fn new(line: Option<u64>, raw: String) -> Query {
        let name = if raw.trim().is_empty() {
            Err(EMPTY.to_string())
        } else {
            data::normalize_name(&raw).map_err(|e| e.to_string())
        };
        Query {
            line,
            raw,
            name,
            input: None,
        }
    }

    /// A row with no name (a blank line, Zeek's `-`): reported as `empty`, not as an error.
    fn is_empty(&self) -> bool {
        matches!(&self.name, Err(reason) if reason == EMPTY)
    }
}

fn input_json(input: &Option<(String, bool)>) -> Option<serde_json::Value> {
    input.as_ref().map(|(text, is_json)| {
        if *is_json {
            serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.clone()))
        } else {
            serde_json::Value::String(text.clone())
        }
    })
}

/// Adds where a result came from (`line`) and the input it carries (`input`) to a JSON result.
fn with_context(mut obj: serde_json::Value, query: &Query) -> serde_json::Value {
    if let Some(line) = query.line {
        obj["line"] = line.into();
    }
    if let Some(input) = input_json(&query.input) {
        obj["input"] = input;
    }
    obj
}

/// Scores a block of queries and writes their lines.
pub fn write_block(
    model: &Scorer,
    queries: &[Query],
    options: &PredictOptions,
    out: &mut dyn Write,
    summary: &mut PredictSummary,
    progress: &dyn Progress,
) -> io::Result<()> {
    // What each query's name gets before the model: the part to score, or allowed / local.
    let checked: Vec<Option<Result<&str, Judged>>> = queries
        .iter()
        .map(|q| {
            q.name
                .as_deref()
                .ok()
                .map(|n| options.judge.before_scoring(n))
        })
        .collect();
    let to_score: Vec<&str> = checked
        .iter()
        .filter_map(|c| c.as_ref().and_then(|r| r.as_ref().ok().copied()))
        .collect();
    let outputs = model.net().outputs();
    let probabilities = match &options.cache {
        Some(cache) => {
            let to_score: Vec<String> = to_score.iter().map(|n| n.to_string()).collect();
            cache.probabilities(&to_score, outputs, |names| model.probabilities(names))
        }
        None => model.probabilities(&to_score),
    };
    let mut rows = probabilities.chunks_exact(outputs);
    for (query, check) in queries.iter().zip(&checked) {
        if query.is_empty() {
            summary.empty += 1;
            if options.only_dga {
                continue;
            }
            if options.json {
                let obj = serde_json::json!({"domain": query.raw, "empty": true, "dga": false});
                writeln!(out, "{}", with_context(obj, query))?;
            } else {
                match &query.input {
                    Some((text, _)) => writeln!(out, "{}\t-\tempty\t{text}", query.raw.trim())?,
                    None => writeln!(out, "{}\t-\tempty", query.raw.trim())?,
                }
            }
            continue;
        }
        match (&query.name, check) {
            (Ok(name), Some(Err(Judged::Allowed))) => {
                summary.allowed += 1;
                if options.only_dga {
                    continue;
                }
                if options.json {
                    let obj = serde_json::json!({"domain": name, "allowed": true, "dga": false});
                    writeln!(out, "{}", with_context(obj, query))?;
                } else {
                    match &query.input {
                        Some((text, _)) => writeln!(out, "{name}\t-\tallowed\t{text}")?,
                        None => writeln!(out, "{name}\t-\tallowed")?,
                    }
                }
            }
            (Ok(name), Some(Err(Judged::Local(why)))) => {
                summary.local += 1;
                if options.only_dga {
                    continue;
                }
                let why = why.reason();
                if options.json {
                    let obj = serde_json::json!({"domain": name, "local": why, "dga": false});
                    writeln!(out, "{}", with_context(obj, query))?;
                } else {
                    match &query.input {
                        Some((text, _)) => writeln!(out, "{name}\t-\tlocal\t{text}")?,
                        None => writeln!(out, "{name}\t-\tlocal")?,
                    }
                }
            }
            (Ok(name), check) => {
                // `before_scoring` gave the part of the name to score.
                let scored = match check {
                    Some(Ok(scored)) => *scored,
                    _ => name.as_str(),
                };
                let row = rows.next().expect("one row per scored name");
                let Judged::Scored {
                    score,
                    verdict,
                    family,
                } = options.judge.scored(model.model(), row)
                else {
                    unreachable!("a scored row is judged Scored")
                };
                let dga = verdict == Verdict::Dga;
                summary.scored += 1;
                summary.flagged += u64::from(dga);
                if options.only_dga && !dga {
                    continue;
                }
                if options.json {
                    let mut obj = serde_json::json!({
                        "domain": name,
                        "score": score,
                        "dga": dga,
                        "verdict": verdict.name(),
                    });
                    if scored != name {
                        obj["scored"] = scored.into();
                    }
                    if let Some((family, p)) = family {
                        obj["family"] = family.into();
                        obj["family_probability"] = p.into();
                    }
                    writeln!(out, "{}", with_context(obj, query))?;
                } else {
                    let label = verdict.name();
                    // Multiclass models add the most probable family and its probability.
                    let family = family.map_or(String::new(), |(f, p)| format!("\t{f}\t{p:.6}"));
                    match &query.input {
                        Some((text, _)) => {
                            writeln!(out, "{name}\t{score:.6}\t{label}{family}\t{text}")?
                        }
                        None => writeln!(out, "{name}\t{score:.6}\t{label}{family}")?,
                    }
                }
            }
            (Err(reason), _) => {
                summary.invalid += 1;
                if options.only_dga {
                    if summary.invalid <= SHOWN_ERRORS {
                        let at = query.line.map_or(String::new(), |l| format!("line {l}: "));
                        progress.line(&format!("{at}{reason} ({:?})", query.raw));
                    }
                } else if options.json {
                    let obj = serde_json::json!({"domain": query.raw, "error": reason});
                    writeln!(out, "{}", with_context(obj, query))?;
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
    #[error("cannot write to standard output: {0}")]
    Output(io::Error),
    #[error("reading {0}: {1}")]
    Input(String, io::Error),
}

/// Scores every record of an input (any format `data` reads) in input order.
pub fn predict_stream<R: BufRead>(
    model: &Scorer,
    reader: R,
    source: &str,
    read: &ReadOptions,
    options: &PredictOptions,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<PredictSummary, PredictError> {
    let mut feed = FeedReader::new(reader, read, source)?;
    let carry = feed.format() != Format::Plain;
    let is_json = feed.format() == Format::Jsonl;
    let mut summary = PredictSummary::default();
    let mut block = Vec::with_capacity(BLOCK);
    loop {
        let item = feed
            .next_item()
            .transpose()
            .map_err(|e| PredictError::Input(source.to_string(), e))?;
        let at_end = item.is_none();
        match item {
            Some(FeedItem::Record {
                line, name, text, ..
            }) => {
                let mut query = Query::new(Some(line), name);
                query.input = carry.then_some((text, is_json));
                block.push(query);
            }
            Some(FeedItem::Empty { line, text }) => {
                let mut query = Query::new(Some(line), String::new());
                query.input = carry.then_some((text, is_json));
                block.push(query);
            }
            Some(FeedItem::Bad { line, reason, text }) => block.push(Query {
                line: Some(line),
                raw: text,
                name: Err(reason),
                input: None,
            }),
            None => {}
        }
        if block.len() == BLOCK || (at_end && !block.is_empty()) {
            write_block(model, &block, options, out, &mut summary, progress)
                .map_err(PredictError::Output)?;
            block.clear();
        }
        if at_end {
            break;
        }
    }
    out.flush().map_err(PredictError::Output)?;
    Ok(summary)
}
