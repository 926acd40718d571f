//! Reading feeds: detect the format, parse each line, normalise names, report what was skipped.
//!
//! Nothing here panics on bad input: every line that cannot be used is counted and the first
//! few are kept, with line numbers, for the report the user sees.

pub mod format;
pub mod lines;
pub mod normalize;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

pub use format::ColumnSpec;
pub use format::{Class, Format};
use format::{CsvColumns, Line, LineContext};
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
    /// Shared between the samples of one family (a million names carry a few dozen families).
    pub family: Option<Arc<str>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "cannot tell the format of {path} from its first lines (first: {first:?}); pass --format with one of: plain, toplist, bambenek, netlab360, csv, jsonl, zeek"
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
            "{}: format {format}, {}, {} read, {} skipped",
            self.source,
            crate::words::count(self.lines, "line"),
            crate::words::count(self.accepted, "name"),
            self.skipped
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
        /// The whole line, so output can carry the input's own fields through.
        text: String,
    },
    /// A record without a name (a blank line, Zeek's `-` or `(empty)`).
    Empty { line: u64, text: String },
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
    context: LineContext,
    column: Option<ColumnSpec>,
    /// A CSV's header (or first line) has been seen.
    csv_started: bool,
    lookahead: VecDeque<(u64, Result<String, lines::LineError>)>,
}

/// How to read an input: its format (detected when `None`), and for CSV, Zeek or JSON lines,
/// which column or field holds the name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub format: Option<Format>,
    pub column: Option<ColumnSpec>,
    pub field: Option<String>,
}

impl ReadOptions {
    pub fn format(format: Option<Format>) -> ReadOptions {
        ReadOptions {
            format,
            ..ReadOptions::default()
        }
    }
}

impl<R: BufRead> FeedReader<R> {
    /// Reads the first lines to detect the format (unless `format` is given).
    pub fn new(reader: R, options: &ReadOptions, source: &str) -> Result<Self, DataError> {
        let format = options.format;
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
        let context = LineContext {
            json_field: options.field.clone(),
            ..LineContext::default()
        };
        Ok(FeedReader {
            lines,
            format,
            context,
            column: options.column.clone(),
            csv_started: false,
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
            if self.format == Format::Zeek && text.starts_with("#fields") {
                match zeek_column(&text, self.column.as_ref()) {
                    Some(column) => self.context.zeek_column = Some(column),
                    None => {
                        // Every line after it would be unreadable: stop rather than skip them all.
                        let wanted = match &self.column {
                            Some(ColumnSpec::Name(name)) => format!("column {name:?}"),
                            Some(ColumnSpec::Number(n)) => format!("column {n}"),
                            None => "`query` column (pass --column to name another)".into(),
                        };
                        return Some(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("the Zeek #fields header on line {line} has no {wanted}"),
                        )));
                    }
                }
                continue;
            }
            if self.format == Format::LabelledCsv && !self.csv_started {
                if text.trim().is_empty() || text.trim_start().starts_with('#') {
                    continue;
                }
                self.csv_started = true;
                match csv_start(&text, self.column.as_ref()) {
                    Ok((columns, is_header)) => {
                        self.context.csv = Some(columns);
                        if is_header {
                            continue;
                        }
                    }
                    Err(reason) => return Some(Ok(FeedItem::Bad { line, reason, text })),
                }
            }
            match format::parse_line(self.format, &text, &self.context) {
                Line::Nothing => continue,
                Line::Empty => return Some(Ok(FeedItem::Empty { line, text })),
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
                        text,
                    }));
                }
                Line::Malformed(reason) => return Some(Ok(FeedItem::Bad { line, reason, text })),
            }
        }
    }
}

/// The name's column in a Zeek `#fields` header line.
fn zeek_column(header: &str, column: Option<&ColumnSpec>) -> Option<usize> {
    let fields: Vec<&str> = header.split('\t').skip(1).collect();
    match column {
        Some(ColumnSpec::Number(n)) => (*n <= fields.len()).then(|| n - 1),
        Some(ColumnSpec::Name(name)) => fields.iter().position(|f| f == name),
        None => fields.iter().position(|f| *f == "query"),
    }
}

