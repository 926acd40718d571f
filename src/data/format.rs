//! The feed formats we read, how to recognise them, and how to pull a record out of one line.

use std::fmt;

/// Every input format `dga-lite` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One name per line.
    Plain,
    /// `rank,domain` top-site lists (Alexa, Cisco Umbrella, Tranco).
    TopList,
    /// Bambenek OSINT DGA feed: `domain,Domain used by <Family> DGA for <date>,<date>,<url>`.
    Bambenek,
    /// 360 Netlab DGA feed: `family<TAB>domain<TAB>start<TAB>end`.
    Netlab360,
    /// CSV whose header names a `domain` column and optionally `family` or `label`
    /// (or any CSV, with the name's column given as `--column NAME|N`).
    LabelledCsv,
    /// JSON lines; the name is the field `--field PATH` (dotted), or else the first of
    /// `domain`, `query`, `qname`, `name`, `hostname`, `host`. Zeek's JSON `dns.log` is this.
    Jsonl,
    /// Zeek `dns.log` in its TSV form: `#fields` header, the name in the `query` column.
    Zeek,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Plain,
        Format::TopList,
        Format::Bambenek,
        Format::Netlab360,
        Format::LabelledCsv,
        Format::Jsonl,
        Format::Zeek,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::TopList => "toplist",
            Format::Bambenek => "bambenek",
            Format::Netlab360 => "netlab360",
            Format::LabelledCsv => "csv",
            Format::Jsonl => "jsonl",
            Format::Zeek => "zeek",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Class words a `label` column may hold; any other value is taken as a family name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Benign,
    Dga,
}

impl Class {
    fn from_word(word: &str) -> Option<Class> {
        match word.to_ascii_lowercase().as_str() {
            "0" | "benign" | "legit" | "legitimate" | "alexa" | "clean" => Some(Class::Benign),
            "1" | "dga" | "malicious" | "malware" => Some(Class::Dga),
            _ => None,
        }
    }
}

/// What one line holds, before the name is normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A comment or a header: not a record, no row of output.
    Nothing,
    /// A record with no name: a blank line, or Zeek's `-` / `(empty)` for the query. Scoring
    /// gives it a row of its own (verdict `empty`), so output joins back to the input.
    Empty,
    Record {
        name: String,
        family: Option<String>,
        class: Option<Class>,
    },
    /// The line does not fit the format; the text says why.
    Malformed(String),
}

/// Which column holds the name, when the user says so (`--column`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnSpec {
    Name(String),
    /// Counted from 1, as people count columns.
    Number(usize),
}

impl ColumnSpec {
    pub fn parse(text: &str) -> ColumnSpec {
        match text.parse::<usize>() {
            Ok(n) if n >= 1 => ColumnSpec::Number(n),
            _ => ColumnSpec::Name(text.trim().to_ascii_lowercase()),
        }
    }
}

/// What parsing a line needs beyond the format: columns from a header, a JSON field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineContext {
    pub csv: Option<CsvColumns>,
    /// Index of the name's column in a Zeek TSV log (from `#fields`).
    pub zeek_column: Option<usize>,
    /// Dotted path of the name in a JSON object; `None` tries the usual keys.
    pub json_field: Option<String>,
}

/// Keys tried, in order, for the name in a JSON object when no `--field` is given.
pub const JSON_NAME_KEYS: [&str; 6] = ["domain", "query", "qname", "name", "hostname", "host"];

/// Column positions of a labelled CSV, read from its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvColumns {
    pub domain: usize,
    pub family: Option<usize>,
    pub label: Option<usize>,
}

impl CsvColumns {
    /// Reads a header line; `None` when it names no `domain` column.
    pub fn from_header(line: &str) -> Option<CsvColumns> {
        let fields: Vec<String> = split_csv(line)?
            .into_iter()
            .map(|f| f.trim().to_ascii_lowercase())
            .collect();
        let find = |names: &[&str]| fields.iter().position(|f| names.contains(&f.as_str()));
        Some(CsvColumns {
            domain: find(&["domain", "domains", "host", "hostname", "name", "query"])?,
            family: find(&["family", "dga_family"]),
            label: find(&["label", "class"]),
        })
    }
}

