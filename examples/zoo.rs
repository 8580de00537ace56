//! Figures of the model zoo: `docs/zoo_<model>.svg` for every zoo model, its typical
//! trajectories (each state on its own panel, the curated file's initial values and
//! parameters) and, for `stein2019`, the population band of its built-in population
//! (5th-95th percentile and median of the transgene level per day).
//!
//! ```text
//! cargo run --release --example zoo                      # every model
//! cargo run --release --example zoo -- --model stein2019 --patients 2000 --seed 1
//! ```
//!
//! It prints the numbers the figures show (peaks, the band at days 28 and 90).

#[path = "common/plot.rs"]
mod plot;

use cartkin::model::zoo::{Kind, ZooPopulation, ZooRow, UNIFORMS};
use cartkin::solve::SolverConfig;
use cartkin::trial::{PatientSource, Subject};
use plot::{figure_path, fmt_log, font, Area, Res, OI_BLACK, OI_BLUE, OI_ORANGE, OI_SKY, OI_VERMILLION};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// One curve: label, colour and its daily points.
struct Curve {
    label: String,
    colour: RGBColor,
    pts: Vec<(f64, f64)>,
}

/// The horizon a model is drawn over (days): the span of its curated reference.
fn horizon(kind: Kind) -> f64 {
    match kind.info().name {
        "hanson2016" => 30.0,
        "leon_triana2021" | "leon_triana2021_progenitors" => 200.0,
        _ => 365.0,
    }
}

fn typical_rows(kind: Kind, values: &[f64]) -> Res<Vec<ZooRow>> {
    let h = horizon(kind);
    let grid: Vec<f64> = (0..=(h * 4.0) as usize).map(|k| k as f64 / 4.0).collect();
    let sol =
        kind.simulate(values, &[0.5; UNIFORMS], &SolverConfig::default(), h, &grid, 0).map_err(|e| e.to_string())?;
    Ok(sol.rows)
}

/// The band (when given), the curves and, for more than one series, the legend.
fn fill<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(
    ch: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    curves: &[Curve],
    band: Option<&[(f64, f64, f64)]>,
) -> Res {
    if let Some(bd) = band {
        let mut poly: Vec<(f64, f64)> = bd.iter().map(|p| (p.0, p.1)).collect();
        poly.extend(bd.iter().rev().map(|p| (p.0, p.2)));
        ch.draw_series(std::iter::once(Polygon::new(poly, OI_SKY.mix(0.35).filled())))?
            .label("5th-95th percentile")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], OI_SKY.mix(0.35).filled()));
    }
    for c in curves {
        let col = c.colour;
        ch.draw_series(LineSeries::new(c.pts.iter().copied(), col.stroke_width(2)))?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], col.stroke_width(2)));
    }
    if curves.len() + usize::from(band.is_some()) > 1 {
        ch.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK.mix(0.3))
            .label_font(font(12))
            .draw()?;
    }
    Ok(())
}

/// One panel on `area`: the curves and an optional band (lower, upper) on a log axis when
/// every value is positive, else a linear one.
fn panel(area: &Area, title: &str, unit: &str, t_max: f64, curves: &[Curve], band: Option<&[(f64, f64, f64)]>) -> Res {
    let all = curves
        .iter()
        .flat_map(|c| c.pts.iter().map(|p| p.1))
        .chain(band.into_iter().flatten().flat_map(|b| [b.1, b.2]));
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let mut b = ChartBuilder::on(area);
    b.caption(title, font(18)).margin(8).margin_right(16).x_label_area_size(38).y_label_area_size(70);
    if lo > 0.0 {
        let (y0, y1) = (lo / 2.0, hi * 2.0);
        let mut ch = b.build_cartesian_2d(0.0..t_max, (y0..y1).log_scale())?;
        ch.configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .x_desc("days")
            .y_desc(unit)
            .y_label_formatter(&fmt_log)
            .label_style(font(13))
            .axis_desc_style(font(14))
            .draw()?;
        fill(&mut ch, curves, band)?;
    } else {
        let pad = 0.05 * (hi - lo).max(1e-12);
        let mut ch = b.build_cartesian_2d(0.0..t_max, (lo - pad)..(hi + pad))?;
        ch.configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .x_desc("days")
            .y_desc(unit)
            .label_style(font(13))
            .axis_desc_style(font(14))
            .draw()?;
        fill(&mut ch, curves, band)?;
    }
    Ok(())
}

