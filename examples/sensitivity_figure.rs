//! # Which assumptions move the default trial's rates? (the figure of a sensitivity study)
//!
//! ```text
//! cartkin sensitivity eliana --factors studies/sensitivity/eliana_factors.toml \
//!     --n 32 --patients 500 --seed 1 --out runs/sens
//! cargo run --release --example sensitivity_figure -- runs/sens/indices.json [--svg PATH]
//! ```
//!
//! Reads the `indices.json` that `cartkin sensitivity STUDY --factors F.toml --out DIR`
//! writes (docs/ANALYSIS.md) and draws, for every output, the first-order (S1) and total
//! (ST) Sobol' indices of every factor with their 95% bootstrap intervals, into
//! `docs/sensitivity_eliana.svg` by default. It prints the factor with the largest total
//! index of each output.
//!
//! `-- A.json --compare B.json` draws nothing: it compares two runs of the same design with
//! other seeds, index by index, and prints how many of the second run's indices lie inside
//! the first run's 95% intervals, how many pairs of intervals overlap, and how many
//! differences `|a - b|` lie within the joint half-width `sqrt(conf_a^2 + conf_b^2)` (the
//! two-run test of 95% intervals: expected to hold for about 95% of the indices, where "inside
//! the other run's interval" is expected for only about 83%, since both estimates are noisy).

#[path = "common/plot.rs"]
mod plot;

use plot::*;
use plotters::prelude::*;
use serde_json::Value;

fn main() -> Res {
    let mut args = std::env::args().skip(1);
    let mut json = None;
    let mut svg = figure_path("sensitivity_eliana")?;
    let mut compare_with = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--svg" => svg = args.next().ok_or("--svg needs a path")?.into(),
            "--compare" => compare_with = Some(args.next().ok_or("--compare needs a path")?),
            "-h" | "--help" => {
                println!("usage: sensitivity_figure INDICES.json [--svg PATH | --compare OTHER.json]");
                return Ok(());
            }
            p => json = Some(p.to_string()),
        }
    }
    let path = json.ok_or("give the indices.json of a `cartkin sensitivity STUDY --out DIR` run")?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    if let Some(other) = compare_with {
        let w: Value = serde_json::from_str(&std::fs::read_to_string(&other)?)?;
        return compare(&v, &w);
    }
    let factors: Vec<String> = v["factors"]
        .as_array()
        .ok_or("no factors")?
        .iter()
        .map(|f| f["path"].as_str().unwrap_or("?").replace("covariates.", "").replace("typical.", ""))
        .collect();
    let outputs = v["outputs"].as_array().ok_or("no outputs")?;
    let k = factors.len();
    let root = SVGBackend::new(&svg, (1800, 1100)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(60);
    title.draw(&Text::new(
        format!(
            "Sobol' indices of the {} trial's outcomes ({} trials of {} patients, same patients in every trial; N = {}; 95% bootstrap intervals)",
            v["study"].as_str().unwrap_or(""),
            v["trials"],
            v["patients"],
            v["n"]
        ),
        (20, 20),
        font(20),
    ))?;
    let cols = 3;
    let rows = outputs.len().div_ceil(cols);
    let panels = body.split_evenly((rows, cols));
    for (o, area) in outputs.iter().zip(panels.iter()) {
        let name = o["output"].as_str().unwrap_or("?");
        let get = |key: &str| -> Vec<f64> {
            o[key].as_array().map_or(vec![f64::NAN; k], |a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect())
        };
        let ci = |key: &str| -> Vec<(f64, f64)> {
            o[key].as_array().map_or(vec![(f64::NAN, f64::NAN); k], |a| {
                a.iter().map(|p| (p[0].as_f64().unwrap_or(f64::NAN), p[1].as_f64().unwrap_or(f64::NAN))).collect()
            })
        };
        let (s1, st, s1c, stc) = (get("S1"), get("ST"), ci("S1_ci"), ci("ST_ci"));
        if let Some((i, _)) = st.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
            println!("{name:<22} largest total index: {} (ST {:.2}, S1 {:.2})", factors[i], st[i], s1[i]);
        }
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{name} (over the trials: {} to {})",
                    cartkin::trial::plain(o["min"].as_f64().unwrap_or(f64::NAN)),
                    cartkin::trial::plain(o["max"].as_f64().unwrap_or(f64::NAN))
                ),
                font(18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(230)
            .build_cartesian_2d(-0.2..1.2, (0..2 * k as i32 - 1).into_segmented())?;
        let f2 = factors.clone();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.1))
            .x_desc("index")
            .y_labels(2 * k)
            .y_label_formatter(&|s| match s {
                // two rows per factor (ST, then S1): the name on the first
                SegmentValue::CenterOf(j) if j % 2 == 0 => f2.get(*j as usize / 2).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(font(14))
            .axis_desc_style(font(15))
            .draw()?;
        for i in 0..k {
            for (row, vals, cis, color, label) in [
                (2 * i as i32, &st, &stc, OI_BLUE, "ST (total)"),
                (2 * i as i32 + 1, &s1, &s1c, OI_SKY, "S1 (first order)"),
            ] {
                let v = vals[i];
                let (a, b) = cis[i];
                let mut bar = Rectangle::new(
                    [(0.0, SegmentValue::Exact(row)), (v.clamp(-0.2, 1.2), SegmentValue::Exact(row + 1))],
                    color.filled(),
                );
                bar.set_margin(2, 2, 0, 0);
                let s = chart.draw_series(std::iter::once(bar))?;
                if i == 0 && o == &outputs[0] {
                    s.label(label)
                        .legend(move |(x, yy)| Rectangle::new([(x, yy - 6), (x + 14, yy + 6)], color.filled()));
                }
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![
                        (a.clamp(-0.2, 1.2), SegmentValue::CenterOf(row)),
                        (b.clamp(-0.2, 1.2), SegmentValue::CenterOf(row)),
                    ],
                    BLACK.stroke_width(2),
                )))?;
            }
        }
        if o == &outputs[0] {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE)
                .border_style(BLACK.mix(0.4))
                .label_font(font(14))
                .draw()?;
        }
    }
    root.present()?;
    println!("wrote {}", svg.display());
    Ok(())
}