/// Parses one line (without its line ending) of a file in `format`.
pub fn parse_line(format: Format, line: &str, context: &LineContext) -> Line {
    let csv = context.csv.as_ref();
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Line::Empty;
    }
    if trimmed.starts_with('#') {
        return Line::Nothing;
    }
    let record = |name: &str, family: Option<String>, class: Option<Class>| Line::Record {
        name: name.to_string(),
        family,
        class,
    };
    match format {
        Format::Plain => record(trimmed, None, None),
        Format::TopList => match trimmed.split_once(',') {
            Some((rank, name)) if rank.trim().parse::<u64>().is_ok() => record(name, None, None),
            _ => Line::Malformed("expected `rank,domain`".into()),
        },
        Format::Bambenek => {
            let mut fields = trimmed.splitn(3, ',');
            let name = fields.next().unwrap_or("");
            match fields.next().and_then(bambenek_family) {
                Some(family) => record(name, Some(family), Some(Class::Dga)),
                None => Line::Malformed(
                    "expected `domain,Domain used by <Family> DGA for <date>,...`".into(),
                ),
            }
        }
        Format::Netlab360 => {
            let fields: Vec<&str> = trimmed.split('\t').collect();
            if fields.len() >= 2 && !fields[0].trim().is_empty() {
                let family = normalize_family(fields[0]);
                record(fields[1], Some(family), Some(Class::Dga))
            } else {
                Line::Malformed("expected `family<TAB>domain<TAB>start<TAB>end`".into())
            }
        }
        Format::LabelledCsv => {
            let Some(columns) = csv else {
                return Line::Malformed("CSV line before its header".into());
            };
            let Some(fields) = split_csv(line) else {
                return Line::Malformed("unbalanced quotes".into());
            };
            let field = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(|f| f.trim());
            let Some(name) = field(Some(columns.domain)) else {
                return Line::Malformed(format!(
                    "{} fields; the header puts `domain` in field {}",
                    fields.len(),
                    columns.domain + 1
                ));
            };
            let mut family = field(columns.family)
                .filter(|f| !f.is_empty())
                .map(normalize_family);
            let mut class = None;
            if let Some(label) = field(columns.label).filter(|l| !l.is_empty()) {
                match Class::from_word(label) {
                    Some(c) => class = Some(c),
                    None if family.is_none() => family = Some(normalize_family(label)),
                    None => {}
                }
            }
            record(name, family, class)
        }
        Format::Jsonl => {
            let value: serde_json::Value = match serde_json::from_str(trimmed) {
                Ok(v) => v,
                Err(e) => return Line::Malformed(format!("not JSON ({e})")),
            };
            let found = match &context.json_field {
                Some(path) => path.split('.').try_fold(&value, |v, key| v.get(key)),
                None => JSON_NAME_KEYS.iter().find_map(|k| value.get(*k)),
            };
            match found.map(|v| v.as_str()) {
                Some(Some(name)) => record(name, None, None),
                Some(None) => Line::Malformed("the name field is not a string".into()),
                None => Line::Malformed(match &context.json_field {
                    Some(path) => format!("no field {path:?}"),
                    None => format!("no field named any of {JSON_NAME_KEYS:?}; pass --field"),
                }),
            }
        }
        Format::Zeek => {
            let Some(column) = context.zeek_column else {
                return Line::Malformed("Zeek log line before its #fields header".into());
            };
            match line.split('\t').nth(column) {
                // Zeek writes unset fields as "-" and empty ones as "(empty)".
                Some("-") | Some("(empty)") => Line::Empty,
                Some(name) => record(name, None, None),
                None => Line::Malformed(format!("fewer than {} tab-separated fields", column + 1)),
            }
        }
    }
}

