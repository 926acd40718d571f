//! Reading feeds: detect the format, parse each line, normalise names, report what was skipped.
//!
//! Nothing here panics on bad input: every line that cannot be used is counted and the first
//! few are kept, with line numbers, for the report the user sees.

pub mod format;
pub mod lines;
pub mod normalize;

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

pub use format::{Class, Format};
use format::{CsvColumns, Line};
use lines::{BoundedLines, MAX_LINE_BYTES};
pub use normalize::{InvalidName, normalize_name};

/// How many offending lines a report keeps verbatim.
pub const MAX_EXAMPLES: usize = 5;
/// How many lines format detection looks at.
const DETECT_LINES: usize = 20;

/// One labelled name, ready for encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub name: String,
    pub class: Class,
    pub family: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "cannot tell the format of {path} from its first lines (first: {first:?}); pass --format with one of: plain, toplist, bambenek, netlab360, csv"
    )]
    UnknownFormat { path: String, first: String },
    #[error("{path} is empty: no names to read")]
    Empty { path: String },
}

/// A skipped line as the user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
    /// The start of the line (at most 80 characters, invalid UTF-8 replaced).
    pub text: String,
}

/// What reading one source gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    pub source: String,
    pub format: Option<Format>,
    pub lines: u64,
    pub accepted: u64,
    pub skipped: u64,
    pub examples: Vec<BadLine>,
}

impl ReadReport {
    fn skip(&mut self, line: u64, reason: String, text: &str) {
        self.skipped += 1;
        if self.examples.len() < MAX_EXAMPLES {
            let text: String = text.chars().take(80).collect();
            self.examples.push(BadLine { line, reason, text });
        }
    }
}

impl std::fmt::Display for ReadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = self.format.map_or("?", Format::name);
        write!(
            f,
            "{}: format {format}, {} lines, {} names read, {} skipped",
            self.source, self.lines, self.accepted, self.skipped
        )?;
        for bad in &self.examples {
            write!(f, "\n  line {}: {} ({:?})", bad.line, bad.reason, bad.text)?;
        }
        if self.skipped > self.examples.len() as u64 {
            write!(
                f,
                "\n  ... and {} more",
                self.skipped - self.examples.len() as u64
            )?;
        }
        Ok(())
    }
}

/// A parsed record of one line, with its line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedItem {
    Record {
        line: u64,
        name: String,
        family: Option<String>,
        class: Option<Class>,
    },
    /// The line is unusable; `text` is its (lossy) start.
    Bad {
        line: u64,
        reason: String,
        text: String,
    },
}

/// Parses a stream line by line in a detected (or given) format.
pub struct FeedReader<R> {
    lines: BoundedLines<R>,
    format: Format,
    csv: Option<CsvColumns>,
    lookahead: VecDeque<(u64, Result<String, lines::LineError>)>,
}

