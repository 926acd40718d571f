//! Finding label noise (`dga-lite audit`): popularity lists rank whatever resolves often,
//! malware included, so some "benign" names are DGA names, and feeds carry the odd real name.
//! The audit trains `k` models on `k` folds of the inputs (seeded, stratified by class), scores
//! every name with the model that never saw it, and ranks the names whose out-of-fold score
//! contradicts their label with high confidence: confident learning (Northcutt et al., 2021),
//! with each class's threshold the mean out-of-fold probability of that class among the names
//! labelled with it.

use super::fit::{Run, fit};
use super::split::Split;
use super::{STREAM_INIT, TrainError, TrainOptions, inputs};
use crate::backend::Scorer;
use crate::classes::Classes;
use crate::data::{Class, Sample};
use crate::encode::Vocab;
use crate::model::{Architecture, EndgameLstm, ModelFile, SnowmanCnn, TrainingInfo};
use crate::progress::Progress;
use crate::rng::Rng;

/// Stream of the fold assignment (the training streams are 1 to 5).
const STREAM_FOLDS: u64 = 6;

/// A name whose label its out-of-fold score contradicts.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    pub name: String,
    pub label: Class,
    pub family: Option<String>,
    /// Probability of DGA from the model that did not train on the name.
    pub score: f32,
    pub fold: usize,
}

impl Suspect {
    /// How confidently the score contradicts the label: P(DGA) for a benign label,
    /// P(benign) for a DGA label.
    pub fn confidence(&self) -> f32 {
        match self.label {
            Class::Benign => self.score,
            Class::Dga => 1.0 - self.score,
        }
    }
}

pub struct AuditOutcome {
    /// Most confident first.
    pub suspects: Vec<Suspect>,
    /// Names audited per class (benign, DGA).
    pub audited: [usize; 2],
    /// The per-class thresholds: mean out-of-fold P(benign) of benign-labelled names, mean
    /// P(DGA) of DGA-labelled names.
    pub thresholds: [f32; 2],
}

