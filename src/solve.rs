//! The single-patient driver: integrates the reference model piecewise between events,
//! locates threshold crossings exactly on the dense output, applies state changes, and
//! computes the endpoints of MODEL.md section 5 on the fly.
//!
//! Events at one instant are applied in this order (MODEL.md section 4 and the reference
//! README): extinctions located at that time, infusions, prophylactic tocilizumab doses, the
//! end of the tocilizumab window, the end of the steroid course; then the IL-6 signal is
//! evaluated with the new switches and every trigger it reaches fires (a reactive
//! tocilizumab dose before the steroid start); only then does a new dose lower the signal.

use crate::endpoints::{Endpoints, Event, EventKind, ExtinctionDays};
use crate::error::{Error, InputError, SolveError, SolveFailure};
use crate::locate::{first_upward, local_maxima, Probe, SAMPLES};
use crate::model::{idx, Params, Phenotype, RefRhs, NSTATE};
use crate::ode::{Dopri5, OdeSystem, Stats, Stepper, Tolerance};
use crate::regimen::{SteroidPolicy, TociPolicy};
use crate::scenario::{Scenario, SolverConfig};
use nalgebra::SVector;
use serde::Serialize;

type State = SVector<f64, NSTATE>;

/// Day at which response is assessed.
pub const ENDPOINT_DAY: f64 = 28.0;

/// Which output times get a trajectory row.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Grid {
    /// No trajectory (endpoints only: the fast path for trials).
    None,
    /// Every integer day from 0 to the horizon.
    #[default]
    Daily,
    /// These times (days, non-decreasing, within [0, horizon]).
    Times(Vec<f64>),
}

/// What a solve records besides the endpoints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputSpec {
    /// Output times.
    pub grid: Grid,
    /// Also a row at every event time (as the reference trajectories have).
    pub event_rows: bool,
}

impl OutputSpec {
    /// Endpoints and event log only.
    pub fn endpoints_only() -> Self {
        Self { grid: Grid::None, event_rows: false }
    }

    /// Daily rows plus a row at every event time (the reference trajectory format).
    pub fn reference() -> Self {
        Self { grid: Grid::Daily, event_rows: true }
    }
}

/// The state at one output time. Values are right-continuous: at an event time the row
/// holds the state after every event at that time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Row {
    /// Time (day).
    pub t: f64,
    /// Effector CAR-T (cells).
    pub e: f64,
    /// Memory CAR-T (cells).
    pub m: f64,
    /// Exhausted CAR-T (cells).
    pub x: f64,
    /// Blasts per phenotype, canonical order (cells; 0 when absent or extinct).
    pub l: [f64; 4],
    /// Normal B cells.
    pub b: f64,
    /// IFN-gamma (pg/mL).
    pub g: f64,
    /// Serum IL-6 (pg/mL).
    pub i: f64,
    /// IL-6 signal `I (1 - eps_T T)` (pg/mL).
    pub i_eff: f64,
    /// Tocilizumab acting.
    pub toci: bool,
    /// Steroids acting.
    pub steroid: bool,
}

impl Row {
    /// CAR-T total `C = E + M + X`.
    pub fn c(&self) -> f64 {
        self.e + self.m + self.x
    }
    /// Total blasts.
    pub fn l_tot(&self) -> f64 {
        self.l.iter().sum()
    }
}

/// The result of one solve.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Endpoints (MODEL.md section 5).
    pub endpoints: Endpoints,
    /// Event log in time order.
    pub events: Vec<Event>,
    /// Trajectory rows (empty with [`Grid::None`]).
    pub rows: Vec<Row>,
    /// Phenotypes present at t = 0.
    pub present: [bool; 4],
    /// Solver work.
    pub stats: Stats,
}

/// Simulate one patient.
///
/// # Errors
/// [`Error::Input`] for output times outside `[0, horizon]` or out of order;
/// [`Error::Solve`] when the integration fails (step limit, step-size underflow,
/// non-finite state).
///
/// ```
/// use cartkin::{simulate, OutputSpec, Scenario, SolverConfig};
/// let sol = simulate(&Scenario::nominal(), &SolverConfig::default(), &OutputSpec::default()).unwrap();
/// assert!(sol.endpoints.cr_day28);
/// assert_eq!(sol.rows.len(), 366);
/// ```
pub fn simulate(sc: &Scenario, cfg: &SolverConfig, out: &OutputSpec) -> Result<Solution, Error> {
    let grid = grid_times(&out.grid, sc.horizon())?;
    Ok(run(sc, cfg, &grid, out.event_rows, 0)?)
}

