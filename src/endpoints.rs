//! Per-patient clinical endpoints (MODEL.md section 5) and the event log.
//!
//! Endpoints are computed by [`crate::simulate`] from the exact solution, not read off an
//! output grid: maxima over their candidate sets, the AUC as a quadrature state, crossing
//! times as located roots.

use crate::model::Phenotype;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// What happened at an event.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A phenotype fell to `n_ext` cells and is extinct from now on.
    Extinction {
        /// The phenotype.
        phenotype: Phenotype,
    },
    /// An infusion of CAR-T cells.
    Infusion {
        /// Cells infused.
        cells: f64,
    },
    /// A prophylactic (scheduled) tocilizumab dose.
    TociProphylactic,
    /// The tocilizumab effect ended (T went from 1 to 0).
    TociEnd,
    /// The steroid course ended.
    SteroidEnd,
    /// A reactive tocilizumab dose (the `dose`-th reactive one).
    TociReactive {
        /// 1-based count of reactive doses.
        dose: u32,
    },
    /// The steroid course started.
    SteroidStart,
}

impl EventKind {
    /// Name as in the reference event log (`infusion`, `toci_dose`, `toci_end`,
    /// `steroid_start`, `steroid_end`, `extinction`).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Extinction { .. } => "extinction",
            EventKind::Infusion { .. } => "infusion",
            EventKind::TociProphylactic | EventKind::TociReactive { .. } => "toci_dose",
            EventKind::TociEnd => "toci_end",
            EventKind::SteroidEnd => "steroid_end",
            EventKind::SteroidStart => "steroid_start",
        }
    }
}

/// One entry of the event log: kind and exact time (day). Entries at one instant follow the
/// order extinction, infusion, prophylactic dose, toci_end, steroid_end, reactive dose,
/// steroid_start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Time (day).
    pub t: f64,
    /// What happened.
    pub kind: EventKind,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.kind.name())?;
        m.serialize_entry("t", &self.t)?;
        match self.kind {
            EventKind::Infusion { cells } => m.serialize_entry("cells", &cells)?,
            EventKind::TociReactive { dose } => {
                m.serialize_entry("trigger", "reactive")?;
                m.serialize_entry("dose", &dose)?;
            }
            EventKind::TociProphylactic => m.serialize_entry("trigger", "prophylactic")?,
            EventKind::Extinction { phenotype } => m.serialize_entry("phenotype", phenotype.name())?,
            _ => {}
        }
        m.end()
    }
}

/// Extinction day per phenotype present at t = 0 (`None`: not extinct by the horizon).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExtinctionDays(pub Vec<(Phenotype, Option<f64>)>);

impl ExtinctionDays {
    /// Extinction day of `p`, `None` if absent or not extinct.
    pub fn get(&self, p: Phenotype) -> Option<f64> {
        self.0.iter().find(|(q, _)| *q == p).and_then(|(_, d)| *d)
    }
}

impl Serialize for ExtinctionDays {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (p, d) in &self.0 {
            m.serialize_entry(p.name(), d)?;
        }
        m.end()
    }
}

/// The endpoints of one patient (MODEL.md section 5). Names follow the reference
/// `*_endpoints.json`; `None` is "none / not applicable".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoints {
    /// Complete remission at day 28: `f(28) < 0.05`.
    pub cr_day28: bool,
    /// MRD-negative at day 28: `f(28) < mrd_threshold`.
    pub mrd_neg_day28: bool,
    /// Marrow blast fraction at day 28.
    pub f_day28: f64,
    /// Total blasts at day 28 (cells).
    #[serde(rename = "Ltot_day28")]
    pub ltot_day28: f64,
    /// For a CR patient, the first `t > 28` with `f(t) >= 0.05`.
    pub relapse_day: Option<f64>,
    /// Phenotype with the most blasts at the relapse.
    pub relapse_phenotype: Option<Phenotype>,
    /// Whether the relapse phenotype lacks CD19 (`None` without relapse).
    pub cd19_negative_relapse: Option<bool>,
    /// Event-free survival: 28 if no CR, else the relapse day; the horizon when censored.
    pub efs_event_day: f64,
    /// EFS censored at the horizon.
    pub efs_censored: bool,
    /// Every phenotype extinct by the horizon (absent ones count as extinct).
    pub cured: bool,
    /// Day of the last extinction when cured (0 when no phenotype was present).
    pub cure_day: Option<f64>,
    /// Extinction day per phenotype present at t = 0.
    pub extinction_days: ExtinctionDays,
    /// Maximum of C = E + M + X over the horizon (cells).
    pub cmax: f64,
    /// First time of `cmax` (day).
    pub tmax: f64,
    /// Integral of C over [0, 28] (cells x day).
    pub auc28: f64,
    /// `cmax * copies_per_cell` (transgene copies per ug DNA).
    pub cmax_copies: f64,
    /// Maximum of serum IL-6 over [0, 28] (pg/mL).
    pub peak_il6: f64,
    /// Its first time.
    pub t_peak_il6: f64,
    /// Maximum of IFN-gamma over [0, 28] (pg/mL).
    pub peak_ifng: f64,
    /// Its first time.
    pub t_peak_ifng: f64,
    /// Maximum of the IL-6 signal `I_eff` over [0, 28] (pg/mL).
    pub peak_signal: f64,
    /// Its first time.
    pub t_peak_signal: f64,
    /// CRS grade 0..4: CRS thresholds reached by the IL-6 signal by day 28.
    pub crs_grade: u8,
    /// First time the signal reached `theta_1`.
    pub crs_onset_day: Option<f64>,
    /// First time the signal reached each `theta_k` in [0, 28].
    pub crs_threshold_days: [Option<f64>; 4],
    /// Every tocilizumab dose (reactive or prophylactic).
    pub toci_days: Vec<f64>,
    /// Start of the steroid course.
    pub steroid_day: Option<f64>,
    /// First `t > 28` with `B >= b_recovery` (28 if already at day 28).
    pub b_recovery_day: Option<f64>,
    /// B cells at day 28.
    #[serde(rename = "B_day28")]
    pub b_day28: f64,
    /// CAR-T cells C at the horizon.
    #[serde(rename = "C_end")]
    pub c_end: f64,
    /// Memory CAR-T cells at the horizon.
    #[serde(rename = "M_end")]
    pub m_end: f64,
    /// B cells at the horizon.
    #[serde(rename = "B_end")]
    pub b_end: f64,
    /// Total blasts at the horizon.
    #[serde(rename = "Ltot_end")]
    pub ltot_end: f64,
}

impl Endpoints {
    /// Whether the patient had any CRS (grade >= 1).
    pub fn crs_any(&self) -> bool {
        self.crs_grade >= 1
    }

    /// Whether the relapse (if any) lacks CD19.
    pub fn cd19_negative(&self) -> bool {
        self.cd19_negative_relapse == Some(true)
    }
}
