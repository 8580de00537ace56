//! # One patient, one infusion: what happens, and when?
//!
//! The clinical question: for the nominal patient of the test suite (scenario S1,
//! `Scenario::nominal()`: marrow 50% blasts, almost all `CD19+CD22+` with a `CD19-CD22+`
//! subclone at 1 in 100,000 blasts; 1e8 CD19 CAR-T cells on day 0 after lymphodepletion;
//! tocilizumab when the IL-6 signal reaches 200 pg/mL, steroids at 1,000 pg/mL), when do
//! cytokine release syndrome, tocilizumab and steroids come, is the patient in remission and
//! MRD-negative at day 28, and what comes back later?
//!
//! ```text
//! cargo run --release --example single_patient [-- --svg PATH]
//! ```
//!
//! The simulation is deterministic (no random draws, so no seed). It prints the event log
//! and the key endpoints in a table, asserts that the nominal patient is in complete
//! remission at day 28, and writes `docs/single_patient.svg`: CAR-T cells, blasts by
//! phenotype, normal B cells and IL-6 over the first 6 weeks and over the year, with the
//! event times marked (log axes: the quantities span up to 13 decades).

#[path = "common/plot.rs"]
mod plot;

use cartkin::{simulate, EventKind, Grid, OutputSpec, Phenotype, Row, Scenario, SolverConfig};
use plot::*;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