/// `Domain used by Cryptolocker - Flashback DGA for 13 Apr 2017` -> `cryptolocker - flashback`.
fn bambenek_family(description: &str) -> Option<String> {
    let rest = description.trim().strip_prefix("Domain used by ")?;
    let end = rest.find(" DGA")?;
    let family = rest[..end].trim();
    (!family.is_empty()).then(|| normalize_family(family))
}

/// Family names are compared lowercase and without surrounding space.
pub fn normalize_family(family: &str) -> String {
    family.trim().to_ascii_lowercase()
}

/// Splits one CSV line into fields, honouring double quotes (`""` inside quotes is a quote).
/// Returns `None` for unbalanced quotes. A record must fit on one line.
pub fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => in_quotes = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// Guesses the format from the first lines of a file (comments included).
/// Returns `None` when nothing fits well enough; the caller asks for `--format`.
pub fn detect(first_lines: &[&str]) -> Option<Format> {
    let data: Vec<&str> = first_lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if first_lines
        .iter()
        .any(|l| l.starts_with("#separator") || l.starts_with("#fields"))
    {
        return Some(Format::Zeek);
    }
    let first = *data.first()?;
    if first.starts_with('{') {
        return Some(Format::Jsonl);
    }
    if CsvColumns::from_header(first).is_some() && first.contains(',') {
        return Some(Format::LabelledCsv);
    }
    let most =
        |f: &dyn Fn(&str) -> bool| data.iter().filter(|l| f(l)).count() * 10 >= data.len() * 9;
    if most(&|l| {
        l.split(',')
            .nth(1)
            .is_some_and(|d| d.trim().starts_with("Domain used by "))
    }) {
        return Some(Format::Bambenek);
    }
    if most(&|l| l.split('\t').count() >= 2) {
        return Some(Format::Netlab360);
    }
    if most(&|l| {
        l.split_once(',')
            .is_some_and(|(rank, _)| rank.trim().parse::<u64>().is_ok())
    }) {
        return Some(Format::TopList);
    }
    if most(&|l| !l.contains(',') && !l.contains('\t')) {
        return Some(Format::Plain);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes() {
        assert_eq!(split_csv("a,\"b,c\",d").unwrap(), vec!["a", "b,c", "d"]);
        assert_eq!(
            split_csv("\"say \"\"hi\"\"\",x").unwrap(),
            vec!["say \"hi\"", "x"]
        );
        assert_eq!(split_csv("\"open,x"), None);
        assert_eq!(split_csv("").unwrap(), vec![""]);
    }

    #[test]
    fn bambenek_description_gives_family() {
        let line = "kqwqlqswxdmsn.com,Domain used by Cryptolocker - Flashback DGA for 13 Apr 2017,2017-04-13,http://osint.bambenekconsulting.com/manual/cl.txt";
        assert_eq!(
            parse_line(Format::Bambenek, line, &LineContext::default()),
            Line::Record {
                name: "kqwqlqswxdmsn.com".into(),
                family: Some("cryptolocker - flashback".into()),
                class: Some(Class::Dga)
            }
        );
    }

    #[test]
    fn label_column_gives_class_or_family() {
        let cols = CsvColumns::from_header("host,class").unwrap();
        assert_eq!(
            cols,
            CsvColumns {
                domain: 0,
                family: None,
                label: Some(1)
            }
        );
        let context = LineContext {
            csv: Some(cols),
            ..LineContext::default()
        };
        match parse_line(Format::LabelledCsv, "a.com,legit", &context) {
            Line::Record { class, family, .. } => {
                assert_eq!(class, Some(Class::Benign));
                assert_eq!(family, None);
            }
            other => panic!("{other:?}"),
        }
        match parse_line(Format::LabelledCsv, "b.com,Necurs", &context) {
            Line::Record { class, family, .. } => {
                assert_eq!(class, None);
                assert_eq!(family.as_deref(), Some("necurs"));
            }
            other => panic!("{other:?}"),
        }
    }
}
