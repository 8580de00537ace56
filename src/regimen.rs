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
    /// A dose when the IL-6 signal reaches [`PolicyRules::toci_threshold`] from below, at
    /// most [`PolicyRules::toci_max_reactive_doses`] doses.
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
    /// One course when the IL-6 signal reaches [`PolicyRules::steroid_threshold`] from below.
    #[default]
    Reactive,
    /// No steroids.
    None,
}

/// The numbers of the CRS-management policies: trigger thresholds on the IL-6 signal, how
/// long a dose or a course acts, and how many reactive doses may be given. MODEL.md calls
/// them `theta_toci`, `tau_T`, `n_toci`, `theta_ster`, `tau_S` (the reference JSON format
/// reads them from `parameters` under those names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRules {
    /// Reactive tocilizumab: a dose when the IL-6 signal reaches this from below (pg/mL;
    /// `theta_toci`, REF-1 200 = theta_2).
    pub toci_threshold: f64,
    /// How long one tocilizumab dose acts (days; `tau_T`, 14). A dose while one acts extends
    /// the window to the later end.
    pub toci_window_days: f64,
    /// At most this many reactive tocilizumab doses (`n_toci`, 1).
    pub toci_max_reactive_doses: u32,
    /// Reactive steroids: one course when the IL-6 signal reaches this from below (pg/mL;
    /// `theta_ster`, REF-1 1000 = theta_3).
    pub steroid_threshold: f64,
    /// How long the steroid course acts (days; `tau_S`, 7).
    pub steroid_course_days: f64,
}

impl Default for PolicyRules {
    /// REF-1's values.
    fn default() -> Self {
        Self {
            toci_threshold: 200.0,
            toci_window_days: 14.0,
            toci_max_reactive_doses: 1,
            steroid_threshold: 1000.0,
            steroid_course_days: 7.0,
        }
    }
}

impl PolicyRules {
    /// Check every value: positive, finite thresholds and durations.
    ///
    /// # Errors
    /// The first bad value, named by its MODEL.md name (`parameters.theta_toci`, ...).
    pub fn validate(&self) -> Result<(), InputError> {
        Domain::Pos.check("parameters.theta_toci", self.toci_threshold)?;
        Domain::Pos.check("parameters.tau_T", self.toci_window_days)?;
        Domain::Pos.check("parameters.theta_ster", self.steroid_threshold)?;
        Domain::Pos.check("parameters.tau_S", self.steroid_course_days)?;
        Ok(())
    }
}

/// Infusion schedule, lymphodepletion and CRS-management policies with their numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regimen {
    infusions: Vec<Infusion>,
    lymphodepletion: bool,
    tocilizumab: TociPolicy,
    steroids: SteroidPolicy,
    rules: PolicyRules,
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
        Ok(Self { infusions, lymphodepletion, tocilizumab, steroids, rules: PolicyRules::default() })
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
        let rules = self.rules;
        Ok(Self::new(self.infusions, self.lymphodepletion, tocilizumab, self.steroids)?.with_rules_unchecked(rules))
    }

    /// The same regimen with other policy numbers (validated).
    ///
    /// # Errors
    /// A threshold or duration that is not finite and > 0.
    pub fn with_rules(self, rules: PolicyRules) -> Result<Self, InputError> {
        rules.validate()?;
        Ok(self.with_rules_unchecked(rules))
    }

    fn with_rules_unchecked(mut self, rules: PolicyRules) -> Self {
        self.rules = rules;
        self
    }

    /// The policy numbers (thresholds, windows, dose counts).
    pub fn rules(&self) -> &PolicyRules {
        &self.rules
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
