//! Sensitivity of a study's trial-level outcomes (docs/ANALYSIS.md): factors are study
//! settings with ranges ([`crate::calibrate::read_factors`]), outputs are `summary.json`
//! keys; every row of a Saltelli design is a whole virtual trial of the study with the
//! factors set, run with the study's seed (common random numbers: the same patients in every
//! trial, so the indices measure the factors, not the Monte Carlo noise between trials).

use super::{Indices, Outputs, SaltelliDesign, SensitivityError};
use crate::calibrate::{lookup, summary_of, CalibrationError, Knob};
use crate::study::Study;

/// The outputs reported when none are named: remission, MRD negativity, severe CRS,
/// tocilizumab use, relapse-free survival of responders at 12 months, median Cmax.
pub const DEFAULT_OUTPUTS: [&str; 6] =
    ["cr_rate", "mrd_neg_rate", "crs_severe_rate", "toci_rate", "rfs12_responders", "cmax_median"];

/// One output's indices, or why there are none.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutputIndices {
    /// The summary key.
    pub output: String,
    /// The indices (`None`: see `error`).
    #[serde(flatten)]
    pub indices: Option<Indices>,
    /// Why there are no indices (an output missing from some trial's summary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Mean and range of the output over the design's trials.
    pub mean: f64,
    /// Smallest value over the trials.
    pub min: f64,
    /// Largest value over the trials.
    pub max: f64,
}

/// A study's sensitivity analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StudySensitivity {
    /// The study.
    pub study: String,
    /// The factors: setting paths, ranges, scales.
    pub factors: Vec<FactorInfo>,
    /// Base rows of the design.
    pub n: usize,
    /// Trials run (`n (k + 2)`).
    pub trials: usize,
    /// Patients per trial (the Monte Carlo size of every output).
    pub patients: u64,
    /// The patients' seed (the same in every trial).
    pub seed: u64,
    /// The design's scramble and bootstrap seed.
    pub design_seed: u64,
    /// Per output.
    pub outputs: Vec<OutputIndices>,
}

/// A factor as reported.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FactorInfo {
    /// The study setting.
    pub path: String,
    /// Range.
    pub lo: f64,
    /// Range.
    pub hi: f64,
    /// `log` or `linear`.
    pub scale: String,
}

/// Errors of a study's sensitivity analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudySensitivityError {
    /// The factors or a study setting.
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    /// The design or the estimators.
    #[error(transparent)]
    Sensitivity(#[from] SensitivityError),
    /// Rows that do not fit the design, no outputs, too few resamples.
    #[error("{0}")]
    Design(String),
}

/// What a design's rows are and how they are analysed: everything [`StudyDesign::analyze_rows`]
/// needs besides the rows' outputs, so that rows computed elsewhere (shards in other
/// processes, a run resumed after a kill) are analysed without the study. Written as a
/// shard's `design.json` by the command line.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DesignHeader {
    /// The study's name.
    pub study: String,
    /// The factors.
    pub factors: Vec<FactorInfo>,
    /// The `summary.json` keys analysed, in the order of a row's outputs.
    pub outputs: Vec<String>,
    /// Base rows of the design.
    pub n: usize,
    /// Rows of the design (`n (k + 2)`), each a trial.
    pub rows: usize,
    /// Patients per trial.
    pub patients: u64,
    /// The patients' seed.
    pub seed: u64,
    /// The design's scramble and bootstrap seed.
    pub design_seed: u64,
    /// Bootstrap resamples of the analysis.
    pub resamples: usize,
    /// FNV-1a 64 of everything that decides a row's outputs and the analysis: the crate's
    /// version, the study as `cartkin study show` writes it, the factors, the outputs, `n`,
    /// the seeds and `resamples`. Two designs with the same fingerprint give the same bytes
    /// row by row.
    pub fingerprint: String,
}

/// A study's Saltelli design: `n (k + 2)` rows, each a whole trial of the study with the
/// factors set. Rows may be run in any order and in any subset ([`StudyDesign::run_row`]),
/// e.g. one contiguous block per shard ([`shard_rows`]); [`StudyDesign::analyze_rows`] then
/// takes the outputs of every row.
#[derive(Debug, Clone)]
pub struct StudyDesign {
    study: Study,
    factors: Vec<Knob>,
    unit: Vec<Vec<f64>>,
    header: DesignHeader,
}

