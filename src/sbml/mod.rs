//! SBML export (feature `sbml`): a model of the reference (MODEL.md v1) with its patient,
//! product and regimen ([`scenario`]), or a patient of a zoo model ([`zoo`]), written as
//! one SBML Level 3 Version 2 core document: its states as parameters with rate rules, the
//! derived quantities as assignment rules, and every state change (infusions, tocilizumab
//! and steroid switches, extinctions, the end of the AUC window) as events whose priorities
//! reproduce the order of MODEL.md section 4 at one instant. `docs/SBML.md` is the mapping.
//!
//! ```
//! # #[cfg(feature = "sbml")] {
//! let xml = cartkin::sbml::scenario(&cartkin::Scenario::nominal()).unwrap().to_xml();
//! assert!(xml.contains("<rateRule variable=\"E\">"));
//! # }
//! ```
//!
//! The XML is written with quick-xml (names and values escaped by the writer); numbers are
//! written in their shortest round-trip form, so the file holds the scenario's values
//! exactly.

pub mod math;
mod reference;
mod v2;
mod zoo;

pub use reference::{phenotype_id, scenario, scenario_with, Options};
pub use v2::{clone_id, v2};
pub use zoo::zoo;

use math::{write_math, Ex};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// Why a model cannot be exported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SbmlError {
    /// The scenario cannot be encoded (e.g. more reactive doses than the file keeps slots
    /// for).
    #[error("{0}")]
    Unsupported(String),
    /// Invalid parameter values.
    #[error(transparent)]
    Input(#[from] crate::error::InputError),
}

/// One unit definition: `id` = product of `(kind, exponent, scale, multiplier)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Unit id.
    pub id: &'static str,
    /// Its factors: SBML base unit kind, exponent, scale (power of 10), multiplier.
    pub factors: Vec<(&'static str, f64, i32, f64)>,
}

/// One SBML parameter (a state, a switch, a recorder or a constant).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// SBML id.
    pub id: String,
    /// Initial value.
    pub value: f64,
    /// Constant (never changed by a rule or an event).
    pub constant: bool,
    /// Unit id, if any.
    pub units: Option<&'static str>,
    /// A readable name (the MODEL.md name).
    pub name: Option<String>,
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDef {
    /// SBML id.
    pub id: String,
    /// Trigger condition.
    pub trigger: Ex,
    /// The trigger's value before t = 0 (`true`: the event cannot fire at t = 0).
    pub initial_value: bool,
    /// Whether the event fires even if its trigger turns false before it is executed.
    pub persistent: bool,
    /// Priority: at one instant, the ripe event of highest priority executes first.
    pub priority: f64,
    /// `(variable, value)` assignments, values computed at execution time.
    pub assignments: Vec<(String, Ex)>,
}

impl Unit {
    /// `day` = 86400 s, the time unit of every export.
    pub fn day() -> Self {
        Unit { id: "day", factors: vec![("second", 1.0, 0, 86400.0)] }
    }
}

impl EventDef {
    /// An event as every export writes them: id `ev_<name>` (event ids share the SId
    /// namespace with the parameters), `initialValue = true` (nothing fires at t = 0: that
    /// instant is in the initial values) and not persistent.
    pub fn new(name: impl std::fmt::Display, trigger: Ex, priority: f64, assignments: Vec<(String, Ex)>) -> Self {
        EventDef { id: format!("ev_{name}"), trigger, initial_value: true, persistent: false, priority, assignments }
    }
}

/// The assignments that record an event's time in slot `<prefix>_<k>` when `counter` (the
/// number of earlier firings) is `k - 1`, for `k` in `1..=slots`: the k-th firing's time.
pub(crate) fn record_in_slots(counter: &str, prefix: &str, slots: usize) -> Vec<(String, Ex)> {
    (1..=slots)
        .map(|k| {
            let slot = format!("{prefix}_{k}");
            (slot.clone(), math::ite(math::eq(math::s(counter), math::n((k - 1) as f64)), Ex::Time, math::s(slot)))
        })
        .collect()
}

/// An SBML document under construction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// Model id.
    pub id: String,
    /// Model name.
    pub name: String,
    /// Notes (plain text, written as XHTML paragraphs).
    pub notes: Vec<String>,
    /// Unit definitions.
    pub units: Vec<Unit>,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// Assignment rules `(variable, expression)`, in dependency order.
    pub assignment_rules: Vec<(String, Ex)>,
    /// Rate rules `(variable, d variable / dt)`.
    pub rate_rules: Vec<(String, Ex)>,
    /// Events.
    pub events: Vec<EventDef>,
}

impl Document {
    /// A constant parameter.
    pub fn constant(&mut self, id: &str, value: f64, units: Option<&'static str>) {
        self.params.push(Param { id: id.into(), value, constant: true, units, name: None });
    }

    /// A parameter that rules or events change.
    pub fn variable(&mut self, id: &str, value: f64, units: Option<&'static str>) {
        self.params.push(Param { id: id.into(), value, constant: false, units, name: None });
    }