impl<R: BufRead> FeedReader<R> {
    /// Reads the first lines to detect the format (unless `format` is given).
    pub fn new(reader: R, format: Option<Format>, source: &str) -> Result<Self, DataError> {
        let mut lines = BoundedLines::new(reader, MAX_LINE_BYTES);
        let mut lookahead = VecDeque::new();
        let io_err = |e| DataError::Io {
            path: source.to_string(),
            source: e,
        };
        while lookahead.len() < DETECT_LINES {
            match lines.next_line() {
                Some(item) => lookahead.push_back(item.map_err(io_err)?),
                None => break,
            }
        }
        let texts: Vec<&str> = lookahead
            .iter()
            .filter_map(|(_, text)| text.as_ref().ok().map(String::as_str))
            .collect();
        let format = match format {
            Some(format) => format,
            None => {
                if texts.iter().all(|t| t.trim().is_empty())
                    && lookahead.iter().all(|(_, t)| t.is_ok())
                {
                    return Err(DataError::Empty {
                        path: source.to_string(),
                    });
                }
                format::detect(&texts).ok_or_else(|| DataError::UnknownFormat {
                    path: source.to_string(),
                    first: texts
                        .iter()
                        .find(|t| !t.trim().is_empty())
                        .unwrap_or(&"")
                        .chars()
                        .take(80)
                        .collect(),
                })?
            }
        };
        Ok(FeedReader {
            lines,
            format,
            csv: None,
            lookahead,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The next record or bad line; `None` at the end of input.
    pub fn next_item(&mut self) -> Option<io::Result<FeedItem>> {
        loop {
            let (line, text) = match self.lookahead.pop_front() {
                Some(item) => item,
                None => match self.lines.next_line()? {
                    Ok(item) => item,
                    Err(e) => return Some(Err(e)),
                },
            };
            let text = match text {
                Ok(text) => text,
                Err(e) => {
                    let shown = match &e {
                        lines::LineError::NotUtf8 { lossy } => lossy.chars().take(80).collect(),
                        lines::LineError::TooLong { .. } => String::new(),
                    };
                    return Some(Ok(FeedItem::Bad {
                        line,
                        reason: e.to_string(),
                        text: shown,
                    }));
                }
            };
            if self.format == Format::LabelledCsv && self.csv.is_none() {
                if text.trim().is_empty() || text.trim_start().starts_with('#') {
                    continue;
                }
                match CsvColumns::from_header(&text) {
                    Some(columns) => {
                        self.csv = Some(columns);
                        continue;
                    }
                    None => {
                        return Some(Ok(FeedItem::Bad {
                            line,
                            reason: "CSV header names no `domain` column".into(),
                            text,
                        }));
                    }
                }
            }
            match format::parse_line(self.format, &text, self.csv.as_ref()) {
                Line::Nothing => continue,
                Line::Record {
                    name,
                    family,
                    class,
                } => {
                    return Some(Ok(FeedItem::Record {
                        line,
                        name,
                        family,
                        class,
                    }));
                }
                Line::Malformed(reason) => return Some(Ok(FeedItem::Bad { line, reason, text })),
            }
        }
    }
}

/// Opens a path, or standard input for `-`.
pub fn open_input(path: &str) -> Result<Box<dyn BufRead>, DataError> {
    if path == "-" {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let file = File::open(Path::new(path)).map_err(|e| DataError::Io {
        path: path.to_string(),
        source: e,
    })?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
}

/// Reads every valid name of one class from `reader`, skipping and reporting the rest.
/// A record whose own label contradicts `class` is skipped, never relabelled.
pub fn read_samples<R: BufRead>(
    reader: R,
    source: &str,
    class: Class,
    format: Option<Format>,
) -> Result<(Vec<Sample>, ReadReport), DataError> {
    let mut feed = FeedReader::new(reader, format, source)?;
    let mut report = ReadReport {
        source: source.to_string(),
        format: Some(feed.format()),
        ..Default::default()
    };
    let mut samples = Vec::new();
    while let Some(item) = feed.next_item() {
        let item = item.map_err(|e| DataError::Io {
            path: source.to_string(),
            source: e,
        })?;
        match item {
            FeedItem::Bad { line, reason, text } => report.skip(line, reason, &text),
            FeedItem::Record {
                line,
                name,
                family,
                class: own,
            } => {
                if own.is_some_and(|own| own != class) {
                    let reason = format!(
                        "the line says {:?} but the file was given as {:?}",
                        own.unwrap(),
                        class
                    );
                    report.skip(line, reason, &name);
                    continue;
                }
                match normalize_name(&name) {
                    Ok(name) => {
                        let family = if class == Class::Dga { family } else { None };
                        samples.push(Sample {
                            name,
                            class,
                            family,
                        });
                        report.accepted += 1;
                    }
                    Err(e) => report.skip(line, e.to_string(), &name),
                }
            }
        }
    }
    report.lines = feed.lines.lines_read();
    Ok((samples, report))
}

/// `read_samples` on a file path (or `-` for standard input).
pub fn read_samples_from(
    path: &str,
    class: Class,
    format: Option<Format>,
) -> Result<(Vec<Sample>, ReadReport), DataError> {
    read_samples(open_input(path)?, path, class, format)
}