/// The output times of `grid` for `horizon`, validated.
///
/// # Errors
/// A time outside `[0, horizon]`, non-finite, or out of order.
pub fn grid_times(grid: &Grid, horizon: f64) -> Result<Vec<f64>, InputError> {
    Ok(match grid {
        Grid::None => Vec::new(),
        Grid::Daily => (0..=(horizon.floor() as u64)).map(|d| d as f64).collect(),
        Grid::Times(v) => {
            let mut prev = f64::NEG_INFINITY;
            for (k, &t) in v.iter().enumerate() {
                if !(t >= 0.0 && t <= horizon) {
                    return Err(InputError::OutOfDomain {
                        field: format!("output.times[{k}]"),
                        value: t,
                        domain: "within [0, horizon]",
                    });
                }
                if t < prev {
                    return Err(InputError::Inconsistent {
                        field: format!("output.times[{k}]"),
                        reason: format!("times must not decrease: {t} after {prev}"),
                    });
                }
                prev = t;
            }
            v.clone()
        }
    })
}

/// Simulate one patient with a pre-validated grid; `patient_id` goes into a [`SolveError`].
///
/// # Errors
/// The solve failure with the patient id and the time reached.
pub fn run(
    sc: &Scenario,
    cfg: &SolverConfig,
    grid: &[f64],
    event_rows: bool,
    patient_id: u64,
) -> Result<Solution, SolveError> {
    let mut r = Run::new(sc, cfg, grid, event_rows);
    r.go().map_err(|(t, reason)| SolveError { patient_id, t, reason })?;
    Ok(r.finish())
}

#[derive(Debug, Clone, Copy)]
struct Peak {
    v: f64,
    t: f64,
}

impl Peak {
    fn new() -> Self {
        Peak { v: f64::NEG_INFINITY, t: 0.0 }
    }
    #[inline]
    fn offer(&mut self, t: f64, v: f64) {
        if v > self.v {
            self.v = v;
            self.t = t;
        }
    }
}

struct Day28 {
    f: f64,
    l_tot: f64,
    b: f64,
    auc: f64,
}

struct Run<'a> {
    p: &'a Params,
    sc: &'a Scenario,
    rhs: RefRhs<'a>,
    tol: Tolerance<NSTATE>,
    st: Dopri5<NSTATE>,
    y: State,
    t: f64,
    horizon: f64,
    ln_ext: f64,
    ln_relapse: f64,
    next_inf: usize,
    next_proph: usize,
    proph: &'a [f64],
    reactive_toci: bool,
    reactive_ster: bool,
    toci_until: f64,
    n_reactive: u32,
    toci_days: Vec<f64>,
    ster_until: f64,
    steroid_day: Option<f64>,
    present: [bool; 4],
    ext_day: [Option<f64>; 4],
    below_toci: bool,
    below_ster: bool,
    cmax: Peak,
    pk_i: Peak,
    pk_g: Peak,
    pk_s: Peak,
    thr_day: [Option<f64>; 4],
    day28: Option<Day28>,
    relapse: Option<(f64, Phenotype)>,
    b_rec: Option<f64>,
    events: Vec<Event>,
    grid: &'a [f64],
    gi: usize,
    rows: Vec<Row>,
    event_rows: bool,
    xtol: f64,
}

