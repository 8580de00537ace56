//! A small expression tree and its Content MathML (the subset SBML Level 3 Version 2 reads).

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use std::io::Write;

/// An expression: a number, an identifier, the SBML time symbol, an operator applied to
/// arguments (its MathML element name: `plus`, `times`, `exp`, `geq`, `and`, ...) or a
/// piecewise choice.
#[derive(Debug, Clone, PartialEq)]
pub enum Ex {
    /// A number (`<cn>`; infinities as `<infinity/>`).
    Num(f64),
    /// An identifier (`<ci>`).
    Sym(String),
    /// The simulation time (`<csymbol>` of SBML's time).
    Time,
    /// `<apply>` of a MathML operator to the arguments.
    Op(&'static str, Vec<Ex>),
    /// `<piecewise>`: the first `(value, condition)` whose condition holds, else `otherwise`.
    Piecewise(Vec<(Ex, Ex)>, Box<Ex>),
}

/// A number.
pub fn n(x: f64) -> Ex {
    Ex::Num(x)
}

/// An identifier.
pub fn s(id: impl Into<String>) -> Ex {
    Ex::Sym(id.into())
}

/// The sum of the terms (0 for none).
pub fn sum(terms: Vec<Ex>) -> Ex {
    match terms.len() {
        0 => n(0.0),
        1 => terms.into_iter().next().unwrap_or(Ex::Num(0.0)),
        _ => Ex::Op("plus", terms),
    }
}

/// The product of the factors (1 for none).
pub fn prod(factors: Vec<Ex>) -> Ex {
    match factors.len() {
        0 => n(1.0),
        1 => factors.into_iter().next().unwrap_or(Ex::Num(1.0)),
        _ => Ex::Op("times", factors),
    }
}

/// `e^a`.
pub fn exp(a: Ex) -> Ex {
    Ex::Op("exp", vec![a])
}

/// `max(a, b)`.
pub fn max(a: Ex, b: Ex) -> Ex {
    Ex::Op("max", vec![a, b])
}

/// `a >= b`.
pub fn geq(a: Ex, b: Ex) -> Ex {
    Ex::Op("geq", vec![a, b])
}

/// `a <= b`.
pub fn leq(a: Ex, b: Ex) -> Ex {
    Ex::Op("leq", vec![a, b])
}

/// `a < b`.
pub fn lt(a: Ex, b: Ex) -> Ex {
    Ex::Op("lt", vec![a, b])
}

/// `a > b`.
pub fn gt(a: Ex, b: Ex) -> Ex {
    Ex::Op("gt", vec![a, b])
}

/// `a == b`.
pub fn eq(a: Ex, b: Ex) -> Ex {
    Ex::Op("eq", vec![a, b])
}

/// All of the conditions.
pub fn and(c: Vec<Ex>) -> Ex {
    if c.len() == 1 {
        c.into_iter().next().unwrap_or(Ex::Op("true", vec![]))
    } else {
        Ex::Op("and", c)
    }
}

/// `value` if `cond`, else `otherwise`.
pub fn ite(cond: Ex, value: Ex, otherwise: Ex) -> Ex {
    Ex::Piecewise(vec![(value, cond)], Box::new(otherwise))
}

impl std::ops::Add for Ex {
    type Output = Ex;
    fn add(self, o: Ex) -> Ex {
        Ex::Op("plus", vec![self, o])
    }
}

impl std::ops::Sub for Ex {
    type Output = Ex;
    fn sub(self, o: Ex) -> Ex {
        Ex::Op("minus", vec![self, o])
    }
}

impl std::ops::Mul for Ex {
    type Output = Ex;
    fn mul(self, o: Ex) -> Ex {
        Ex::Op("times", vec![self, o])
    }
}

impl std::ops::Div for Ex {
    type Output = Ex;
    fn div(self, o: Ex) -> Ex {
        Ex::Op("divide", vec![self, o])
    }
}

impl std::ops::Neg for Ex {
    type Output = Ex;
    fn neg(self) -> Ex {
        Ex::Op("minus", vec![self])
    }
}

/// A number as SBML writes it (shortest round trip; `INF` / `-INF` for infinities).
pub fn num(x: f64) -> String {
    if x == f64::INFINITY {
        "INF".into()
    } else if x == f64::NEG_INFINITY {
        "-INF".into()
    } else {
        // the shortest round-trip form (`86400.0`, `1e-9`): a valid XML double
        format!("{x:?}")
    }
}

const MATHML: &str = "http://www.w3.org/1998/Math/MathML";
const TIME_URL: &str = "http://www.sbml.org/sbml/symbols/time";

/// Write `<math>` holding `e`.
pub fn write_math<W: Write>(w: &mut Writer<W>, e: &Ex) -> std::io::Result<()> {
    let mut m = BytesStart::new("math");
    m.push_attribute(("xmlns", MATHML));
    w.write_event(Event::Start(m))?;
    write_ex(w, e)?;
    w.write_event(Event::End(BytesEnd::new("math")))
}

fn text<W: Write>(w: &mut Writer<W>, tag: &str, attrs: &[(&str, &str)], body: &str) -> std::io::Result<()> {
    let mut b = BytesStart::new(tag);
    for a in attrs {
        b.push_attribute(*a);
    }
    w.write_event(Event::Start(b))?;
    w.write_event(Event::Text(BytesText::new(body)))?;
    w.write_event(Event::End(BytesEnd::new(tag)))
}

fn write_ex<W: Write>(w: &mut Writer<W>, e: &Ex) -> std::io::Result<()> {
    match e {
        Ex::Num(x) if x.is_infinite() => {
            if *x < 0.0 {
                w.write_event(Event::Start(BytesStart::new("apply")))?;
                w.write_event(Event::Empty(BytesStart::new("minus")))?;
                w.write_event(Event::Empty(BytesStart::new("infinity")))?;
                w.write_event(Event::End(BytesEnd::new("apply")))
            } else {
                w.write_event(Event::Empty(BytesStart::new("infinity")))
            }
        }
        Ex::Num(x) => text(w, "cn", &[], &num(*x)),
        Ex::Sym(id) => text(w, "ci", &[], id),
        Ex::Time => text(w, "csymbol", &[("encoding", "text"), ("definitionURL", TIME_URL)], "time"),
        Ex::Op(op, args) if args.is_empty() => w.write_event(Event::Empty(BytesStart::new(*op))),
        Ex::Op(op, args) => {
            w.write_event(Event::Start(BytesStart::new("apply")))?;
            w.write_event(Event::Empty(BytesStart::new(*op)))?;
            for a in args {
                write_ex(w, a)?;
            }
            w.write_event(Event::End(BytesEnd::new("apply")))
        }
        Ex::Piecewise(pieces, otherwise) => {
            w.write_event(Event::Start(BytesStart::new("piecewise")))?;
            for (v, c) in pieces {
                w.write_event(Event::Start(BytesStart::new("piece")))?;
                write_ex(w, v)?;
                write_ex(w, c)?;
                w.write_event(Event::End(BytesEnd::new("piece")))?;
            }
            w.write_event(Event::Start(BytesStart::new("otherwise")))?;
            write_ex(w, otherwise)?;
            w.write_event(Event::End(BytesEnd::new("otherwise")))?;
            w.write_event(Event::End(BytesEnd::new("piecewise")))
        }
    }
}
