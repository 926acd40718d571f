//! Reading a run's inputs: each file hashed as it is read (the hash goes in the model card
//! and the checkpoint fingerprint), names seen twice kept once, names in both classes dropped.

use super::parent::Parent;
use super::{STREAM_REPLAY, TrainError, TrainOptions};
use crate::data::{self, Class, DataError, Format, ReadReport, Sample};
use crate::model::file::{ExcludedInfo, InputInfo};
use crate::progress::Progress;
use crate::rng::Rng;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufReader, Read};

/// What reading every input gave.
pub struct Inputs {
    /// Benign names, then DGA names.
    pub by_class: [Vec<Sample>; 2],
    pub reports: Vec<ReadReport>,
    pub infos: Vec<InputInfo>,
    /// The `--exclude` list, if given: its names, and what the model card records about it
    /// (the counts are filled in after the split, which the list does not change).
    pub exclude: Option<(HashSet<String>, ExcludedInfo)>,
    /// Names kept out of every split (`--hold-out-family`, `--hold-out-benign`).
    pub held_out: super::held_out::HeldOut,
}

/// Reads every `--benign` and `--dga` input (and, fine-tuning with `--replay`, names from the
/// parent's training files); a name seen twice is kept once, a name in both classes is
/// dropped from both. A class left without names is an error.
pub fn read_all(
    options: &TrainOptions,
    parent: Option<&Parent>,
    root: &Rng,
    progress: &dyn Progress,
) -> Result<Inputs, TrainError> {
    let mut reports = Vec::new();
    let mut infos = Vec::new();
    let mut by_class: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for (paths, class) in [(&options.benign, Class::Benign), (&options.dga, Class::Dga)] {
        for path in paths.iter() {
            let (samples, report, info) = read_input(path, class, options.format)?;
            progress.line(&format!("{report}"));
            by_class[class as usize].extend(samples);
            reports.push(report);
            infos.push(info);
        }
    }
    if let Some(parent) = parent
        && options.replay > 0
    {
        let replayed = parent.replay(options.replay, &mut root.fork(STREAM_REPLAY))?;
        for (class, samples) in replayed.into_iter().enumerate() {
            let which = if class == 0 { "benign" } else { "DGA" };
            progress.line(&format!(
                "replay: {} from the parent's training data",
                crate::words::count(samples.len() as u64, &format!("{which} name"))
            ));
            by_class[class].extend(samples);
        }
    }
    for samples in by_class.iter_mut() {
        // Which samples are first seen, decided without copying any name.
        let first: Vec<bool> = {
            let mut seen = HashSet::with_capacity(samples.len());
            samples
                .iter()
                .map(|s| seen.insert(s.name.as_str()))
                .collect()
        };
        let mut keep = first.into_iter();
        samples.retain(|_| keep.next().unwrap_or(false));
    }
    let benign_names: HashSet<&str> = by_class[0].iter().map(|s| s.name.as_str()).collect();
    let in_both: HashSet<String> = by_class[1]
        .iter()
        .filter(|s| benign_names.contains(s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    if !in_both.is_empty() {
        progress.line(&format!(
            "{} in both benign and DGA inputs; dropped from both",
            crate::words::count(in_both.len() as u64, "name")
        ));
        for samples in by_class.iter_mut() {
            samples.retain(|s| !in_both.contains(&s.name));
        }
    }
    // Held out after the parent's names are mixed in, so none of them is trained on either.
    let held_out = super::held_out::take(
        &mut by_class,
        &options.hold_out_families,
        &options.hold_out_benign,
        options.format,
        progress,
    )?;
    let exclude = match &options.exclude {
        Some(path) => Some(read_exclude_list(path)?),
        None => None,
    };
    for (class, samples) in by_class.iter().enumerate() {
        if samples.is_empty() {
            let which = if class == 0 { "--benign" } else { "--dga" };
            return Err(TrainError::Invalid(format!(
                "the {which} inputs hold no valid names"
            )));
        }
    }

    Ok(Inputs {
        by_class,
        reports,
        infos,
        exclude,
        held_out,
    })
}

/// The names of an exclude list: one per line, or a CSV with a `name` column (the CSV
/// `dga-lite audit` writes, after review); `#` comments and blank lines are skipped. Returns
/// the names (normalised) and what the model card records about the list.
fn read_exclude_list(
    path: &std::path::Path,
) -> Result<(HashSet<String>, ExcludedInfo), TrainError> {
    let shown = path.display().to_string();
    let bytes = crate::bounded_read::read_regular_file(path, 256 << 20, "exclude list")
        .map_err(|e| TrainError::Invalid(format!("cannot read --exclude {shown}: {e}")))?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| TrainError::Invalid(format!("--exclude {shown} is not UTF-8 text")))?;
    let mut lines = text.lines().map(|l| l.trim_start_matches('\u{feff}'));
    let mut column = None;
    let mut names = HashSet::new();
    let mut first = true;
    for line in lines.by_ref() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if first {
            first = false;
            // A CSV header names the column; a name never holds a comma.
            if let Some(at) = line.split(',').position(|field| field.trim() == "name") {
                column = Some(at);
                continue;
            }
        }
        let field = match column {
            Some(at) => line.split(',').nth(at).unwrap_or(""),
            None => line,
        };
        let name = crate::data::normalize_name(field.trim())
            .map_err(|e| TrainError::Invalid(format!("--exclude {shown}: {e}: {field:?}")))?;
        names.insert(name);
    }
    let info = ExcludedInfo {
        path: shown,
        sha256: Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        listed: names.len() as u64,
        dropped: 0,
        in_test: 0,
    };
    Ok((names, info))
}

/// Hashes what passes through a reader, so inputs are hashed in the same pass that reads them.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads one input file, hashing it as it goes.
pub fn read_input(
    path: &str,
    class: Class,
    format: Option<Format>,
) -> Result<(Vec<Sample>, ReadReport, InputInfo), DataError> {
    let mut reader = HashingReader {
        inner: data::open_input(path)?,
        hasher: Sha256::new(),
    };
    let (samples, report) = data::read_samples(BufReader::new(&mut reader), path, class, format)?;
    // Hash whatever detection or parsing left unread (nothing, normally).
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| DataError::Io {
        path: path.to_string(),
        source: e,
    })?;
    let sha256 = reader
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let info = InputInfo {
        path: path.to_string(),
        sha256,
        class,
        format: report.format.map_or("?", Format::name).to_string(),
        names: report.accepted,
        skipped: report.skipped,
    };
    Ok((samples, report, info))
}
