//! Treatment as plain data: the product's targets, the infusion schedule, lymphodepletion
//! and the tocilizumab / steroid policies (MODEL.md section 4).

use crate::error::{Domain, InputError};
use crate::model::{Antigen, AntigenSet};
use serde::Serialize;

/// A CAR-T product: the antigens it targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Product {
    targets: AntigenSet,
}

impl Product {
    /// A product targeting `targets`.
    ///
    /// # Errors
    /// [`InputError::Inconsistent`] for an empty target set.
    pub fn new(targets: AntigenSet) -> Result<Self, InputError> {
        if targets.is_empty() {
            return Err(InputError::Inconsistent {
                field: "product.targets".into(),
                reason: "a product must target at least one antigen (CD19 and/or CD22)".into(),
            });
        }
        Ok(Self { targets })
    }

    /// Build from antigen names (`"CD19"`, `"CD22"`).
    ///
    /// # Errors
    /// An unknown antigen name, or an empty list.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, InputError> {
        let mut set = AntigenSet::default();
        for (k, n) in names.iter().enumerate() {
            set = set.with(Antigen::parse(&format!("product.targets[{k}]"), n.as_ref())?);
        }
        Self::new(set)
    }

    /// A CD19-directed product (tisagenlecleucel).
    pub fn cd19() -> Self {
        Self { targets: AntigenSet::CD19 }
    }

    /// The target set.
    pub fn targets(&self) -> AntigenSet {
        self.targets
    }
}

/// One infusion of `cells` CAR-T cells at day `t`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Infusion {
    /// Time (day).
    pub t: f64,
    /// CAR-T cells infused (> 0).
    pub cells: f64,
}

/// Tocilizumab policy.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(tag = "policy", rename_all = "lowercase")]
pub enum TociPolicy {
    /// A dose when the IL-6 signal reaches `theta_toci` from below, at most `n_toci` doses.
    #[default]
    Reactive,
    /// Doses at fixed times (days).
    Prophylactic {
        /// Dose times, non-decreasing.
        times: Vec<f64>,
    },
    /// No tocilizumab.
    None,
}

/// Steroid policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "policy", rename_all = "lowercase")]
pub enum SteroidPolicy {
    /// One course when the IL-6 signal reaches `theta_ster` from below.
    #[default]
    Reactive,
    /// No steroids.
    None,
}

/// Infusion schedule, lymphodepletion and CRS-management policies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regimen {
    infusions: Vec<Infusion>,
    lymphodepletion: bool,
    tocilizumab: TociPolicy,
    steroids: SteroidPolicy,
}

impl Regimen {
    /// A regimen. Infusion times must be finite, >= 0 and non-decreasing with cells > 0;
    /// prophylactic tocilizumab times finite, >= 0 and non-decreasing. An empty schedule is
    /// valid (no CAR-T cells: for analytic checks). Times beyond the horizon are checked by
    /// [`crate::Scenario::new`].
    ///
    /// # Errors
    /// The first bad value, naming `product.schedule[k].t` / `.cells` or
    /// `policies.tocilizumab.times[k]`.
    pub fn new(
        infusions: Vec<Infusion>,
        lymphodepletion: bool,
        tocilizumab: TociPolicy,
        steroids: SteroidPolicy,
    ) -> Result<Self, InputError> {
        check_times("product.schedule", infusions.iter().map(|i| i.t), ".t")?;
        for (k, inf) in infusions.iter().enumerate() {
            Domain::Pos.check(format!("product.schedule[{k}].cells"), inf.cells)?;
        }
        if let TociPolicy::Prophylactic { times } = &tocilizumab {
            check_times("policies.tocilizumab.times", times.iter().copied(), "")?;
        }
        Ok(Self { infusions, lymphodepletion, tocilizumab, steroids })
    }

    /// One infusion of `cells` at day 0 with lymphodepletion and reactive tocilizumab and
    /// steroids (the S1 regimen).
    ///
    /// # Errors
    /// A dose that is not finite and > 0.
    pub fn single_dose(cells: f64) -> Result<Self, InputError> {
        Self::new(vec![Infusion { t: 0.0, cells }], true, TociPolicy::Reactive, SteroidPolicy::Reactive)
    }