fn main() -> Res {
    let Some(args) = parse_args("single_patient", 1, 0)? else {
        return Ok(());
    };
    let sc = Scenario::nominal();
    let p = sc.params();
    let horizon = sc.horizon();
    // Output every 0.1 day in the first 6 weeks, daily after; plus a row at every event.
    let mut times: Vec<f64> = (0..=420).map(|k| k as f64 * 0.1).collect();
    times.extend((43..=horizon as usize).map(|k| k as f64));
    let out = OutputSpec { grid: Grid::Times(times), event_rows: true };
    let sol = simulate(&sc, &SolverConfig::default(), &out)?;
    let e = &sol.endpoints;
    let mut rows = sol.rows.clone();
    rows.sort_by(|a, b| a.t.total_cmp(&b.t));

    // ---------------------------------------------------------------- printed report
    let rules = sc.regimen().rules();
    let defs = sc.definitions();
    let f0 = sc.patient().f0(p.h);
    println!(
        "Nominal patient S1: marrow blasts {:.0}%, {:.1e} CD19 CAR-T cells on day 0, lymphodepletion,",
        100.0 * f0,
        sc.regimen().total_cells()
    );
    println!(
        "reactive tocilizumab (IL-6 signal >= {:.0} pg/mL) and steroids (>= {:.0} pg/mL)\n",
        rules.toci_threshold, rules.steroid_threshold
    );
    println!("Event log");
    println!("  {:>9}  event", "day");
    for ev in &sol.events {
        let what = match ev.kind {
            EventKind::Infusion { cells } => format!("CAR-T infusion, {cells:.1e} cells"),
            EventKind::TociReactive { dose } => {
                format!(
                    "tocilizumab dose {dose} (IL-6 signal reached {:.0} pg/mL), acts {:.0} days",
                    rules.toci_threshold, rules.toci_window_days
                )
            }
            EventKind::TociProphylactic => {
                format!("tocilizumab (scheduled), acts {:.0} days", rules.toci_window_days)
            }
            EventKind::TociEnd => "tocilizumab effect ends".into(),
            EventKind::SteroidStart => {
                format!(
                    "steroids start (IL-6 signal reached {:.0} pg/mL), {:.0}-day course",
                    rules.steroid_threshold, rules.steroid_course_days
                )
            }
            EventKind::SteroidEnd => "steroid course ends".into(),
            EventKind::Model { name, .. } => name.to_string(),
            EventKind::Extinction { phenotype } => {
                format!("last {} blast gone (extinct)", phenotype.name())
            }
            _ => ev.kind.name().into(),
        };
        println!("  {:>9.2}  {what}", ev.t);
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let day = |d: Option<f64>| d.map_or("never".to_string(), |d| format!("day {d:.1}"));
    println!("\nKey endpoints");
    let line = |k: &str, v: String| println!("  {k:<42} {v}");
    line(
        "complete remission at day 28 (blasts < 5%)",
        format!("{} (marrow blasts {:.4}%)", yes(e.cr_day28), 100.0 * e.f_day28),
    );
    line("MRD-negative at day 28 (flow, < 0.01%)", yes(e.mrd_neg_day28).into());
    line(
        "CRS grade (IL-6 signal peak)",
        format!("{} (peak {:.0} pg/mL on day {:.1})", e.crs_grade, e.peak_signal, e.t_peak_signal),
    );
    line("CRS onset (signal >= 50 pg/mL)", day(e.crs_onset_day));
    line("serum IL-6 peak", format!("{:.0} pg/mL on day {:.1}", e.peak_il6, e.t_peak_il6));
    line(
        "tocilizumab",
        if e.toci_days.is_empty() {
            "none".into()
        } else {
            e.toci_days.iter().map(|d| format!("day {d:.1}")).collect::<Vec<_>>().join(", ")
        },
    );
    line("steroids", day(e.steroid_day));
    line(
        "CAR-T peak (Cmax)",
        format!("{:.2e} cells ({:.0} copies/ug DNA) on day {:.1}", e.cmax, e.cmax_copies, e.tmax),
    );
    line("CAR-T exposure, AUC day 0-28", format!("{:.2e} cells x day", e.auc28));
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
    line("cured (every blast phenotype extinct)", yes(e.cured).into());
    line("B-cell recovery (>= 1e8 cells)", day(e.b_recovery_day));
    line(
        "event-free survival",
        if e.efs_censored { "no event by day 365".into() } else { format!("event on day {:.0}", e.efs_event_day) },
    );

    assert!(e.cr_day28, "the nominal patient must be in complete remission at day 28");

    // ---------------------------------------------------------------- figure
    let root = SVGBackend::new(&args.svg, (1500, 1560)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, rest) = root.split_vertically(56);
    title.draw(&Text::new(
        "Nominal patient S1: 1e8 CD19 CAR-T cells on day 0 (50% marrow blasts)",
        (750, 30),
        font(26).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let (grid, legend) = rest.split_vertically(1560 - 56 - 60);
    let panels = grid.split_evenly((4, 2));

    // event markers: (day, colour, dashed)
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
    marks.push((28.0, OI_GREY));
    if let Some(d) = e.relapse_day {
        marks.push((d, OI_VERMILLION));
    }
    if let Some(d) = e.b_recovery_day {
        marks.push((d, OI_SKY));
    }

    let present: Vec<Phenotype> = Phenotype::ALL.iter().copied().filter(|ph| sol.present()[ph.index()]).collect();
    let cr_cells = p.h * 0.05 / 0.95;
    let mrd_cells = p.h * defs.mrd_threshold / (1.0 - defs.mrd_threshold);
    let thetas = defs.crs_thresholds;

    for (col, t_max) in [(0usize, 42.0), (1usize, horizon)] {
        let when = if col == 0 { "first 6 weeks" } else { "first year" };
        let rs: Vec<&Row> = rows.iter().filter(|r| r.t <= t_max + 1e-9).collect();
        // 1. CAR-T
        let series: Vec<Curve<'_>> = vec![
            ("all CAR-T (E+M+X)", OI_BLACK, 3, Box::new(|r: &Row| r.c())),
            ("effector E", OI_ORANGE, 2, Box::new(|r: &Row| r.e)),
            ("memory M", OI_BLUE, 2, Box::new(|r: &Row| r.m)),
            ("exhausted X", OI_GREY, 2, Box::new(|r: &Row| r.x)),
        ];
        panel(
            &panels[col],
            &format!("CAR-T cells, {when}"),
            "CAR-T cells",
            t_max,
            (1e5, 1e13),
            &rs,
            &series,
            &[],
            &marks,
            (col == 0).then_some(SeriesLabelPosition::UpperRight),
            None,
        )?;
        // 2. blasts
        let mut series: Vec<Curve<'_>> = Vec::new();
        let colors = [OI_VERMILLION, OI_PURPLE, OI_ORANGE, OI_BLACK];
        for ph in &present {
            let k = ph.index();
            series.push((ph.name(), colors[k], 2, Box::new(move |r: &Row| r.l[k])));
        }
        let guides = [
            (cr_cells, "5% of marrow (CR limit)"),
            (mrd_cells, "0.01% (MRD limit)"),
            (p.n_ext.max(1e-1), "1 cell (extinction)"),
        ];
        panel(
            &panels[2 + col],
            &format!("leukemic blasts by phenotype, {when}"),
            "blasts (cells)",
            t_max,
            (1e-1, 1e13),
            &rs,
            &series,
            &guides,
            &marks,
            (col == 0).then_some(SeriesLabelPosition::LowerLeft),
            None,
        )?;
        // 3. B cells
        let series: Vec<Curve<'_>> = vec![("normal B cells", OI_SKY, 3, Box::new(|r: &Row| r.b))];
        let guides = [(defs.b_recovery, "recovery threshold")];
        panel(
            &panels[4 + col],
            &format!("normal B cells (aplasia), {when}"),
            "B cells (cells)",
            t_max,
            (1e6, 1e10),
            &rs,
            &series,
            &guides,
            &marks,
            (col == 0).then_some(SeriesLabelPosition::LowerRight),
            None,
        )?;
        // 4. IL-6
        let series: Vec<Curve<'_>> = vec![
            ("IL-6 signal (CRS driver)", OI_VERMILLION, 3, Box::new(|r: &Row| r.i_eff)),
            ("serum IL-6", OI_BLACK, 2, Box::new(|r: &Row| r.i)),
        ];
        let guides =
            [(thetas[0], "CRS grade 1"), (thetas[1], "grade 2"), (thetas[2], "grade 3"), (thetas[3], "grade 4")];
        panel(
            &panels[6 + col],
            &format!("IL-6, {when}"),
            "IL-6 (pg/mL)",
            t_max,
            (0.3, 5e4),
            &rs,
            &series,
            &guides,
            &marks,
            (col == 0).then_some(SeriesLabelPosition::LowerRight),
            Some(&rs),
        )?;
    }
    legend_strip(
        &legend,
        &[
            ("tocilizumab dose", Mark::Dashed(OI_GREEN)),
            ("steroids start", Mark::Dashed(OI_PURPLE)),
            ("blast phenotype extinct", Mark::Dashed(OI_BLUE)),
            ("day 28 assessment", Mark::Dashed(OI_GREY)),
            ("relapse", Mark::Dashed(OI_VERMILLION)),
            ("B-cell recovery", Mark::Dashed(OI_SKY)),
            ("tocilizumab acting", Mark::Box(TOCI_SHADE)),
            ("steroids acting", Mark::Box(STEROID_SHADE)),
        ],
    )?;
    root.present()?;
    println!("\nwrote {}", args.svg.display());
    Ok(())
}

const TOCI_SHADE: RGBColor = RGBColor(170, 225, 200);
const STEROID_SHADE: RGBColor = RGBColor(235, 195, 220);

type Curve<'a> = (&'a str, RGBColor, u32, Box<dyn Fn(&Row) -> f64>);