impl StudyDesign {
    /// The design of `factors` (mapped on their scales) with `n` base rows (a power of two),
    /// scrambled with `design_seed`, for the `outputs` of `study`, analysed with `resamples`
    /// bootstrap resamples.
    ///
    /// # Errors
    /// No factors, an `n` that is not a power of two, no outputs, a factor setting the study
    /// does not have or a value it refuses (checked on the design's first row).
    pub fn new(
        study: &Study,
        factors: &[Knob],
        outputs: &[String],
        n: usize,
        design_seed: u64,
        resamples: usize,
    ) -> Result<Self, StudySensitivityError> {
        let k = factors.len();
        let design = SaltelliDesign::new(k, n, design_seed)?;
        if outputs.is_empty() {
            return Err(StudySensitivityError::Design("no outputs to analyse".into()));
        }
        if resamples < 2 {
            return Err(StudySensitivityError::Design(format!("{resamples} bootstrap resamples: need at least 2")));
        }
        let unit: Vec<Vec<f64>> = design.salib_rows().collect();
        let factor_info: Vec<FactorInfo> = factors
            .iter()
            .map(|f| FactorInfo {
                path: f.path.clone(),
                lo: f.lo,
                hi: f.hi,
                scale: if f.log { "log" } else { "linear" }.to_string(),
            })
            .collect();
        let canonical = format!(
            "cartkin {}\n{}\nfactors {}\noutputs {}\nn {n}\nseed {}\npatients {}\ndesign_seed {design_seed}\nresamples {resamples}\n",
            env!("CARGO_PKG_VERSION"),
            study.to_toml(),
            serde_json::to_string(&factor_info).unwrap_or_default(),
            outputs.join(","),
            study.seed,
            study.patients,
        );
        let header = DesignHeader {
            study: study.name.clone(),
            factors: factor_info,
            outputs: outputs.to_vec(),
            n,
            rows: unit.len(),
            patients: study.patients,
            seed: study.seed,
            design_seed,
            resamples,
            fingerprint: crate::state::fnv1a64(&canonical),
        };
        let d = StudyDesign { study: study.clone(), factors: factors.to_vec(), unit, header };
        d.study_at(0)?;
        Ok(d)
    }

    /// The header: what the rows are and how they are analysed.
    pub fn header(&self) -> &DesignHeader {
        &self.header
    }

    /// Rows of the design (`n (k + 2)`).
    pub fn rows(&self) -> usize {
        self.unit.len()
    }

    /// The settings of row `row` (SALib's row order: for each base row, `A`, `A_B^(1)` ..
    /// `A_B^(k)`, `B`), each factor's value on its scale.
    ///
    /// # Panics
    /// If `row >= self.rows()`.
    pub fn settings(&self, row: usize) -> Vec<(String, f64)> {
        self.factors.iter().zip(&self.unit[row]).map(|(f, &u)| (f.path.clone(), f.value(u))).collect()
    }

    fn study_at(&self, row: usize) -> Result<Study, StudySensitivityError> {
        Ok(self.study.with_settings(&self.settings(row)).map_err(CalibrationError::from)?)
    }

