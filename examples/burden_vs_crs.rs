//! # Disease burden: who gets severe cytokine release syndrome, and who responds?
//!
//! The clinical question: how do the day-28 response and the cytokine release syndrome (CRS)
//! grade distribution depend on the marrow blast burden at infusion? (Clinically, high
//! marrow burden is the strongest predictor of severe CRS after CD19 CAR-T cells.)
//!
//! ```text
//! cargo run --release --example burden_vs_crs [-- --patients N] [--seed S] [--svg PATH]
//! ```
//!
//! One virtual trial of the crate's default population (`Population::default()`; default
//! 4,000 patients, seed 2025), stratified by the marrow blast fraction at infusion
//! (< 5%, 5-25%, 25-50%, 50-75%, >= 75%). It prints the outcomes and the CRS grade
//! distribution per stratum, asserts that severe CRS (grade 3-4) is more frequent in the
//! highest-burden stratum than in the lowest, and writes `docs/burden_vs_crs.svg`.

#[path = "common/plot.rs"]
mod plot;

use cartkin::population::Population;
use plot::*;
use plotters::prelude::*;

const EDGES: [f64; 6] = [0.0, 0.05, 0.25, 0.5, 0.75, 1.0];

fn main() -> Res {
    let Some(args) = parse_args("burden_vs_crs", 4000, 2025)? else {
        return Ok(());
    };
    let arm = run_arm("default", Population::default(), args.patients, args.seed, Some(EDGES.to_vec()));
    let strata = arm.strata("f0");
    let labels = plot::burden_labels(&EDGES, "");

    println!(
        "Outcomes by marrow blast burden: {} patients of the default population, seed {} ({:.1} s, {} failed)\n",
        args.patients, args.seed, arm.secs, arm.json["n_failed"]
    );
    println!(
        "  {:<8} {:>5}  {:>19}  {:>19}  {:>19}  {:>7}   CRS grade 0 / 1 / 2 / 3 / 4",
        "blasts", "n", "CR day 28", "MRD-neg day 28", "CRS grade 3-4", "EFS 12m"
    );
    let mut fractions = Vec::new();
    for (s, label) in strata.iter().zip(&labels) {
        let g = grade_fractions(s);
        fractions.push(g);
        let efs = s["efs_365"].as_f64().map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        println!(
            "  {:<8} {:>5}  {}  {}  {}  {:>7}   {}",
            label,
            s["n"],
            show(rate(s, "cr_rate")),
            show(rate(s, "mrd_neg_rate")),
            show(rate(s, "crs_severe_rate")),
            efs,
            g.iter().map(|f| format!("{:.0}%", 100.0 * f)).collect::<Vec<_>>().join(" / ")
        );
    }
    println!(
        "  {:<8} {:>5}  {}  {}  {}  {:>6.1}%",
        "all",
        args.patients,
        show(arm.rate("cr_rate")),
        show(arm.rate("mrd_neg_rate")),
        show(arm.rate("crs_severe_rate")),
        100.0 * arm.efs12().unwrap_or(f64::NAN)
    );

    // headline: severe CRS rises with burden (lowest vs highest stratum with patients)
    let severe: Vec<Option<RateCi>> = strata.iter().map(|s| rate(s, "crs_severe_rate")).collect();
    let present: Vec<(usize, RateCi)> = severe.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).collect();
    let (first, last) = (present.first().expect("patients"), present.last().expect("patients"));
    println!(
        "\nSevere CRS: {:.1}% with blasts {} vs {:.1}% with blasts {}.",
        100.0 * first.1.p,
        labels[first.0],
        100.0 * last.1.p,
        labels[last.0]
    );
    assert!(last.1.p > first.1.p, "severe CRS must be more frequent at the highest burden");

    // ---------------------------------------------------------------- figure (non-empty strata)
    let keep: Vec<usize> = (0..strata.len()).filter(|&i| strata[i]["n"].as_u64().unwrap_or(0) > 0).collect();
    let labels: Vec<String> = keep.iter().map(|&i| labels[i].clone()).collect();
    let fractions: Vec<[f64; 5]> = keep.iter().map(|&i| fractions[i]).collect();
    let strata: Vec<serde_json::Value> = keep.iter().map(|&i| strata[i].clone()).collect();
    let root = SVGBackend::new(&args.svg, (1600, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (l, r) = root.split_horizontally(800);
    crs_grade_bars(&l, "CRS grade by marrow blast burden", &labels, &fractions, "marrow blasts at infusion")?;
    let series = vec![
        BarSeries {
            name: "complete remission at day 28".into(),
            color: OI_BLUE,
            rates: strata.iter().map(|s| rate(s, "cr_rate")).collect(),
        },
        BarSeries {
            name: "MRD-negative at day 28".into(),
            color: OI_GREEN,
            rates: strata.iter().map(|s| rate(s, "mrd_neg_rate")).collect(),
        },
        BarSeries {
            name: "cured (all blasts extinct by 1 year)".into(),
            color: OI_SKY,
            rates: strata.iter().map(|s| rate(s, "cured_rate")).collect(),
        },
    ];
    rate_bars(
        &r,
        "Response by marrow blast burden (95% CI)",
        &labels,
        &series,
        "marrow blasts at infusion",
        "patients",
    )?;
    root.present()?;
    println!("wrote {}", args.svg.display());
    Ok(())
}