/// Reads a CSV's first line: its columns, and whether the line is a header (a numbered
/// `--column` works with or without one).
fn csv_start(first: &str, column: Option<&ColumnSpec>) -> Result<(CsvColumns, bool), String> {
    let header = CsvColumns::from_header(first);
    match column {
        None => header
            .map(|c| (c, true))
            .ok_or_else(|| "CSV header names no `domain` column (pass --column)".to_string()),
        Some(ColumnSpec::Number(n)) => {
            let looks_like_header = header.is_some()
                || format::split_csv(first)
                    .and_then(|f| f.get(n - 1).map(|v| normalize_name(v).is_err()))
                    .unwrap_or(false);
            let mut columns = header.unwrap_or(CsvColumns {
                domain: 0,
                family: None,
                label: None,
            });
            columns.domain = n - 1;
            Ok((columns, looks_like_header))
        }
        Some(ColumnSpec::Name(name)) => {
            let fields = format::split_csv(first).unwrap_or_default();
            let domain = fields
                .iter()
                .position(|f| f.trim().to_ascii_lowercase() == *name)
                .ok_or_else(|| format!("the CSV header has no column {name:?}"))?;
            let mut columns = header.unwrap_or(CsvColumns {
                domain,
                family: None,
                label: None,
            });
            columns.domain = domain;
            Ok((columns, true))
        }
    }
}

/// One shared copy of each family name.
fn intern(families: &mut HashMap<String, Arc<str>>, family: String) -> Arc<str> {
    families
        .entry(family)
        .or_insert_with_key(|f| Arc::from(f.as_str()))
        .clone()
}

/// Opens a path, or standard input for `-`.
pub fn open_input(path: &str) -> Result<Box<dyn BufRead>, DataError> {
    if path == "-" {
        return gunzip_if_compressed(Box::new(BufReader::new(io::stdin())), path);
    }
    let io_error = |e| DataError::Io {
        path: path.to_string(),
        source: e,
    };
    // A device (/dev/zero, /dev/urandom) would read forever; a FIFO or a pipe is a stream
    // someone writes to, and is read like a file.
    let kind = std::fs::metadata(path).map_err(io_error)?.file_type();
    if crate::bounded_read::is_device(&kind) {
        return Err(io_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a device, not a file of names (pass - to read standard input)",
        )));
    }
    let file = File::open(Path::new(path)).map_err(io_error)?;
    gunzip_if_compressed(Box::new(BufReader::with_capacity(1 << 16, file)), path)
}

/// Wraps a reader in a gzip decoder when it starts with the gzip magic bytes (1f 8b), so
/// compressed logs and feeds need no flag. Concatenated gzip members are read as one stream.
pub fn gunzip_if_compressed(
    mut reader: Box<dyn BufRead>,
    path: &str,
) -> Result<Box<dyn BufRead>, DataError> {
    let head = reader.fill_buf().map_err(|e| DataError::Io {
        path: path.to_string(),
        source: e,
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        return Ok(Box::new(BufReader::with_capacity(1 << 16, decoder)));
    }
    Ok(reader)
}

/// Reads every valid name of one class from `reader`, skipping and reporting the rest.
/// A record whose own label contradicts `class` is skipped, never relabelled.
pub fn read_samples<R: BufRead>(
    reader: R,
    source: &str,
    class: Class,
    format: Option<Format>,
) -> Result<(Vec<Sample>, ReadReport), DataError> {
    read_samples_with(reader, source, class, &ReadOptions::format(format))
}

/// `read_samples` with a column or field choice as well as a format.
pub fn read_samples_with<R: BufRead>(
    reader: R,
    source: &str,
    class: Class,
    options: &ReadOptions,
) -> Result<(Vec<Sample>, ReadReport), DataError> {
    let mut feed = FeedReader::new(reader, options, source)?;
    let mut report = ReadReport {
        source: source.to_string(),
        format: Some(feed.format()),
        ..Default::default()
    };
    let mut samples = Vec::new();
    let mut families = HashMap::new();
    while let Some(item) = feed.next_item() {
        let item = item.map_err(|e| DataError::Io {
            path: source.to_string(),
            source: e,
        })?;
        match item {
            FeedItem::Bad { line, reason, text } => report.skip(line, reason, &text),
            // Nothing to learn from, and nothing wrong with the file either.
            FeedItem::Empty { .. } => {}
            FeedItem::Record {
                line,
                name,
                family,
                class: own,
                ..
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
                        let family = if class == Class::Dga {
                            family.map(|f| intern(&mut families, f))
                        } else {
                            None
                        };
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