impl<'a> Run<'a> {
    fn new(sc: &'a Scenario, cfg: &SolverConfig, grid: &'a [f64], event_rows: bool) -> Self {
        let p = sc.params();
        let rhs = RefRhs::at_start(sc);
        let present = rhs.sw.active;
        let pat = sc.patient();
        let blasts = pat.blasts();
        let mut y = State::zeros();
        let [e0, m0, x0] = pat.car_t();
        let [g0, i0] = pat.cytokines();
        y[idx::E] = e0;
        y[idx::M] = m0;
        y[idx::X] = x0;
        for j in 0..4 {
            y[idx::LN_L + j] = if present[j] { blasts[j].ln() } else { 0.0 };
        }
        y[idx::B] = pat.b0();
        y[idx::G] = g0;
        y[idx::I] = i0;
        let a = cfg.atol();
        let sc_ = cfg.atol_scales();
        let mut atol = State::zeros();
        let mut weight = State::repeat(1.0);
        for k in [idx::E, idx::M, idx::X, idx::B, idx::Q] {
            atol[k] = a * sc_.cells;
        }
        for j in 0..4 {
            atol[idx::LN_L + j] = a * sc_.ln_blasts;
            weight[idx::LN_L + j] = if present[j] { 1.0 } else { 0.0 };
        }
        atol[idx::G] = a * sc_.cytokines;
        atol[idx::I] = a * sc_.cytokines;
        let tol = Tolerance { rtol: cfg.rtol(), atol, weight, h_max: cfg.max_step(), max_steps: cfg.step_limit() };
        let proph: &[f64] = match sc.regimen().tocilizumab() {
            TociPolicy::Prophylactic { times } => times,
            _ => &[],
        };
        Run {
            p,
            sc,
            rhs,
            tol,
            st: Dopri5::with_method(cfg.method_used()),
            y,
            t: 0.0,
            horizon: sc.horizon(),
            ln_ext: if p.n_ext > 0.0 { p.n_ext.ln() } else { f64::NEG_INFINITY },
            ln_relapse: (0.05 * p.h / 0.95).ln(),
            next_inf: 0,
            next_proph: 0,
            proph,
            reactive_toci: matches!(sc.regimen().tocilizumab(), TociPolicy::Reactive),
            reactive_ster: matches!(sc.regimen().steroids(), SteroidPolicy::Reactive),
            toci_until: f64::NEG_INFINITY,
            n_reactive: 0,
            toci_days: Vec::new(),
            ster_until: f64::NEG_INFINITY,
            steroid_day: None,
            present,
            ext_day: [None; 4],
            below_toci: true,
            below_ster: true,
            cmax: Peak::new(),
            pk_i: Peak::new(),
            pk_g: Peak::new(),
            pk_s: Peak::new(),
            thr_day: [None; 4],
            day28: None,
            relapse: None,
            b_rec: None,
            events: Vec::with_capacity(16),
            grid,
            gi: 0,
            rows: Vec::with_capacity(grid.len() + if event_rows { 16 } else { 0 }),
            event_rows,
            xtol: 1e-12,
        }
    }

    fn go(&mut self) -> Result<(), (f64, SolveFailure)> {
        self.instant(0.0, false, false);
        while self.t < self.horizon {
            let t_break = self.next_break();
            self.st.reset(&self.rhs, self.t, &self.y, &self.tol);
            loop {
                self.st.step(&self.rhs, t_break, &self.tol).map_err(|e| (self.st.t(), e))?;
                let (ta, te) = (self.st.t_prev(), self.st.t());
                let (ts, ys, dys) = self.samples(ta, te);
                if let Some((tc, toci, ster)) = self.find_located(&ts, &ys, &dys) {
                    let (ts2, ys2, dys2) = self.samples(ta, tc);
                    self.observe(&ts2, &ys2, &dys2, false);
                    let mut y = State::zeros();
                    self.st.dense(tc, &mut y);
                    self.y = y;
                    self.t = tc;
                    self.instant(tc, toci, ster);
                    break;
                }
                let at_break = te >= t_break;
                self.observe(&ts, &ys, &dys, !at_break);
                if at_break {
                    self.y = *self.st.y();
                    self.t = t_break;
                    self.instant(t_break, false, false);
                    break;
                }
            }
        }
        Ok(())
    }

    fn next_break(&self) -> f64 {
        let mut tb = self.horizon;
        let inf = self.sc.regimen().infusions();
        if self.next_inf < inf.len() {
            tb = tb.min(inf[self.next_inf].t);
        }
        if self.next_proph < self.proph.len() {
            tb = tb.min(self.proph[self.next_proph]);
        }
        if self.rhs.sw.toci {
            tb = tb.min(self.toci_until);
        }
        if self.rhs.sw.steroid {
            tb = tb.min(self.ster_until);
        }
        if self.day28.is_none() {
            tb = tb.min(ENDPOINT_DAY);
        }
        tb
    }