/// Two runs of one design, index by index (module docs).
fn compare(a: &Value, b: &Value) -> Res {
    if a["factors"] != b["factors"] || a["n"] != b["n"] {
        return Err("the two runs are not of the same factors and N".into());
    }
    let (oa, ob) = (a["outputs"].as_array().ok_or("no outputs")?, b["outputs"].as_array().ok_or("no outputs")?);
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let (mut total, mut inside, mut overlap, mut joint) = (0, 0, 0, 0);
    for (x, y) in oa.iter().zip(ob) {
        for key in ["S1", "ST"] {
            let (Some(ea), Some(eb)) = (x[key].as_array(), y[key].as_array()) else { continue };
            for i in 0..ea.len().min(eb.len()) {
                let (va, vb) = (num(&ea[i]), num(&eb[i]));
                let (ca, cb) = (num(&x[format!("{key}_conf")][i]), num(&y[format!("{key}_conf")][i]));
                let (la, ha) = (num(&x[format!("{key}_ci")][i][0]), num(&x[format!("{key}_ci")][i][1]));
                let (lb, hb) = (num(&y[format!("{key}_ci")][i][0]), num(&y[format!("{key}_ci")][i][1]));
                total += 1;
                inside += usize::from(la <= vb && vb <= ha);
                overlap += usize::from(la <= hb && lb <= ha);
                let within = (va - vb).abs() <= ca.hypot(cb);
                joint += usize::from(within);
                if !within {
                    println!(
                        "  outside the joint interval: {} {key}[{i}]: {va:.3} vs {vb:.3} (joint half-width {:.3})",
                        x["output"].as_str().unwrap_or("?"),
                        ca.hypot(cb)
                    );
                }
            }
        }
    }
    println!("indices compared: {total} (N = {}, {} patients per trial)", a["n"], a["patients"]);
    println!("  second run's index inside the first run's 95% interval: {inside}");
    println!("  the two 95% intervals overlap: {overlap}");
    println!(
        "  difference within the joint 95% half-width: {joint} ({:.0}%)",
        100.0 * joint as f64 / total.max(1) as f64
    );
    Ok(())
}
