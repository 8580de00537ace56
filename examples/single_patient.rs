//! # One patient, one infusion: what happens, and when? (model v2)
//!
//! The clinical question: for the typical patient of model v2 (`ScenarioV2::typical()`,
//! `docs/MODEL-v2.md`: marrow 50% blasts, almost all `CD19+CD22+` with a `CD19-CD22+`
//! subclone at 1 in 100,000 blasts; 1e8 cells of a 4-1BB CD19 product on day 0 after standard
//! lymphodepletion; tocilizumab when the CRS severity `S` reaches `theta_T` = 2.8 grade units,
//! steroids when it reaches `theta_S` = 3.4 after tocilizumab; CRS graded on the Penn scale),
//! when do cytokine release syndrome (CRS), neurotoxicity (ICANS), tocilizumab and steroids
//! come, is the patient in remission and MRD-negative at day 28, how long do the CAR-T cells
//! persist (the long-lived compartment `P`) and keep the normal B cells aplastic, and what
//! comes back later?
//!
//! ```text
//! cargo run --release --example single_patient [-- --svg PATH]
//! ```
//!
//! The simulation is deterministic (no random draws, so no seed). It prints the event log
//! and the key endpoints, asserts that the typical patient is in complete remission at day
//! 28 and in B-cell aplasia at 6 months, and writes `docs/single_patient.svg`: CAR-T cells
//! (effector, memory, long-lived, exhausted), blasts by clone, normal B cells with the
//! aplasia level (B-cell aplasia: fewer than `b_recovery` = 1e8 B cells, the level of
//! `docs/MODEL-v2.md` section 5.2), IL-6 (serum and the signal that tocilizumab blocks) and
//! the CRS and ICANS severities with their grade thresholds, over the first 6 weeks and over
//! the year, with the event times marked.
//!
//! What v2 shows for this patient: the CAR-T cells peak at 3.9e11 on day 7.2 and clear the
//! `CD19+CD22+` blasts by day 13.5 (complete remission, MRD-negative at day 28). CRS is grade
//! 2 (peak severity 2.18 on day 6.1, below `theta_T`: no tocilizumab, no steroids); ICANS
//! stays below grade 1 (peak 0.15). The effectors then die off and the long-lived cells `P`
//! carry the persistence (all of the CAR-T cells from month 6; 0.38% of the peak at 12
//! months), so the B cells stay below the aplasia level all year (at most 3.0e7 after day
//! 28). The `CD19-CD22+` subclone, which a CD19 product cannot kill, grows back: a
//! CD19-negative relapse on day 133.

#[path = "common/plot.rs"]
mod plot;

use cartkin::model::v2::{CrsScale, RowV2, ScenarioV2, DIM, ICANS_THRESHOLDS, NCLONES_V2};
use cartkin::{EventKind, Phenotype, SolverConfig};
use plot::*;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const HORIZON: f64 = 365.0;

