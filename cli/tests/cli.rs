//! The `cartkin` binary as a user runs it.

use std::process::Command;

fn cartkin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cartkin")).args(args).output().expect("run cartkin")
}

#[test]
fn models_lists_every_builtin_model_once() {
    let out = cartkin(&["models"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> =
        text.lines().filter(|l| l.starts_with("model ")).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert_eq!(names, ["reference", "minimal"], "{text}");
    assert!(text.contains("11 states: E, M, X"), "{text}");
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = cartkin(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}