    /// The document as SBML Level 3 Version 2 core XML.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        // writing into a Vec cannot fail
        self.write(&mut w).unwrap_or_else(|e| unreachable!("writing XML to memory: {e}"));
        String::from_utf8(w.into_inner()).unwrap_or_else(|e| unreachable!("the writer writes UTF-8: {e}"))
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let start = |tag: &'static str, attrs: &[(&str, &str)]| {
            let mut b = BytesStart::new(tag);
            for a in attrs {
                b.push_attribute(*a);
            }
            b
        };
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.write_event(Event::Start(start(
            "sbml",
            &[("xmlns", "http://www.sbml.org/sbml/level3/version2/core"), ("level", "3"), ("version", "2")],
        )))?;
        w.write_event(Event::Start(start("model", &[("id", &self.id), ("name", &self.name), ("timeUnits", "day")])))?;
        if !self.notes.is_empty() {
            w.write_event(Event::Start(start("notes", &[])))?;
            w.write_event(Event::Start(start("body", &[("xmlns", "http://www.w3.org/1999/xhtml")])))?;
            for p in &self.notes {
                w.write_event(Event::Start(start("p", &[])))?;
                w.write_event(Event::Text(BytesText::new(p)))?;
                w.write_event(Event::End(BytesEnd::new("p")))?;
            }
            w.write_event(Event::End(BytesEnd::new("body")))?;
            w.write_event(Event::End(BytesEnd::new("notes")))?;
        }
        if !self.units.is_empty() {
            w.write_event(Event::Start(start("listOfUnitDefinitions", &[])))?;
            for u in &self.units {
                w.write_event(Event::Start(start("unitDefinition", &[("id", u.id)])))?;
                w.write_event(Event::Start(start("listOfUnits", &[])))?;
                for (kind, e, sc, m) in &u.factors {
                    let (e, sc, m) = (math::num(*e), sc.to_string(), math::num(*m));
                    w.write_event(Event::Empty(start(
                        "unit",
                        &[("kind", kind), ("exponent", &e), ("scale", &sc), ("multiplier", &m)],
                    )))?;
                }
                w.write_event(Event::End(BytesEnd::new("listOfUnits")))?;
                w.write_event(Event::End(BytesEnd::new("unitDefinition")))?;
            }
            w.write_event(Event::End(BytesEnd::new("listOfUnitDefinitions")))?;
        }
        w.write_event(Event::Start(start("listOfParameters", &[])))?;
        for p in &self.params {
            let v = math::num(p.value);
            let mut b = start("parameter", &[("id", &p.id), ("value", &v)]);
            if let Some(n) = &p.name {
                b.push_attribute(("name", n.as_str()));
            }
            if let Some(u) = p.units {
                b.push_attribute(("units", u));
            }
            b.push_attribute(("constant", if p.constant { "true" } else { "false" }));
            w.write_event(Event::Empty(b))?;
        }
        w.write_event(Event::End(BytesEnd::new("listOfParameters")))?;
        w.write_event(Event::Start(start("listOfRules", &[])))?;
        for (v, e) in &self.assignment_rules {
            w.write_event(Event::Start(start("assignmentRule", &[("variable", v)])))?;
            write_math(w, e)?;
            w.write_event(Event::End(BytesEnd::new("assignmentRule")))?;
        }
        for (v, e) in &self.rate_rules {
            w.write_event(Event::Start(start("rateRule", &[("variable", v)])))?;
            write_math(w, e)?;
            w.write_event(Event::End(BytesEnd::new("rateRule")))?;
        }
        w.write_event(Event::End(BytesEnd::new("listOfRules")))?;
        if !self.events.is_empty() {
            w.write_event(Event::Start(start("listOfEvents", &[])))?;
            for ev in &self.events {
                w.write_event(Event::Start(start("event", &[("id", &ev.id), ("useValuesFromTriggerTime", "false")])))?;
                w.write_event(Event::Start(start(
                    "trigger",
                    &[
                        ("initialValue", if ev.initial_value { "true" } else { "false" }),
                        ("persistent", if ev.persistent { "true" } else { "false" }),
                    ],
                )))?;
                write_math(w, &ev.trigger)?;
                w.write_event(Event::End(BytesEnd::new("trigger")))?;
                w.write_event(Event::Start(start("priority", &[])))?;
                write_math(w, &Ex::Num(ev.priority))?;
                w.write_event(Event::End(BytesEnd::new("priority")))?;
                w.write_event(Event::Start(start("listOfEventAssignments", &[])))?;
                for (v, e) in &ev.assignments {
                    w.write_event(Event::Start(start("eventAssignment", &[("variable", v)])))?;
                    write_math(w, e)?;
                    w.write_event(Event::End(BytesEnd::new("eventAssignment")))?;
                }
                w.write_event(Event::End(BytesEnd::new("listOfEventAssignments")))?;
                w.write_event(Event::End(BytesEnd::new("event")))?;
            }
            w.write_event(Event::End(BytesEnd::new("listOfEvents")))?;
        }
        w.write_event(Event::End(BytesEnd::new("model")))?;
        w.write_event(Event::End(BytesEnd::new("sbml")))?;
        Ok(())
    }
}