    #[allow(clippy::type_complexity)]
    fn samples(&self, ta: f64, tb: f64) -> ([f64; SAMPLES], [State; SAMPLES], [State; SAMPLES]) {
        let mut ts = [0.0; SAMPLES];
        let mut ys = [State::zeros(); SAMPLES];
        let mut dys = [State::zeros(); SAMPLES];
        for k in 0..SAMPLES {
            let t = if k == SAMPLES - 1 { tb } else { ta + (tb - ta) * (k as f64) / ((SAMPLES - 1) as f64) };
            ts[k] = t;
            self.st.dense(t, &mut ys[k]);
            self.st.dense_deriv(t, &mut dys[k]);
        }
        (ts, ys, dys)
    }

    /// Probe a scalar function `f(y, dy) -> (g, g')` at the samples.
    fn probe(
        ts: &[f64; SAMPLES],
        ys: &[State; SAMPLES],
        dys: &[State; SAMPLES],
        f: impl Fn(&State, &State) -> (f64, f64),
    ) -> Probe {
        let mut p = Probe { t: *ts, g: [0.0; SAMPLES], dg: [0.0; SAMPLES] };
        for k in 0..SAMPLES {
            let (g, dg) = f(&ys[k], &dys[k]);
            p.g[k] = g;
            p.dg[k] = dg;
        }
        p
    }

    /// First upward crossing of `f` in the current step's dense output over the probe.
    fn crossing(&self, p: &Probe, f: impl Fn(&State, &State) -> (f64, f64)) -> Option<f64> {
        let mut y = State::zeros();
        let mut dy = State::zeros();
        let zero = State::zeros();
        let st = &self.st;
        let value = |t: f64| {
            let mut y = State::zeros();
            st.dense(t, &mut y);
            f(&y, &zero).0
        };
        let slope = |t: f64| {
            st.dense(t, &mut y);
            st.dense_deriv(t, &mut dy);
            f(&y, &dy).1
        };
        first_upward(p, value, slope, self.xtol)
    }

    /// Interior maxima of `f` in the piece, offered to `peak`.
    fn maxima(&self, p: &Probe, f: impl Fn(&State, &State) -> (f64, f64), peak: &mut Peak) {
        let st = &self.st;
        let mut y = State::zeros();
        let mut dy = State::zeros();
        let mut found = [f64::NAN; SAMPLES];
        let mut n = 0;
        local_maxima(
            p,
            |t| {
                st.dense(t, &mut y);
                st.dense_deriv(t, &mut dy);
                f(&y, &dy).1
            },
            self.xtol,
            |tm| {
                found[n] = tm;
                n += 1;
            },
        );
        let zero = State::zeros();
        for &tm in &found[..n] {
            let mut yv = State::zeros();
            st.dense(tm, &mut yv);
            peak.offer(tm, f(&yv, &zero).0);
        }
    }

    /// Earliest state-changing crossing in the piece: extinction, reactive tocilizumab,
    /// reactive steroids. Returns `(t, toci fires, steroids fire)`.
    fn find_located(
        &self,
        ts: &[f64; SAMPLES],
        ys: &[State; SAMPLES],
        dys: &[State; SAMPLES],
    ) -> Option<(f64, bool, bool)> {
        let mut best: Option<(f64, bool, bool)> = None;
        let mut take = |t: f64, toci: bool, ster: bool| match best {
            Some((b, _, _)) if b < t => {}
            Some((b, bt, bs)) if b == t => best = Some((b, bt || toci, bs || ster)),
            _ => best = Some((t, toci, ster)),
        };
        if self.ln_ext.is_finite() {
            for j in 0..4 {
                if !self.rhs.sw.active[j] {
                    continue;
                }
                let k = idx::LN_L + j;
                let ln_ext = self.ln_ext;
                let f = move |y: &State, dy: &State| (ln_ext - y[k], -dy[k]);
                let p = Self::probe(ts, ys, dys, f);
                if let Some(t) = self.crossing(&p, f) {
                    take(t, false, false);
                }
            }
        }
        let fac = self.rhs.signal_factor();
        if self.reactive_toci && self.n_reactive < self.p.n_toci {
            let th = self.p.theta_toci;
            let f = move |y: &State, dy: &State| (y[idx::I] * fac - th, dy[idx::I] * fac);
            let p = Self::probe(ts, ys, dys, f);
            if let Some(t) = self.crossing(&p, f) {
                take(t, true, false);
            }
        }
        if self.reactive_ster && self.steroid_day.is_none() {
            let th = self.p.theta_ster;
            let f = move |y: &State, dy: &State| (y[idx::I] * fac - th, dy[idx::I] * fac);
            let p = Self::probe(ts, ys, dys, f);
            if let Some(t) = self.crossing(&p, f) {
                take(t, false, true);
            }
        }
        best
    }

