//! Plotting and reporting helpers shared by the scenario examples (included with
//! `#[path = "common/plot.rs"] mod plot;`): figure paths, colours, tick formats, stacked CRS
//! grade bars, grouped rate bars with 95% intervals, Kaplan–Meier steps, a legend strip,
//! rates read from a `TrialSummary::to_json` value, and the common command line.
#![allow(dead_code)]

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::error::Error;
use std::path::PathBuf;

/// Any error of an example.
pub type Res<T = ()> = Result<T, Box<dyn Error>>;

/// An SVG drawing area.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Font family of every text.
pub const FONT: &str = "sans-serif";

// Okabe–Ito colours (distinguishable with colour-vision deficiency).
pub const OI_BLACK: RGBColor = RGBColor(0, 0, 0);
pub const OI_ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const OI_SKY: RGBColor = RGBColor(86, 180, 233);
pub const OI_GREEN: RGBColor = RGBColor(0, 158, 115);
pub const OI_YELLOW: RGBColor = RGBColor(240, 228, 66);
pub const OI_BLUE: RGBColor = RGBColor(0, 114, 178);
pub const OI_VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub const OI_PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const OI_GREY: RGBColor = RGBColor(120, 120, 120);

/// Colours of CRS grades 0..4 (grey, then yellow to dark red).
pub const GRADE_COLORS: [RGBColor; 5] = [
    RGBColor(210, 210, 210),
    RGBColor(254, 217, 118),
    RGBColor(253, 141, 60),
    RGBColor(227, 26, 28),
    RGBColor(128, 0, 38),
];

/// Where an example writes its figure by default: `docs/<name>.svg` in the crate
/// (the directory is created if missing).
pub fn figure_path(name: &str) -> Res<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(format!("{name}.svg")))
}

/// Command line shared by the population examples:
/// `[--patients N] [--seed S] [--svg PATH]` (`--patients` ignored where it does not apply).
pub struct Args {
    /// Patients per arm.
    pub patients: u64,
    /// Seed of the virtual population.
    pub seed: u64,
    /// Figure path.
    pub svg: PathBuf,
}

/// Parse [`Args`] with these defaults; `usage` is printed for `--help` (then `Ok(None)`).
pub fn parse_args(name: &str, patients: u64, seed: u64) -> Res<Option<Args>> {
    let mut a = Args { patients, seed, svg: figure_path(name)? };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--patients" => a.patients = val()?.parse().map_err(|_| "--patients: not a whole number")?,
            "--seed" => a.seed = val()?.parse().map_err(|_| "--seed: not a whole number")?,
            "--svg" => a.svg = PathBuf::from(val()?),
            "-h" | "--help" => {
                println!("usage: {name} [--patients N (default {patients})] [--seed S (default {seed})] [--svg PATH (default docs/{name}.svg)]");
                return Ok(None);
            }
            _ => return Err(format!("unknown argument {flag} (try --help)").into()),
        }
    }
    if a.patients == 0 {
        return Err("--patients must be >= 1".into());
    }
    Ok(Some(a))
}

/// Tick label of a log axis: `0.1`, `1`, `100`, `1e4`, `1e12`, `3e5`.
pub fn fmt_log(v: &f64) -> String {
    if v.is_nan() || *v <= 0.0 {
        return "0".into();
    }
    let e = v.log10();
    let k = e.floor() as i32;
    let m = (v / 10f64.powi(k) * 1e6).round() / 1e6;
    if (-2..=3).contains(&k) {
        let s = format!("{:.*}", (-k).max(0) as usize, v);
        return s;
    }
    if (m - 1.0).abs() < 1e-6 {
        format!("1e{k}")
    } else {
        format!("{m}e{k}")
    }
}

/// Tick label of a fraction axis in percent.
pub fn fmt_pct(v: &f64) -> String {
    format!("{:.0}%", 100.0 * v)
}

/// A text style of `size` px.
pub fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

/// A rate with its Wilson 95% interval, read from a summary JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateCi {
    /// Estimate.
    pub p: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Denominator.
    pub n: u64,
}

impl RateCi {
    /// `"72.3% (70.9-73.7)"`.
    pub fn show(&self) -> String {
        format!("{:5.1}% ({:4.1}-{:4.1})", 100.0 * self.p, 100.0 * self.lo, 100.0 * self.hi)
    }
}

