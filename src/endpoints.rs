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
    /// An event of a model's own (e.g. a threshold of a user model), by the model's name for
    /// it and its index among the model's events.
    Model {
        /// The model's name for the event (the event log's `kind`).
        name: &'static str,
        /// Index among the model's events.
        index: u32,
    },
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
            EventKind::Model { name, .. } => name,
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
    /// Maximum of all CAR-T cells ([`crate::Observable::CarT`]: `E + M + X` in v1, `E + M + P
    /// + X` in v2) over the horizon (cells).
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
    /// Maximum over [0, 28] of the signal CRS is graded on: the IL-6 signal `I_eff` (pg/mL)
    /// in v1, the CRS severity (grade units) in a model that maps
    /// [`crate::Observable::CrsSeverity`] (v2).
    pub peak_signal: f64,
    /// Its first time.
    pub t_peak_signal: f64,
    /// CRS grade 0..4: the definitions' CRS thresholds reached by that signal by day 28.
    pub crs_grade: u8,
    /// First time the signal reached the grade-1 threshold.
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
    /// Memory CAR-T cells at the horizon ([`crate::Observable::CarTMemory`]: `M` in v1, `M + P` in v2).
    #[serde(rename = "M_end")]
    pub m_end: f64,
    /// B cells at the horizon.
    #[serde(rename = "B_end")]
    pub b_end: f64,
    /// Total blasts at the horizon.
    #[serde(rename = "Ltot_end")]
    pub ltot_end: f64,
    /// ICANS grade 0..4 (model v2: ASTCT thresholds on the ICANS severity reached by day 28).
    #[serde(skip)]
    pub icans_grade: u8,
    /// First time the ICANS severity reached the grade-1 threshold.
    #[serde(skip)]
    pub icans_onset_day: Option<f64>,
    /// Peak ICANS severity over [0, 28] (grade units); `None` for a model without ICANS.
    #[serde(skip)]
    pub peak_icans: Option<f64>,
    /// CRS duration (days) from onset to the last time the CRS grading signal fell below the
    /// grade-1 threshold within [0, 28] (to day 28 when it is still above then); `None`
    /// without CRS.
    #[serde(skip)]
    pub crs_duration: Option<f64>,
    /// CAR-T cells at day 182.5 relative to `cmax` (`None` when the horizon is shorter).
    #[serde(skip)]
    pub car_t_rel_6m: Option<f64>,
    /// CAR-T cells at day 365 relative to `cmax` (`None` when the horizon is shorter).
    #[serde(skip)]
    pub car_t_rel_12m: Option<f64>,
    /// Still in B-cell aplasia at day 182.5: no `b_recovery_day` by then (`None` when the
    /// horizon is shorter).
    #[serde(skip)]
    pub b_aplasia_6m: Option<bool>,
    /// Still in B-cell aplasia at day 365 (`None` when the horizon is shorter).
    #[serde(skip)]
    pub b_aplasia_12m: Option<bool>,
    /// The CRS grading scale (`None` for a model grading on IL-6 thresholds).
    #[serde(skip)]
    pub crs_scale: Option<&'static str>,
    /// Which endpoint groups the model observes (not written to files; see [`Observed`]).
    #[serde(skip)]
    pub observed: Observed,
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

/// A group of endpoints that exists only for a model that maps the observables behind it
/// ([`Observed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Every model has it (CAR-T kinetics, treatment days).
    Always,
    /// Tumour and marrow.
    Tumour,
    /// A tumour whose extinction the model tracks (cure, extinction days): every model with a
    /// tumour and clones, with or without a marrow.
    Extinction,
    /// Normal B cells.
    BCells,
    /// The IL-6 signal (CRS).
    Il6Signal,
    /// Serum IL-6.
    Il6,
    /// IFN-gamma.
    Ifng,
    /// Memory CAR-T.
    Memory,
    /// Neurotoxicity (ICANS).
    Icans,
}

/// One endpoint's value in a table cell (how `patients.csv` writes it: empty for none,
/// booleans `1` / `0`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// A number.
    Num(f64),
    /// A number or none.
    Opt(Option<f64>),
    /// A yes / no.
    Bool(bool),
    /// A yes / no, or not applicable.
    OptBool(Option<bool>),
    /// A count or grade.
    Int(u64),
    /// A label, or none.
    Text(Option<&'static str>),
}

/// One endpoint column: its name (MODEL.md section 5 spelling, the `patients.csv` header),
/// its group, and how to read it off the endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Header name.
    pub name: &'static str,
    /// The group that must be observed for the column to hold a value.
    pub group: Group,
    /// The value.
    pub value: fn(&Endpoints) -> Cell,
}

macro_rules! columns {
    ($( $name:literal, $group:ident, |$e:ident| $v:expr; )*) => {
        /// Every endpoint column, in `patients.csv` order. A new endpoint is a field of
        /// [`Endpoints`], computed by the observer, and one line here.
        pub const COLUMNS: &[Column] = &[
            $( Column { name: $name, group: Group::$group, value: |$e: &Endpoints| $v }, )*
        ];
    };
}

