//! `cartkin calibrate STUDY --targets T.toml --knobs K.toml`: the study's knobs searched to
//! its targets (cartkin::calibrate; docs/ANALYSIS.md).

use crate::rundir::Fail;
use cartkin::calibrate::{calibrate, read_knobs, read_targets, NelderMead};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// The study file (or a built-in study's name).
    pub study: String,
    /// Targets: `[[target]]` entries with `key` (a summary.json key), `low`, `high`, `source`.
    #[arg(long)]
    pub targets: PathBuf,
    /// Knobs: `[[knob]]` entries with `path` (a study setting), `lo`, `hi`, `scale`, `start`.
    #[arg(long)]
    pub knobs: PathBuf,
    /// Patients per trial (overrides the study).
    #[arg(long)]
    pub patients: Option<u64>,
    /// Seed of every search trial (common random numbers; overrides the study).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seed of the final check (default: the search seed + 1).
    #[arg(long)]
    pub check_seed: Option<u64>,
    /// Most trials the search may run.
    #[arg(long, default_value_t = 200)]
    pub max_evals: usize,
    /// Write calibration.json (knobs, losses, every target) and calibrated.toml (the study
    /// with the best knobs) into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn cmd_calibrate(a: &CalibrateArgs) -> Result<(), Fail> {
    let mut study = cartkin::bind::load_study(&a.study).map_err(|e| Fail::Input(e.to_string()))?;
    if let Some(n) = a.patients {
        if n == 0 || n > 10_000_000 {
            return Err(Fail::Input(format!("--patients {n}: must be between 1 and 10,000,000")));
        }
        study.patients = n;
    }
    if let Some(s) = a.seed {
        study.seed = s;
    }
    if a.max_evals == 0 || a.max_evals > 100_000 {
        return Err(Fail::Input(format!("--max-evals {}: must be between 1 and 100,000", a.max_evals)));
    }
    let targets = read_targets(&a.targets).map_err(|e| Fail::Input(e.to_string()))?;
    let knobs = read_knobs(&a.knobs).map_err(|e| Fail::Input(e.to_string()))?;
    if let Some(dir) = &a.out {
        crate::rundir::ensure_dir(dir)?;
    }
    let check = a.check_seed.unwrap_or(study.seed.wrapping_add(1));
    let opt = NelderMead { max_evals: a.max_evals, ..NelderMead::default() };
    let c = calibrate(&study, &targets, &knobs, check, &opt).map_err(|e| Fail::Input(e.to_string()))?;
    print!("{}", c.report());
    if let Some(dir) = &a.out {
        let json = serde_json::to_string_pretty(&c).map_err(|e| Fail::Run(e.to_string()))? + "\n";
        let best = study.with_settings(&c.knobs).map_err(|e| Fail::Run(e.to_string()))?;
        for (name, bytes) in [("calibration.json", json.into_bytes()), ("calibrated.toml", best.to_toml().into_bytes())]
        {
            cartkin::io::write_atomic(dir, name, &bytes)
                .map_err(|e| Fail::Run(format!("{}: {e}", dir.join(name).display())))?;
        }
        println!("wrote {}/calibration.json, calibrated.toml", dir.display());
    }
    Ok(())
}
