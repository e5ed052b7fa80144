//! Every command that takes an auth mode lists exactly the modes the
//! schema defines: the help is derived from `AuthMode`, not written by hand.

mod support;

use authscale_schema::AuthMode;
use support::{exited, run, succeeded};

fn help(command: &str) -> String {
    succeeded(&run([command, "--help"]))
}

#[test]
fn every_auth_mode_is_listed_by_every_command_that_takes_one() {
    for command in ["sweep", "load", "node"] {
        let help = help(command);
        for mode in AuthMode::ALL {
            assert!(
                help.contains(mode.as_str()),
                "`authscale {command} --help` does not list {mode}:\n{help}"
            );
        }
    }
}

#[test]
fn node_help_shows_the_defaults_the_node_uses() {
    let help = help("node");
    for shown in [
        "[default: none]",
        "[default: 127.0.0.1:8080]",
        "[default: HS256]",
        "[default: 100ms]",
    ] {
        assert!(help.contains(shown), "{shown} missing from node --help");
    }
}

#[test]
fn an_unknown_mode_is_refused_with_the_accepted_ones() {
    for args in [
        ["sweep", "--modes", "cookies"],
        ["load", "--auth", "cookies"],
        ["node", "--auth", "cookies"],
    ] {
        let stderr = exited(&run(args), 2);
        for mode in AuthMode::ALL {
            assert!(stderr.contains(mode.as_str()), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn sweep_help_shows_the_built_in_experiment() {
    let help = help("sweep");
    let defaults = serde_json::to_value(authscale_schema::Experiment::default()).expect("json");
    let shown = |value: &serde_json::Value| match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    for key in [
        "modes",
        "nodes",
        "rounds",
        "slice-warmup",
        "store-cpu",
        "store-client",
        "isolate",
    ] {
        let section = help
            .split(&format!("--{key} <"))
            .nth(1)
            .unwrap_or_else(|| panic!("--{key} missing from sweep --help"));
        let section = section.split("\n      --").next().unwrap_or_default();
        let expected = format!("[default: {}]", shown(&defaults[key]));
        assert!(
            section.contains(&expected),
            "--{key}: {expected} missing:\n{section}"
        );
        // No second, hand-written default to contradict it.
        assert_eq!(
            section.matches("[default:").count(),
            1,
            "--{key}:\n{section}"
        );
    }
}
