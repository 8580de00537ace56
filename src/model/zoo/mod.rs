//! The model zoo: published CAR-T models, each implemented from its paper's equations and
//! parameter table (see `docs/MODELS.md`, one section per model), each a [`Model`] of the
//! generic driver, selectable by name in studies and on the command line.
//!
//! | name | paper | states |
//! |---|---|---|
//! | `stein2019` | Stein et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285 | expanding/fast/slow transgene (copies/µg) |
//! | `kimmel2021` | Kimmel, Locke, Altrock, Proc R Soc B 2021;288:20210229 | normal T, CAR-T (cells/µL), tumour (mL) |
//! | `leon_triana2021` | León-Triana et al., Commun Nonlinear Sci Numer Simul 2021;94:105570, eqs 4a-c | CAR-T, leukaemic B, healthy B (cells) |
//! | `leon_triana2021_progenitors` | the same paper, eqs 3a-c | the above plus B-cell progenitors |
//! | `hanson2016` | Hanson et al. 2016 (bioRxiv 049908), BioModels BIOMD0000000837 | CAR-T, helper cells, tumour, inflammation |
//!
//! Every model's parameters (initial values included) are a list of [`Param`]s in a fixed
//! order: the typical values are the defaults, a study overrides them by name and gives
//! them between-patient variability.

pub mod hanson2016;
pub mod leon_triana2021;

use crate::error::InputError;
use crate::model::ModelInfo;
use std::fmt::Write as _;

/// The most states a zoo model has (the width of a [`ZooRow`]).
pub const MAX_STATES: usize = 8;

/// Where a parameter's values may lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamDomain {
    /// Strictly positive and finite.
    Pos,
    /// Non-negative and finite.
    NonNeg,
    /// In [0, 1].
    Unit,
}

impl ParamDomain {
    fn check(self, field: &str, v: f64) -> Result<(), InputError> {
        let d = match self {
            ParamDomain::Pos => crate::error::Domain::Pos,
            ParamDomain::NonNeg => crate::error::Domain::NonNeg,
            ParamDomain::Unit => crate::error::Domain::Unit,
        };
        d.check(field, v)
    }
}

/// One parameter of a zoo model (initial values included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    /// Name (the paper's symbol, ASCII; how a study names it).
    pub name: &'static str,
    /// Typical value (the default), in `unit`.
    pub value: f64,
    /// Unit.
    pub unit: &'static str,
    /// Where its values may lie.
    pub domain: ParamDomain,
    /// What it is and where its value comes from.
    pub what: &'static str,
}

/// Check `values` (in the order of `params`) against the parameters' domains.
///
/// # Errors
/// [`InputError`] naming `parameters.<name>` for a wrong count, a non-finite value or one
/// outside its domain.
pub fn check_values(model: &str, params: &[Param], values: &[f64]) -> Result<(), InputError> {
    if values.len() != params.len() {
        return Err(InputError::Inconsistent {
            field: format!("{model}.parameters"),
            reason: format!("{} values for {} parameters", values.len(), params.len()),
        });
    }
    for (p, &v) in params.iter().zip(values) {
        p.domain.check(&format!("parameters.{}", p.name), v)?;
    }
    Ok(())
}

/// The typical values of `params`, in order.
pub fn typical(params: &[Param]) -> Vec<f64> {
    params.iter().map(|p| p.value).collect()
}

/// One trajectory row of a zoo model: the time and the model's states (in
/// [`ModelInfo::states`] order; the entries past the model's state count are 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooRow {
    /// The model (its state names head the CSV).
    pub info: &'static ModelInfo,
    /// Time (day).
    pub t: f64,
    /// The states.
    pub y: [f64; MAX_STATES],
}

impl ZooRow {
    /// The row at `t` of state `y` (at most [`MAX_STATES`] values).
    pub fn new(info: &'static ModelInfo, t: f64, y: &[f64]) -> Self {
        let mut a = [0.0; MAX_STATES];
        let n = y.len().min(MAX_STATES);
        a[..n].copy_from_slice(&y[..n]);
        Self { info, t, y: a }
    }

    /// The model's states (as many as it has).
    pub fn states(&self) -> &[f64] {
        &self.y[..self.info.states.len().min(MAX_STATES)]
    }
}

impl crate::io::TrajectoryCsv for ZooRow {
    /// `t,<state names>`, one row per output time.
    fn csv(rows: &[Self]) -> String {
        let Some(first) = rows.first() else { return String::from("t\n") };
        let mut s = String::from("t");
        for n in first.info.states {
            s.push(',');
            s.push_str(n);
        }
        s.push('\n');
        for r in rows {
            s.push_str(&crate::io::fmt_f64(r.t));
            for v in r.states() {
                let _ = write!(s, ",{}", crate::io::fmt_f64(*v));
            }
            s.push('\n');
        }
        s
    }
}
