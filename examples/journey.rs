//! # The patient journey: ELIANA by intention to treat, and what it costs (model v2)
//!
//! The clinical question: of the patients a centre screens for CAR-T therapy, how many are
//! infused, how many are in remission by intention to treat, and what does a remission cost
//! when the patients who never reach the infusion are counted too?
//!
//! ```text
//! cargo run --release --example journey [-- --patients N] [--seed S] [--svg PATH]
//! ```
//!
//! Runs `studies/eliana_itt.toml` (the default trial's ELIANA-like population wrapped in the
//! patient journey of docs/JOURNEY.md: eligibility, a 24-133-day wait with the model's own
//! blast growth and bridging chemotherapy, manufacturing failure, death or withdrawal before
//! infusion, monitoring visits and ILLUSTRATIVE unit costs) with N screened patients
//! (default 10,000, seed 2018: the study's own run). It prints the patient flow, the rates
//! for infused patients and by intention to treat, the visit-based readings beside the exact
//! ones and the costs; asserts that every rate by intention to treat is the infused rate
//! times the infused fraction; and writes `docs/journey_flow.svg` (a CONSORT-style flow
//! diagram) and `docs/journey_cost.svg` (cost per infused patient, per responder and per
//! patient in remission at 12 months, infused and by intention to treat; mean cost per
//! infused patient by CRS grade).

#[path = "common/plot.rs"]
mod plot;

use cartkin::journey::{Stage, COST_PARTS};
use plot::*;
use plotters::prelude::*;
use serde_json::Value;

