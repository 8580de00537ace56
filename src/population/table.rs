//! Patients from CSV tables, one row per patient.
//!
//! Two formats are read, both by header name (column order does not matter, extra columns
//! are ignored):
//! - the reference population (`reference/population_200.csv`): `id, rho_E, k_kill, r_L,
//!   delta_E, p_I, f0, frac_CD19neg, dose, L0_CD19+CD22+, L0_CD19-CD22+`, into
//!   [`VirtualPatient`]s ([`read_population_csv`]);
//! - the performance peers' table (`peers/population_seed42.csv`): `id, rhoE, kk, L0, rL,
//!   dE`, the minimal model's varied values, into [`MinimalRow`]s ([`read_minimal_csv`]).
//!
//! Both go through [`NumericTable`]: plain comma-separated values (no quoting), a header
//! line, then rows in which every field is a finite number. Blank lines are skipped; `\r\n`
//! line ends are accepted. Numbers are parsed with `f64::from_str`, which round-trips the
//! `%.17g` values of the shared tables exactly. Errors ([`TableError`]) name the file, the
//! 1-based line and the column (1-based index and header name).

use super::{Covariates, VirtualPatient};
use crate::error::{Domain, InputError};
use crate::model::{Params, Phenotype};
use crate::patient::Patient;
use crate::regimen::{Product, Regimen};
use crate::scenario::Scenario;
use std::path::Path;
use std::sync::Arc;

/// A table that cannot be used. Every variant names the file (`path`, as given) and, where
/// there is one, the 1-based line and the column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No header line.
    #[error("{path}: empty table (no header line)")]
    Empty {
        /// The path.
        path: String,
    },
    /// A column the format needs is not in the header.
    #[error("{path}, line {line}: missing column {column:?}")]
    MissingColumn {
        /// The path.
        path: String,
        /// The header's line (1).
        line: usize,
        /// The name of the missing column.
        column: String,
    },
    /// A header name that appears twice.
    #[error("{path}, line {line}, column {index} ({column:?}): the column name appears twice")]
    DuplicateColumn {
        /// The path.
        path: String,
        /// The header's line (1).
        line: usize,
        /// 1-based column index of the second occurrence.
        index: usize,
        /// The name.
        column: String,
    },
    /// A row with another number of fields than the header.
    #[error("{path}, line {line}: {found} fields, but the header has {expected}")]
    FieldCount {
        /// The path.
        path: String,
        /// 1-based line.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A field that is not a number (or, for an id, not a whole number).
    #[error("{path}, line {line}, column {index} ({column}): {text:?} is not {expected}")]
    NotANumber {
        /// The path.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column index.
        index: usize,
        /// The column's header name.
        column: String,
        /// The field as written.
        text: String,
        /// What was expected, e.g. `a number`.
        expected: &'static str,
    },
    /// A number that is NaN or infinite.
    #[error("{path}, line {line}, column {index} ({column}): {value} is not a finite number")]
    NonFinite {
        /// The path.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column index.
        index: usize,
        /// The column's header name.
        column: String,
        /// The value.
        value: f64,
    },
    /// Numbers that are not valid model input (e.g. a negative rate).
    #[error("{path}, line {line}: {source}")]
    Invalid {
        /// The path.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong (names the field).
        #[source]
        source: InputError,
    },
}

impl TableError {
    /// The 1-based line the error is about (`None` for I/O errors and empty tables).
    pub fn line(&self) -> Option<usize> {
        match self {
            TableError::Io { .. } | TableError::Empty { .. } => None,
            TableError::MissingColumn { line, .. }
            | TableError::DuplicateColumn { line, .. }
            | TableError::FieldCount { line, .. }
            | TableError::NotANumber { line, .. }
            | TableError::NonFinite { line, .. }
            | TableError::Invalid { line, .. } => Some(*line),
        }
    }

    /// The column name the error is about, where there is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            TableError::MissingColumn { column, .. }
            | TableError::DuplicateColumn { column, .. }
            | TableError::NotANumber { column, .. }
            | TableError::NonFinite { column, .. } => Some(column),
            _ => None,
        }
    }
}

