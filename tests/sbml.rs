//! The SBML writer on its own (feature `sbml`; the independent check by libsbml and
//! libroadrunner is tests/sbml/check_sbml.py, run by CI): every reference scenario exports to
//! well-formed XML whose ids are unique and whose formulas name only declared ids, names are
//! escaped, and the instant t = 0 is in the initial values.

use cartkin::Scenario;
use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::{BTreeMap, BTreeSet};

fn scenarios() -> Vec<Scenario> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if n.starts_with('S') && n.ends_with(".json") && !n.ends_with("_endpoints.json") {
            v.push(Scenario::from_path(&p).unwrap());
        }
    }
    assert_eq!(v.len(), 8);
    v
}

/// Parsed file: every `id` attribute, every `<ci>` name, and the parameters' values.
struct Parsed {
    ids: Vec<String>,
    refs: BTreeSet<String>,
    values: BTreeMap<String, String>,
}

fn parse(xml: &str) -> Parsed {
    let mut r = Reader::from_str(xml);
    let (mut ids, mut refs, mut values) = (Vec::new(), BTreeSet::new(), BTreeMap::new());
    let mut in_ci = false;
    loop {
        match r.read_event().unwrap_or_else(|e| panic!("not well-formed: {e}")) {
            Event::Start(e) | Event::Empty(e) => {
                in_ci = e.name().as_ref() == b"ci";
                let mut id = None;
                let mut value = None;
                for a in e.attributes() {
                    let a = a.unwrap();
                    let v = a.unescape_value().unwrap().to_string();
                    match a.key.as_ref() {
                        b"id" => id = Some(v),
                        b"value" => value = Some(v),
                        _ => {}
                    }
                }
                if let Some(i) = id {
                    if let Some(v) = value {
                        values.insert(i.clone(), v);
                    }
                    ids.push(i);
                }
            }
            Event::Text(t) if in_ci => {
                refs.insert(t.decode().unwrap().trim().to_string());
            }
            Event::End(_) => in_ci = false,
            Event::Eof => break,
            _ => {}
        }
    }
    Parsed { ids, refs, values }
}

#[test]
fn every_scenario_exports_well_formed_sbml_with_unique_declared_ids() {
    let with = cartkin::sbml::Options { endpoints: true };
    for (sc, opt) in scenarios().into_iter().flat_map(|sc| [(sc.clone(), Default::default()), (sc, with)]) {
        let xml = cartkin::sbml::scenario_with(&sc, &opt).unwrap().to_xml();
        assert_eq!(xml.contains("ev_max_car_t"), opt.endpoints);
        let p = parse(&xml);
        let set: BTreeSet<&String> = p.ids.iter().collect();
        assert_eq!(set.len(), p.ids.len(), "{}: duplicate ids", sc.name());
        for r in &p.refs {
            assert!(set.contains(r), "{}: <ci>{r}</ci> is not declared", sc.name());
        }
        for state in ["E", "M", "X", "B", "G", "I", "I_eff", "C", "Q"] {
            assert!(set.contains(&state.to_string()), "{}: no {state}", sc.name());
        }
        assert!(xml.contains("<rateRule variable=\"E\">") && xml.contains("<assignmentRule variable=\"I_eff\">"));
        assert!(xml.contains("level=\"3\" version=\"2\""));
    }
}

#[test]
fn the_instant_t0_is_in_the_initial_values() {
    let all = scenarios();
    let by = |n: &str| all.iter().find(|s| s.name().starts_with(n)).unwrap();
    // S1: 1e8 cells at day 0, f_mem 0.2 -> E 8e7, M 2e7 (README: initial_state is before it)
    let p = parse(&cartkin::sbml::scenario(by("S1")).unwrap().to_xml());
    assert_eq!(p.values["E"].parse::<f64>().unwrap(), 8e7);
    assert_eq!(p.values["M"].parse::<f64>().unwrap(), 2e7);
    assert_eq!(p.values["T"], "0.0");
    // S7: a prophylactic dose at day 0 -> tocilizumab acting from the start, window to tau_T
    let p = parse(&cartkin::sbml::scenario(by("S7")).unwrap().to_xml());
    assert_eq!(p.values["T"], "1.0");
    assert_eq!(p.values["toci_end"].parse::<f64>().unwrap(), 14.0);
    // S6: no tocilizumab -> no reactive dose event
    let xml = cartkin::sbml::scenario(by("S6")).unwrap().to_xml();
    assert!(!xml.contains("ev_toci_reactive"));
}

#[test]
fn names_are_escaped() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/S1_nominal.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["name"] = serde_json::Value::from("a<b>&\"c");
    let odd = Scenario::from_json_str(&v.to_string()).unwrap();
    assert!(odd.name().contains('<'));
    let xml = cartkin::sbml::scenario(&odd).unwrap().to_xml();
    assert!(xml.contains("a&lt;b&gt;&amp;&quot;c"));
    parse(&xml);
}

/// Every zoo model's typical patient, and a kimmel2021 patient with its extinction
/// uniforms, export with unique declared ids and a rate rule per state.
#[test]
fn every_zoo_model_exports() {
    use cartkin::model::zoo::{Kind, ZooPopulation};
    for k in Kind::ALL {
        let pop = ZooPopulation::builtin(*k);
        let p = cartkin::trial::PatientSource::patient(&pop, 1, 3).unwrap();
        for u in [None, Some(p.uniforms())] {
            let xml = cartkin::sbml::zoo(*k, p.values(), u).unwrap().to_xml();
            let parsed = parse(&xml);
            let set: BTreeSet<&String> = parsed.ids.iter().collect();
            assert_eq!(set.len(), parsed.ids.len(), "{}: duplicate ids", k.info().name);
            for r in &parsed.refs {
                assert!(set.contains(r), "{}: <ci>{r}</ci> is not declared", k.info().name);
            }
            for st in k.info().states {
                let stoch = matches!(*st, "rho" | "V");
                if !stoch || (u.is_some() && *k == Kind::Kimmel2021) {
                    assert!(xml.contains(&format!("<rateRule variable=\"{st}\">")), "{}: {st}", k.info().name);
                }
            }
        }
    }
    // a value outside its domain is a typed error
    let mut v = ZooPopulation::typical(Kind::Stein2019).typical_values().to_vec();
    v[0] = -1.0;
    assert!(cartkin::sbml::zoo(Kind::Stein2019, &v, None).is_err());
}

/// Model-v2 patients of the default population export with unique declared ids and a rate
/// rule for each state.
#[test]
fn model_v2_patients_export() {
    use cartkin::population::v2::PopulationV2;
    let pop = PopulationV2::default();
    for id in 0..20 {
        let p = cartkin::trial::PatientSource::patient(&pop, 2018, id).unwrap();
        let xml = cartkin::sbml::v2(&p.scenario).unwrap().to_xml();
        let parsed = parse(&xml);
        let set: BTreeSet<&String> = parsed.ids.iter().collect();
        assert_eq!(set.len(), parsed.ids.len(), "patient {id}: duplicate ids");
        for r in &parsed.refs {
            assert!(set.contains(r), "patient {id}: <ci>{r}</ci> is not declared");
        }
        for st in ["E", "M", "P", "X", "B", "R", "G", "I", "S", "N", "Q"] {
            assert!(xml.contains(&format!("<rateRule variable=\"{st}\">")), "patient {id}: {st}");
        }
    }
}