fn main() -> Res {
    let Some(args) = parse_args("single_patient", 1, 0)? else {
        return Ok(());
    };
    let sc = ScenarioV2::typical();
    let p = &sc.params;
    let defs = sc.definitions;
    // Rows every 0.1 day in the first 6 weeks, daily after (v2 has no event rows: the fine
    // grid resolves the treatment windows to 0.1 day).
    let mut times: Vec<f64> = (0..=420).map(|k| k as f64 * 0.1).collect();
    times.extend((43..=HORIZON as usize).map(|k| k as f64));
    let sol = sc.simulate(&SolverConfig::default(), HORIZON, &times)?;
    let e = &sol.endpoints;
    let rows = &sol.rows;
    let at = |t: f64| rows.iter().min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs())).expect("rows");

    // ---------------------------------------------------------------- printed report
    let b4 = sc.patient.blasts();
    let l0: f64 = b4.iter().sum::<f64>() + sc.dim_blasts;
    let f0 = l0 / (l0 + p.h);
    println!(
        "Typical v2 patient: marrow blasts {:.0}% ({:.1e} blasts, {:.1e} of them CD19-CD22+), {:.1e} cells of a {} CD19 product on day 0,",
        100.0 * f0,
        l0,
        b4[Phenotype::CD19_NEG.index()],
        sc.regimen.total_cells(),
        sc.costim.name()
    );
    println!(
        "{} lymphodepletion, tocilizumab at CRS severity >= theta_T = {} and steroids at >= theta_S = {} after it; CRS graded on the {} scale {:?}\n",
        sc.lymphodepletion.name(),
        p.theta_t,
        p.theta_s,
        scale_name(sc.scale),
        sc.scale.thresholds()
    );
    println!("Event log");
    println!("  {:>9}  event", "day");
    // v2 logs no end of a reactive tocilizumab window or of the steroid course (model
    // switches): they are listed here from tau_T and tau_S.
    let mut log: Vec<(f64, String)> = Vec::new();
    for ev in &sol.events {
        let what = match ev.kind {
            EventKind::Infusion { cells } => format!("CAR-T infusion, {cells:.1e} cells"),
            EventKind::TociReactive { dose } => {
                if ev.t + p.tau_t <= HORIZON {
                    log.push((ev.t + p.tau_t, format!("tocilizumab dose {dose} stops acting")));
                }
                format!(
                    "tocilizumab dose {dose} (CRS severity reached theta_T = {}), acts {:.0} days",
                    p.theta_t, p.tau_t
                )
            }
            EventKind::TociProphylactic => "tocilizumab (scheduled)".into(),
            EventKind::TociEnd => "scheduled tocilizumab stops acting".into(),
            EventKind::SteroidStart => {
                if ev.t + p.tau_s <= HORIZON {
                    log.push((ev.t + p.tau_s, "steroid course ends".into()));
                }
                format!(
                    "steroids start (CRS severity reached theta_S = {} after tocilizumab), {:.0}-day course",
                    p.theta_s, p.tau_s
                )
            }
            EventKind::Extinction { phenotype } => format!("last {} blast gone (extinct)", phenotype.name()),
            _ => ev.kind.name().into(),
        };
        log.push((ev.t, what));
    }
    log.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, what) in &log {
        println!("  {t:>9.2}  {what}");
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let day = |d: Option<f64>| d.map_or("never".to_string(), |d| format!("day {d:.1}"));
    println!("\nKey endpoints");
    let line = |k: &str, v: String| println!("  {k:<50} {v}");
    line(
        "complete remission at day 28 (blasts < 5%)",
        format!("{} (marrow blasts {:.2e}%)", yes(e.cr_day28), 100.0 * e.f_day28),
    );
    line("MRD-negative at day 28 (flow, < 0.01%)", yes(e.mrd_neg_day28).into());
    line(
        "CRS grade (Penn, on the peak CRS severity S)",
        format!("{} (peak S {:.2} grade units on day {:.1})", e.crs_grade, e.peak_signal, e.t_peak_signal),
    );
    line(
        "CRS onset (S >= 0.5) and duration",
        format!("{}, {:.1} days", day(e.crs_onset_day), e.crs_duration.unwrap_or(0.0)),
    );
    line(
        "ICANS grade (ASTCT, on the peak ICANS severity N)",
        format!("{} (peak N {:.2} grade units)", e.icans_grade, e.peak_icans.unwrap_or(f64::NAN)),
    );
    line("ICANS onset (N >= 0.5)", day(e.icans_onset_day));
    line("serum IL-6 peak (days 0-28)", format!("{:.0} pg/mL on day {:.1}", e.peak_il6, e.t_peak_il6));
    line(
        "tocilizumab",
        if e.toci_days.is_empty() {
            format!("none (peak CRS severity {:.2} stayed below theta_T = {})", e.peak_signal, p.theta_t)
        } else {
            e.toci_days.iter().map(|d| format!("day {d:.2}")).collect::<Vec<_>>().join(", ")
        },
    );
    line("steroids", day(e.steroid_day));
    line(
        "CAR-T peak (Cmax = E+M+P+X)",
        format!("{:.2e} cells ({:.0}-fold the dose) on day {:.1}", e.cmax, e.cmax / sc.regimen.total_cells(), e.tmax),
    );
    line("CAR-T exposure, AUC day 0-28", format!("{:.2e} cells x day", e.auc28));
    for t in [28.0, 182.0, 365.0] {
        let r = at(t);
        line(
            &format!("CAR-T at day {t:.0}: all, long-lived P (share)"),
            format!("{:.2e}, {:.2e} ({:.1}%)", r.c(), r.p, 100.0 * r.p / r.c()),
        );
    }
    let rel = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2e}"));
    line("CAR-T at 6 / 12 months relative to Cmax", format!("{} / {}", rel(e.car_t_rel_6m), rel(e.car_t_rel_12m)));
    line(
        "relapse",
        match (e.relapse_day, e.relapse_phenotype) {
            (Some(d), Some(ph)) => format!(
                "day {d:.0}, {} ({})",
                ph.name(),
                if ph.is_cd19_negative() { "CD19-negative escape" } else { "CD19-positive" }
            ),
            _ => "none by day 365".into(),
        },
    );
    line("cured (every clone extinct)", yes(e.cured).into());
    let b_min = rows.iter().map(|r| r.b).fold(f64::INFINITY, f64::min);
    let b_max_after28 = rows.iter().filter(|r| r.t >= defs.assessment_day).map(|r| r.b).fold(0.0, f64::max);
    line(
        &format!("B-cell aplasia level (b_recovery, {:.0e} cells)", defs.b_recovery),
        format!(
            "B cells at day 0 {:.2e}, lowest {:.2e}, at day 28 {:.2e}, highest after day 28 {:.2e}",
            sc.patient.b0(),
            b_min,
            e.b_day28,
            b_max_after28
        ),
    );
    line("B-cell recovery (>= 1e8 cells after day 28)", day(e.b_recovery_day));
    let opt = |v: Option<bool>| v.map_or("-", yes);
    line("B-cell aplasia at 6 / 12 months", format!("{} / {}", opt(e.b_aplasia_6m), opt(e.b_aplasia_12m)));
    line(
        "event-free survival",
        if e.efs_censored { "no event by day 365".into() } else { format!("event on day {:.0}", e.efs_event_day) },
    );

    assert!(e.cr_day28, "the typical patient must be in complete remission at day 28");
    assert!(e.b_aplasia_6m == Some(true), "the typical patient's CAR-T cells persist: B-cell aplasia at 6 months");

    // ---------------------------------------------------------------- figure
    let (w, h) = (1500u32, 1900u32);
    let root = SVGBackend::new(&args.svg, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, rest) = root.split_vertically(56);
    title.draw(&Text::new(
        format!(
            "Typical v2 patient: {:.0e} CD19 CAR-T cells ({}) on day 0, {:.0}% marrow blasts",
            sc.regimen.total_cells(),
            sc.costim.name(),
            100.0 * f0
        ),
        (w as i32 / 2, 30),
        font(26).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let (grid, legend) = rest.split_vertically(h - 56 - 60);
    let panels = grid.split_evenly((5, 2));

    // event markers: (day, colour)
    let mut marks: Vec<(f64, RGBColor)> = Vec::new();
    for d in &e.toci_days {
        marks.push((*d, OI_GREEN));
    }
    if let Some(d) = e.steroid_day {
        marks.push((d, OI_PURPLE));
    }
    for (_, d) in &e.extinction_days.0 {
        if let Some(d) = d {
            marks.push((*d, OI_BLUE));
        }
    }
    marks.push((defs.assessment_day, OI_GREY));
    if let Some(d) = e.relapse_day {
        marks.push((d, OI_VERMILLION));
    }
    if let Some(d) = e.b_recovery_day {
        marks.push((d, OI_SKY));
    }

    let cr_cells = p.h * defs.cr_fraction / (1.0 - defs.cr_fraction);
    let mrd_cells = p.h * defs.mrd_threshold / (1.0 - defs.mrd_threshold);
    let eps_t = p.eps_t;

    for (col, t_max) in [(0usize, 42.0), (1usize, HORIZON)] {
        let when = if col == 0 { "first 6 weeks" } else { "first year" };
        let rs: Vec<&RowV2> = rows.iter().filter(|r| r.t <= t_max + 1e-9).collect();
        let first = col == 0;
        // 1. CAR-T
        let series: Vec<Curve<'_>> = vec![
            ("all CAR-T (E+M+P+X)", OI_BLACK, 3, Box::new(|r: &RowV2| r.c())),
            ("effector E", OI_ORANGE, 2, Box::new(|r: &RowV2| r.e)),
            ("product memory M", OI_SKY, 2, Box::new(|r: &RowV2| r.m)),
            ("long-lived P", OI_BLUE, 3, Box::new(|r: &RowV2| r.p)),
            ("exhausted X", OI_GREY, 2, Box::new(|r: &RowV2| r.x)),
        ];
        Panel {
            caption: format!("CAR-T cells, {when}"),
            y_desc: "CAR-T cells",
            t_max,
            y: (1e4, 1e13),
            log: true,
            legend: first.then_some(SeriesLabelPosition::LowerRight),
            windows: false,
        }
        .draw(&panels[col], &rs, &series, &[], &marks)?;
        // 2. blasts
        let mut series: Vec<Curve<'_>> = Vec::new();
        let colors = [OI_VERMILLION, OI_PURPLE, OI_ORANGE, OI_BLACK, OI_GREEN];
        for k in 0..NCLONES_V2 {
            let present = if k == DIM { sc.dim_blasts > 0.0 } else { b4[k] > 0.0 };
            if present {
                let name = if k == DIM { "CD19-dim" } else { Phenotype::from_index(k).name() };
                series.push((name, colors[k], 2, Box::new(move |r: &RowV2| r.l[k])));
            }
        }
        let guides = [
            (cr_cells, "5% of marrow (CR limit)".to_string(), false),
            (mrd_cells, "0.01% (MRD limit)".to_string(), false),
            (p.n_ext.max(1e-1), "1 cell (extinction)".to_string(), false),
        ];
        Panel {
            caption: format!("leukemic blasts by clone, {when}"),
            y_desc: "blasts (cells)",
            t_max,
            y: (1e-1, 1e13),
            log: true,
            legend: first.then_some(SeriesLabelPosition::LowerLeft),
            windows: false,
        }
        .draw(&panels[2 + col], &rs, &series, &guides, &marks)?;
        // 3. B cells
        let series: Vec<Curve<'_>> = vec![("normal B cells", OI_SKY, 3, Box::new(|r: &RowV2| r.b))];
        let guides = [(defs.b_recovery, format!("b_recovery = {}: aplasia below", fmt_log(&defs.b_recovery)), false)];
        Panel {
            caption: format!("normal B cells (aplasia: below {} cells), {when}", fmt_log(&defs.b_recovery)),
            y_desc: "B cells (cells)",
            t_max,
            y: (1e5, 1e10),
            log: true,
            legend: first.then_some(SeriesLabelPosition::LowerRight),
            windows: false,
        }
        .draw(&panels[4 + col], &rs, &series, &guides, &marks)?;
        // 4. IL-6
        let series: Vec<Curve<'_>> = vec![
            (
                "IL-6 signal I (1 - eps_T R): drives CRS",
                OI_VERMILLION,
                4,
                Box::new(move |r: &RowV2| r.i * (1.0 - eps_t * r.r)),
            ),
            ("serum IL-6 I: drives ICANS", OI_BLACK, 2, Box::new(|r: &RowV2| r.i)),
        ];
        let guides = [(p.i_0 + p.i_s50, "I_0 + I_S50: half-maximal CRS drive".to_string(), false)];
        Panel {
            caption: format!("IL-6, {when}"),
            y_desc: "IL-6 (pg/mL)",
            t_max,
            y: (1.0, 1e5),
            log: true,
            legend: first.then_some(SeriesLabelPosition::UpperRight),
            windows: true,
        }
        .draw(&panels[6 + col], &rs, &series, &guides, &marks)?;
        // 5. CRS and ICANS severities
        let series: Vec<Curve<'_>> = vec![
            ("CRS severity S", OI_VERMILLION, 3, Box::new(|r: &RowV2| r.s)),
            ("ICANS severity N", OI_BLUE, 3, Box::new(|r: &RowV2| r.n)),
        ];
        let th = sc.scale.thresholds();
        let same = th == ICANS_THRESHOLDS;
        let scale = scale_name(sc.scale);
        let mut guides: Vec<(f64, String, bool)> = (0..4)
            .map(|k| {
                let label = if same {
                    format!("grade {} (CRS {scale}, ICANS ASTCT)", k + 1)
                } else {
                    format!("CRS grade {} ({scale})", k + 1)
                };
                (th[k], label, false)
            })
            .collect();
        guides.push((p.theta_t, format!("theta_T = {}: tocilizumab", p.theta_t), true));
        guides.push((p.theta_s, format!("theta_S = {}: steroids", p.theta_s), true));
        Panel {
            caption: format!("CRS and ICANS severity (grade units), {when}"),
            y_desc: "severity (grade units)",
            t_max,
            y: (0.0, p.s_max),
            log: false,
            legend: first.then_some(SeriesLabelPosition::UpperRight),
            windows: true,
        }
        .draw(&panels[8 + col], &rs, &series, &guides, &marks)?;
    }
    // the legend lists only what the figure shows
    let mut items: Vec<(&str, Mark)> = Vec::new();
    if !e.toci_days.is_empty() {
        items.push(("tocilizumab dose", Mark::Dashed(OI_GREEN)));
    }
    if e.steroid_day.is_some() {
        items.push(("steroids start", Mark::Dashed(OI_PURPLE)));
    }
    if e.extinction_days.0.iter().any(|(_, d)| d.is_some()) {
        items.push(("clone extinct", Mark::Dashed(OI_BLUE)));
    }
    items.push(("day 28 assessment", Mark::Dashed(OI_GREY)));
    if e.relapse_day.is_some() {
        items.push(("relapse", Mark::Dashed(OI_VERMILLION)));
    }
    if e.b_recovery_day.is_some() {
        items.push(("B-cell recovery", Mark::Dashed(OI_SKY)));
    }
    if rows.iter().any(|r| r.toci) {
        items.push(("tocilizumab acting", Mark::Box(TOCI_SHADE)));
    }
    if rows.iter().any(|r| r.steroid) {
        items.push(("steroids acting", Mark::Box(STEROID_SHADE)));
    }
    legend_strip(&legend, &items)?;
    root.present()?;
    println!("\nwrote {}", args.svg.display());
    Ok(())
}