/// The lines of a CSV text after its header: `(1-based line, line)`, blank lines skipped,
/// `\r` removed.
type Lines<'a> = Box<dyn Iterator<Item = (usize, &'a str)> + 'a>;

/// The one CSV header reader of the crate: skips leading blank lines, splits the header on
/// commas, trims the names and refuses a repeated name. Returns the header's line, the
/// names and the remaining non-blank lines.
fn header<'a>(text: &'a str, path: &str) -> Result<(usize, Vec<String>, Lines<'a>), TableError> {
    let mut lines =
        text.lines().enumerate().map(|(k, l)| (k + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or_else(|| TableError::Empty { path: path.into() })?;
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    for (k, c) in columns.iter().enumerate() {
        if columns[..k].contains(c) {
            return Err(TableError::DuplicateColumn {
                path: path.into(),
                line: header_line,
                index: k + 1,
                column: c.clone(),
            });
        }
    }
    Ok((header_line, columns, Box::new(lines)))
}

/// The text of a table file (capped at [`crate::io::MAX_TABLE_BYTES`]) and its name for
/// errors: what both table types read.
fn read_text(p: &Path) -> Result<(String, String), TableError> {
    let name = p.display().to_string();
    let text = crate::io::read_capped(p, crate::io::MAX_TABLE_BYTES)
        .map_err(|source| TableError::Io { path: name.clone(), source })?;
    Ok((text, name))
}

/// A CSV table of text fields (plain comma-separated values, no quoting; a header line;
/// blank lines skipped; fields trimmed): the reader every table of the crate, its tests and
/// its examples go through. Numbers are read per field with [`TextTable::number`], whose
/// errors name the file, the line and the column. [`NumericTable`] is the all-numeric form.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTable {
    path: String,
    header_line: usize,
    columns: Vec<String>,
    fields: Vec<String>,
    lines: Vec<usize>,
}

impl TextTable {
    /// Read and parse the file at `path`.
    ///
    /// # Errors
    /// [`TableError::Io`], or as [`TextTable::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let (text, name) = read_text(path.as_ref())?;
        Self::parse(&text, &name)
    }

    /// Parse `text`; `path` names the source in errors.
    ///
    /// # Errors
    /// No header, a repeated header name, a row with another number of fields.
    pub fn parse(text: &str, path: &str) -> Result<Self, TableError> {
        let (header_line, columns, lines) = header(text, path)?;
        let ncol = columns.len();
        let mut fields = Vec::new();
        let mut row_lines = Vec::new();
        for (line, l) in lines {
            let start = fields.len();
            fields.extend(l.split(',').map(|f| f.trim().to_string()));
            if fields.len() - start != ncol {
                return Err(TableError::FieldCount {
                    path: path.into(),
                    line,
                    expected: ncol,
                    found: fields.len() - start,
                });
            }
            row_lines.push(line);
        }
        Ok(Self { path: path.into(), header_line, columns, fields, lines: row_lines })
    }

    /// Header names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Index of the column named `name`.
    ///
    /// # Errors
    /// [`TableError::MissingColumn`].
    pub fn column(&self, name: &str) -> Result<usize, TableError> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| TableError::MissingColumn {
            path: self.path.clone(),
            line: self.header_line,
            column: name.into(),
        })
    }

    /// The field in row `row` (0-based), column `col`, trimmed; `""` out of range.
    pub fn text(&self, row: usize, col: usize) -> &str {
        if row < self.len() && col < self.columns.len() {
            &self.fields[row * self.columns.len() + col]
        } else {
            ""
        }
    }

    /// The field in row `row`, column `col` as a finite number.
    ///
    /// # Errors
    /// [`TableError::NotANumber`] or [`TableError::NonFinite`] naming the line and column
    /// ([`TableError::MissingColumn`] for a column out of range).
    pub fn number(&self, row: usize, col: usize) -> Result<f64, TableError> {
        let line = self.lines.get(row).copied().unwrap_or(0);
        let column = self.columns.get(col).cloned().ok_or_else(|| TableError::MissingColumn {
            path: self.path.clone(),
            line: self.header_line,
            column: format!("#{}", col + 1),
        })?;
        let text = self.text(row, col);
        let v: f64 = text.parse().map_err(|_| TableError::NotANumber {
            path: self.path.clone(),
            line,
            index: col + 1,
            column: column.clone(),
            text: text.into(),
            expected: "a number",
        })?;
        if !v.is_finite() {
            return Err(TableError::NonFinite { path: self.path.clone(), line, index: col + 1, column, value: v });
        }
        Ok(v)
    }
}