/// Rate `key` of a `TrialSummary::to_json` (or stratum) value, if it has a denominator.
pub fn rate(v: &Value, key: &str) -> Option<RateCi> {
    Some(RateCi {
        p: v.get(key)?.as_f64()?,
        lo: v.get(format!("{key}_ci_low"))?.as_f64()?,
        hi: v.get(format!("{key}_ci_high"))?.as_f64()?,
        n: v.get(format!("{key}_n"))?.as_u64()?,
    })
}

/// The rate of `true` among `hits` with its Wilson 95% interval (`None` without any).
pub fn rate_of(hits: impl IntoIterator<Item = bool>) -> Option<RateCi> {
    let mut r = cartkin::summary::Rate::new();
    for h in hits {
        r.push(h);
    }
    r.estimate().map(|e| RateCi { p: e.p, lo: e.ci_low, hi: e.ci_high, n: r.n() })
}

/// `show()` of a rate, or a dash.
pub fn show(r: Option<RateCi>) -> String {
    r.map_or_else(|| format!("{:>19}", "-"), |r| r.show())
}

/// CRS grade fractions of a summary or stratum JSON (from `crs_grade_counts`).
/// The CRS grade distribution of a summary as "g0 / g1 / g2 / g3 / g4" whole percentages.
pub fn grade_percentages(v: &Value) -> String {
    grade_fractions(v).iter().map(|f| format!("{:.0}", 100.0 * f)).collect::<Vec<_>>().join(" / ")
}

/// Labels of marrow-burden strata with these edges (fractions): "<first>< 5%", "5-25%", ...,
/// ">= 75%".
pub fn burden_labels(edges: &[f64], first: &str) -> Vec<String> {
    edges
        .windows(2)
        .map(|w| {
            if w[0] == 0.0 {
                format!("{first}< {:.0}%", 100.0 * w[1])
            } else if w[1] >= 1.0 {
                format!(">= {:.0}%", 100.0 * w[0])
            } else {
                format!("{:.0}-{:.0}%", 100.0 * w[0], 100.0 * w[1])
            }
        })
        .collect()
}

pub fn grade_fractions(v: &Value) -> [f64; 5] {
    let mut out = [0.0; 5];
    if let Some(c) = v.get("crs_grade_counts").and_then(|c| c.as_array()) {
        let n: f64 = c.iter().filter_map(|x| x.as_f64()).sum();
        if n > 0.0 {
            for (k, x) in c.iter().take(5).enumerate() {
                out[k] = x.as_f64().unwrap_or(0.0) / n;
            }
        }
    }
    out
}

/// A step function through Kaplan–Meier points `(t, S)`: horizontal, then vertical.
pub fn km_steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(2 * points.len());
    for (k, &(t, s)) in points.iter().enumerate() {
        if k > 0 {
            out.push((t, points[k - 1].1));
        }
        out.push((t, s));
    }
    out
}

/// Categorical x axis: `-0.5..n-0.5 (+extra)`; with `x_labels(n + 2)` the ticks fall on the
/// category centres (and half-way points, which get no label).
fn categories_axis(n: usize, extra: f64) -> std::ops::Range<f64> {
    -0.5..n as f64 - 0.5 + extra
}

fn category_label(categories: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < categories.len() {
        categories[i as usize].clone()
    } else {
        String::new()
    }
}