    fn row(&self, t: f64, y: &State) -> Row {
        let mut l = [0.0; 4];
        for j in 0..4 {
            if self.rhs.sw.active[j] {
                l[j] = y[idx::LN_L + j].exp();
            }
        }
        // Cell counts are non-negative; the dense output between two steps can dip below 0
        // by less than the absolute tolerance where a population has collapsed (the state
        // itself is projected to 0 after each step, see `OdeSystem::non_negative`).
        Row {
            t,
            e: y[idx::E].max(0.0),
            m: y[idx::M].max(0.0),
            x: y[idx::X].max(0.0),
            l,
            b: y[idx::B].max(0.0),
            g: y[idx::G],
            i: y[idx::I],
            i_eff: self.rhs.i_eff(y),
            toci: self.rhs.sw.toci,
            steroid: self.rhs.sw.steroid,
        }
    }

    /// Observations on a piece `[ts[0], ts[4]]` of the current step: output rows, interior
    /// maxima, and the crossings that only record a time (CRS thresholds, relapse, B
    /// recovery). `include_end`: the piece ends at a plain step end (not an event instant).
    fn observe(&mut self, ts: &[f64; SAMPLES], ys: &[State; SAMPLES], dys: &[State; SAMPLES], include_end: bool) {
        let (ta, tb) = (ts[0], ts[SAMPLES - 1]);
        while self.gi < self.grid.len() {
            let g = self.grid[self.gi];
            if g < tb || (include_end && g <= tb) {
                let mut y = State::zeros();
                self.st.dense(g, &mut y);
                let r = self.row(g, &y);
                self.rows.push(r);
                self.gi += 1;
            } else {
                break;
            }
        }
        let c = |y: &State, dy: &State| (y[idx::E] + y[idx::M] + y[idx::X], dy[idx::E] + dy[idx::M] + dy[idx::X]);
        let p = Self::probe(ts, ys, dys, c);
        let mut pk = self.cmax;
        self.maxima(&p, c, &mut pk);
        pk.offer(tb, p.g[SAMPLES - 1]);
        self.cmax = pk;
        let fac = self.rhs.signal_factor();
        if ta < ENDPOINT_DAY {
            let fi = |y: &State, dy: &State| (y[idx::I], dy[idx::I]);
            let fg = |y: &State, dy: &State| (y[idx::G], dy[idx::G]);
            let fs = move |y: &State, dy: &State| (y[idx::I] * fac, dy[idx::I] * fac);
            for (f, which) in [(&fi as &dyn Fn(&State, &State) -> (f64, f64), 0), (&fg, 1), (&fs, 2)] {
                let p = Self::probe(ts, ys, dys, f);
                let mut pk = [self.pk_i, self.pk_g, self.pk_s][which];
                self.maxima(&p, f, &mut pk);
                pk.offer(tb, p.g[SAMPLES - 1]);
                match which {
                    0 => self.pk_i = pk,
                    1 => self.pk_g = pk,
                    _ => self.pk_s = pk,
                }
            }
            let th = self.p.crs_thresholds();
            for k in 0..4 {
                if self.thr_day[k].is_some() {
                    continue;
                }
                let thk = th[k];
                let f = move |y: &State, dy: &State| (y[idx::I] * fac - thk, dy[idx::I] * fac);
                let p = Self::probe(ts, ys, dys, f);
                if let Some(t) = self.crossing(&p, f) {
                    self.thr_day[k] = Some(t);
                }
            }
        } else if let Some(d28) = &self.day28 {
            let cr = d28.f < 0.05;
            if cr && self.relapse.is_none() && self.rhs.sw.active.iter().any(|&a| a) {
                let active = self.rhs.sw.active;
                let lr = self.ln_relapse;
                let f = move |y: &State, dy: &State| {
                    let (mut s, mut ds) = (0.0, 0.0);
                    for j in 0..4 {
                        if active[j] {
                            let l = y[idx::LN_L + j].exp();
                            s += l;
                            ds += l * dy[idx::LN_L + j];
                        }
                    }
                    (s.ln() - lr, if s > 0.0 { ds / s } else { 0.0 })
                };
                let p = Self::probe(ts, ys, dys, f);
                if let Some(t) = self.crossing(&p, f) {
                    let mut y = State::zeros();
                    self.st.dense(t, &mut y);
                    let mut best = (f64::NEG_INFINITY, Phenotype::DOUBLE_POS);
                    for j in 0..4 {
                        if active[j] && y[idx::LN_L + j] > best.0 {
                            best = (y[idx::LN_L + j], Phenotype::from_index(j));
                        }
                    }
                    self.relapse = Some((t, best.1));
                }
            }
            if self.b_rec.is_none() {
                let br = self.p.b_recovery;
                let f = move |y: &State, dy: &State| (y[idx::B] - br, dy[idx::B]);
                let p = Self::probe(ts, ys, dys, f);
                if let Some(t) = self.crossing(&p, f) {
                    self.b_rec = Some(t);
                }
            }
        }
    }

