//! The generic single-patient driver: integrates any [`Model`] piecewise between events,
//! locates threshold crossings exactly on the dense output, applies the regimen (infusions,
//! tocilizumab and steroid switches) and the model's own events, records trajectory rows,
//! and feeds the endpoint observer.
//!
//! Events at one instant are applied in this order (MODEL.md section 4 and the reference
//! README): the model's own events located at that time (extinctions), infusions,
//! prophylactic tocilizumab doses, the end of the tocilizumab window, the end of the steroid
//! course; then the IL-6 signal is evaluated with the new switches and every trigger it
//! reaches fires (a reactive tocilizumab dose before the steroid start); only then does a
//! new dose lower the signal.

use super::observer::Observer;
use super::piece::Piece;
use super::{Solution, SolverConfig};
use crate::endpoints::{Definitions, Event, EventKind};
use crate::error::SolveFailure;
use crate::locate::no_upward_crossing;
use crate::model::{Drug, Invariants, Model, Observable};
use crate::ode::{Cascade, Dopri5, OdeSystem, Stepper, Tolerance};
use crate::regimen::{Regimen, SteroidPolicy, TociPolicy};
use nalgebra::SVector;

/// A model with its switches fixed for one segment, as the stepper's [`OdeSystem`].
pub(crate) struct Bound<'m, const N: usize, M: Model<N>> {
    pub(crate) m: &'m M,
    pub(crate) mode: M::Mode,
}

impl<const N: usize, M: Model<N>> OdeSystem<N> for Bound<'_, N, M> {
    #[inline(always)]
    fn rhs(&self, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.m.rhs(&self.mode, t, y, dy)
    }
    #[inline(always)]
    fn rhs_stage(&self, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.m.rhs_stage(&self.mode, t, y, dy)
    }
    #[inline]
    fn cascade(&self) -> Cascade {
        self.m.cascade(&self.mode)
    }
    #[inline]
    fn cascade_source(&self, t: f64, y: &SVector<f64, N>, ci: usize) -> Option<f64> {
        self.m.cascade_source(&self.mode, t, y, ci)
    }
    #[inline]
    fn non_negative(&self) -> u64 {
        self.m.non_negative()
    }
}

/// Most integration segments that may start at one instant before the solve fails
/// ([`SolveFailure::EventStorm`]); a valid regimen needs a handful.
const MAX_SEGMENTS_PER_INSTANT: u32 = 1000;

pub(crate) struct Run<'a, const N: usize, M: Model<N>> {
    m: &'a M,
    mode: M::Mode,
    regimen: &'a Regimen,
    tol: Tolerance<N>,
    st: Dopri5<N>,
    y: SVector<f64, N>,
    t: f64,
    horizon: f64,
    next_inf: usize,
    next_proph: usize,
    proph: &'a [f64],
    reactive_toci: bool,
    reactive_ster: bool,
    theta_toci: f64,
    theta_ster: f64,
    max_reactive: u32,
    toci_window: f64,
    ster_course: f64,
    toci_on: bool,
    ster_on: bool,
    toci_until: f64,
    ster_end: f64,
    n_reactive: u32,
    ster_given: bool,
    has_signal: bool,
    below_toci: bool,
    below_ster: bool,
    obs: Observer,
    events: Vec<Event>,
    grid: &'a [f64],
    gi: usize,
    rows: Vec<M::Row>,
    event_rows: bool,
    xtol: f64,
    /// The model's bounds, the factor `1 + slack` and the cells infused so far.
    inv: Option<Invariants>,
    slack: f64,
    infused: f64,
    /// Skip the search of steps where nothing can happen ([`Run::quiet`]).
    skip_quiet: bool,
    /// Steps skipped so far (for the tests).
    #[cfg(test)]
    skipped: u64,
}