/// The points above `floor` (a log axis down to the level that matters).
fn above(pts: Vec<(f64, f64)>, floor: f64) -> Vec<(f64, f64)> {
    pts.into_iter().filter(|p| p.1 > floor).collect()
}

fn column(rows: &[ZooRow], j: usize) -> Vec<(f64, f64)> {
    rows.iter().map(|r| (r.t, r.y[j])).collect()
}

/// `stein2019`: the typical curve and the population band of `n` patients (seed `seed`).
fn stein(n: u64, seed: u64) -> Res {
    let kind = Kind::Stein2019;
    let rows = typical_rows(kind, ZooPopulation::typical(kind).typical_values())?;
    let pop = ZooPopulation::builtin(kind);
    let days: Vec<f64> = (0..=365).map(f64::from).collect();
    let mut per_day: Vec<Vec<f64>> = vec![Vec::with_capacity(n as usize); days.len()];
    for id in 0..n {
        let p = pop.patient(seed, id)?;
        let sol = p.simulate(&SolverConfig::default(), 365.0, &days, id).map_err(|e| e.to_string())?;
        for (k, r) in sol.rows.iter().enumerate() {
            per_day[k].push(r.y[0] + r.y[1]);
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v[i]
    };
    let band: Vec<(f64, f64, f64)> =
        per_day.iter_mut().zip(&days).skip(1).map(|(v, &t)| (t, q(v, 0.05), q(v, 0.95))).collect();
    let median: Vec<(f64, f64)> = per_day.iter_mut().zip(&days).skip(1).map(|(v, &t)| (t, q(v, 0.5))).collect();
    let typical: Vec<(f64, f64)> = rows.iter().map(|r| (r.t, r.y[0] + r.y[1])).collect();
    let e = kind
        .simulate(
            ZooPopulation::typical(kind).typical_values(),
            &[0.5; UNIFORMS],
            &SolverConfig::default(),
            365.0,
            &[],
            0,
        )
        .map_err(|e| e.to_string())?
        .endpoints;
    println!("stein2019: typical peak {:.0} copies/ug at day {:.2}; {n} patients (seed {seed}):", e.cmax, e.tmax);
    for d in [9usize, 28, 90, 365] {
        let b = band[d - 1];
        println!("  day {d:>3}: 5th {:>9.1}  median {:>9.1}  95th {:>9.1} copies/ug", b.1, median[d - 1].1, b.2);
    }
    let path = figure_path("zoo_stein2019")?;
    let root = SVGBackend::new(&path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let parts = root.split_evenly((1, 2));
    panel(
        &parts[0],
        &format!("stein2019: transgene level, {n} patients of Table 1"),
        "copies / ug DNA",
        365.0,
        &[
            Curve { label: "median".into(), colour: OI_BLUE, pts: median },
            Curve { label: "typical patient".into(), colour: OI_BLACK, pts: typical },
        ],
        Some(&band),
    )?;
    panel(
        &parts[1],
        "stein2019 typical: fast and slow components",
        "copies / ug DNA",
        365.0,
        &[
            Curve { label: "F (fast, alpha)".into(), colour: OI_ORANGE, pts: above(column(&rows, 0), 0.01) },
            Curve { label: "S (slow, beta)".into(), colour: OI_VERMILLION, pts: above(column(&rows, 1), 0.01) },
        ],
        None,
    )?;
    root.present()?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `kimmel2021`: the curated file's patient, and the tumour under the paper's three growth
/// rates (deterministic: no extinction drawn).
fn kimmel() -> Res {
    let kind = Kind::Kimmel2021;
    let base = ZooPopulation::typical(kind).typical_values().to_vec();
    let i_rb = kind.index("r_B").ok_or("r_B")?;
    let i_n = kind.index("n_stoch").ok_or("n_stoch")?;
    let rows = typical_rows(kind, &{
        let mut v = base.clone();
        v[i_n] = 0.0;
        v
    })?;
    let mut tumour = Vec::new();
    for (rb, col) in [(0.01, OI_BLACK), (0.105, OI_BLUE), (0.19, OI_ORANGE), (0.265, OI_VERMILLION)] {
        let mut v = base.clone();
        v[i_rb] = rb;
        v[i_n] = 0.0;
        let r = typical_rows(kind, &v)?;
        // the first 150 days: an escaped tumour grows without bound in this model
        let pts: Vec<(f64, f64)> =
            r.iter().map(|r| (r.t, r.y[2] * 1e9)).filter(|p| p.1 > 1e-2 && p.0 <= 150.0).collect();
        let min = pts.iter().copied().fold((0.0, f64::INFINITY), |a, p| if p.1 < a.1 { p } else { a });
        println!("kimmel2021 r_B {rb}: tumour minimum {:.3e} cells at day {:.2}", min.1, min.0);
        tumour.push(Curve { label: format!("r_B = {rb} /day"), colour: col, pts });
    }
    let c = column(&rows, 1);
    let peak = c.iter().copied().fold((0.0, 0.0), |a, p| if p.1 > a.1 { p } else { a });
    println!("kimmel2021 curated patient: CAR-T peak {:.2} cells/uL at day {:.2}", peak.1, peak.0);
    let path = figure_path("zoo_kimmel2021")?;
    let root = SVGBackend::new(&path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let parts = root.split_evenly((2, 2));
    panel(
        &parts[0],
        "kimmel2021: normal T cells N",
        "cells / uL",
        365.0,
        &[Curve { label: "N".into(), colour: OI_BLUE, pts: column(&rows, 0) }],
        None,
    )?;
    panel(
        &parts[1],
        "kimmel2021: CAR-T cells C",
        "cells / uL",
        365.0,
        &[Curve { label: "C".into(), colour: OI_VERMILLION, pts: c }],
        None,
    )?;
    panel(&parts[2], "tumour (deterministic) by growth rate r_B", "cells (1e9 / mL)", 150.0, &tumour, None)?;
    root.present()?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Any other zoo model: its typical trajectories, one panel per state that changes (a
/// constant state is printed, not drawn).
fn generic(kind: Kind) -> Res {
    let info = kind.info();
    let rows = typical_rows(kind, ZooPopulation::typical(kind).typical_values())?;
    let mut shown = Vec::new();
    for j in 0..info.states.len() {
        let c = column(&rows, j);
        if c.iter().all(|p| p.1 == c[0].1) {
            println!("{} {}: constant {} {}", info.name, info.states[j], c[0].1, info.units[j]);
        } else {
            shown.push(j);
        }
    }
    let n = shown.len();
    let cols = 2;
    let nrows = n.div_ceil(cols);
    let path = figure_path(&format!("zoo_{}", info.name))?;
    let root = SVGBackend::new(&path, (1200, 360 * nrows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let parts = root.split_evenly((nrows, cols));
    for (&j, area) in shown.iter().zip(parts.iter()) {
        let pts = column(&rows, j);
        let peak = pts.iter().copied().fold((0.0, f64::NEG_INFINITY), |a, p| if p.1 > a.1 { p } else { a });
        let low = pts.iter().copied().fold((0.0, f64::INFINITY), |a, p| if p.1 < a.1 { p } else { a });
        println!(
            "{} {}: max {:.4e} {u} at day {:.2}, min {:.4e} {u} at day {:.2}",
            info.name,
            info.states[j],
            peak.1,
            peak.0,
            low.1,
            low.0,
            u = info.units[j]
        );
        let title = format!("{}: {}", info.name, info.states[j]);
        panel(
            area,
            &title,
            info.units[j],
            horizon(kind),
            &[Curve { label: info.states[j].into(), colour: OI_BLUE, pts }],
            None,
        )?;
    }
    root.present()?;
    println!("wrote {}", path.display());
    Ok(())
}

fn main() -> Res {
    let (mut only, mut patients, mut seed) = (None::<String>, 1000u64, 1u64);
    let mut it = std::env::args().skip(1);
    while let Some(f) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{f} needs a value"));
        match f.as_str() {
            "--model" => only = Some(val()?),
            "--patients" => patients = val()?.parse().map_err(|_| "--patients: not a whole number")?,
            "--seed" => seed = val()?.parse().map_err(|_| "--seed: not a whole number")?,
            "-h" | "--help" => {
                println!(
                    "usage: zoo [--model NAME] [--patients N (default 1000, stein2019's band)] [--seed S (default 1)]"
                );
                return Ok(());
            }
            _ => return Err(format!("unknown argument {f} (try --help)").into()),
        }
    }
    if patients == 0 {
        return Err("--patients must be >= 1".into());
    }
    let kinds: Vec<Kind> = match &only {
        Some(m) => vec![Kind::from_name(m).ok_or_else(|| format!("--model {m}: not a zoo model"))?],
        None => Kind::ALL.to_vec(),
    };
    for k in kinds {
        match k {
            Kind::Stein2019 => stein(patients, seed)?,
            Kind::Kimmel2021 => kimmel()?,
            #[allow(unreachable_patterns)]
            k => generic(k)?,
        }
    }
    Ok(())
}
