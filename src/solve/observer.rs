//! The endpoint observer: fed by the driver with every piece of every step, the left and
//! right limits at every instant, and the event log at the end, it computes the endpoints of
//! MODEL.md section 5 from a model's observables alone ([`Observable`]), so every model gets
//! the same endpoints for the observables it maps.

use super::piece::{Peak, Piece};
use crate::endpoints::{Definitions, Endpoints, Event, EventKind, ExtinctionDays, Observed};
use crate::locate::no_upward_crossing;
use crate::model::{Model, Observable, Phenotype};
use crate::ode::Stepper;
use nalgebra::SVector;

/// The days of the persistence endpoints (6 and 12 months).
const PERSISTENCE_DAYS: [f64; 2] = [182.5, 365.0];

struct Assessment {
    f: f64,
    l_tot: f64,
    b: f64,
    auc: f64,
}

/// What the observer has seen so far.
pub(crate) struct Observer {
    defs: Definitions,
    observed: Observed,
    /// The model integrates the AUC itself (else the observer integrates C on the pieces).
    model_auc: bool,
    auc: f64,
    h: f64,
    ln_relapse: f64,
    cmax: Peak,
    pk_i: Peak,
    pk_g: Peak,
    pk_s: Peak,
    thr_day: [Option<f64>; 4],
    /// The observable CRS is graded on ([`Observable::CrsSeverity`] if mapped, else the
    /// IL-6 signal).
    crs_obs: Observable,
    /// Last time the grading signal fell below the grade-1 threshold in [0, 28].
    crs_down: Option<f64>,
    /// Whether the grading signal is at or above the grade-1 threshold at the assessment day.
    crs_above_at_day: bool,
    icans_th: [f64; 4],
    pk_n: Peak,
    icans_day: [Option<f64>; 4],
    /// CAR-T at days 182.5 and 365 (the persistence endpoints).
    c_at: [Option<f64>; 2],
    crs_scale: Option<&'static str>,
    day28: Option<Assessment>,
    relapse: Option<(f64, Phenotype)>,
    b_rec: Option<f64>,
}

/// `observe` as a `(y, dy) -> (value, slope)` closure for the piece searches.
macro_rules! obs_fn {
    ($m:expr, $mode:expr, $o:expr) => {
        |y: &SVector<f64, N>, dy: &SVector<f64, N>| $m.observe($mode, $o, y, dy).unwrap_or((0.0, 0.0))
    };
}

impl Observer {
    /// An observer for `model` (which observables it maps decides the endpoint groups).
    pub fn new<const N: usize, M: Model<N>>(model: &M, mode: &M::Mode, defs: &Definitions) -> Self {
        let (y, _) = model.start();
        let z = SVector::<f64, N>::zeros();
        let has = |o| model.observe(mode, o, &y, &z).is_some();
        let h = model.marrow_cells();
        let crs_obs = if has(Observable::CrsSeverity) { Observable::CrsSeverity } else { Observable::Il6Signal };
        let icans_th = model.icans_thresholds();
        let observed = Observed {
            tumour: h.is_some() && has(Observable::Tumour) && has(Observable::LnTumour),
            extinction: model.n_clones() > 0 && has(Observable::Tumour) && has(Observable::LnTumour),
            b_cells: has(Observable::BCells),
            il6_signal: has(crs_obs),
            il6: has(Observable::Il6),
            ifng: has(Observable::Ifng),
            memory: has(Observable::CarTMemory),
            icans: icans_th.is_some() && has(Observable::Icans),
        };
        let h = h.unwrap_or(f64::NAN);
        let cr = defs.cr_fraction;
        Observer {
            defs: *defs,
            observed,
            model_auc: has(Observable::CarTAuc),
            auc: 0.0,
            h,
            ln_relapse: (cr * h / (1.0 - cr)).ln(),
            cmax: Peak::new(),
            pk_i: Peak::new(),
            pk_g: Peak::new(),
            pk_s: Peak::new(),
            thr_day: [None; 4],
            crs_obs,
            crs_down: None,
            crs_above_at_day: false,
            icans_th: icans_th.unwrap_or([f64::INFINITY; 4]),
            pk_n: Peak::new(),
            icans_day: [None; 4],
            c_at: [None; 2],
            crs_scale: model.crs_scale(),
            day28: None,
            relapse: None,
            b_rec: None,
        }
    }