/// A numeric CSV table: a header and rows of finite numbers, stored row-major in one
/// `Vec<f64>`.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericTable {
    path: String,
    header_line: usize,
    columns: Vec<String>,
    values: Vec<f64>,
    lines: Vec<usize>,
}

impl NumericTable {
    /// Read and parse the file at `path`.
    ///
    /// # Errors
    /// [`TableError::Io`], or as [`NumericTable::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let (text, name) = read_text(path.as_ref())?;
        Self::parse(&text, &name)
    }

    /// Parse `text`; `path` names the source in errors.
    ///
    /// # Errors
    /// No header ([`TableError::Empty`]), a repeated header name, a row with the wrong
    /// number of fields, a field that is not a number or is not finite.
    pub fn parse(text: &str, path: &str) -> Result<Self, TableError> {
        let (header_line, columns, lines) = header(text, path)?;
        let ncol = columns.len();
        let mut values = Vec::new();
        let mut row_lines = Vec::new();
        for (line, l) in lines {
            let start = values.len();
            for (k, field) in l.split(',').enumerate() {
                if k >= ncol {
                    return Err(TableError::FieldCount {
                        path: path.into(),
                        line,
                        expected: ncol,
                        found: l.split(',').count(),
                    });
                }
                let field = field.trim();
                let v: f64 = field.parse().map_err(|_| TableError::NotANumber {
                    path: path.into(),
                    line,
                    index: k + 1,
                    column: columns[k].clone(),
                    text: field.into(),
                    expected: "a number",
                })?;
                if !v.is_finite() {
                    return Err(TableError::NonFinite {
                        path: path.into(),
                        line,
                        index: k + 1,
                        column: columns[k].clone(),
                        value: v,
                    });
                }
                values.push(v);
            }
            if values.len() - start != ncol {
                return Err(TableError::FieldCount {
                    path: path.into(),
                    line,
                    expected: ncol,
                    found: values.len() - start,
                });
            }
            row_lines.push(line);
        }
        Ok(Self { path: path.into(), header_line, columns, values, lines: row_lines })
    }

    /// The source name given to `read` / `parse`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Header names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Index of the column named `name`.
    ///
    /// # Errors
    /// [`TableError::MissingColumn`].
    pub fn column(&self, name: &str) -> Result<usize, TableError> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| TableError::MissingColumn {
            path: self.path.clone(),
            line: self.header_line,
            column: name.into(),
        })
    }

    /// The value in row `row` (0-based), column `col`; `None` out of range.
    pub fn get(&self, row: usize, col: usize) -> Option<f64> {
        if row < self.len() && col < self.columns.len() {
            Some(self.values[row * self.columns.len() + col])
        } else {
            None
        }
    }

    /// The values of row `row` (0-based), in column order; empty out of range.
    pub fn row(&self, row: usize) -> &[f64] {
        let n = self.columns.len();
        self.values.get(row * n..(row + 1) * n).unwrap_or(&[])
    }

    /// The 1-based file line of row `row`.
    pub fn line(&self, row: usize) -> Option<usize> {
        self.lines.get(row).copied()
    }

    /// Row `row`, column `col` as an id: a whole number in `[0, 2^53]`.
    ///
    /// # Errors
    /// [`TableError::NotANumber`] naming the cell.
    pub fn id(&self, row: usize, col: usize) -> Result<u64, TableError> {
        let v = self.get(row, col).unwrap_or(f64::NAN);
        if v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_992.0 {
            Ok(v as u64)
        } else {
            Err(TableError::NotANumber {
                path: self.path.clone(),
                line: self.line(row).unwrap_or(0),
                index: col + 1,
                column: self.columns.get(col).cloned().unwrap_or_default(),
                text: v.to_string(),
                expected: "a whole number >= 0 (an id)",
            })
        }
    }

    fn invalid(&self, row: usize, source: InputError) -> TableError {
        TableError::Invalid { path: self.path.clone(), line: self.line(row).unwrap_or(0), source }
    }
}