columns! {
    "cr_day28", Tumour, |e| Cell::Bool(e.cr_day28);
    "mrd_neg_day28", Tumour, |e| Cell::Bool(e.mrd_neg_day28);
    "f_day28", Tumour, |e| Cell::Num(e.f_day28);
    "Ltot_day28", Tumour, |e| Cell::Num(e.ltot_day28);
    "relapse_day", Tumour, |e| Cell::Opt(e.relapse_day);
    "relapse_phenotype", Tumour, |e| Cell::Text(e.relapse_phenotype.map(|p| p.name()));
    "cd19_negative_relapse", Tumour, |e| Cell::OptBool(e.cd19_negative_relapse);
    "efs_event_day", Tumour, |e| Cell::Num(e.efs_event_day);
    "efs_censored", Tumour, |e| Cell::Bool(e.efs_censored);
    "cured", Extinction, |e| Cell::Bool(e.cured);
    "cure_day", Extinction, |e| Cell::Opt(e.cure_day);
    "extinction_day_CD19+CD22+", Extinction, |e| Cell::Opt(e.extinction_days.get(Phenotype::DOUBLE_POS));
    "extinction_day_CD19-CD22+", Extinction, |e| Cell::Opt(e.extinction_days.get(Phenotype::CD19_NEG));
    "extinction_day_CD19+CD22-", Extinction, |e| Cell::Opt(e.extinction_days.get(Phenotype::CD22_NEG));
    "extinction_day_CD19-CD22-", Extinction, |e| Cell::Opt(e.extinction_days.get(Phenotype::DOUBLE_NEG));
    "cmax", Always, |e| Cell::Num(e.cmax);
    "tmax", Always, |e| Cell::Num(e.tmax);
    "auc28", Always, |e| Cell::Num(e.auc28);
    "cmax_copies", Always, |e| Cell::Num(e.cmax_copies);
    "peak_il6", Il6, |e| Cell::Num(e.peak_il6);
    "t_peak_il6", Il6, |e| Cell::Num(e.t_peak_il6);
    "peak_ifng", Ifng, |e| Cell::Num(e.peak_ifng);
    "t_peak_ifng", Ifng, |e| Cell::Num(e.t_peak_ifng);
    "peak_signal", Il6Signal, |e| Cell::Num(e.peak_signal);
    "t_peak_signal", Il6Signal, |e| Cell::Num(e.t_peak_signal);
    "crs_grade", Il6Signal, |e| Cell::Int(u64::from(e.crs_grade));
    "crs_onset_day", Il6Signal, |e| Cell::Opt(e.crs_onset_day);
    "n_toci_doses", Always, |e| Cell::Int(e.toci_days.len() as u64);
    "toci_day_1", Always, |e| Cell::Opt(e.toci_days.first().copied());
    "steroid_day", Always, |e| Cell::Opt(e.steroid_day);
    "b_recovery_day", BCells, |e| Cell::Opt(e.b_recovery_day);
    "B_day28", BCells, |e| Cell::Num(e.b_day28);
    "C_end", Always, |e| Cell::Num(e.c_end);
    "M_end", Memory, |e| Cell::Num(e.m_end);
    "B_end", BCells, |e| Cell::Num(e.b_end);
    "Ltot_end", Tumour, |e| Cell::Num(e.ltot_end);
    "icans_grade", Icans, |e| Cell::Int(u64::from(e.icans_grade));
    "icans_onset_day", Icans, |e| Cell::Opt(e.icans_onset_day);
    "peak_icans", Icans, |e| Cell::Opt(e.peak_icans);
    "crs_duration_days", Il6Signal, |e| Cell::Opt(e.crs_duration);
    "crs_scale", Il6Signal, |e| Cell::Text(e.crs_scale);
    "car_t_rel_6m", Always, |e| Cell::Opt(e.car_t_rel_6m);
    "car_t_rel_12m", Always, |e| Cell::Opt(e.car_t_rel_12m);
    "b_aplasia_6m", BCells, |e| Cell::OptBool(e.b_aplasia_6m);
    "b_aplasia_12m", BCells, |e| Cell::OptBool(e.b_aplasia_12m);
}

impl Observed {
    /// Whether the model observes group `g`.
    pub fn has(&self, g: Group) -> bool {
        match g {
            Group::Always => true,
            Group::Tumour => self.tumour,
            Group::Extinction => self.extinction,
            Group::BCells => self.b_cells,
            Group::Il6Signal => self.il6_signal,
            Group::Il6 => self.il6,
            Group::Ifng => self.ifng,
            Group::Memory => self.memory,
            Group::Icans => self.icans,
        }
    }

