//! The calibration of the ELIANA-like population of model v2 (`CALIBRATION.md`, "Model
//! v2"): runs the population over 1,095 days and prints every calibration target with its
//! interval, and what else is checked without being tuned to.
//!
//! ```text
//! cargo run --release --example calibrate_v2 -- [--patients N] [--seed S] [NAME=VALUE ...]
//! ```
//!
//! `NAME=VALUE` changes the population before the run: a typical value (`rho_E=1.5`), a CV
//! (`cv.phi_T=0.6`), or a covariate knob (`esc19.p`, `esc19.hi`, `esc22.p`, `dim.p`,
//! `dim.lo`, `dim.hi`, `loss.p`, `loss.median`, `loss.cv`): the search is this command run
//! with other values.

use cartkin::population::v2::PopulationV2;
use cartkin::population::Amount;
use cartkin::trial::Trial;
use std::process::ExitCode;

struct Row {
    cr: bool,
    mrd: bool,
    cmax: f64,
    dose: f64,
    tmax: f64,
    crs: u8,
    icans: u8,
    toci: bool,
    steroid: bool,
    relapse: Option<f64>,
    cd19neg: bool,
    b_rec: Option<f64>,
    c365: Option<f64>,
    c1095: f64,
    crs_dur: Option<f64>,
    icans_onset: Option<f64>,
    crs_onset: Option<f64>,
    peak_il6: f64,
    peak_s: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() -> ExitCode {
    let mut n = 10_000u64;
    let mut seed = 2018u64;
    let mut b = PopulationV2::eliana_builder();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--patients" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            kv => {
                let Some((k, v)) = kv.split_once('=') else {
                    eprintln!("error: {kv}: expected NAME=VALUE");
                    return ExitCode::from(2);
                };
                let Ok(v) = v.parse::<f64>() else {
                    eprintln!("error: {kv}: not a number");
                    return ExitCode::from(2);
                };
                let ok = match k {
                    "esc19.p" => b.escape19.as_mut().map(|e| e.probability = v).is_some(),
                    "esc19.hi" => b.escape19.as_mut().map(|e| set_hi(&mut e.fraction, v)).is_some(),
                    "esc22.p" => b.escape22.as_mut().map(|e| e.probability = v).is_some(),
                    "esc22.hi" => b.escape22.as_mut().map(|e| set_hi(&mut e.fraction, v)).is_some(),
                    "dim.p" => b.dim.as_mut().map(|d| d.probability = v).is_some(),
                    "dim.lo" => b.dim.as_mut().map(|d| set_lo(&mut d.density, v)).is_some(),
                    "dim.hi" => b.dim.as_mut().map(|d| set_hi(&mut d.density, v)).is_some(),
                    "dim.flo" => b.dim.as_mut().map(|d| set_lo(&mut d.fraction, v)).is_some(),
                    "dim.fhi" => b.dim.as_mut().map(|d| set_hi(&mut d.fraction, v)).is_some(),
                    "unfit.p" => b.unfit.as_mut().map(|f| f.probability = v).is_some(),
                    "unfit.lo" => b.unfit.as_mut().map(|f| set_lo(&mut f.factor, v)).is_some(),
                    "unfit.hi" => b.unfit.as_mut().map(|f| set_hi(&mut f.factor, v)).is_some(),
                    "loss.p" => b.loss.as_mut().map(|l| l.probability = v).is_some(),
                    "loss.median" => b.loss.as_mut().map(|l| l.median_day = v).is_some(),
                    "loss.cv" => b.loss.as_mut().map(|l| l.cv = v).is_some(),
                    _ if k.starts_with("cv.") => {
                        let name = &k[3..];
                        match b.variability.iter_mut().find(|(n, _)| n == name) {
                            Some(e) => e.1 = v,
                            None => b.variability.push((name.to_string(), v)),
                        }
                        true
                    }
                    _ => b.typical.set(k, v).is_ok(),
                };
                if !ok {
                    eprintln!("error: {kv}: unknown name");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let pop = match b.build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let trial = match Trial::new(pop, n, seed).horizon(1095.0) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rows = Vec::new();
    let summary = trial.run(
        &mut |o| {
            if let Ok(e) = &o.result {
                rows.push(Row {
                    cr: e.cr_day28,
                    mrd: e.mrd_neg_day28,
                    cmax: e.cmax,
                    dose: o.covariates.map_or(f64::NAN, |c| c.dose_cells),
                    tmax: e.tmax,
                    crs: e.crs_grade,
                    icans: e.icans_grade,
                    toci: !e.toci_days.is_empty(),
                    steroid: e.steroid_day.is_some(),
                    relapse: e.relapse_day,
                    cd19neg: e.cd19_negative(),
                    b_rec: e.b_recovery_day,
                    c365: e.car_t_rel_12m.map(|r| r * e.cmax),
                    c1095: e.c_end,
                    crs_dur: e.crs_duration,
                    icans_onset: e.icans_onset_day,
                    crs_onset: e.crs_onset_day,
                    peak_il6: e.peak_il6,
                    peak_s: e.peak_signal,
                })
            }
        },
        None,
    );
    let all = rows.len() as f64;
    let rate = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count() as f64 / all;
    let r: Vec<&Row> = rows.iter().filter(|r| r.cr).collect();
    let nr = r.len() as f64;
    let in_r = |f: &dyn Fn(&Row) -> bool| r.iter().filter(|x| f(x)).count() as f64 / nr;
    let relapsed_by = |d: f64| in_r(&|x| x.relapse.is_some_and(|t| t <= d));
    let relapses: Vec<&&Row> = r.iter().filter(|x| x.relapse.is_some_and(|t| t <= 365.0)).collect();
    let cd19neg_share = relapses.iter().filter(|x| x.cd19neg).count() as f64 / relapses.len() as f64;
    let lc: Vec<f64> = rows.iter().filter(|x| x.cmax > 0.0).map(|x| x.cmax.ln()).collect();
    let mean = lc.iter().sum::<f64>() / lc.len() as f64;
    let var = lc.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / lc.len() as f64;
    let hl: Vec<f64> = r
        .iter()
        .filter_map(|x| match x.c365 {
            Some(a) if a > x.c1095 && x.c1095 > 0.0 => Some(730.0 * 2f64.ln() / (a / x.c1095).ln()),
            _ => None,
        })
        .collect();
    let mut ok = true;
    let mut line = |name: &str, v: f64, lo: f64, hi: f64| {
        let inside = v >= lo && v <= hi;
        ok &= inside;
        println!("{name:<44} {v:>10.4}   [{lo}, {hi}] {}", if inside { "ok" } else { "MISS" });
    };
    println!("model v2 ELIANA-like: {n} patients, seed {seed}, horizon 1095 days, {} solved", rows.len());
    line("cr_rate", rate(&|x| x.cr), 0.706, 0.882);
    line("mrd_neg / cr", rate(&|x| x.mrd) / rate(&|x| x.cr), 0.95, 1.0);
    line("crs_any_rate", rate(&|x| x.crs >= 1), 0.664, 0.853);
    line("crs_severe_rate", rate(&|x| x.crs >= 3), 0.355, 0.578);
    line("rfs12_responders", 1.0 - relapsed_by(365.0), 0.42, 0.73);
    line("cd19neg_relapse_share (relapses by day 365)", cd19neg_share, 0.51, 0.88);
    line("tmax_median", median(rows.iter().map(|x| x.tmax).collect()), 6.5, 12.1);
    line("cmax_fold_median", median(rows.iter().map(|x| x.cmax / x.dose).collect()), 2730.0, 5070.0);
    line("toci_rate", rate(&|x| x.toci), 0.25, 0.55);
    line("steroid_rate", rate(&|x| x.steroid), 0.10, 0.35);
    line("responders in B-cell aplasia at 6 months", in_r(&|x| x.b_rec.is_none_or(|d| d > 182.5)), 0.60, 1.0);
    line(
        "responders' median C(365)/Cmax",
        median(r.iter().filter_map(|x| x.c365.map(|c| c / x.cmax)).collect()),
        5e-4,
        2e-2,
    );
    line("variance of ln Cmax", var, 0.3, 2.0);
    line("RFS at 6 months (responders)", 1.0 - relapsed_by(182.5), 0.70, 0.92);
    line("RFS at 36 months (responders)", 1.0 - relapsed_by(1095.0), 0.35, 0.65);
    line("responders' median slow half-life (d 365-1095)", median(hl), 100.0, 400.0);
    println!("-- checked, not tuned to:");
    println!("  summary cr_rate {:.4}, failures {}", summary.to_json()["cr_rate"], summary.n_failed());
    println!(
        "  non-responders' median Cmax fold {:.0}",
        median(rows.iter().filter(|x| !x.cr).map(|x| x.cmax / x.dose).collect())
    );
    println!("  responders' median Cmax fold {:.0}", median(r.iter().map(|x| x.cmax / x.dose).collect()));
    println!("  response without CRS {:.4}", rate(&|x| x.cr && x.crs == 0));
    println!(
        "  grade >= 3 with steroids {:.4}, grade >= 3 {:.4}",
        rate(&|x| x.crs >= 3 && x.steroid),
        rate(&|x| x.crs >= 3)
    );
    println!(
        "  ICANS any {:.4}, grade >= 3 {:.4} (ELIANA: 40%, 13%)",
        rate(&|x| x.icans >= 1),
        rate(&|x| x.icans >= 3)
    );
    println!(
        "  median CRS onset {:.2} d, ICANS onset {:.2} d (ELIANA: 3 d, ~6 d)",
        median(rows.iter().filter_map(|x| x.crs_onset).collect()),
        median(rows.iter().filter_map(|x| x.icans_onset).collect())
    );
    println!("  median CRS duration {:.1} d (ELIANA: 8 d)", median(rows.iter().filter_map(|x| x.crs_dur).collect()));
    let cd19pos: Vec<&&Row> = r.iter().filter(|x| x.relapse.is_some() && !x.cd19neg).collect();
    let before = cd19pos.iter().filter(|x| x.b_rec.is_some_and(|b| b < x.relapse.unwrap_or(0.0))).count();
    println!("  CD19+ relapses with B-cell recovery before them: {before} of {}", cd19pos.len());
    println!(
        "  responders in B-cell aplasia at 12 months {:.4} (ELIANA ~0.71)",
        in_r(&|x| x.b_rec.is_none_or(|d| d > 365.0))
    );
    let dec = |mut v: Vec<f64>| -> String {
        v.sort_by(|a, b| a.total_cmp(b));
        (1..10).map(|k| format!("{:.3e}", v[k * v.len() / 10])).collect::<Vec<_>>().join(" ")
    };
    println!("  deciles of peak IL-6: {}", dec(rows.iter().map(|x| x.peak_il6).collect()));
    println!("  deciles of peak CRS severity: {}", dec(rows.iter().map(|x| x.peak_s).collect()));
    if ok {
        println!("every target met");
        ExitCode::SUCCESS
    } else {
        println!("some targets missed");
        ExitCode::from(1)
    }
}

fn set_hi(a: &mut Amount, v: f64) {
    if let Amount::LogUniform { hi, .. } = a {
        *hi = v;
    }
}

fn set_lo(a: &mut Amount, v: f64) {
    if let Amount::LogUniform { lo, .. } = a {
        *lo = v;
    }
}
