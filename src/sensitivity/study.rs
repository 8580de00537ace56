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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FactorInfo {
    /// The study setting.
    pub path: String,
    /// Range.
    pub lo: f64,
    /// Range.
    pub hi: f64,
    /// `log` or `linear`.
    pub scale: &'static str,
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
}

/// Run the study on every row of an `n`-row Saltelli design of `factors` (mapped on their
/// scales; the design scrambled with `design_seed`) and estimate each output's indices with
/// `resamples` bootstrap resamples. `progress(done, total)` is called after each trial.
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
    let k = factors.len();
    let design = SaltelliDesign::new(k, n, design_seed)?;
    let total = n * (k + 2);
    let mut y: Vec<Vec<f64>> = vec![Vec::with_capacity(total); outputs.len()];
    for (done, row) in design.salib_rows().enumerate() {
        let settings: Vec<(String, f64)> =
            factors.iter().zip(&row).map(|(f, &u)| (f.path.clone(), f.value(u))).collect();
        let s = study.with_settings(&settings).map_err(CalibrationError::from)?;
        let summary = summary_of(&s);
        for (col, key) in y.iter_mut().zip(outputs) {
            col.push(lookup(&summary, key).unwrap_or(f64::NAN));
        }
        progress(done + 1, total);
    }
    let mut out = Vec::new();
    for (key, col) in outputs.iter().zip(&y) {
        let finite: Vec<f64> = col.iter().copied().filter(|v| v.is_finite()).collect();
        let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (indices, error) = if finite.len() < col.len() {
            (None, Some(format!("{} of {} trials give no value of {key}", col.len() - finite.len(), col.len())))
        } else {
            match Outputs::from_salib(col, k).and_then(|o| o.analyze(resamples, design_seed)) {
                Ok(i) => (Some(i), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        out.push(OutputIndices { output: key.clone(), indices, error, mean, min, max });
    }
    Ok(StudySensitivity {
        study: study.name.clone(),
        factors: factors
            .iter()
            .map(|f| FactorInfo {
                path: f.path.clone(),
                lo: f.lo,
                hi: f.hi,
                scale: if f.log { "log" } else { "linear" },
            })
            .collect(),
        n,
        trials: total,
        patients: study.patients,
        seed: study.seed,
        design_seed,
        outputs: out,
    })
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