    fn log(&mut self, t: f64, kind: EventKind) {
        self.events.push(Event { t, kind });
    }

    fn offer_signal(&mut self, t: f64, v: f64) {
        if t <= ENDPOINT_DAY {
            self.pk_s.offer(t, v);
            let th = self.p.crs_thresholds();
            for k in 0..4 {
                if self.thr_day[k].is_none() && v >= th[k] {
                    self.thr_day[k] = Some(t);
                }
            }
        }
    }

    fn offer_values(&mut self, t: f64) {
        let y = self.y;
        self.cmax.offer(t, y[idx::E] + y[idx::M] + y[idx::X]);
        if t <= ENDPOINT_DAY {
            self.pk_i.offer(t, y[idx::I]);
            self.pk_g.offer(t, y[idx::G]);
        }
        self.offer_signal(t, self.rhs.i_eff(&y));
    }

    /// Apply everything that happens at `t` (see the module docs for the order).
    fn instant(&mut self, t: f64, located_toci: bool, located_ster: bool) {
        let n_events = self.events.len();
        if t > 0.0 {
            self.offer_values(t); // left limits
        }
        // 1. extinctions (located now, or within 1e-9 of the level: ties)
        if self.ln_ext.is_finite() {
            for j in 0..4 {
                if self.rhs.sw.active[j] && self.y[idx::LN_L + j] - self.ln_ext <= 1e-9 {
                    self.rhs.sw.active[j] = false;
                    self.tol.weight[idx::LN_L + j] = 0.0;
                    self.ext_day[j] = Some(t);
                    self.log(t, EventKind::Extinction { phenotype: Phenotype::from_index(j) });
                }
            }
        }
        // 2. infusions
        let f_mem = self.p.f_mem;
        let inf = self.sc.regimen().infusions();
        while self.next_inf < inf.len() && inf[self.next_inf].t <= t {
            let cells = inf[self.next_inf].cells;
            self.y[idx::E] += (1.0 - f_mem) * cells;
            self.y[idx::M] += f_mem * cells;
            self.next_inf += 1;
            self.log(t, EventKind::Infusion { cells });
        }
        // 3. prophylactic tocilizumab
        while self.next_proph < self.proph.len() && self.proph[self.next_proph] <= t {
            self.next_proph += 1;
            self.start_toci(t);
            self.log(t, EventKind::TociProphylactic);
        }
        // 4. end of the tocilizumab window, 5. end of the steroid course
        if self.rhs.sw.toci && self.toci_until <= t {
            self.rhs.sw.toci = false;
            self.log(t, EventKind::TociEnd);
        }
        if self.rhs.sw.steroid && self.ster_until <= t {
            self.rhs.sw.steroid = false;
            self.log(t, EventKind::SteroidEnd);
        }
        // 6. triggers on the signal with the new switches
        let mid = self.rhs.i_eff(&self.y);
        self.offer_signal(t, mid);
        let fire_toci = self.reactive_toci
            && self.n_reactive < self.p.n_toci
            && (located_toci || (self.below_toci && mid >= self.p.theta_toci * (1.0 - 1e-12)));
        let fire_ster = self.reactive_ster
            && self.steroid_day.is_none()
            && (located_ster || (self.below_ster && mid >= self.p.theta_ster * (1.0 - 1e-12)));
        if fire_toci {
            self.n_reactive += 1;
            self.offer_signal(t, mid.max(self.p.theta_toci));
            self.start_toci(t);
            self.log(t, EventKind::TociReactive { dose: self.n_reactive });
        }
        if fire_ster {
            self.offer_signal(t, mid.max(self.p.theta_ster));
            self.rhs.sw.steroid = true;
            self.ster_until = t + self.p.tau_s;
            self.steroid_day = Some(t);
            self.log(t, EventKind::SteroidStart);
        }
        // right limits
        self.offer_values(t);
        let right = self.rhs.i_eff(&self.y);
        self.below_toci = right < self.p.theta_toci;
        self.below_ster = right < self.p.theta_ster;
        if self.day28.is_none() && t >= ENDPOINT_DAY {
            let l_tot = self.rhs.l_tot(&self.y);
            let b = self.y[idx::B];
            self.day28 = Some(Day28 { f: l_tot / (l_tot + self.p.h), l_tot, b, auc: self.y[idx::Q] });
            if b >= self.p.b_recovery {
                self.b_rec = Some(ENDPOINT_DAY);
            }
            self.rhs.sw.auc = false;
        }
        let on_grid = self.gi < self.grid.len() && self.grid[self.gi] <= t;
        if on_grid || (self.event_rows && self.events.len() > n_events) {
            let r = self.row(t, &self.y);
            self.rows.push(r);
            while self.gi < self.grid.len() && self.grid[self.gi] <= t {
                self.gi += 1;
            }
        }
    }

