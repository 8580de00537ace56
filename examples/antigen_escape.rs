//! # Antigen escape: CD19, CD22 or both?
//!
//! The clinical question: about a third to a half of relapses after CD19 CAR-T cells in
//! B-ALL are CD19-negative (antigen escape). Would a CD22-directed product, or a dual
//! CD19/CD22 product, give more remissions and fewer antigen-negative relapses, on the same
//! patients?
//!
//! ```text
//! cargo run --release --example antigen_escape [-- --patients N] [--seed S] [--svg PATH]
//! ```
//!
//! The three arms are the crate's default population (`Population::default()`) with only the
//! product changed (`Population::with_product`): patient `id` of seed `S` is the same person
//! (parameters, marrow burden, escape subclone, dose, regimen) in every arm, so the
//! comparison is paired. In the model CD22 is killed with weight `w_CD22 = 0.6` (lower
//! antigen density) and a dual product kills a cell through its best-weighted antigen.
//! Defaults: 4,000 patients per arm, seed 2026. It prints the outcomes per product and the
//! discordant pairs, asserts that the dual product gives at least as many remissions as the
//! CD19 product, and writes `docs/antigen_escape.svg` (rates and event-free survival curves).

#[path = "common/plot.rs"]
mod plot;

use cartkin::population::Population;
use cartkin::{AntigenSet, Product};
use plot::*;
use plotters::prelude::*;

fn main() -> Res {
    let Some(args) = parse_args("antigen_escape", 4000, 2026)? else {
        return Ok(());
    };
    let base = Population::default();
    let products = [
        ("CD19", Product::new(AntigenSet::CD19)?, OI_BLUE),
        ("CD22", Product::new(AntigenSet::CD22)?, OI_ORANGE),
        ("CD19/CD22 dual", Product::new(AntigenSet::BOTH)?, OI_GREEN),
    ];
    let arms: Vec<Arm> = products
        .iter()
        .map(|(name, p, _)| run_arm(name, base.clone().with_product(*p), args.patients, args.seed, None))
        .collect();

    println!(
        "Antigen escape: {} paired patients per product, default population, seed {} ({:.1} s)\n",
        args.patients,
        args.seed,
        arms.iter().map(|a| a.secs).sum::<f64>()
    );
    println!(
        "  {:<15} {:>19}  {:>19}  {:>19}  {:>19}  {:>19}  {:>7}",
        "product", "CR day 28", "MRD-neg day 28", "relapse after CR", "CD19-neg relapses", "cured", "EFS 12m"
    );
    for a in &arms {
        println!(
            "  {:<15} {}  {}  {}  {}  {}  {:>6.1}%",
            a.name,
            show(a.rate("cr_rate")),
            show(a.rate("mrd_neg_rate")),
            show(a.rate("relapse_rate_in_cr")),
            show(a.rate("cd19neg_relapse_share")),
            show(a.rate("cured_rate")),
            100.0 * a.efs12().unwrap_or(f64::NAN)
        );
        let f = a.json["n_failed"].as_u64().unwrap_or(0);
        if f > 0 {
            println!("  {:<15} ({f} failed solves)", "");
        }
    }
    let cd19neg_relapses = |a: &Arm| a.outcomes.iter().flatten().filter(|e| e.cd19_negative()).count();
    println!(
        "\n  CD19-negative relapses (patients): {}",
        arms.iter().map(|a| format!("{} {}", a.name, cd19neg_relapses(a))).collect::<Vec<_>>().join(", ")
    );
    println!("Paired comparison with the CD19 product (discordant patients):");
    for a in &arms[1..] {
        let (x, y) = discordant(a, &arms[0], |e| e.cr_day28);
        let (u, v) = discordant(a, &arms[0], |e| e.efs_censored);
        println!("  {:<15} CR only with {}: {x:>4}, only with CD19: {y:>4};  event-free at 1 year only with {}: {u:>4}, only with CD19: {v:>4}",
            a.name, a.name, a.name);
    }
    let cr = |a: &Arm| a.rate("cr_rate").map_or(f64::NAN, |r| r.p);
    assert!(cr(&arms[2]) >= cr(&arms[0]), "the dual product must give at least as many remissions as CD19 alone");

    // ---------------------------------------------------------------- figure
    let root = SVGBackend::new(&args.svg, (1600, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (l, r) = root.split_horizontally(760);
    let cats: Vec<String> = ["CR at day 28", "MRD-neg. at day 28", "CD19-neg. share\nof relapses", "cured"]
        .iter()
        .map(|s| s.replace('\n', " "))
        .collect();
    let keys = ["cr_rate", "mrd_neg_rate", "cd19neg_relapse_share", "cured_rate"];
    let series: Vec<BarSeries> = arms
        .iter()
        .zip(&products)
        .map(|(a, (_, _, c))| BarSeries {
            name: format!("{} product", a.name),
            color: *c,
            rates: keys.iter().map(|k| a.rate(k)).collect(),
        })
        .collect();
    rate_bars(
        &l,
        "Response and escape by product (95% CI)",
        &cats,
        &series,
        "",
        "patients (CD19-neg.: share of relapses)",
    )?;

    let mut chart = ChartBuilder::on(&r)
        .caption("Event-free survival (Kaplan-Meier), same patients", font(22))
        .margin(12)
        .margin_right(24)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..365.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.1))
        .x_desc("days after infusion (event: no CR at day 28, or relapse)")
        .y_desc("event-free")
        .y_label_formatter(&fmt_pct)
        .x_labels(9)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    for (a, (_, _, c)) in arms.iter().zip(&products) {
        let c = *c;
        let pts = a.efs_points();
        chart
            .draw_series(LineSeries::new(km_steps(&pts), c.stroke_width(3)))?
            .label(format!("{} ({:.0}% at 1 year)", a.name, 100.0 * a.efs12().unwrap_or(f64::NAN)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 26, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK.mix(0.4))
        .label_font(font(16))
        .draw()?;
    root.present()?;
    println!("wrote {}", args.svg.display());
    Ok(())
}
