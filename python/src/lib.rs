//! `dga_lite._native`: the dga-lite library seen from Python. This crate only converts: names
//! in (`names`, `arrow`), scores and verdicts out; the rules (checking, scope, `local`,
//! verdicts, the cache) are the library's `judge`, so Python gets what the CLI prints.

mod arrow;
mod names;

use dga_lite::backend::Scorer;
use dga_lite::judge::{Judge, Judged};
use dga_lite::model::{ModelError as LoadError, ModelFile};
use dga_lite::scope::Scope;
use dga_lite::score_cache::ScoreCache;
use dga_lite::verdict::Policy;
use names::Item;
use numpy::PyArray1;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

pyo3::create_exception!(
    dga_lite,
    ModelError,
    PyValueError,
    "A model file that is not a dga-lite model, is damaged, truncated or too new."
);

/// Names judged per block: bounds the memory of one call on any input size.
const BLOCK: usize = 64 * 1024;

/// Verdict words, in the order of `WORDS`.
const WORDS: [&str; 7] = [
    "dga",
    "suspicious",
    "benign",
    "local",
    "allowed",
    "empty",
    "invalid",
];

/// What one call computed, per name.
struct Results {
    scores: Vec<f32>,
    /// Index into `WORDS`.
    words: Vec<u8>,
    families: Vec<Option<(String, f32)>>,
}

/// A dga-lite model ready to score names.
#[pyclass(frozen, module = "dga_lite")]
struct Model {
    scorer: Scorer,
    judge: Judge,
    cache: Option<ScoreCache>,
    cache_names: usize,
    pool: rayon::ThreadPool,
    source: String,
}

fn load_error(e: LoadError) -> PyErr {
    match &e {
        LoadError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(e.to_string())
        }
        LoadError::Read { .. } => PyOSError::new_err(e.to_string()),
        _ => ModelError::new_err(e.to_string()),
    }
}

impl Model {
    /// Judges every name of `names`, block by block, without the GIL.
    fn run(&self, py: Python<'_>, names: &Bound<'_, PyAny>) -> PyResult<Results> {
        let source = names::read(names)?;
        let items = source.items();
        let mut results = Results {
            scores: Vec::with_capacity(items.len()),
            words: Vec::with_capacity(items.len()),
            families: Vec::with_capacity(items.len()),
        };
        for block in items.chunks(BLOCK) {
            let inputs: Vec<Option<&str>> = block
                .iter()
                .map(|item| match item {
                    Item::Name(name) => Some(name.as_ref()),
                    _ => None,
                })
                .collect();
            let judged = py.detach(|| {
                self.pool.install(|| {
                    self.judge
                        .judge(&self.scorer, self.cache.as_ref(), &inputs)
                        .into_iter()
                        .map(|j| (j.score(), word_index(&j), family_of(&j)))
                        .collect::<Vec<_>>()
                })
            });
            for (item, (score, word, family)) in block.iter().zip(judged) {
                let word = match item {
                    Item::NotText(_) => WORDS.len() as u8 - 1,
                    _ => word,
                };
                results.scores.push(score);
                results.words.push(word);
                results.families.push(family);
            }
        }
        Ok(results)
    }
}

fn word_index(judged: &Judged<'_>) -> u8 {
    WORDS
        .iter()
        .position(|w| *w == judged.word())
        .expect("every verdict word is listed") as u8
}

fn family_of(judged: &Judged<'_>) -> Option<(String, f32)> {
    match judged {
        Judged::Scored {
            family: Some((family, p)),
            ..
        } => Some((family.to_string(), *p)),
        _ => None,
    }
}

fn verdict_list<'py>(py: Python<'py>, words: &[u8]) -> PyResult<Bound<'py, PyList>> {
    let interned: Vec<Bound<'py, PyString>> =
        WORDS.iter().map(|w| PyString::intern(py, w)).collect();
    PyList::new(py, words.iter().map(|&w| interned[w as usize].clone()))
}