    fn start_toci(&mut self, t: f64) {
        let end = t + self.p.tau_t;
        self.toci_until = if self.rhs.sw.toci { self.toci_until.max(end) } else { end };
        self.rhs.sw.toci = true;
        self.toci_days.push(t);
    }

    fn finish(self) -> Solution {
        let p = self.p;
        let y = self.y;
        let d28 = self.day28.unwrap_or(Day28 { f: f64::NAN, l_tot: f64::NAN, b: f64::NAN, auc: f64::NAN });
        let cr = d28.f < 0.05;
        let relapse = if cr { self.relapse } else { None };
        let mut ext = Vec::new();
        let mut cured = true;
        let mut cure_day: f64 = 0.0;
        for ph in Phenotype::ALL {
            let j = ph.index();
            if self.present[j] {
                ext.push((ph, self.ext_day[j]));
                match self.ext_day[j] {
                    Some(d) => cure_day = cure_day.max(d),
                    None => cured = false,
                }
            }
        }
        let grade = self.thr_day.iter().filter(|d| d.is_some()).count() as u8;
        let (efs_event_day, efs_censored) = if !cr {
            (ENDPOINT_DAY, false)
        } else if let Some((d, _)) = relapse {
            (d, false)
        } else {
            (self.horizon, true)
        };
        let l_end = self.rhs.l_tot(&y);
        let endpoints = Endpoints {
            cr_day28: cr,
            mrd_neg_day28: d28.f < p.mrd_threshold,
            f_day28: d28.f,
            ltot_day28: d28.l_tot,
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
            cmax_copies: self.cmax.v * p.copies_per_cell,
            peak_il6: self.pk_i.v,
            t_peak_il6: self.pk_i.t,
            peak_ifng: self.pk_g.v,
            t_peak_ifng: self.pk_g.t,
            peak_signal: self.pk_s.v,
            t_peak_signal: self.pk_s.t,
            crs_grade: grade,
            crs_onset_day: self.thr_day[0],
            crs_threshold_days: self.thr_day,
            toci_days: self.toci_days,
            steroid_day: self.steroid_day,
            b_recovery_day: self.b_rec,
            b_day28: d28.b,
            c_end: y[idx::E] + y[idx::M] + y[idx::X],
            m_end: y[idx::M],
            b_end: y[idx::B],
            ltot_end: l_end,
        };
        Solution { endpoints, events: self.events, rows: self.rows, present: self.present, stats: self.st.stats() }
    }
}

/// Evaluate the reference model's right-hand side once (for benchmarks and checks): the
/// nominal switches of day 0 (no tocilizumab, no steroids, every present phenotype active).
pub fn rhs_once(sc: &Scenario, t: f64, y: &[f64; NSTATE], dy: &mut [f64; NSTATE]) {
    let rhs = RefRhs::at_start(sc);
    let ys = State::from(*y);
    let mut d = State::zeros();
    rhs.rhs(t, &ys, &mut d);
    dy.copy_from_slice(d.as_slice());
}