fn main() -> Res {
    let Some(args) = parse_args("journey_flow", 10_000, 2018)? else {
        return Ok(());
    };
    let cost_svg = args.svg.with_file_name("journey_cost.svg");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/eliana_itt.toml");
    let mut study = cartkin::study::Study::from_path(&path)?;
    study.patients = args.patients;
    study.seed = args.seed;
    let trial = study.v2_trial().ok_or("eliana_itt is a model-v2 study")?;
    // per CRS grade of infused patients: count and the sum of each cost part (cents)
    let mut by_grade = [(0u64, [0u64; 11]); 5];
    let summary = trial.run(
        &mut |o| {
            if let (Ok(e), Some(r)) = (&o.result, &o.journey) {
                if let Some(c) = &r.cost {
                    let g = &mut by_grade[e.crs_grade.min(4) as usize];
                    g.0 += 1;
                    for (s, v) in g.1.iter_mut().zip(c.parts()) {
                        *s += v;
                    }
                }
                debug_assert_eq!(r.plan.stage, Stage::Infused);
            }
        },
        None,
    );
    let s = summary.to_json();
    let f = &s["flow"];
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    println!("ELIANA by intention to treat ({} screened, seed {})", n("screened"), args.seed);
    println!(
        "  flow: screened {} -> eligible {} -> enrolled {} -> manufactured {} -> infused {} -> evaluable {}",
        n("screened"),
        n("eligible"),
        n("enrolled"),
        n("manufactured"),
        n("infused"),
        n("evaluable")
    );
    println!("  screen failures by reason: {}", s["screen_failures_by_reason"]);
    println!("  declined: {}; not infused by reason: {}", s["declined"], s["not_infused_by_reason"]);
    println!(
        "  wait (enrolment to infusion) median {:.1} days, range {:.0}-{:.0}; bridged {:.1}% of enrolled",
        s["pre_infusion"]["wait_days_median"].as_f64().unwrap_or(f64::NAN),
        s["pre_infusion"]["wait_days_min"].as_f64().unwrap_or(f64::NAN),
        s["pre_infusion"]["wait_days_max"].as_f64().unwrap_or(f64::NAN),
        100.0 * s["pre_infusion"]["bridged_rate"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "  marrow blasts median {:.1}% at screening, {:.1}% at infusion",
        100.0 * s["pre_infusion"]["f0_screening_median"].as_f64().unwrap_or(f64::NAN),
        100.0 * s["pre_infusion"]["f0_infusion_median"].as_f64().unwrap_or(f64::NAN)
    );
    println!("\n  {:<34} {:>24} {:>24}", "rate", "infused", "intention to treat");
    let itt = &s["itt"];
    let frac = n("infused") as f64 / n("enrolled") as f64;
    for (label, k) in [
        ("CR at day 28", "cr_rate"),
        ("MRD-negative (flow) at day 28", "mrd_neg_rate"),
        ("CRS any grade", "crs_any_rate"),
        ("CRS grade 3-4", "crs_severe_rate"),
        ("ICANS any grade", "icans_any_rate"),
        ("in remission at 12 months", "remission_12m_rate"),
    ] {
        println!("  {label:<34} {:>24} {:>24}", show(rate(&s, k)), show(rate(itt, k)));
        let (a, b) = (s[k].as_f64().unwrap_or(f64::NAN), itt[k].as_f64().unwrap_or(f64::NAN));
        assert!((b - a * frac).abs() < 1e-12, "{k}: ITT {b} is not {a} x {frac}");
    }
    let me = &s["measured"];
    println!("\n  read at the visits (flow LOQ 1e-4, NGS 1e-6, 30% noise) vs exact:");
    for (label, k) in [
        ("CR at the day-28 visit", "cr_rate"),
        ("MRD-negative by flow", "mrd_neg_rate"),
        ("MRD-negative by NGS", "mrd_neg_ngs_rate"),
    ] {
        println!("    {label:<28} {:>24} (exact {})", show(rate(me, k)), show(rate(&s, k)));
    }
    println!(
        "    remission seen {:.1} days (median) after it happens; relapse detected {:.1} days (median) after it happens",
        me["cr_delay_days_median"].as_f64().unwrap_or(f64::NAN),
        me["relapse_delay_days_median"].as_f64().unwrap_or(f64::NAN)
    );
    let c = &s["cost"];
    let cur = c["currency"].as_str().unwrap_or("");
    let money = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
    println!("\n  costs (ILLUSTRATIVE unit costs of studies/eliana_itt.toml, {cur}):");
    let bars = [
        ("per infused patient", money("per_infused")),
        ("per responder (infused)", money("per_responder")),
        ("per responder (ITT)", money("per_responder_itt")),
        ("per remission at 12 m (infused)", money("per_remission_12m")),
        ("per remission at 12 m (ITT)", money("per_remission_12m_itt")),
    ];
    for (label, v) in bars {
        println!("    {label:<34} {v:>12.0}");
    }
    println!("    mean cost per infused patient by CRS grade:");
    let mean_by_grade: Vec<(u64, [f64; 11])> = by_grade
        .iter()
        .map(|(k, p)| (*k, p.map(|v| if *k > 0 { v as f64 / 100.0 / *k as f64 } else { 0.0 })))
        .collect();
    for (g, (k, p)) in mean_by_grade.iter().enumerate() {
        println!("      grade {g}: {:>10.0} ({k} patients)", p.iter().sum::<f64>());
    }

    flow_figure(&args.svg, &s)?;
    println!("\nwrote {}", args.svg.display());
    cost_figure(&cost_svg, &bars, &mean_by_grade, cur)?;
    println!("wrote {}", cost_svg.display());
    Ok(())
}

fn flow_figure(path: &std::path::Path, s: &Value) -> Res {
    let root = SVGBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let f = &s["flow"];
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    let pct = |a: u64, b: u64| if b > 0 { format!("{:.1}%", 100.0 * a as f64 / b as f64) } else { "-".into() };
    let draw_box = |x: i32, y: i32, w: i32, h: i32, lines: &[String], color: RGBColor| -> Res {
        root.draw(&Rectangle::new([(x, y), (x + w, y + h)], color.mix(0.12).filled()))?;
        root.draw(&Rectangle::new([(x, y), (x + w, y + h)], color.stroke_width(2)))?;
        for (i, l) in lines.iter().enumerate() {
            root.draw(&Text::new(l.clone(), (x + 12, y + 10 + 24 * i as i32), font(if i == 0 { 20 } else { 17 })))?;
        }
        Ok(())
    };
    let arrow = |x0: i32, y0: i32, x1: i32, y1: i32| -> Res {
        root.draw(&PathElement::new(vec![(x0, y0), (x1, y1)], BLACK.stroke_width(2)))?;
        let (dx, dy) = if x1 == x0 { (0, if y1 > y0 { 1 } else { -1 }) } else { (if x1 > x0 { 1 } else { -1 }, 0) };
        let tip = (x1, y1);
        let a = (x1 - 8 * dx - 6 * dy, y1 - 8 * dy - 6 * dx);
        let b = (x1 - 8 * dx + 6 * dy, y1 - 8 * dy + 6 * dx);
        root.draw(&Polygon::new(vec![tip, a, b], BLACK.filled()))?;
        Ok(())
    };
    root.draw(&Text::new(
        "Patient flow: ELIANA-like journey (studies/eliana_itt.toml, simulated)".to_string(),
        (30, 20),
        font(24),
    ))?;
    let (x, w, h) = (60, 430, 62);
    let ys = [70, 200, 330, 460, 590, 720];
    let main = [
        ("Screened", n("screened"), n("screened")),
        ("Eligible", n("eligible"), n("screened")),
        ("Enrolled (leukapheresis)", n("enrolled"), n("screened")),
        ("Product manufactured", n("manufactured"), n("enrolled")),
        ("Infused", n("infused"), n("enrolled")),
        ("Evaluable", n("evaluable"), n("enrolled")),
    ];
    for (i, (label, v, of)) in main.iter().enumerate() {
        let second = if i == 0 {
            "patients screened".to_string()
        } else if i <= 2 {
            format!("{} of screened", pct(*v, *of))
        } else {
            format!("{} of enrolled", pct(*v, *of))
        };
        draw_box(x, ys[i], w, h, &[format!("{label}: {v}"), second], OI_BLUE)?;
        if i + 1 < main.len() {
            arrow(x + w / 2, ys[i] + h, x + w / 2, ys[i + 1])?;
        }
    }
    let obj = |k: &str| -> Vec<(String, u64)> {
        s[k].as_object()
            .map_or(Vec::new(), |m| m.iter().map(|(k, v)| (k.replace('_', " "), v.as_u64().unwrap_or(0))).collect())
    };
    let side_x = 600;
    let side_w = 460;
    let mut sf: Vec<String> = vec![format!("Screen failures: {}", n("screened") - n("eligible"))];
    sf.extend(obj("screen_failures_by_reason").into_iter().map(|(k, v)| format!("  {k}: {v}")));
    draw_box(side_x, ys[0] + 40, side_w, 24 * sf.len() as i32 + 16, &sf, OI_GREY)?;
    arrow(x + w / 2, ys[0] + h + 40, side_x, ys[0] + h + 40)?;
    let declined = s["declined"].as_u64().unwrap_or(0);
    draw_box(side_x, ys[1] + 84, side_w, 46, &[format!("Declined enrolment: {declined}")], OI_GREY)?;
    arrow(x + w / 2, ys[1] + h + 45, side_x, ys[1] + h + 45)?;
    let ni = obj("not_infused_by_reason");
    let mf = ni.iter().find(|(k, _)| k.starts_with("manufacturing")).map_or(0, |x| x.1);
    let dw = ni.iter().find(|(k, _)| k.starts_with("died")).map_or(0, |x| x.1);
    draw_box(
        side_x,
        ys[3] - 60,
        side_w,
        46,
        &[format!("Manufacturing failure: {mf} ({} of enrolled)", pct(mf, n("enrolled")))],
        OI_VERMILLION,
    )?;
    arrow(x + w / 2, ys[3] - 37, side_x, ys[3] - 37)?;
    draw_box(
        side_x,
        ys[4] - 60,
        side_w,
        46,
        &[format!("Died or withdrew before infusion: {dw} ({})", pct(dw, n("enrolled")))],
        OI_VERMILLION,
    )?;
    arrow(x + w / 2, ys[4] - 37, side_x, ys[4] - 37)?;
    let r = |v: &Value, k: &str| rate(v, k).map_or("-".to_string(), |r| r.show());
    let out = [
        format!("CR at day 28, infused: {}", r(s, "cr_rate")),
        format!("CR at day 28, by intention to treat: {}", r(&s["itt"], "cr_rate")),
        format!("In remission at 12 months (ITT): {}", r(&s["itt"], "remission_12m_rate")),
    ];
    draw_box(side_x, ys[5] - 40, side_w, 90, &out, OI_GREEN)?;
    arrow(x + w, ys[5] + h / 2, side_x, ys[5] + h / 2)?;
    root.draw(&Text::new(
        "Rates with Wilson 95% intervals; ITT denominators: enrolled patients (screen failures excluded).".to_string(),
        (30, 860),
        font(16),
    ))?;
    root.present()?;
    Ok(())
}

fn cost_figure(path: &std::path::Path, bars: &[(&str, f64)], by_grade: &[(u64, [f64; 11])], cur: &str) -> Res {
    let root = SVGBackend::new(path, (1700, 650)).into_drawing_area();
    root.fill(&WHITE)?;
    let (l, r) = root.split_horizontally(900);
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.2 / 1000.0;
    let last = bars.len() as i32 - 1;
    let mut chart = ChartBuilder::on(&l)
        .caption(format!("Cost per outcome ({cur}, thousands; ILLUSTRATIVE unit costs)"), font(22))
        .margin(12)
        .margin_right(30)
        .x_label_area_size(60)
        .y_label_area_size(270)
        .build_cartesian_2d(0.0..top, (0..last).into_segmented())?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.to_string()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.1))
        .x_desc(format!("{cur} (thousands)"))
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    for (i, (_, v)) in bars.iter().enumerate() {
        let color = if i == 0 {
            OI_BLUE
        } else if i % 2 == 1 {
            OI_SKY
        } else {
            OI_ORANGE
        };
        let i = i as i32;
        let mut bar =
            Rectangle::new([(0.0, SegmentValue::Exact(i)), (v / 1000.0, SegmentValue::Exact(i + 1))], color.filled());
        bar.set_margin(8, 8, 0, 0);
        chart.draw_series(std::iter::once(bar))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{:.0}", v / 1000.0),
            (v / 1000.0 + top * 0.01, SegmentValue::CenterOf(i)),
            font(16),
        )))?;
    }
    // right: mean cost per infused patient by CRS grade, stacked by part
    let groups: [(&str, &[&str], RGBColor); 4] = [
        ("product", &["product"], OI_BLUE),
        ("hospital + ICU", &["hospital", "icu"], OI_VERMILLION),
        ("before infusion", &["screening", "leukapheresis", "manufacturing", "bridging", "lymphodepletion"], OI_GREY),
        ("drugs + visits", &["tocilizumab", "steroids", "monitoring"], OI_GREEN),
    ];
    let idx = |name: &str| COST_PARTS.iter().position(|p| *p == name).unwrap_or(0);
    let top2 = by_grade.iter().map(|(_, p)| p.iter().sum::<f64>()).fold(0.0, f64::max) * 1.15 / 1000.0;
    let mut chart = ChartBuilder::on(&r)
        .caption("Mean cost per infused patient by CRS grade", font(22))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d((0..4).into_segmented(), 0.0..top2.max(1.0))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.1))
        .y_desc(format!("{cur} (thousands)"))
        .x_desc("maximum CRS grade (Penn); n under each bar")
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(g) => {
                format!("{g} (n={})", by_grade.get(*g as usize).map_or(0, |x| x.0))
            }
            _ => String::new(),
        })
        .label_style(font(15))
        .axis_desc_style(font(18))
        .draw()?;
    for (name, parts, color) in groups {
        let mut first = true;
        for (g, (k, p)) in by_grade.iter().enumerate() {
            if *k == 0 {
                continue;
            }
            let below: f64 = groups_before(name, &groups).iter().flat_map(|ps| ps.iter()).map(|n| p[idx(n)]).sum();
            let v: f64 = parts.iter().map(|n| p[idx(n)]).sum();
            let g = g as i32;
            let mut bar = Rectangle::new(
                [(SegmentValue::Exact(g), below / 1000.0), (SegmentValue::Exact(g + 1), (below + v) / 1000.0)],
                color.filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            let s = chart.draw_series(std::iter::once(bar))?;
            if first {
                s.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE)
        .border_style(BLACK.mix(0.4))
        .label_font(font(15))
        .draw()?;
    root.present()?;
    Ok(())
}

fn groups_before<'a>(name: &str, groups: &'a [(&str, &'a [&'a str], RGBColor); 4]) -> Vec<&'a [&'a str]> {
    groups.iter().take_while(|g| g.0 != name).map(|g| g.1).collect()
}