/// Columns of the reference population table.
const POPULATION_COLUMNS: [&str; 11] =
    ["id", "rho_E", "k_kill", "r_L", "delta_E", "p_I", "f0", "frac_CD19neg", "dose", "L0_CD19+CD22+", "L0_CD19-CD22+"];

/// Read a table in the format of `reference/population_200.csv` into virtual patients.
///
/// Each row gives `rho_E, k_kill, r_L, delta_E, p_I` (the rest of the parameters are REF-1,
/// `f_mem = 0.2`), the initial blasts `L0_CD19+CD22+` and `L0_CD19-CD22+` (the source of the
/// initial state; `B_0 = 1e8`, cytokines at baseline) and the dose (one infusion of a CD19
/// product at day 0 with lymphodepletion and reactive tocilizumab and steroids, as S1).
/// `f0` and `frac_CD19neg` are kept as covariates. The varied parameters
/// ([`VirtualPatient::sampled_parameters`]) are the five above, in that order.
///
/// # Errors
/// As [`NumericTable::read`]; a missing column; an id that is not a whole number; values
/// that are not valid input ([`TableError::Invalid`], e.g. a negative rate or a dose of 0,
/// `f0` outside `[0, 1)`, `frac_CD19neg` outside `[0, 1]`).
pub fn read_population_csv(path: impl AsRef<Path>) -> Result<Vec<VirtualPatient>, TableError> {
    population_from_table(&NumericTable::read(path)?)
}

/// [`read_population_csv`] on text; `path` names the source in errors.
///
/// # Errors
/// As [`read_population_csv`].
pub fn parse_population_csv(text: &str, path: &str) -> Result<Vec<VirtualPatient>, TableError> {
    population_from_table(&NumericTable::parse(text, path)?)
}

fn population_from_table(t: &NumericTable) -> Result<Vec<VirtualPatient>, TableError> {
    let mut col = [0usize; POPULATION_COLUMNS.len()];
    for (c, name) in col.iter_mut().zip(POPULATION_COLUMNS) {
        *c = t.column(name)?;
    }
    let varied: Arc<[&'static str]> = Arc::from(&POPULATION_COLUMNS[1..6]);
    let mut out = Vec::with_capacity(t.len());
    for row in 0..t.len() {
        let r = t.row(row);
        let v = |k: usize| r[col[k]];
        let id = t.id(row, col[0])?;
        let patient = (|| -> Result<VirtualPatient, InputError> {
            let mut params = Params::nominal();
            for (k, name) in POPULATION_COLUMNS.iter().enumerate().take(6).skip(1) {
                params.set(name, v(k))?;
            }
            Domain::HalfOpenUnit.check("f0", v(6))?;
            Domain::Unit.check("frac_CD19neg", v(7))?;
            let mut blasts = [0.0; 4];
            blasts[Phenotype::DOUBLE_POS.index()] = v(9);
            blasts[Phenotype::CD19_NEG.index()] = v(10);
            let patient = Patient::from_counts(blasts, 1e8)?;
            let regimen = Regimen::single_dose(v(8))?;
            let covariates =
                Covariates { f0: v(6), frac_cd19neg: v(7), dose_cells: v(8), weight_kg: None, f_mem: params.f_mem };
            Ok(VirtualPatient::from_parts(
                id,
                params,
                patient,
                Product::cd19(),
                regimen,
                covariates,
                Arc::clone(&varied),
            ))
        })()
        .map_err(|e| t.invalid(row, e))?;
        out.push(patient);
    }
    Ok(out)
}

/// One row of the peers' minimal-model table (`peers/population_seed42.csv`): the values
/// that replace the minimal model's typical ones (MODEL.md section 7).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MinimalRow {
    /// Patient id (`id`).
    pub id: u64,
    /// Effector expansion `rho_E` (`rhoE`, 1/day).
    pub rho_e: f64,
    /// Killing rate `k_kill` (`kk`, 1/day).
    pub k_kill: f64,
    /// Initial CD19+ blasts L (`L0`, cells).
    pub l0: f64,
    /// Blast growth rate `r_L` (`rL`, 1/day).
    pub r_l: f64,
    /// Effector death `delta_E` (`dE`, 1/day).
    pub delta_e: f64,
}

