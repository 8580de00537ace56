//! Reading the zoo's reference trajectories (`tests/data/zoo/`, copies of
//! `../shared/zoo/reference/`: libroadrunner 2.10, CVODE rtol 1e-11, atol 1e-16).

/// The header and the rows of a reference trajectory CSV.
pub fn read_reference(file: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let path = format!("{}/tests/data/zoo/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("header").split(',').map(str::to_string).collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|x| x.trim().parse::<f64>().expect("number")).collect::<Vec<f64>>())
        .collect::<Vec<_>>();
    assert!(rows.iter().all(|r| r.len() == header.len()), "{file}: ragged rows");
    (header, rows)
}

/// The largest error of each column `j >= 1` of `got` against `want`, scaled by that column's
/// largest magnitude in `want` (absolute for a column that stays 0).
pub fn scaled_errors(want: &[Vec<f64>], got: &[Vec<f64>]) -> Vec<f64> {
    let ncol = want[0].len();
    (1..ncol)
        .map(|j| {
            let max = want.iter().map(|r| r[j].abs()).fold(0.0, f64::max);
            let scale = if max > 0.0 { max } else { 1.0 };
            want.iter().zip(got).map(|(w, g)| (w[j] - g[j]).abs() / scale).fold(0.0, f64::max)
        })
        .collect()
}