/// Audits the inputs of `options` (read, de-duplicated and checked as `train` does) with
/// `folds` binary models of `options.architecture`.
pub fn audit(
    options: &TrainOptions,
    folds: usize,
    progress: &dyn Progress,
) -> Result<AuditOutcome, TrainError> {
    if !matches!(
        options.architecture,
        Architecture::SnowmanCnn(_) | Architecture::EndgameLstm(_)
    ) {
        return Err(one_network());
    }
    super::check(options)?;
    if folds < 2 {
        return Err(TrainError::Invalid(
            "--folds must be at least 2: each name is scored by a model trained on the others"
                .into(),
        ));
    }
    let root = Rng::new(options.seed);
    let read = inputs::read_all(options, None, &root, progress)?;
    for (samples, which) in read.by_class.iter().zip(["--benign", "--dga"]) {
        if samples.len() < folds {
            return Err(TrainError::Invalid(format!(
                "the {which} inputs hold {} after de-duplication, fewer than --folds {folds}: every fold needs names of both classes",
                crate::words::count(samples.len() as u64, "name")
            )));
        }
    }
    // Stratified folds: each class shuffled, then dealt round-robin.
    let mut samples: Vec<Sample> = Vec::new();
    let mut fold_of: Vec<usize> = Vec::new();
    let mut fold_rng = root.fork(STREAM_FOLDS);
    for class_samples in read.by_class {
        let mut order: Vec<usize> = (0..class_samples.len()).collect();
        fold_rng.shuffle(&mut order);
        let mut fold = vec![0; class_samples.len()];
        for (k, &i) in order.iter().enumerate() {
            fold[i] = k % folds;
        }
        samples.extend(class_samples);
        fold_of.extend(fold);
    }
    let classes = Classes::binary();
    let mut scores = vec![0.0f32; samples.len()];
    for f in 0..folds {
        progress.line(&format!("fold {}/{folds}", f + 1));
        let (held, trained): (Vec<usize>, Vec<usize>) =
            (0..samples.len()).partition(|&i| fold_of[i] == f);
        let train_samples: Vec<Sample> = trained.iter().map(|&i| samples[i].clone()).collect();
        let vocab = Vocab::from_names(train_samples.iter().map(|s| s.name.as_str()));
        let train_split = Split::new(&train_samples, &vocab, &classes);
        let empty = Split::new(&[], &vocab, &classes);
        let fold_root = root.fork(100 + f as u64);
        let run = Run {
            options,
            root: &fold_root,
            splits: (&train_split, &empty, &empty),
            audited_test: None,
            classes: &classes,
            fingerprint: "audit",
            progress,
        };
        let init = &mut fold_root.fork(STREAM_INIT);
        let fitted = match &options.architecture {
            Architecture::SnowmanCnn(config) => {
                fit(SnowmanCnn::new(config.clone(), vocab.size(), init), &run)?
            }
            Architecture::EndgameLstm(config) | Architecture::EndgameLstmMulticlass(config) => {
                fit(EndgameLstm::new(*config, vocab.size(), init), &run)?
            }
            Architecture::LstmCnnEnsemble(..) => return Err(one_network()),
        };
        let model = ModelFile::new(fitted.net, vocab, 0.5, TrainingInfo::default());
        let scorer = Scorer::new(model, options.backend)?;
        let names: Vec<&str> = held.iter().map(|&i| samples[i].name.as_str()).collect();
        for (&i, score) in held.iter().zip(scorer.score_names(&names)) {
            scores[i] = score;
        }
    }
    // Each class's threshold: the mean out-of-fold probability of the class among its names.
    let mean = |class: Class, p: &dyn Fn(f32) -> f32| {
        let values: Vec<f32> = samples
            .iter()
            .zip(&scores)
            .filter(|(s, _)| s.class == class)
            .map(|(_, &score)| p(score))
            .collect();
        values.iter().map(|&v| v as f64).sum::<f64>() as f32 / values.len().max(1) as f32
    };
    let thresholds = [mean(Class::Benign, &|s| 1.0 - s), mean(Class::Dga, &|s| s)];
    let mut suspects: Vec<Suspect> = samples
        .iter()
        .zip(&scores)
        .zip(&fold_of)
        .filter(|((s, score), _)| match s.class {
            Class::Benign => **score >= thresholds[1],
            Class::Dga => 1.0 - **score >= thresholds[0],
        })
        .map(|((s, &score), &fold)| Suspect {
            name: s.name.clone(),
            label: s.class,
            family: s.family.as_deref().map(str::to_string),
            score,
            fold: fold + 1,
        })
        .collect();
    suspects.sort_by(|a, b| {
        b.confidence()
            .total_cmp(&a.confidence())
            .then_with(|| a.name.cmp(&b.name))
    });
    let audited = [
        samples.iter().filter(|s| s.class == Class::Benign).count(),
        samples.iter().filter(|s| s.class == Class::Dga).count(),
    ];
    Ok(AuditOutcome {
        suspects,
        audited,
        thresholds,
    })
}

/// Writes the suspects as CSV: `rank,name,label,family,oof_score,confidence,fold`.
pub fn write_suspects<W: std::io::Write>(suspects: &[Suspect], out: W) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "rank",
        "name",
        "label",
        "family",
        "oof_score",
        "confidence",
        "fold",
    ])?;
    for (rank, s) in suspects.iter().enumerate() {
        let label = match s.label {
            Class::Benign => "benign",
            Class::Dga => "dga",
        };
        writer.write_record([
            (rank + 1).to_string(),
            s.name.clone(),
            label.to_string(),
            s.family.clone().unwrap_or_default(),
            format!("{:.6}", s.score),
            format!("{:.6}", s.confidence()),
            s.fold.to_string(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Audit trains one binary network per fold.
fn one_network() -> TrainError {
    TrainError::Invalid(
        "audit trains one binary network per fold (benign against DGA): use --model-type snowman-cnn or endgame-lstm".into(),
    )
}