impl MinimalRow {
    /// [`Params::minimal`] with this row's `rho_E`, `k_kill`, `r_L`, `delta_E`.
    ///
    /// # Errors
    /// A value outside its domain (negative or non-finite).
    pub fn params(&self) -> Result<Params, InputError> {
        let mut p = Params::minimal();
        p.set("rho_E", self.rho_e)?;
        p.set("k_kill", self.k_kill)?;
        p.set("r_L", self.r_l)?;
        p.set("delta_E", self.delta_e)?;
        Ok(p)
    }

    /// The minimal model of this row (section 7 values with this row's `rho_E`, `k_kill`,
    /// `r_L`, `delta_E`, and `L(0) = l0`), for the driver's daily batch path
    /// ([`crate::MinimalSolver`]).
    pub fn model(&self) -> crate::model::MinimalModel {
        use crate::model::{MinimalInit, MinimalParams};
        let params = MinimalParams {
            rho_e: self.rho_e,
            k_kill: self.k_kill,
            r_l: self.r_l,
            delta_e: self.delta_e,
            ..MinimalParams::nominal()
        };
        crate::model::MinimalModel { params, init: MinimalInit { l: self.l0, ..MinimalInit::default() } }
    }

    /// [`Scenario::minimal`] for this row: its parameters and `L(0) = l0` CD19+ blasts
    /// (`CD19+CD22-`), with the minimal model's 1e4 CD19- blasts, E = 1e8 at day 0 and
    /// policies `none`; named `peer_<id>`.
    ///
    /// # Errors
    /// As [`MinimalRow::params`], or a negative or non-finite `l0`.
    pub fn scenario(&self) -> Result<Scenario, InputError> {
        let base = Scenario::minimal();
        let mut l = base.patient().blasts();
        l[Phenotype::CD22_NEG.index()] = self.l0;
        let patient = Patient::from_counts(l, base.patient().b0())?;
        Ok(base.with_params(self.params()?)?.with_patient(patient).with_name(format!("peer_{}", self.id)))
    }
}

/// Read the peers' table (`id, rhoE, kk, L0, rL, dE`) into [`MinimalRow`]s.
///
/// # Errors
/// As [`NumericTable::read`]; a missing column; an id that is not a whole number; a
/// negative value ([`TableError::Invalid`]).
pub fn read_minimal_csv(path: impl AsRef<Path>) -> Result<Vec<MinimalRow>, TableError> {
    minimal_from_table(&NumericTable::read(path)?)
}

/// [`read_minimal_csv`] on text; `path` names the source in errors.
///
/// # Errors
/// As [`read_minimal_csv`].
pub fn parse_minimal_csv(text: &str, path: &str) -> Result<Vec<MinimalRow>, TableError> {
    minimal_from_table(&NumericTable::parse(text, path)?)
}