#[pymethods]
impl Model {
    /// Loads a model: the embedded default when `path` is None.
    #[new]
    #[pyo3(signature = (path=None, *, threads=None, scope="registrable", score_local=false, threshold=None, cache_names=65_536))]
    fn new(
        path: Option<PathBuf>,
        threads: Option<usize>,
        scope: &str,
        score_local: bool,
        threshold: Option<f32>,
        cache_names: usize,
    ) -> PyResult<Model> {
        let (model, source) = match &path {
            Some(path) => (
                ModelFile::load(path).map_err(load_error)?,
                path.display().to_string(),
            ),
            None => (
                dga_lite::model::embedded::default_model().map_err(load_error)?,
                "embedded default".to_string(),
            ),
        };
        let scope = match scope {
            "registrable" => Scope::Registrable,
            "fqdn" => Scope::Fqdn,
            other => {
                return Err(PyValueError::new_err(format!(
                    "scope {other:?}: use \"registrable\" (the registrable domain, as the \
                     models were trained) or \"fqdn\" (the whole name)"
                )));
            }
        };
        if let Some(t) = threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(PyValueError::new_err(format!(
                "threshold {t} is not in [0, 1]"
            )));
        }
        if threads == Some(0) {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        if cache_names > dga_lite::score_cache::MAX_CAPACITY {
            return Err(PyValueError::new_err(format!(
                "cache_names is {cache_names}; it must be 0 (no cache) to {}",
                dga_lite::score_cache::MAX_CAPACITY
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.unwrap_or(0))
            .thread_name(|i| format!("dga-lite-{i}"))
            .build()
            .map_err(|e| PyOSError::new_err(format!("cannot start scoring threads: {e}")))?;
        let judge = Judge {
            policy: Policy::for_model(&model, threshold),
            scope,
            score_local,
            ..Judge::default()
        };
        Ok(Model {
            scorer: Scorer::cpu(model),
            judge,
            cache: ScoreCache::new(cache_names),
            cache_names,
            pool,
            source,
        })
    }

    /// One score (probability of DGA) per name, in order, as float32; NaN where a name was
    /// not scored (missing, invalid, local, allowed: see `verdict`).
    fn score<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let results = self.run(py, names)?;
        Ok(PyArray1::from_vec(py, results.scores))
    }

    /// One verdict per name, the words the CLI prints: dga, suspicious, benign, local,
    /// allowed, empty, invalid.
    fn verdict<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = self.run(py, names)?;
        verdict_list(py, &results.words)
    }

    /// Scores and verdicts in one pass: `(scores, verdicts)`.
    fn classify<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, Bound<'py, PyList>)> {
        let results = self.run(py, names)?;
        let verdicts = verdict_list(py, &results.words)?;
        Ok((PyArray1::from_vec(py, results.scores), verdicts))
    }

    /// A multiclass model's most probable DGA family per name and its probability, for names
    /// not called benign: `(families, probabilities)`, None and NaN elsewhere.
    fn family<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyArray1<f32>>)> {
        if !self.scorer.is_multiclass() {
            return Err(PyValueError::new_err(
                "this model is binary (DGA or not): it names no families; train one with \
                 --multiclass",
            ));
        }
        let results = self.run(py, names)?;
        let probabilities: Vec<f32> = results
            .families
            .iter()
            .map(|f| f.as_ref().map_or(f32::NAN, |(_, p)| *p))
            .collect();
        let families = PyList::new(
            py,
            results
                .families
                .iter()
                .map(|f| f.as_ref().map(|(name, _)| name.as_str())),
        )?;
        Ok((families, PyArray1::from_vec(py, probabilities)))
    }

    /// The model card: architecture, vocabulary, thresholds, training data and metrics.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (self.scorer.header_json(),))
    }

    /// The score at or above which a name is called `dga`.
    #[getter]
    fn threshold(&self) -> f32 {
        self.judge.policy.dga_threshold()
    }

    /// `{"dga": ..., "suspicious": ...}`: the thresholds of the two verdicts (None when the
    /// model has no operating points or a threshold was given).
    #[getter]
    fn operating_points<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match self.judge.policy {
            Policy::Points(points) => {
                let dict = PyDict::new(py);
                dict.set_item("dga", points.dga)?;
                dict.set_item("suspicious", points.suspicious)?;
                Ok(Some(dict))
            }
            Policy::Threshold(_) => Ok(None),
        }
    }

    #[getter]
    fn architecture(&self) -> &'static str {
        self.scorer.net().architecture()
    }

    /// Class names of a multiclass model (`benign` first); empty for a binary model.
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.scorer.classes().to_vec()
    }

    #[getter]
    fn is_multiclass(&self) -> bool {
        self.scorer.is_multiclass()
    }

    #[getter]
    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    #[getter]
    fn scope(&self) -> &'static str {
        match self.judge.scope {
            Scope::Registrable => "registrable",
            Scope::Fqdn => "fqdn",
        }
    }

    /// The name cache: `{"hits", "misses", "names", "capacity"}`.
    fn cache_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        let (hits, misses, names) = self.cache.as_ref().map_or((0, 0, 0), |c| {
            (
                c.hits.load(Ordering::Relaxed),
                c.misses.load(Ordering::Relaxed),
                c.len() as u64,
            )
        });
        dict.set_item("hits", hits)?;
        dict.set_item("misses", misses)?;
        dict.set_item("names", names)?;
        dict.set_item("capacity", self.cache_names)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "dga_lite.Model({}, architecture={:?}, threshold={}, scope={:?}, threads={})",
            self.source,
            self.architecture(),
            self.threshold(),
            self.scope(),
            self.threads()
        )
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add("ModelError", m.py().get_type::<ModelError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