/// Stacked bars of the CRS grade distribution (fractions of patients) per category, with
/// the percentage written in every segment of at least 4%, and a legend to the right.
pub fn crs_grade_bars(area: &Area, caption: &str, categories: &[String], fractions: &[[f64; 5]], x_desc: &str) -> Res {
    let n = categories.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(22))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(categories_axis(n, (0.45 * n as f64).max(1.0)), 0.0..1.0)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_label_formatter(&|v| category_label(categories, *v))
        .x_labels(n + 2)
        .y_label_formatter(&fmt_pct)
        .y_labels(6)
        .x_desc(x_desc)
        .y_desc("patients")
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    let w = 0.32;
    for g in 0..5 {
        let col = GRADE_COLORS[g];
        chart
            .draw_series(fractions.iter().enumerate().map(|(i, f)| {
                let lo: f64 = f[..g].iter().sum();
                let x = i as f64;
                Rectangle::new([(x - w, lo), (x + w, lo + f[g])], col.filled())
            }))?
            .label(format!("grade {g}{}", if g == 0 { " (no CRS)" } else { "" }))
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 16, y + 7)], col.filled()));
        let text_col = if g >= 3 { WHITE } else { BLACK };
        chart.draw_series(fractions.iter().enumerate().filter(|(_, f)| f[g] >= 0.04).map(|(i, f)| {
            let lo: f64 = f[..g].iter().sum();
            Text::new(
                format!("{:.0}%", 100.0 * f[g]),
                (i as f64, lo + f[g] / 2.0),
                font(15).color(&text_col).pos(Pos::new(HPos::Center, VPos::Center)),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK.mix(0.4))
        .label_font(font(15))
        .draw()?;
    Ok(())
}

/// One series of [`rate_bars`]: a name, a colour and a rate per category.
pub struct BarSeries {
    /// Legend entry.
    pub name: String,
    /// Fill colour.
    pub color: RGBColor,
    /// Rate per category (`None`: no patients).
    pub rates: Vec<Option<RateCi>>,
}

/// Grouped bars of rates (percent) per category with their 95% intervals and the value
/// written above each bar; legend at the upper right (room is left above the bars).
pub fn rate_bars(
    area: &Area,
    caption: &str,
    categories: &[String],
    series: &[BarSeries],
    x_desc: &str,
    y_desc: &str,
) -> Res {
    let n = categories.len();
    let top = series.iter().flat_map(|s| s.rates.iter().flatten().map(|r| r.hi)).fold(0.0f64, f64::max);
    let y_max = ((top + 0.08) * 1.28).clamp(0.1, 1.3);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, font(22))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(categories_axis(n, 0.0), 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .x_label_formatter(&|v| category_label(categories, *v))
        .x_labels(n + 2)
        .y_label_formatter(&|v| {
            if *v <= 1.0 + 1e-9 {
                fmt_pct(v)
            } else {
                String::new()
            }
        })
        .y_labels(8)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    let k = series.len() as f64;
    let group = 0.8;
    let w = group / k;
    for (j, s) in series.iter().enumerate() {
        let col = s.color;
        let x0 = |i: usize| i as f64 - group / 2.0 + j as f64 * w;
        chart
            .draw_series(s.rates.iter().enumerate().filter_map(|(i, r)| {
                r.map(|r| Rectangle::new([(x0(i) + 0.06 * w, 0.0), (x0(i) + 0.94 * w, r.p)], col.filled()))
            }))?
            .label(s.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 16, y + 7)], col.filled()));
        for r in s.rates.iter().enumerate().filter_map(|(i, r)| r.map(|r| (x0(i) + w / 2.0, r))) {
            let (x, r) = r;
            let cap = 0.15 * w;
            for seg in [
                vec![(x, r.lo), (x, r.hi)],
                vec![(x - cap, r.lo), (x + cap, r.lo)],
                vec![(x - cap, r.hi), (x + cap, r.hi)],
            ] {
                chart.draw_series(std::iter::once(PathElement::new(seg, BLACK.stroke_width(1))))?;
            }
        }
        let size = if k * n as f64 > 12.0 { 12 } else { 14 };
        chart.draw_series(s.rates.iter().enumerate().filter_map(|(i, r)| {
            r.map(|r| {
                Text::new(
                    format!("{:.0}%", 100.0 * r.p),
                    (x0(i) + w / 2.0, r.hi + 0.01 * y_max),
                    font(size).pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            })
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK.mix(0.4))
        .label_font(font(15))
        .draw()?;
    Ok(())
}

/// How a legend-strip entry is drawn.
#[derive(Clone, Copy)]
pub enum Mark {
    /// A solid line.
    Line(RGBColor),
    /// A dashed line.
    Dashed(RGBColor),
    /// A filled box.
    Box(RGBColor),
}

/// A one-line legend drawn across `area` (e.g. a strip under a grid of panels).
pub fn legend_strip(area: &Area, items: &[(&str, Mark)]) -> Res {
    let (w, h) = area.dim_in_pixel();
    let y = h as i32 / 2;
    let widths: Vec<i32> = items.iter().map(|(s, _)| 40 + (7.6 * s.len() as f64) as i32 + 26).collect();
    let total: i32 = widths.iter().sum();
    let mut x = ((w as i32 - total) / 2).max(10);
    for ((label, mark), wd) in items.iter().zip(&widths) {
        match *mark {
            Mark::Line(c) => {
                area.draw(&PathElement::new(vec![(x, y), (x + 32, y)], c.stroke_width(3)))?;
            }
            Mark::Dashed(c) => {
                for k in 0..4 {
                    area.draw(&PathElement::new(vec![(x + 9 * k, y), (x + 9 * k + 5, y)], c.stroke_width(2)))?;
                }
            }
            Mark::Box(c) => {
                area.draw(&Rectangle::new([(x + 4, y - 8), (x + 28, y + 8)], c.filled()))?;
            }
        }
        area.draw(&Text::new(label.to_string(), (x + 40, y), font(16).pos(Pos::new(HPos::Left, VPos::Center))))?;
        x += wd;
    }
    Ok(())
}

/// One arm of a virtual trial: its summary (and JSON) and every patient's endpoints in id
/// order (`None` for a failed solve), for paired comparisons between arms.
pub struct Arm {
    /// Arm name.
    pub name: String,
    /// The streaming summary.
    pub summary: cartkin::trial::TrialSummary,
    /// `summary.to_json()`.
    pub json: Value,
    /// Endpoints per patient id.
    pub outcomes: Vec<Option<cartkin::Endpoints>>,
    /// Sampled covariates (marrow blast fraction, dose...) per patient id.
    pub covariates: Vec<Option<cartkin::population::Covariates>>,
    /// Wall time (s).
    pub secs: f64,
}

impl Arm {
    /// Rate `key` of the whole arm.
    pub fn rate(&self, key: &str) -> Option<RateCi> {
        rate(&self.json, key)
    }
    /// The strata of kind `kind` (`"f0"` or `"dose_cells"`).
    pub fn strata(&self, kind: &str) -> Vec<Value> {
        self.json["strata"][kind].as_array().cloned().unwrap_or_default()
    }
    /// Kaplan–Meier event-free survival as `(day, S)` points (0.5-day grid).
    pub fn efs_points(&self) -> Vec<(f64, f64)> {
        self.summary.efs().curve().iter().map(|p| (p.t, p.s)).collect()
    }
    /// Event-free survival at 12 months with its 95% band (Greenwood, log-log) as a rate.
    pub fn efs12_ci(&self) -> Option<RateCi> {
        let v = &self.json["efs_365"];
        Some(RateCi {
            p: v["s"].as_f64()?,
            lo: v["ci_low"].as_f64()?,
            hi: v["ci_high"].as_f64()?,
            n: v["at_risk"].as_u64().unwrap_or(0),
        })
    }
    /// Event-free survival at 12 months.
    pub fn efs12(&self) -> Option<f64> {
        self.json["efs_365"]["s"].as_f64()
    }
}

/// Run `n` patients of `population` (any patient source: a model-v2 `PopulationV2`, a v1
/// `Population`) with `seed` over the trial's default 365-day horizon (patient `id` is the
/// same person in every arm built from the same population by changing only its product,
/// regimen or dose), with `f0` strata `f0_edges` (the trial's default when `None`).
pub fn run_arm<S: cartkin::trial::PatientSource>(
    name: &str,
    population: S,
    n: u64,
    seed: u64,
    f0_edges: Option<Vec<f64>>,
) -> Arm {
    let mut trial = cartkin::trial::Trial::new(population, n, seed);
    if let Some(e) = f0_edges {
        trial = trial.f0_strata(e).expect("the figure's strata edges increase strictly");
    }
    let mut outcomes = Vec::with_capacity(n as usize);
    let mut covariates = Vec::with_capacity(n as usize);
    let t0 = std::time::Instant::now();
    let summary = trial.run(
        &mut |o| {
            outcomes.push(o.result.as_ref().ok().cloned());
            covariates.push(o.covariates);
        },
        None,
    );
    let secs = t0.elapsed().as_secs_f64();
    let json = summary.to_json();
    Arm { name: name.to_string(), summary, json, outcomes, covariates, secs }
}

/// Patients (completed in both arms) with `hit` in arm `a` but not in `b`, and in `b` but
/// not in `a` (the discordant pairs of a paired comparison).
pub fn discordant(a: &Arm, b: &Arm, hit: impl Fn(&cartkin::Endpoints) -> bool) -> (u64, u64) {
    let (mut ab, mut ba) = (0, 0);
    for (x, y) in a.outcomes.iter().zip(&b.outcomes) {
        if let (Some(x), Some(y)) = (x, y) {
            match (hit(x), hit(y)) {
                (true, false) => ab += 1,
                (false, true) => ba += 1,
                _ => {}
            }
        }
    }
    (ab, ba)
}