/// The scale's name as in the literature.
fn scale_name(scale: CrsScale) -> &'static str {
    match scale {
        CrsScale::Penn => "Penn",
        CrsScale::Lee => "Lee",
        CrsScale::Astct => "ASTCT",
    }
}

const TOCI_SHADE: RGBColor = RGBColor(170, 225, 200);
const STEROID_SHADE: RGBColor = RGBColor(235, 195, 220);

type Curve<'a> = (&'a str, RGBColor, u32, Box<dyn Fn(&RowV2) -> f64>);

/// One panel: its caption, axis, legend position and whether it shades the treatment windows.
struct Panel {
    caption: String,
    y_desc: &'static str,
    t_max: f64,
    y: (f64, f64),
    log: bool,
    legend: Option<SeriesLabelPosition>,
    windows: bool,
}

impl Panel {
    /// Draw the panel on `area` (log or linear y axis).
    fn draw(
        &self,
        area: &Area,
        rows: &[&RowV2],
        curves: &[Curve<'_>],
        guides: &[(f64, String, bool)],
        marks: &[(f64, RGBColor)],
    ) -> Res {
        let mut b = ChartBuilder::on(area);
        b.caption(&self.caption, font(20)).margin(10).margin_right(18).x_label_area_size(44).y_label_area_size(78);
        let x_labels = if self.t_max < 100.0 { 8 } else { 10 };
        let (y0, y1) = self.y;
        if self.log {
            let mut chart = b.build_cartesian_2d(0.0..self.t_max, (y0..y1).log_scale())?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.1))
                .x_desc("days after infusion")
                .y_desc(self.y_desc)
                .y_label_formatter(&fmt_log)
                .x_labels(x_labels)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .label_style(font(15))
                .axis_desc_style(font(16))
                .draw()?;
            self.fill(&mut chart, rows, curves, guides, marks, &|v| v * 1.25)
        } else {
            let mut chart = b.build_cartesian_2d(0.0..self.t_max, y0..y1)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.1))
                .x_desc("days after infusion")
                .y_desc(self.y_desc)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .y_labels(6)
                .x_labels(x_labels)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .label_style(font(15))
                .axis_desc_style(font(16))
                .draw()?;
            let dy = 0.02 * (y1 - y0);
            self.fill(&mut chart, rows, curves, guides, marks, &|v| v + dy)
        }
    }

    /// Shaded tocilizumab / steroid windows, dashed guides with labels (`label_y` places a
    /// label just above its line), event markers, the curves and the legend.
    #[allow(clippy::too_many_arguments)]
    fn fill<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(
        &self,
        chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
        rows: &[&RowV2],
        curves: &[Curve<'_>],
        guides: &[(f64, String, bool)],
        marks: &[(f64, RGBColor)],
        label_y: &dyn Fn(f64) -> f64,
    ) -> Res {
        let (t_max, (y0, y1)) = (self.t_max, self.y);
        if self.windows {
            // translucent: they may overlap
            for (which, color) in [(0usize, TOCI_SHADE), (1usize, STEROID_SHADE)] {
                let mut start: Option<f64> = None;
                let mut spans = Vec::new();
                for r in rows {
                    let on = if which == 0 { r.toci } else { r.steroid };
                    match (on, start) {
                        (true, None) => start = Some(r.t),
                        (false, Some(s)) => {
                            spans.push((s, r.t));
                            start = None;
                        }
                        _ => {}
                    }
                }
                if let Some(s) = start {
                    spans.push((s, t_max));
                }
                chart.draw_series(
                    spans.iter().map(|&(a, b)| Rectangle::new([(a, y0), (b.min(t_max), y1)], color.mix(0.6).filled())),
                )?;
            }
        }
        for (level, label, left) in guides {
            let level = *level;
            chart.draw_series(DashedLineSeries::new(
                vec![(0.0, level), (t_max, level)],
                6,
                5,
                OI_GREY.stroke_width(1),
            ))?;
            let (x, h) = if *left { (t_max * 0.005, HPos::Left) } else { (t_max * 0.995, HPos::Right) };
            chart.draw_series(std::iter::once(Text::new(
                label.clone(),
                (x, label_y(level)),
                font(13).color(&OI_GREY.mix(1.0)).pos(Pos::new(h, VPos::Bottom)),
            )))?;
        }
        for &(t, c) in marks {
            if t <= t_max {
                chart.draw_series(DashedLineSeries::new(vec![(t, y0), (t, y1)], 7, 4, c.stroke_width(2)))?;
            }
        }
        for (name, color, width, f) in curves {
            let color = *color;
            // runs of drawable values (an extinct clone is 0: not drawn on a log axis)
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for r in rows {
                let v = f(r);
                if v.is_finite() && (v > 0.0 || !self.log) {
                    let v = if self.log { v.max(y0 * 0.5) } else { v };
                    runs.last_mut().expect("a run").push((r.t, v));
                } else if !runs.last().expect("a run").is_empty() {
                    runs.push(Vec::new());
                }
            }
            let mut first = true;
            for run in runs.into_iter().filter(|r| !r.is_empty()) {
                let s = chart.draw_series(LineSeries::new(run, color.stroke_width(*width)))?;
                if first && self.legend.is_some() {
                    s.label(*name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
                }
                first = false;
            }
        }
        if let Some(pos) = &self.legend {
            chart
                .configure_series_labels()
                .position(pos.clone())
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.4))
                .label_font(font(14))
                .draw()?;
        }
        Ok(())
    }
}