    /// A dose split into fractions given on consecutive days (e.g. `[0.1, 0.3, 0.6]` on
    /// days 0, 1, 2), with the S1 policies.
    ///
    /// # Errors
    /// A total dose or a fraction that is not finite and > 0.
    pub fn split_dose(total_cells: f64, fractions: &[f64]) -> Result<Self, InputError> {
        Domain::Pos.check("total_cells", total_cells)?;
        let infusions =
            fractions.iter().enumerate().map(|(d, f)| Infusion { t: d as f64, cells: total_cells * f }).collect();
        Self::new(infusions, true, TociPolicy::Reactive, SteroidPolicy::Reactive)
    }

    /// The same regimen with another tocilizumab policy.
    ///
    /// # Errors
    /// Bad prophylactic times.
    pub fn with_tocilizumab(self, tocilizumab: TociPolicy) -> Result<Self, InputError> {
        Self::new(self.infusions, self.lymphodepletion, tocilizumab, self.steroids)
    }

    /// The same regimen with another steroid policy.
    pub fn with_steroids(mut self, steroids: SteroidPolicy) -> Self {
        self.steroids = steroids;
        self
    }

    /// The same regimen with lymphodepletion on or off.
    pub fn with_lymphodepletion(mut self, on: bool) -> Self {
        self.lymphodepletion = on;
        self
    }

    /// The infusions.
    pub fn infusions(&self) -> &[Infusion] {
        &self.infusions
    }

    /// Total CAR-T cells infused.
    pub fn total_cells(&self) -> f64 {
        self.infusions.iter().map(|i| i.cells).sum()
    }

    /// Whether lymphodepletion was given (`h(t)` on).
    pub fn lymphodepletion(&self) -> bool {
        self.lymphodepletion
    }

    /// Tocilizumab policy.
    pub fn tocilizumab(&self) -> &TociPolicy {
        &self.tocilizumab
    }

    /// Steroid policy.
    pub fn steroids(&self) -> SteroidPolicy {
        self.steroids
    }

    /// Latest scheduled time (infusion or prophylactic dose), for the horizon check.
    pub(crate) fn last_scheduled(&self) -> Option<(String, f64)> {
        let mut last: Option<(String, f64)> = None;
        for (k, i) in self.infusions.iter().enumerate() {
            if last.as_ref().is_none_or(|(_, t)| i.t >= *t) {
                last = Some((format!("product.schedule[{k}].t"), i.t));
            }
        }
        if let TociPolicy::Prophylactic { times } = &self.tocilizumab {
            for (k, &t) in times.iter().enumerate() {
                if last.as_ref().is_none_or(|(_, l)| t >= *l) {
                    last = Some((format!("policies.tocilizumab.times[{k}]"), t));
                }
            }
        }
        last
    }
}

fn check_times(field: &str, times: impl Iterator<Item = f64>, suffix: &str) -> Result<(), InputError> {
    let mut prev = f64::NEG_INFINITY;
    for (k, t) in times.enumerate() {
        let f = format!("{field}[{k}]{suffix}");
        Domain::NonNeg.check(&f, t)?;
        if t < prev {
            return Err(InputError::Inconsistent {
                field: f,
                reason: format!("times must not decrease: {t} comes after {prev}"),
            });
        }
        prev = t;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_regimens_are_typed_errors() {
        assert!(Regimen::single_dose(0.0).is_err());
        assert!(Regimen::single_dose(-1e8).is_err());
        assert!(Regimen::single_dose(f64::NAN).is_err());
        let e = Regimen::new(
            vec![Infusion { t: 1.0, cells: 1e7 }, Infusion { t: 0.0, cells: 1e7 }],
            true,
            TociPolicy::None,
            SteroidPolicy::None,
        )
        .unwrap_err();
        assert_eq!(e.field(), "product.schedule[1].t");
        assert!(
            Regimen::new(vec![], true, TociPolicy::Prophylactic { times: vec![-1.0] }, SteroidPolicy::None).is_err()
        );
        assert!(Product::new(AntigenSet::default()).is_err());
        assert!(Product::from_names(&["CD20"]).is_err());
        assert_eq!(Product::from_names(&["CD19", "CD22"]).unwrap().targets(), AntigenSet::BOTH);
        // an empty schedule is valid
        assert!(Regimen::new(vec![], false, TociPolicy::None, SteroidPolicy::None).is_ok());
    }
}