fn minimal_from_table(t: &NumericTable) -> Result<Vec<MinimalRow>, TableError> {
    const COLS: [&str; 6] = ["id", "rhoE", "kk", "L0", "rL", "dE"];
    let mut col = [0usize; 6];
    for (c, name) in col.iter_mut().zip(COLS) {
        *c = t.column(name)?;
    }
    let mut out = Vec::with_capacity(t.len());
    for row in 0..t.len() {
        let r = t.row(row);
        for k in 1..6 {
            Domain::NonNeg.check(COLS[k], r[col[k]]).map_err(|e| t.invalid(row, e))?;
        }
        out.push(MinimalRow {
            id: t.id(row, col[0])?,
            rho_e: r[col[1]],
            k_kill: r[col[2]],
            l0: r[col[3]],
            r_l: r[col[4]],
            delta_e: r[col[5]],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_header_name_in_any_order() {
        let t = "kk,id,rhoE,dE,rL,L0,extra\n2,0,1,0.3,0.05,1e11,7\r\n\n1.5,1,0.5,0.2,0.04,2e11,8\n";
        let rows = parse_minimal_csv(t, "mem.csv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], MinimalRow { id: 1, rho_e: 0.5, k_kill: 1.5, l0: 2e11, r_l: 0.04, delta_e: 0.2 });
        let sc = rows[0].scenario().unwrap();
        assert_eq!(sc.params(), Scenario::minimal().params());
        assert_eq!(sc.patient(), Scenario::minimal().patient());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL\n0,1,2,3,4\n", "a.csv").unwrap_err();
        assert!(matches!(&e, TableError::MissingColumn { column, line: 1, .. } if column == "dE"), "{e}");
        assert_eq!(e.to_string(), "a.csv, line 1: missing column \"dE\"");
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL,dE\n0,1,2,3,4,5\n1,1,2,x,4,5\n", "a.csv").unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert_eq!(e.column(), Some("L0"));
        assert_eq!(e.to_string(), "a.csv, line 3, column 4 (L0): \"x\" is not a number");
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL,dE\n0,1,2,3,inf,5\n", "a.csv").unwrap_err();
        assert!(matches!(e, TableError::NonFinite { line: 2, index: 5, .. }), "{e}");
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL,dE\n0,1,2,3,4\n", "a.csv").unwrap_err();
        assert!(matches!(e, TableError::FieldCount { line: 2, expected: 6, found: 5, .. }), "{e}");
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL,dE\n0,1,2,3,4,5,6\n", "a.csv").unwrap_err();
        assert!(matches!(e, TableError::FieldCount { line: 2, expected: 6, found: 7, .. }), "{e}");
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL,dE\n0.5,1,2,3,4,5\n", "a.csv").unwrap_err();
        assert!(matches!(e, TableError::NotANumber { line: 2, index: 1, .. }), "{e}");
        let e = parse_minimal_csv("id,rhoE,kk,L0,rL,dE\n0,1,-2,3,4,5\n", "a.csv").unwrap_err();
        assert!(matches!(e, TableError::Invalid { line: 2, .. }), "{e}");
        let e = parse_minimal_csv("id,rhoE,kk,kk\n", "a.csv").unwrap_err();
        assert!(matches!(e, TableError::DuplicateColumn { index: 4, .. }), "{e}");
        assert!(matches!(parse_minimal_csv("\n\n", "a.csv"), Err(TableError::Empty { .. })));
        assert!(matches!(read_minimal_csv("/nonexistent/x.csv"), Err(TableError::Io { .. })));
    }

    #[test]
    fn text_table_reads_text_and_numbers_with_located_errors() {
        let t = TextTable::parse("\n id , phenotype ,day\r\n0,CD19-CD22+,\n\n1, CD19+CD22+ ,3.5\n", "e.csv").unwrap();
        assert_eq!(t.columns(), ["id", "phenotype", "day"]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.text(0, 1), "CD19-CD22+");
        assert_eq!(t.text(0, 2), "");
        assert_eq!(t.text(1, 1), "CD19+CD22+");
        assert_eq!(t.text(5, 0), "");
        assert_eq!(t.number(1, 2).unwrap(), 3.5);
        let e = t.number(0, 2).unwrap_err();
        assert_eq!(e.to_string(), "e.csv, line 3, column 3 (day): \"\" is not a number");
        let e = t.number(0, 1).unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(3), Some("phenotype")));
        assert!(matches!(t.column("dose"), Err(TableError::MissingColumn { line: 2, .. })));
        let e = TextTable::parse("a,b\n1,2\n3\n", "f.csv").unwrap_err();
        assert!(matches!(e, TableError::FieldCount { line: 3, expected: 2, found: 1, .. }), "{e}");
        assert!(matches!(TextTable::parse("a,a\n", "f.csv"), Err(TableError::DuplicateColumn { index: 2, .. })));
        assert!(matches!(TextTable::parse("", "f.csv"), Err(TableError::Empty { .. })));
        let e = TextTable::parse("a\nnan\n", "f.csv").unwrap().number(0, 0).unwrap_err();
        assert!(matches!(e, TableError::NonFinite { line: 2, index: 1, .. }), "{e}");
    }
}