    /// The observer's own time break: the assessment day until it is reached.
    #[inline]
    pub fn next_break(&self) -> f64 {
        if self.day28.is_none() {
            self.defs.assessment_day
        } else {
            f64::INFINITY
        }
    }

    /// A piece `[t_0, t_4]` of the current step: interior maxima and the crossings that only
    /// record a time (CRS thresholds, relapse, B recovery).
    pub fn piece<const N: usize, M: Model<N>, S: Stepper<N>>(&mut self, m: &M, mode: &M::Mode, pc: &Piece<'_, N, S>) {
        let (ta, tb) = (pc.start(), pc.end());
        let c = obs_fn!(m, mode, Observable::CarT);
        let mut pk = self.cmax;
        pc.track_max(&c, &mut pk);
        self.cmax = pk;
        self.persistence(m, mode, pc.st, ta, tb);
        let day = self.defs.assessment_day;
        if ta < day {
            if !self.model_auc {
                // Boole's rule on the five equally spaced samples: exact for the quartic
                // dense output of a Dormand-Prince step.
                let g: [f64; 5] = std::array::from_fn(|k| c(&pc.ys[k], &pc.dys[k]).0);
                self.auc += (tb - ta) / 90.0 * (7.0 * (g[0] + g[4]) + 32.0 * (g[1] + g[3]) + 12.0 * g[2]);
            }
            if self.observed.il6 {
                let f = obs_fn!(m, mode, Observable::Il6);
                pc.track_max(&f, &mut self.pk_i);
            }
            if self.observed.ifng {
                let f = obs_fn!(m, mode, Observable::Ifng);
                pc.track_max(&f, &mut self.pk_g);
            }
            if self.observed.icans {
                let fnn = obs_fn!(m, mode, Observable::Icans);
                pc.track_max(&fnn, &mut self.pk_n);
                for k in 0..4 {
                    if self.icans_day[k].is_some() {
                        continue;
                    }
                    let thk = self.icans_th[k];
                    let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                        let (s, ds) = fnn(y, dy);
                        (s - thk, ds)
                    };
                    let p = pc.probe(&f);
                    if let Some(t) = pc.crossing(&p, &f) {
                        self.icans_day[k] = Some(t);
                    }
                }
            }
            if self.observed.il6_signal {
                let fs = obs_fn!(m, mode, self.crs_obs);
                pc.track_max(&fs, &mut self.pk_s);
                let th = self.defs.crs_thresholds;
                if self.crs_obs == Observable::CrsSeverity {
                    // the last fall below the grade-1 threshold (CRS duration)
                    let th1 = th[0];
                    let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                        let (s, ds) = fs(y, dy);
                        (th1 - s, -ds)
                    };
                    let p = pc.probe(&f);
                    if let Some(t) = pc.crossing(&p, &f) {
                        self.crs_down = Some(t);
                    }
                }
                for k in 0..4 {
                    if self.thr_day[k].is_some() {
                        continue;
                    }
                    let thk = th[k];
                    let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                        let (s, ds) = fs(y, dy);
                        (s - thk, ds)
                    };
                    let p = pc.probe(&f);
                    if let Some(t) = pc.crossing(&p, &f) {
                        self.thr_day[k] = Some(t);
                    }
                }
            }
        } else if let Some(d28) = &self.day28 {
            let cr = d28.f < self.defs.cr_fraction;
            let any_active = (0..m.n_clones()).any(|j| m.clone_ln(mode, j, &pc.ys[0]).is_some());
            if self.observed.tumour && cr && self.relapse.is_none() && any_active {
                let lr = self.ln_relapse;
                let lt = obs_fn!(m, mode, Observable::LnTumour);
                let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                    let (v, dv) = lt(y, dy);
                    (v - lr, dv)
                };
                let p = pc.probe(&f);
                if let Some(t) = pc.crossing(&p, &f) {
                    let mut y = SVector::zeros();
                    pc.st.dense(t, &mut y);
                    let mut best = (f64::NEG_INFINITY, Phenotype::DOUBLE_POS);
                    for j in 0..m.n_clones() {
                        if let Some(v) = m.clone_ln(mode, j, &y) {
                            if v > best.0 {
                                best = (v, m.clone_label(j));
                            }
                        }
                    }
                    self.relapse = Some((t, best.1));
                }
            }
            if self.observed.b_cells && self.b_rec.is_none() {
                let br = self.defs.b_recovery;
                let fb = obs_fn!(m, mode, Observable::BCells);
                let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                    let (v, dv) = fb(y, dy);
                    (v - br, dv)
                };
                let p = pc.probe(&f);
                if let Some(t) = pc.crossing(&p, &f) {
                    self.b_rec = Some(t);
                }
            }
        }
    }

    /// CAR-T at the persistence days inside `(ta, tb]`, from the dense output.
    #[inline]
    pub fn persistence<const N: usize, M: Model<N>, S: Stepper<N>>(
        &mut self,
        m: &M,
        mode: &M::Mode,
        st: &S,
        ta: f64,
        tb: f64,
    ) {
        for (k, &tk) in PERSISTENCE_DAYS.iter().enumerate() {
            if self.c_at[k].is_none() && ta < tk && tk <= tb {
                let mut y = SVector::zeros();
                st.dense(tk, &mut y);
                self.c_at[k] = Some(m.observe(mode, Observable::CarT, &y, &SVector::zeros()).map_or(0.0, |v| v.0));
            }
        }
    }

    /// Whether [`Observer::piece`] would change nothing but the persistence values on a
    /// piece starting at `ta` whose dense output lies in the box `[lo, hi]`: no maximum it
    /// tracks can rise and no crossing it waits for can happen there (by the model's
    /// [`Model::observe_range`]; an observable without a range is never quiet).
    pub fn quiet<const N: usize, M: Model<N>>(
        &self,
        m: &M,
        mode: &M::Mode,
        ta: f64,
        lo: &SVector<f64, N>,
        hi: &SVector<f64, N>,
    ) -> bool {
        let range = |o| m.observe_range(mode, o, lo, hi);
        // every value at most `v` (a running maximum that cannot rise)
        let at_most = |o, v: f64| matches!(range(o), Some((_, h)) if h <= v);
        // no upward crossing of `level` can be found
        let uncrossed = |o, level: f64| no_upward_crossing(range(o), level);
        if !at_most(Observable::CarT, self.cmax.v) {
            return false;
        }
        if ta < self.defs.assessment_day {
            if !self.model_auc {
                return false;
            }
            if self.observed.il6 && !at_most(Observable::Il6, self.pk_i.v) {
                return false;
            }
            if self.observed.ifng && !at_most(Observable::Ifng, self.pk_g.v) {
                return false;
            }
            if self.observed.icans {
                if !at_most(Observable::Icans, self.pk_n.v) {
                    return false;
                }
                if (0..4).any(|k| self.icans_day[k].is_none() && !uncrossed(Observable::Icans, self.icans_th[k])) {
                    return false;
                }
            }
            if self.observed.il6_signal {
                let th = self.defs.crs_thresholds;
                if !at_most(self.crs_obs, self.pk_s.v) {
                    return false;
                }
                // the fall below the grade-1 threshold: an upward crossing of 0 by `th1 - s`
                let fall = range(self.crs_obs).map(|(l, h)| (th[0] - h, th[0] - l));
                if self.crs_obs == Observable::CrsSeverity && !no_upward_crossing(fall, 0.0) {
                    return false;
                }
                if (0..4).any(|k| self.thr_day[k].is_none() && !uncrossed(self.crs_obs, th[k])) {
                    return false;
                }
            }
            true
        } else if let Some(d28) = &self.day28 {
            let cr = d28.f < self.defs.cr_fraction;
            if self.observed.tumour && cr && self.relapse.is_none() && !uncrossed(Observable::LnTumour, self.ln_relapse)
            {
                return false;
            }
            !(self.observed.b_cells && self.b_rec.is_none() && !uncrossed(Observable::BCells, self.defs.b_recovery))
        } else {
            true
        }
    }

    /// The IL-6 signal takes value `v` at instant `t` (left or right limit, or the level of a
    /// trigger that fired there).
    pub fn offer_signal(&mut self, t: f64, v: f64) {
        if t <= self.defs.assessment_day {
            self.pk_s.offer(t, v);
            let th = self.defs.crs_thresholds;
            for k in 0..4 {
                if self.thr_day[k].is_none() && v >= th[k] {
                    self.thr_day[k] = Some(t);
                }
            }
        }
    }

    /// The values at instant `t` (a left or a right limit).
    pub fn offer_values<const N: usize, M: Model<N>>(&mut self, m: &M, mode: &M::Mode, t: f64, y: &SVector<f64, N>) {
        let z = SVector::zeros();
        let v = |o| m.observe(mode, o, y, &z).map_or(0.0, |(v, _)| v);
        self.cmax.offer(t, v(Observable::CarT));
        for (k, &tk) in PERSISTENCE_DAYS.iter().enumerate() {
            if self.c_at[k].is_none() && t == tk {
                self.c_at[k] = Some(v(Observable::CarT));
            }
        }
        if self.observed.icans && t <= self.defs.assessment_day {
            let n = v(Observable::Icans);
            self.pk_n.offer(t, n);
            for k in 0..4 {
                if self.icans_day[k].is_none() && n >= self.icans_th[k] {
                    self.icans_day[k] = Some(t);
                }
            }
        }
        if t <= self.defs.assessment_day {
            if self.observed.il6 {
                self.pk_i.offer(t, v(Observable::Il6));
            }
            if self.observed.ifng {
                self.pk_g.offer(t, v(Observable::Ifng));
            }
        }
        if self.observed.il6_signal {
            self.offer_signal(t, v(self.crs_obs));
        }
    }

    /// The end of the events at instant `t`: the assessment when `t` reaches its day.
    pub fn after_instant<const N: usize, M: Model<N>>(&mut self, m: &M, mode: &M::Mode, t: f64, y: &SVector<f64, N>) {
        let day = self.defs.assessment_day;
        if self.day28.is_none() && t >= day {
            let z = SVector::zeros();
            let v = |o| m.observe(mode, o, y, &z).map_or(f64::NAN, |(v, _)| v);
            let l_tot = v(Observable::Tumour);
            let b = v(Observable::BCells);
            let auc = if self.model_auc { v(Observable::CarTAuc) } else { self.auc };
            if self.observed.il6_signal {
                self.crs_above_at_day = v(self.crs_obs) >= self.defs.crs_thresholds[0];
            }
            self.day28 = Some(Assessment { f: l_tot / (l_tot + self.h), l_tot, b, auc });
            if self.observed.b_cells && b >= self.defs.b_recovery {
                self.b_rec = Some(day);
            }
        }
    }

    /// The endpoints, from what was observed, the final state and the event log.
    pub fn finish<const N: usize, M: Model<N>>(
        self,
        m: &M,
        mode: &M::Mode,
        y: &SVector<f64, N>,
        horizon: f64,
        events: &[Event],
    ) -> Endpoints {
        let defs = &self.defs;
        let o = self.observed;
        let nan = Assessment { f: f64::NAN, l_tot: f64::NAN, b: f64::NAN, auc: f64::NAN };
        let d28 = self.day28.unwrap_or(nan);
        let cr = o.tumour && d28.f < defs.cr_fraction;
        let relapse = if cr { self.relapse } else { None };
        let mut ext_day: Vec<Option<f64>> = vec![None; m.n_clones()];
        let mut toci_days = Vec::new();
        let mut steroid_day = None;
        for ev in events {
            match ev.kind {
                EventKind::Extinction { phenotype } => {
                    for j in 0..m.n_clones() {
                        if m.clone_label(j) == phenotype && ext_day[j].is_none() {
                            ext_day[j] = Some(ev.t);
                            break;
                        }
                    }
                }
                EventKind::TociProphylactic | EventKind::TociReactive { .. } => toci_days.push(ev.t),
                EventKind::SteroidStart => steroid_day = Some(ev.t),
                _ => {}
            }
        }
        // one entry per phenotype: extinct when every clone of it is (the day of the last)
        let mut ext: Vec<(Phenotype, Option<f64>)> = Vec::new();
        let mut cured = o.extinction;
        let mut cure_day: f64 = 0.0;
        for j in 0..m.n_clones() {
            if m.clone_present(j) {
                let label = m.clone_label(j);
                match ext.iter_mut().find(|(p, _)| *p == label) {
                    Some(entry) => entry.1 = entry.1.zip(ext_day[j]).map(|(a, b)| a.max(b)),
                    None => ext.push((label, ext_day[j])),
                }
                match ext_day[j] {
                    Some(d) => cure_day = cure_day.max(d),
                    None => cured = false,
                }
            }
        }
        let grade = self.thr_day.iter().filter(|d| d.is_some()).count() as u8;
        let (efs_event_day, efs_censored) = if !o.tumour {
            (f64::NAN, true)
        } else if !cr {
            (defs.assessment_day, false)
        } else if let Some((d, _)) = relapse {
            (d, false)
        } else {
            (horizon, true)
        };
        let z = SVector::zeros();
        let v = |ob| m.observe(mode, ob, y, &z).map_or(f64::NAN, |(v, _)| v);
        let c_end = v(Observable::CarT);
        let nan_unless = |on: bool, x: f64| if on { x } else { f64::NAN };
        let crs_duration = match (self.thr_day[0], o.il6_signal && self.crs_obs == Observable::CrsSeverity) {
            (Some(onset), true) => {
                let day = defs.assessment_day;
                let end = match self.crs_down {
                    Some(d) if d > onset && !self.crs_above_at_day => d,
                    _ => day.min(horizon),
                };
                Some((end - onset).max(0.0))
            }
            _ => None,
        };
        let rel = |k: usize| self.c_at[k].map(|c| if self.cmax.v > 0.0 { c / self.cmax.v } else { 0.0 });
        let aplasia = |k: usize| {
            let tk = PERSISTENCE_DAYS[k];
            (o.b_cells && horizon >= tk).then(|| self.b_rec.is_none_or(|d| d > tk))
        };
        Endpoints {
            cr_day28: cr,
            mrd_neg_day28: o.tumour && d28.f < defs.mrd_threshold,
            f_day28: nan_unless(o.tumour, d28.f),
            ltot_day28: nan_unless(o.tumour, d28.l_tot),
            relapse_day: relapse.map(|r| r.0),
            relapse_phenotype: relapse.map(|r| r.1),
            cd19_negative_relapse: relapse.map(|r| r.1.is_cd19_negative()),
            efs_event_day,
            efs_censored,
            cured,
            cure_day: if cured { Some(cure_day) } else { None },
            extinction_days: ExtinctionDays(ext),
            cmax: self.cmax.v,
            tmax: self.cmax.t,
            auc28: d28.auc,
            cmax_copies: self.cmax.v * m.copies_per_unit().unwrap_or(defs.copies_per_cell),
            peak_il6: nan_unless(o.il6, self.pk_i.v),
            t_peak_il6: nan_unless(o.il6, self.pk_i.t),
            peak_ifng: nan_unless(o.ifng, self.pk_g.v),
            t_peak_ifng: nan_unless(o.ifng, self.pk_g.t),
            peak_signal: nan_unless(o.il6_signal, self.pk_s.v),
            t_peak_signal: nan_unless(o.il6_signal, self.pk_s.t),
            crs_grade: grade,
            crs_onset_day: self.thr_day[0],
            crs_threshold_days: self.thr_day,
            toci_days,
            steroid_day,
            b_recovery_day: self.b_rec,
            b_day28: nan_unless(o.b_cells, d28.b),
            c_end,
            m_end: nan_unless(o.memory, v(Observable::CarTMemory)),
            b_end: nan_unless(o.b_cells, v(Observable::BCells)),
            ltot_end: nan_unless(o.tumour, v(Observable::Tumour)),
            icans_grade: self.icans_day.iter().filter(|d| d.is_some()).count() as u8,
            icans_onset_day: self.icans_day[0],
            peak_icans: o.icans.then_some(self.pk_n.v),
            crs_duration,
            car_t_rel_6m: rel(0),
            car_t_rel_12m: rel(1),
            b_aplasia_6m: aplasia(0),
            b_aplasia_12m: aplasia(1),
            crs_scale: if o.il6_signal { self.crs_scale } else { None },
            observed: o,
        }
    }
}