impl<'a, const N: usize, M: Model<N>> Run<'a, N, M> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        m: &'a M,
        regimen: &'a Regimen,
        defs: &Definitions,
        cfg: &SolverConfig,
        horizon: f64,
        grid: &'a [f64],
        event_rows: bool,
    ) -> Self {
        let (y, mode) = m.start();
        let mut weight = SVector::repeat(1.0);
        for i in 0..N {
            weight[i] = if m.in_error_norm(&mode, i) { 1.0 } else { 0.0 };
        }
        let tol = Tolerance {
            rtol: cfg.rtol(),
            atol: m.atol(cfg),
            weight,
            h_max: cfg.max_step(),
            max_steps: cfg.step_limit(),
        };
        let proph: &[f64] = match regimen.tocilizumab() {
            TociPolicy::Prophylactic { times } => times,
            _ => &[],
        };
        let rules = regimen.rules();
        let slack = super::invariant_slack(cfg);
        let inv = m.invariants();
        let obs = Observer::new(m, &mode, defs);
        // the driver's reactive triggers act on the IL-6 signal, if the model maps it
        let has_signal = m.observe(&mode, Observable::Il6Signal, &y, &SVector::zeros()).is_some();
        // a model without ranges (the observer's first question is CAR-T's) is never quiet:
        // then the boxes are not computed at all
        let skip_quiet = !cfg.searches_every_step() && m.observe_range(&mode, Observable::CarT, &y, &y).is_some();
        Run {
            m,
            mode,
            regimen,
            tol,
            st: Dopri5::with_method(cfg.method_used()),
            y,
            t: 0.0,
            horizon,
            next_inf: 0,
            next_proph: 0,
            proph,
            reactive_toci: matches!(regimen.tocilizumab(), TociPolicy::Reactive),
            reactive_ster: matches!(regimen.steroids(), SteroidPolicy::Reactive),
            theta_toci: rules.toci_threshold,
            theta_ster: rules.steroid_threshold,
            max_reactive: rules.toci_max_reactive_doses,
            toci_window: rules.toci_window_days,
            ster_course: rules.steroid_course_days,
            toci_on: false,
            ster_on: false,
            toci_until: f64::NEG_INFINITY,
            ster_end: f64::NEG_INFINITY,
            n_reactive: 0,
            ster_given: false,
            has_signal,
            below_toci: true,
            below_ster: true,
            obs,
            events: Vec::with_capacity(16),
            grid,
            gi: 0,
            rows: Vec::with_capacity(grid.len() + if event_rows { 16 } else { 0 }),
            event_rows,
            xtol: 1e-12,
            inv,
            slack,
            infused: 0.0,
            skip_quiet,
            #[cfg(test)]
            skipped: 0,
        }
    }

    #[inline]
    fn bound(&self) -> Bound<'a, N, M> {
        Bound { m: self.m, mode: self.mode }
    }

    pub fn go(&mut self) -> Result<(), (f64, SolveFailure)> {
        self.instant(0.0, false, false);
        // integration segments that start at the same instant (events re-arming at one time,
        // e.g. a tocilizumab window shorter than the spacing of doubles there): bounded
        let (mut last_t, mut same) = (f64::NAN, 0u32);
        while self.t < self.horizon {
            if self.t == last_t {
                same += 1;
                if same > MAX_SEGMENTS_PER_INSTANT {
                    return Err((self.t, SolveFailure::EventStorm { t: self.t, max_events: MAX_SEGMENTS_PER_INSTANT }));
                }
            } else {
                (last_t, same) = (self.t, 0);
            }
            let t_break = self.next_break();
            let sys = self.bound();
            self.st.reset(&sys, self.t, &self.y, &self.tol);
            loop {
                self.st.step(&sys, t_break, &self.tol).map_err(|e| (self.st.t(), e))?;
                let (ta, te) = (self.st.t_prev(), self.st.t());
                if let Some(b) = &self.inv {
                    Self::check(self.m, &self.mode, b, self.slack, self.infused, self.st.y()).map_err(|e| (te, e))?;
                }
                let at_break = te >= t_break;
                if self.skip_quiet && self.quiet(ta) {
                    // nothing can cross or peak in this step: only rows and persistence days
                    #[cfg(test)]
                    {
                        self.skipped += 1;
                    }
                    Self::rows_in(self.m, &self.mode, self.grid, &mut self.gi, &mut self.rows, &self.st, te, !at_break);
                    self.obs.persistence(self.m, &self.mode, &self.st, ta, te);
                    if at_break {
                        self.y = *self.st.y();
                        self.t = t_break;
                        self.instant(t_break, false, false);
                        break;
                    }
                    continue;
                }
                let pc = Piece::sample(&self.st, ta, te, self.xtol);
                if let Some((tc, toci, ster)) = self.find_located(&pc) {
                    let pc2 = Piece::sample(&self.st, ta, tc, self.xtol);
                    Self::rows_in(self.m, &self.mode, self.grid, &mut self.gi, &mut self.rows, &self.st, tc, false);
                    self.obs.piece(self.m, &self.mode, &pc2);
                    let mut y = SVector::zeros();
                    self.st.dense(tc, &mut y);
                    self.y = y;
                    self.t = tc;
                    self.instant(tc, toci, ster);
                    break;
                }
                Self::rows_in(self.m, &self.mode, self.grid, &mut self.gi, &mut self.rows, &self.st, te, !at_break);
                self.obs.piece(self.m, &self.mode, &pc);
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

    /// The invariant check ([`Model::invariants`]) on the state at the end of a step.
    #[inline]
    fn check(
        m: &M,
        mode: &M::Mode,
        b: &Invariants,
        slack: f64,
        infused: f64,
        y: &SVector<f64, N>,
    ) -> Result<(), SolveFailure> {
        let zero = SVector::zeros();
        let c = m.observe(mode, Observable::CarT, y, &zero).map_or(0.0, |v| v.0);
        let cb = (b.car_t + infused) * slack;
        if !(c <= cb) {
            return Err(SolveFailure::InvariantViolated { what: "car_t", value: c, bound: cb });
        }
        if b.tumour.is_finite() {
            let l = m.observe(mode, Observable::Tumour, y, &zero).map_or(0.0, |v| v.0);
            let lb = b.tumour * slack;
            if !(l <= lb) {
                return Err(SolveFailure::InvariantViolated { what: "tumour", value: l, bound: lb });
            }
        }
        Ok(())
    }

    fn next_break(&self) -> f64 {
        let mut tb = self.horizon;
        let inf = self.regimen.infusions();
        if self.next_inf < inf.len() {
            tb = tb.min(inf[self.next_inf].t);
        }
        if self.next_proph < self.proph.len() {
            tb = tb.min(self.proph[self.next_proph]);
        }
        if self.toci_on {
            tb = tb.min(self.toci_until);
        }
        if self.ster_on {
            tb = tb.min(self.ster_end);
        }
        tb = tb.min(self.obs.next_break());
        tb.min(self.m.next_break(&self.mode, self.t))
    }

    /// The IL-6 signal `(value, slope)` under the current switches.
    #[inline]
    fn signal(&self, y: &SVector<f64, N>, dy: &SVector<f64, N>) -> (f64, f64) {
        self.m.observe(&self.mode, Observable::Il6Signal, y, dy).unwrap_or((0.0, 0.0))
    }

    /// Whether the step just taken (from `ta`) can be left unsearched: its dense output lies
    /// in a box ([`Stepper::dense_box`]) where no armed event, no reactive trigger and
    /// nothing the observer waits for can cross, and no tracked maximum can rise
    /// ([`Model::event_range`], [`Model::observe_range`]). Then searching it would find
    /// nothing, so skipping it changes no result.
    fn quiet(&self, ta: f64) -> bool {
        let (m, mode) = (self.m, &self.mode);
        let (mut lo, mut hi) = (SVector::zeros(), SVector::zeros());
        if !self.st.dense_box(&mut lo, &mut hi) {
            return false;
        }
        for k in 0..m.n_events() {
            if !no_upward_crossing(m.event_range(mode, k, &lo, &hi), 0.0) {
                return false;
            }
        }
        if self.has_signal {
            let toci = self.reactive_toci && self.n_reactive < self.max_reactive;
            let ster = self.reactive_ster && !self.ster_given;
            if toci || ster {
                let r = m.observe_range(mode, Observable::Il6Signal, &lo, &hi);
                if (toci && !no_upward_crossing(r, self.theta_toci))
                    || (ster && !no_upward_crossing(r, self.theta_ster))
                {
                    return false;
                }
            }
        }
        self.obs.quiet(m, mode, ta, &lo, &hi)
    }

    /// Earliest state-changing crossing in the piece: the model's own events, reactive
    /// tocilizumab, reactive steroids. Returns `(t, toci fires, steroids fire)`.
    fn find_located<S: Stepper<N>>(&self, pc: &Piece<'_, N, S>) -> Option<(f64, bool, bool)> {
        let mut best: Option<(f64, bool, bool)> = None;
        let mut take = |t: f64, toci: bool, ster: bool| match best {
            Some((b, _, _)) if b < t => {}
            Some((b, bt, bs)) if b == t => best = Some((b, bt || toci, bs || ster)),
            _ => best = Some((t, toci, ster)),
        };
        let (m, mode) = (self.m, &self.mode);
        for k in 0..m.n_events() {
            if m.event(mode, k, &pc.ys[0], &pc.dys[0]).is_none() {
                continue;
            }
            let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| m.event(mode, k, y, dy).unwrap_or((-1.0, 0.0));
            let p = pc.probe(&f);
            if let Some(t) = pc.crossing(&p, &f) {
                take(t, false, false);
            }
        }
        if !self.has_signal {
            return best;
        }
        if self.reactive_toci && self.n_reactive < self.max_reactive {
            let th = self.theta_toci;
            let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                let (s, ds) = self.signal(y, dy);
                (s - th, ds)
            };
            let p = pc.probe(&f);
            if let Some(t) = pc.crossing(&p, &f) {
                take(t, true, false);
            }
        }
        if self.reactive_ster && !self.ster_given {
            let th = self.theta_ster;
            let f = |y: &SVector<f64, N>, dy: &SVector<f64, N>| {
                let (s, ds) = self.signal(y, dy);
                (s - th, ds)
            };
            let p = pc.probe(&f);
            if let Some(t) = pc.crossing(&p, &f) {
                take(t, false, true);
            }
        }
        best
    }

    /// Output rows on the grid in the last step up to `tb`. `include_end`: `tb` is a plain
    /// step end (not an event instant).
    #[allow(clippy::too_many_arguments)]
    fn rows_in<S: Stepper<N>>(
        m: &M,
        mode: &M::Mode,
        grid: &[f64],
        gi: &mut usize,
        rows: &mut Vec<M::Row>,
        st: &S,
        tb: f64,
        include_end: bool,
    ) {
        while *gi < grid.len() {
            let g = grid[*gi];
            if g < tb || (include_end && g <= tb) {
                let mut y = SVector::zeros();
                st.dense(g, &mut y);
                rows.push(m.row(mode, g, &y));
                *gi += 1;
            } else {
                break;
            }
        }
    }

    fn log(&mut self, t: f64, kind: EventKind) {
        self.events.push(Event { t, kind });
    }

    fn set_drug(&mut self, drug: Drug, on: bool) {
        match drug {
            Drug::Tocilizumab => self.toci_on = on,
            Drug::Steroids => self.ster_on = on,
        }
        self.m.set_drug(&mut self.mode, drug, on);
    }

    /// Apply everything that happens at `t` (see the module docs for the order).
    fn instant(&mut self, t: f64, located_toci: bool, located_ster: bool) {
        let n_events = self.events.len();
        let m = self.m;
        if t > 0.0 {
            self.obs.offer_values(m, &self.mode, t, &self.y); // left limits
        }
        // 1. the model's own events (located now, or within the tie tolerance of the level)
        let n = m.n_events();
        if n > 0 {
            let zero = SVector::zeros();
            let tie = -m.event_tie();
            let mut fired = false;
            for k in 0..n {
                if let Some((g, _)) = m.event(&self.mode, k, &self.y, &zero) {
                    if g >= tie {
                        let kind = m.fire(&mut self.mode, k, t, &mut self.y);
                        self.log(t, kind);
                        fired = true;
                    }
                }
            }
            if fired {
                for i in 0..N {
                    self.tol.weight[i] = if m.in_error_norm(&self.mode, i) { 1.0 } else { 0.0 };
                }
            }
        }
        // 2. infusions
        let inf = self.regimen.infusions();
        while self.next_inf < inf.len() && inf[self.next_inf].t <= t {
            let cells = inf[self.next_inf].cells;
            m.infuse(&mut self.mode, &mut self.y, cells);
            self.infused += cells;
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
        if self.toci_on && self.toci_until <= t {
            self.set_drug(Drug::Tocilizumab, false);
            self.log(t, EventKind::TociEnd);
        }
        if self.ster_on && self.ster_end <= t {
            self.set_drug(Drug::Steroids, false);
            self.log(t, EventKind::SteroidEnd);
        }
        // 6. triggers on the signal with the new switches
        if self.has_signal {
            let zero = SVector::zeros();
            let mid = self.signal(&self.y, &zero).0;
            self.obs.offer_signal(t, mid);
            let fire_toci = self.reactive_toci
                && self.n_reactive < self.max_reactive
                && (located_toci || (self.below_toci && mid >= self.theta_toci * (1.0 - 1e-12)));
            let fire_ster = self.reactive_ster
                && !self.ster_given
                && (located_ster || (self.below_ster && mid >= self.theta_ster * (1.0 - 1e-12)));
            if fire_toci {
                self.n_reactive += 1;
                self.obs.offer_signal(t, mid.max(self.theta_toci));
                self.start_toci(t);
                self.log(t, EventKind::TociReactive { dose: self.n_reactive });
            }
            if fire_ster {
                self.obs.offer_signal(t, mid.max(self.theta_ster));
                self.set_drug(Drug::Steroids, true);
                self.ster_end = t + self.ster_course;
                self.ster_given = true;
                self.log(t, EventKind::SteroidStart);
            }
        }
        // right limits
        self.obs.offer_values(m, &self.mode, t, &self.y);
        if self.has_signal {
            let zero = SVector::zeros();
            let right = self.signal(&self.y, &zero).0;
            self.below_toci = right < self.theta_toci;
            self.below_ster = right < self.theta_ster;
        }
        self.obs.after_instant(m, &self.mode, t, &self.y);
        m.at_break(&mut self.mode, t);
        let on_grid = self.gi < self.grid.len() && self.grid[self.gi] <= t;
        if on_grid || (self.event_rows && self.events.len() > n_events) {
            let r = m.row(&self.mode, t, &self.y);
            self.rows.push(r);
            while self.gi < self.grid.len() && self.grid[self.gi] <= t {
                self.gi += 1;
            }
        }
    }

    fn start_toci(&mut self, t: f64) {
        let end = t + self.toci_window;
        self.toci_until = if self.toci_on { self.toci_until.max(end) } else { end };
        self.set_drug(Drug::Tocilizumab, true);
    }

    pub fn finish(self) -> Solution<M::Row> {
        let endpoints = self.obs.finish(self.m, &self.mode, &self.y, self.horizon, &self.events);
        Solution { endpoints, events: self.events, rows: self.rows, stats: self.st.stats() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::RefModel;
    use crate::Scenario;

    /// The reference scenarios with and without skipping quiet steps: the same solution bit
    /// for bit (endpoints, event log, daily rows and event rows), and most steps skipped.
    #[test]
    fn skipping_quiet_steps_changes_nothing_and_skips_most_steps() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if !(name.starts_with('S') && name.ends_with(".json") && !name.contains("endpoints")) {
                continue;
            }
            let sc = Scenario::from_path(&p).unwrap();
            let m = RefModel::new(&sc);
            let grid: Vec<f64> = (0..=sc.horizon() as usize).map(|d| d as f64).collect();
            let solve = |cfg: SolverConfig| {
                let mut r = Run::new(&m, sc.regimen(), sc.definitions(), &cfg, sc.horizon(), &grid, true);
                r.go().unwrap();
                let skipped = r.skipped;
                (r.finish(), skipped)
            };
            let (a, skipped) = solve(SolverConfig::default());
            let (b, none) = solve(SolverConfig::default().search_every_step(true));
            assert_eq!(none, 0);
            // Debug prints every f64 in round-trip form (NaN included, unlike ==)
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}");
            let steps = a.stats.accepted;
            assert!(skipped * 2 > steps, "{name}: {skipped} of {steps} steps skipped");
            n += 1;
        }
        assert_eq!(n, 8);
    }
}