    /// Every row of the design in order, then their analysis: what [`study_sensitivity`]
    /// runs. `progress(done, total)` is called after each trial.
    pub fn run_all(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<StudySensitivity, StudySensitivityError> {
        let total = self.rows();
        let mut y = Vec::with_capacity(total);
        for row in 0..total {
            y.push(self.run_row(row)?);
            progress(row + 1, total);
        }
        Self::analyze_rows(self.header(), &y)
    }

    /// Run row `row`'s trial: its outputs in the order of the header's, NaN for a key its
    /// summary does not have.
    ///
    /// # Errors
    /// A value the study refuses at this row; a row past the design.
    pub fn run_row(&self, row: usize) -> Result<Vec<f64>, StudySensitivityError> {
        if row >= self.rows() {
            return Err(StudySensitivityError::Design(format!("row {row}: the design has {} rows", self.rows())));
        }
        let summary = summary_of(&self.study_at(row)?);
        Ok(self.header.outputs.iter().map(|key| lookup(&summary, key).unwrap_or(f64::NAN)).collect())
    }

    /// The indices of every output from every row's outputs (`y[row][output]`, rows in the
    /// design's order).
    ///
    /// # Errors
    /// Not one row of outputs per design row, or a row of the wrong width.
    pub fn analyze_rows(header: &DesignHeader, y: &[Vec<f64>]) -> Result<StudySensitivity, StudySensitivityError> {
        let k = header.factors.len();
        let width = header.outputs.len();
        if y.len() != header.rows || header.rows != header.n * (k + 2) {
            return Err(StudySensitivityError::Design(format!(
                "{} rows of outputs for a design of {} rows",
                y.len(),
                header.n * (k + 2)
            )));
        }
        if let Some(r) = y.iter().position(|r| r.len() != width) {
            return Err(StudySensitivityError::Design(format!("row {r}: {} outputs, expected {width}", y[r].len())));
        }
        let mut out = Vec::new();
        for (j, key) in header.outputs.iter().enumerate() {
            let col: Vec<f64> = y.iter().map(|r| r[j]).collect();
            let finite: Vec<f64> = col.iter().copied().filter(|v| v.is_finite()).collect();
            let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
            let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (indices, error) = if finite.len() < col.len() {
                (None, Some(format!("{} of {} trials give no value of {key}", col.len() - finite.len(), col.len())))
            } else {
                match Outputs::from_salib(&col, k).and_then(|o| o.analyze(header.resamples, header.design_seed)) {
                    Ok(i) => (Some(i), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            };
            out.push(OutputIndices { output: key.clone(), indices, error, mean, min, max });
        }
        Ok(StudySensitivity {
            study: header.study.clone(),
            factors: header.factors.clone(),
            n: header.n,
            trials: header.rows,
            patients: header.patients,
            seed: header.seed,
            design_seed: header.design_seed,
            outputs: out,
        })
    }
}

/// The rows of shard `k` of `shards` in a design of `rows` rows: `N` contiguous blocks whose
/// sizes differ by at most one (`rows k / shards .. rows (k + 1) / shards`).
///
/// # Panics
/// If `k >= shards`.
pub fn shard_rows(rows: usize, k: usize, shards: usize) -> std::ops::Range<usize> {
    assert!(k < shards, "shard {k} of {shards}");
    let at = |i: usize| (rows as u128 * i as u128 / shards as u128) as usize;
    at(k)..at(k + 1)
}

/// Run the study on every row of an `n`-row Saltelli design of `factors` (mapped on their
/// scales; the design scrambled with `design_seed`) and estimate each output's indices with
/// `resamples` bootstrap resamples. `progress(done, total)` is called after each trial.
/// ([`StudyDesign`] runs a design in parts.)
///
/// # Errors
/// No factors, an `n` that is not a power of two, a factor setting the study does not have
/// (checked at the design's first row), a value the study refuses.
pub fn study_sensitivity(
    study: &Study,
    factors: &[Knob],
    outputs: &[String],
    n: usize,
    design_seed: u64,
    resamples: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<StudySensitivity, StudySensitivityError> {
    StudyDesign::new(study, factors, outputs, n, design_seed, resamples)?.run_all(progress)
}

impl StudySensitivity {
    /// One CSV row per output and factor: `output,factor,S1,S1_low,S1_high,ST,ST_low,ST_high`.
    pub fn csv(&self) -> String {
        let mut s = String::from("output,factor,S1,S1_low,S1_high,ST,ST_low,ST_high\n");
        for o in &self.outputs {
            let Some(ix) = &o.indices else { continue };
            for (i, f) in self.factors.iter().enumerate() {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    o.output,
                    f.path,
                    crate::io::fmt_f64(ix.s1[i]),
                    crate::io::fmt_f64(ix.s1_ci[i][0]),
                    crate::io::fmt_f64(ix.s1_ci[i][1]),
                    crate::io::fmt_f64(ix.st[i]),
                    crate::io::fmt_f64(ix.st_ci[i][0]),
                    crate::io::fmt_f64(ix.st_ci[i][1]),
                ));
            }
        }
        s
    }
}