    /// Whether key `key` of `<name>_endpoints.json` is written for a model with these
    /// observables (the columns' groups, plus the JSON-only keys).
    pub fn keeps_key(&self, key: &str) -> bool {
        let group = match key {
            "crs_threshold_days" => Group::Il6Signal,
            "extinction_days" => Group::Extinction,
            "toci_days" => Group::Always,
            k => COLUMNS.iter().find(|c| c.name == k).map_or(Group::Tumour, |c| c.group),
        };
        self.has(group)
    }
}

/// The endpoint definitions every model's endpoints are read with (MODEL.md section 5):
/// one value shared by the observer, the trial summary and the file formats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definitions {
    /// Day at which response is assessed (and the end of the AUC and CRS windows), days.
    pub assessment_day: f64,
    /// Complete remission: marrow blast fraction below this at the assessment day (0.05);
    /// relapse: a responder's fraction back at or above it.
    pub cr_fraction: f64,
    /// MRD negativity by flow cytometry: marrow blast fraction below this (1e-4).
    pub mrd_threshold: f64,
    /// MRD negativity by NGS (1e-6), for the summary's `mrd_neg_ngs_rate`.
    pub mrd_ngs_threshold: f64,
    /// CRS grade thresholds `theta_1..theta_4` on the IL-6 signal (pg/mL), strictly
    /// increasing: the grade is the number reached by the assessment day.
    pub crs_thresholds: [f64; 4],
    /// B-cell count that ends B-cell aplasia (cells).
    pub b_recovery: f64,
    /// Transgene copies per ug genomic DNA per CAR-T cell (for `cmax_copies`).
    pub copies_per_cell: f64,
}

impl Default for Definitions {
    /// MODEL.md section 5 with REF-1's values.
    fn default() -> Self {
        Self {
            assessment_day: 28.0,
            cr_fraction: 0.05,
            mrd_threshold: 1e-4,
            mrd_ngs_threshold: 1e-6,
            crs_thresholds: [50.0, 200.0, 1000.0, 5000.0],
            b_recovery: 1e8,
            copies_per_cell: 3e-7,
        }
    }
}

impl Definitions {
    /// Check every value: a positive finite assessment day, fractions in (0, 1), strictly
    /// increasing positive CRS thresholds, positive B-recovery level and copies per cell.
    ///
    /// # Errors
    /// The first value out of its domain, named `endpoints.<field>`.
    pub fn validate(&self) -> Result<(), crate::InputError> {
        use crate::error::Domain;
        Domain::Pos.check("endpoints.assessment_day", self.assessment_day)?;
        Domain::OpenUnit.check("endpoints.cr_fraction", self.cr_fraction)?;
        Domain::OpenUnit.check("endpoints.mrd_threshold", self.mrd_threshold)?;
        Domain::OpenUnit.check("endpoints.mrd_ngs_threshold", self.mrd_ngs_threshold)?;
        for (k, &th) in self.crs_thresholds.iter().enumerate() {
            Domain::Pos.check(format!("endpoints.crs_thresholds[{k}]"), th)?;
            if k > 0 && th <= self.crs_thresholds[k - 1] {
                return Err(crate::InputError::Inconsistent {
                    field: format!("endpoints.crs_thresholds[{k}]"),
                    reason: format!(
                        "CRS thresholds must increase strictly: {th} is not above {}",
                        self.crs_thresholds[k - 1]
                    ),
                });
            }
        }
        Domain::Pos.check("endpoints.b_recovery", self.b_recovery)?;
        Domain::Pos.check("endpoints.copies_per_cell", self.copies_per_cell)?;
        Ok(())
    }
}

/// Which groups of endpoints a model's observables support (a model without a tumour has
/// no response endpoints, one without IL-6 no CRS grade). Endpoints of a group that is not
/// observed hold `false` / NaN / `None`, are left out of `<name>_endpoints.json`, left
/// empty in `patients.csv` and not counted in a trial summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Observed {
    /// Tumour and marrow: CR, MRD, relapse, EFS, `Ltot_*`.
    pub tumour: bool,
    /// A tumour with clones whose extinction is tracked: cure, cure day, extinction days.
    pub extinction: bool,
    /// Normal B cells: B recovery, `B_day28`, `B_end`.
    pub b_cells: bool,
    /// The IL-6 signal: CRS grade and onset, `peak_signal`.
    pub il6_signal: bool,
    /// Serum IL-6: `peak_il6`.
    pub il6: bool,
    /// IFN-gamma: `peak_ifng`.
    pub ifng: bool,
    /// Memory CAR-T: `M_end`.
    pub memory: bool,
    /// Neurotoxicity: ICANS grade and onset.
    pub icans: bool,
}

impl Observed {
    /// Every group of the reference model.
    pub const ALL: Observed = Observed {
        tumour: true,
        extinction: true,
        b_cells: true,
        il6_signal: true,
        il6: true,
        ifng: true,
        memory: true,
        icans: false,
    };
}
