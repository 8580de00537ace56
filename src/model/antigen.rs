//! Antigens, blast phenotypes and product efficacy (MODEL.md section 1).

use crate::error::InputError;
use serde::Serialize;
use std::fmt;

/// A target antigen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Antigen {
    /// CD19 (tisagenlecleucel's target).
    CD19,
    /// CD22 (lower density: default killing weight 0.6).
    CD22,
}

impl Antigen {
    /// Parse `"CD19"` or `"CD22"`.
    ///
    /// # Errors
    /// [`InputError::UnknownAntigen`] for any other name.
    pub fn parse(field: &str, name: &str) -> Result<Self, InputError> {
        match name {
            "CD19" => Ok(Antigen::CD19),
            "CD22" => Ok(Antigen::CD22),
            _ => Err(InputError::UnknownAntigen { field: field.into(), name: name.into() }),
        }
    }

    /// The name, `"CD19"` or `"CD22"`.
    pub fn name(self) -> &'static str {
        match self {
            Antigen::CD19 => "CD19",
            Antigen::CD22 => "CD22",
        }
    }
}

/// A set of antigens out of {CD19, CD22}.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct AntigenSet {
    /// Contains CD19.
    pub cd19: bool,
    /// Contains CD22.
    pub cd22: bool,
}

impl AntigenSet {
    /// {CD19}.
    pub const CD19: AntigenSet = AntigenSet { cd19: true, cd22: false };
    /// {CD22}.
    pub const CD22: AntigenSet = AntigenSet { cd19: false, cd22: true };
    /// {CD19, CD22} (dual / bispecific product; also normal B cells).
    pub const BOTH: AntigenSet = AntigenSet { cd19: true, cd22: true };

    /// Whether the set holds `a`.
    pub fn contains(self, a: Antigen) -> bool {
        match a {
            Antigen::CD19 => self.cd19,
            Antigen::CD22 => self.cd22,
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        !self.cd19 && !self.cd22
    }

    /// The set with `a` added.
    pub fn with(mut self, a: Antigen) -> Self {
        match a {
            Antigen::CD19 => self.cd19 = true,
            Antigen::CD22 => self.cd22 = true,
        }
        self
    }

    /// Antigen names in the order CD19, CD22.
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.cd19 {
            v.push("CD19");
        }
        if self.cd22 {
            v.push("CD22");
        }
        v
    }
}

/// A blast phenotype: the antigens it carries. The four phenotypes have a fixed order
/// (index 0..4): `CD19+CD22+`, `CD19-CD22+`, `CD19+CD22-`, `CD19-CD22-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phenotype(u8);

impl Phenotype {
    /// CD19+CD22+.
    pub const DOUBLE_POS: Phenotype = Phenotype(0);
    /// CD19-CD22+ (the CD19-negative escape phenotype in REF-1 scenarios).
    pub const CD19_NEG: Phenotype = Phenotype(1);
    /// CD19+CD22-.
    pub const CD22_NEG: Phenotype = Phenotype(2);
    /// CD19-CD22-.
    pub const DOUBLE_NEG: Phenotype = Phenotype(3);
    /// All four, in the canonical order.
    pub const ALL: [Phenotype; 4] = [Phenotype(0), Phenotype(1), Phenotype(2), Phenotype(3)];

    /// Index 0..4 in the canonical order.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The phenotype with canonical index `i` (0..4).
    ///
    /// # Panics
    /// If `i >= 4` (an internal invariant: indices come from [`Phenotype::index`]).
    pub fn from_index(i: usize) -> Self {
        assert!(i < 4, "phenotype index {i} out of range");
        Phenotype(i as u8)
    }

    /// Name as in MODEL.md, e.g. `"CD19-CD22+"`.
    pub fn name(self) -> &'static str {
        ["CD19+CD22+", "CD19-CD22+", "CD19+CD22-", "CD19-CD22-"][self.index()]
    }

    /// Parse a phenotype name.
    ///
    /// # Errors
    /// [`InputError::UnknownPhenotype`] for any other string.
    pub fn parse(field: &str, name: &str) -> Result<Self, InputError> {
        Phenotype::ALL
            .iter()
            .copied()
            .find(|p| p.name() == name)
            .ok_or_else(|| InputError::UnknownPhenotype { field: field.into(), name: name.into() })
    }

    /// Antigens carried.
    pub fn antigens(self) -> AntigenSet {
        match self.0 {
            0 => AntigenSet::BOTH,
            1 => AntigenSet::CD22,
            2 => AntigenSet::CD19,
            _ => AntigenSet::default(),
        }
    }

    /// Whether the phenotype lacks CD19 (a relapse of it is a "CD19-negative relapse").
    pub fn is_cd19_negative(self) -> bool {
        !self.antigens().cd19
    }
}

impl fmt::Display for Phenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Phenotype {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Efficacy of a product targeting `targets` against cells carrying `carried`:
/// `max{w_g : g carried and targeted}`, or 0 (MODEL.md section 1).
pub fn efficacy(targets: AntigenSet, carried: AntigenSet, w_cd19: f64, w_cd22: f64) -> f64 {
    let mut e: f64 = 0.0;
    if targets.cd19 && carried.cd19 {
        e = e.max(w_cd19);
    }
    if targets.cd22 && carried.cd22 {
        e = e.max(w_cd22);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efficacy_table_of_model_section_1() {
        // CD19 product: CD19+ phenotypes 1.0, CD19- 0; dual product: CD19-CD22+ gets w_CD22.
        let (w19, w22) = (1.0, 0.6);
        let e = |t, p: Phenotype| efficacy(t, p.antigens(), w19, w22);
        assert_eq!(e(AntigenSet::CD19, Phenotype::DOUBLE_POS), 1.0);
        assert_eq!(e(AntigenSet::CD19, Phenotype::CD19_NEG), 0.0);
        assert_eq!(e(AntigenSet::CD22, Phenotype::DOUBLE_POS), 0.6);
        assert_eq!(e(AntigenSet::BOTH, Phenotype::CD19_NEG), 0.6);
        assert_eq!(e(AntigenSet::BOTH, Phenotype::DOUBLE_NEG), 0.0);
        assert_eq!(e(AntigenSet::BOTH, Phenotype::CD22_NEG), 1.0);
    }

    #[test]
    fn phenotype_names_round_trip() {
        for p in Phenotype::ALL {
            assert_eq!(Phenotype::parse("x", p.name()).unwrap(), p);
        }
        assert!(Phenotype::parse("x", "CD20+").is_err());
        assert!(Antigen::parse("x", "CD20").is_err());
    }
}