/// One log-scale panel: curves (positive values only: an extinct phenotype stops), dashed
/// horizontal guides with labels, vertical event markers, and (IL-6) shaded treatment windows.
#[allow(clippy::too_many_arguments)]
fn panel(
    area: &Area,
    caption: &str,
    y_desc: &str,
    t_max: f64,
    y: (f64, f64),
    rows: &[&Row],
    curves: &[Curve<'_>],
    guides: &[(f64, &str)],
    marks: &[(f64, RGBColor)],
    legend: Option<SeriesLabelPosition>,
    windows: Option<&[&Row]>,
) -> Res {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(20))
        .margin(10)
        .margin_right(18)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(0.0..t_max, (y.0..y.1).log_scale())?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.1))
        .x_desc("days after infusion")
        .y_desc(y_desc)
        .y_label_formatter(&fmt_log)
        .x_labels(if t_max < 100.0 { 8 } else { 10 })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(font(15))
        .axis_desc_style(font(16))
        .draw()?;
    if let Some(rs) = windows {
        // shaded tocilizumab / steroid windows (translucent: they may overlap)
        for (which, color) in [(0usize, TOCI_SHADE), (1usize, STEROID_SHADE)] {
            let mut start: Option<f64> = None;
            let mut spans = Vec::new();
            for r in rs {
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
                spans.iter().map(|&(a, b)| Rectangle::new([(a, y.0), (b.min(t_max), y.1)], color.mix(0.6).filled())),
            )?;
        }
    }
    for &(level, label) in guides {
        chart.draw_series(DashedLineSeries::new(vec![(0.0, level), (t_max, level)], 6, 5, OI_GREY.stroke_width(1)))?;
        chart.draw_series(std::iter::once(Text::new(
            label.to_string(),
            (t_max * 0.995, level * 1.25),
            font(13).color(&OI_GREY.mix(1.0)).pos(Pos::new(HPos::Right, VPos::Bottom)),
        )))?;
    }
    for &(t, c) in marks {
        if t <= t_max {
            chart.draw_series(DashedLineSeries::new(vec![(t, y.0), (t, y.1)], 7, 4, c.stroke_width(2)))?;
        }
    }
    for (name, color, width, f) in curves {
        let color = *color;
        // split into runs of positive values (extinct blasts are 0: not drawn on a log axis)
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for r in rows {
            let v = f(r);
            if v > 0.0 && v.is_finite() {
                runs.last_mut().unwrap().push((r.t, v.max(y.0 * 0.5)));
            } else if !runs.last().unwrap().is_empty() {
                runs.push(Vec::new());
            }
        }
        let mut first = true;
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            let s = chart.draw_series(LineSeries::new(run, color.stroke_width(*width)))?;
            if first && legend.is_some() {
                s.label(*name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
            }
            first = false;
        }
    }
    if let Some(pos) = legend {
        chart
            .configure_series_labels()
            .position(pos)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(font(14))
            .draw()?;
    }
    Ok(())
}
