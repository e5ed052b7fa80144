//! From an experiment as written to a plan a sweep can run: reading the
//! TOML file, checking every field with a reason, parsing the durations.

use std::time::Duration;

use anyhow::{bail, ensure};

use crate::experiment::{Experiment, FaultKind, Persistence, Plan};
use crate::vocabulary::AuthMode;

impl Experiment {
    /// Reads a TOML file; unknown keys are errors, missing keys default.
    ///
    /// A file without a `name` is named after itself (its stem, with
    /// anything but letters, digits, `-` and `_` turned into `-`); one
    /// without a `description` is described by what it changes in the
    /// built-in experiment, so neither borrows the built-in one's.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Experiment> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read experiment {}: {e}", path.display()))?;
        let mut e: Experiment = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("experiment {}: {e}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("experiment {}: {e}", path.display()))?;
        if !table.contains_key("name") {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy())
                .unwrap_or_default();
            e.name = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
        }
        if !table.contains_key("description") {
            let changes = e.changes_from(&Experiment::default());
            e.description = if changes.is_empty() {
                "the built-in experiment".to_owned()
            } else {
                format!("the built-in experiment with {}", changes.join(", "))
            };
        }
        Ok(e)
    }

    /// `key = value` for every setting (other than the name and the
    /// description) that differs from `base`, in the file's spelling.
    pub fn changes_from(&self, base: &Experiment) -> Vec<String> {
        let (Ok(serde_json::Value::Object(now)), Ok(serde_json::Value::Object(was))) =
            (serde_json::to_value(self), serde_json::to_value(base))
        else {
            return Vec::new();
        };
        now.into_iter()
            .filter(|(key, value)| {
                key != "name" && key != "description" && was.get(key) != Some(value)
            })
            .map(|(key, value)| format!("{key} = {value}"))
            .collect()
    }

    /// Validates and parses; every sweep starts with this.
    pub fn plan(self) -> anyhow::Result<Plan> {
        ensure!(
            !self.name.is_empty()
                && self
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)),
            "the experiment name {:?} must be letters, digits, - or _",
            self.name
        );
        ensure!(
            !self.modes.is_empty(),
            "modes: name at least one of {}",
            AuthMode::ALL.map(AuthMode::as_str).join(", ")
        );
        if let Some(twice) = self
            .modes
            .iter()
            .enumerate()
            .find_map(|(i, m)| self.modes[..i].contains(m).then_some(m))
        {
            bail!("modes: {twice} is named twice; name each mode once");
        }
        ensure!(
            !self.nodes.is_empty(),
            "nodes: give at least one node count"
        );
        ensure!(
            self.nodes.iter().all(|n| (1..=64).contains(n)),
            "nodes: each count must be 1 to 64"
        );
        ensure!(
            self.nodes.windows(2).all(|w| w[0] < w[1]),
            "nodes: counts must be increasing, like [1, 2, 4, 8]"
        );
        for (name, value) in [("node-cpu", self.node_cpu), ("store-cpu", self.store_cpu)] {
            ensure!(
                value.is_finite() && value > 0.0 && value <= 64.0,
                "{name} must be a fraction of a core greater than 0 (e.g. 0.1)"
            );
            // The kernel enforces at least 1 ms of CPU per quota period,
            // and a period is at most 1 s.
            ensure!(
                value >= 0.001,
                "{name} {value} is under the smallest budget the kernel enforces, 0.001 of a core (1 ms of CPU per second)"
            );
        }
        ensure!(
            self.connections_per_node >= 1,
            "connections-per-node must be at least 1"
        );
        ensure!(
            self.work_us <= crate::MAX_WORK_US,
            "work-us must be 0 to {} µs (one second of CPU per request)",
            crate::MAX_WORK_US
        );
        ensure!(
            self.requests_per_login >= 1,
            "requests-per-login must be at least 1"
        );
        ensure!(
            self.slo_start_rate_per_node > 0.0 && self.slo_probes >= 2,
            "slo-start-rate-per-node must be positive and slo-probes at least 2"
        );
        if let Some(x) = &self.external {
            ensure!(
                x.target.starts_with("http://"),
                "external.target {:?} must be an http:// URL",
                x.target
            );
            ensure!(
                !x.scale_command.trim().is_empty(),
                "external.scale-command must not be empty"
            );
            ensure!(
                self.faults.is_none(),
                "fault runs need local processes: remove [faults] or [external]"
            );
            for (name, limit) in [
                ("node-cpu-limit", x.node_cpu_limit),
                ("store-cpu-limit", x.store_cpu_limit),
            ] {
                if let Some(cores) = limit {
                    ensure!(
                        cores.is_finite() && cores > 0.0 && cores <= 1024.0,
                        "external.{name} = {cores}: give the cores of one instance, more than 0 and at most 1024"
                    );
                }
            }
            for url in x.node_metrics.iter().chain(&x.balancer_metrics) {
                ensure!(
                    url.starts_with("http://"),
                    "external metrics URL {url:?} must be an http:// URL"
                );
            }
            for (mode, file) in &x.scenarios {
                ensure!(
                    self.modes.contains(mode),
                    "external.scenarios names {mode}, which the experiment does not sweep"
                );
                crate::Scenario::from_file(std::path::Path::new(file))
                    .map_err(|e| anyhow::anyhow!("external.scenarios.{mode}: {e:#}"))?;
            }
            let patterns = x.node_metrics.iter().filter(|u| u.contains("{i}")).count();
            ensure!(
                patterns == 0 || x.node_metrics.len() == 1,
                "external.node-metrics: give one URL with {{i}} (every instance) or a list of URLs without it, not both"
            );
            if patterns == 0 && !x.node_metrics.is_empty() {
                let most = self.nodes.iter().copied().max().unwrap_or(0) as usize;
                ensure!(
                    x.node_metrics.len() >= most,
                    "external.node-metrics lists {} URLs but the sweep goes to N = {most}: list one per instance, or give one URL with {{i}}",
                    x.node_metrics.len()
                );
            }
        }
        if let Some(f) = &self.faults {
            ensure!(
                !f.persistence.is_empty(),
                "faults.persistence: name at least one of none, aof"
            );
            ensure!(
                f.persistence.len() <= 1 || f.kinds.contains(&FaultKind::StoreOutage),
                "faults.persistence only changes store-outage runs: add it to faults.kinds"
            );
            ensure!(
                f.durability_users <= 1000,
                "faults.durability-users must be at most 1000"
            );
            ensure!((1..=64).contains(&f.nodes), "faults.nodes must be 1 to 64");
            ensure!(
                f.duration.0 <= Duration::from_secs(3600),
                "faults.duration: a fault run is bounded to one hour"
            );
            ensure!(
                f.at.0 + f.length.0 < f.duration.0,
                "faults: at + length must end before duration, leaving time to recover"
            );
            // The durability users are written before the load
            // starts; by the fault, `everysec` has fsynced them.
            ensure!(
                !f.persistence.contains(&Persistence::Aof) || f.at.0 >= Duration::from_secs(1),
                "faults.at must be at least 1s with aof: the append-only file is fsynced once a second"
            );
        }
        ensure!(
            self.duration.0 >= Duration::from_millis(500),
            "duration must be at least 500ms"
        );
        ensure!(
            self.duration.0 + self.warmup.0 <= Duration::from_secs(3600),
            "a step is bounded to one hour"
        );
        ensure!(
            self.cpu_period.0 >= Duration::from_millis(1)
                && self.cpu_period.0 <= Duration::from_secs(1),
            "cpu-period must be between 1ms and 1s"
        );
        ensure!((1..=100).contains(&self.rounds), "rounds must be 1 to 100");
        ensure!(
            self.slice.0 >= Duration::from_millis(200) && self.slice.0 <= Duration::from_secs(60),
            "slice must be between 200ms and 60s"
        );
        ensure!(
            self.slice_warmup.0 <= Duration::from_secs(60),
            "slice-warmup must be at most 60s"
        );
        let precision = self.precision;
        ensure!(
            precision == 0.0 || (precision.is_finite() && (0.5..=50.0).contains(&precision)),
            "precision must be 0 (a fixed number of rounds) or a percentage from 0.5 to 50 (4 for ±4%)"
        );
        if precision > 0.0 {
            ensure!(
                self.rounds >= 2,
                "rounds must be at least 2 with a precision: they are the first stage, whose spread sets the rest"
            );
            ensure!(
                self.max_time.0 >= Duration::from_secs(1)
                    && self.max_time.0 <= Duration::from_secs(24 * 3600),
                "max-time must be between 1s and 24h"
            );
        }
        ensure!(
            !self.store_timeout.0.is_zero() && self.store_timeout.0 <= Duration::from_secs(60),
            "store-timeout must be greater than zero and at most 60s"
        );
        ensure!(
            self.store_rtt.0 < self.store_timeout.0,
            "store-rtt ({}) must be shorter than store-timeout ({}): every store call waits the round trip",
            self.store_rtt,
            self.store_timeout
        );
        for (key, value, most) in [
            ("revocation-window", self.revocation_window, 600),
            ("session-cache-ttl", self.session_cache_ttl, 3600),
            ("slo-p99", self.slo_p99, 60),
        ] {
            ensure!(
                value.0 <= Duration::from_secs(most),
                "{key} = {value} is longer than the {} it may be",
                crate::duration::Dur(Duration::from_secs(most))
            );
        }
        Ok(Plan { experiment: self })
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::*;

    fn shipped(name: &str) -> Experiment {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../experiments")
            .join(name);
        Experiment::from_file(&path).expect("a valid shipped experiment")
    }

    #[test]
    fn default_toml_spells_out_the_built_in_defaults() {
        let file = serde_json::to_value(shipped("default.toml")).expect("json");
        let built_in = serde_json::to_value(Experiment::default()).expect("json");
        assert_eq!(file, built_in);
    }

    #[test]
    fn every_shipped_experiment_plans() {
        for entry in std::fs::read_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments"),
        )
        .expect("dir")
        {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Experiment::from_file(&path)
                    .and_then(Experiment::plan)
                    .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            }
        }
    }

    #[test]
    fn the_short_form_keeps_every_mode_n_fault_and_persistence_and_plans() {
        for name in [
            "faults.toml",
            "durability.toml",
            "all-modes.toml",
            "default.toml",
        ] {
            let full = shipped(name);
            let smoke = full.clone().smoke();
            assert_eq!(smoke.name, format!("{}-smoke", full.name));
            assert_eq!((&smoke.modes, &smoke.nodes), (&full.modes, &full.nodes));
            let kinds = |e: &Experiment| {
                e.faults
                    .as_ref()
                    .map(|f| (f.kinds.clone(), f.persistence.clone(), f.nodes))
            };
            assert_eq!(kinds(&smoke), kinds(&full), "{name}");
            let plan = smoke.plan().unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(
                plan.experiment.rounds <= 2 && plan.experiment.slice.0.as_millis() == 200,
                "{name}"
            );
            if let Some(f) = plan.experiment.faults {
                assert!(f.duration.0.as_secs_f64() <= 2.0, "{name}");
            }
        }
    }

    #[test]
    fn settings_the_design_ignores_are_named() {
        let quiet = shipped("default.toml");
        assert_eq!(quiet.ignored_settings(), Vec::<String>::new());
        let mut e = quiet.clone();
        e.duration = crate::duration::Dur::parse("2s").expect("2s");
        e.slo_probes = 3;
        let ignored = e.ignored_settings();
        assert_eq!(ignored.len(), 2, "{ignored:?}");
        assert!(ignored[0].starts_with("duration is set but ignored: an interleaved sweep"));
        assert!(ignored[1].starts_with("slo-probes is set but ignored"));
        e.pairing = Pairing::Blocks;
        e.rounds = 3;
        let ignored = e.ignored_settings();
        assert!(
            ignored
                .iter()
                .any(|w| w.starts_with("rounds is set but ignored")),
            "{ignored:?}"
        );
        assert!(
            !ignored.iter().any(|w| w.starts_with("duration")),
            "{ignored:?}"
        );
        for entry in std::fs::read_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments"),
        )
        .expect("dir")
        {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let e = Experiment::from_file(&path).expect("valid");
                assert_eq!(
                    e.ignored_settings(),
                    Vec::<String>::new(),
                    "{}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn a_file_without_name_or_description_is_named_and_described_by_itself() {
        let dir = std::env::temp_dir().join(format!("authscale-exp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("two nodes.toml");
        std::fs::write(&path, "nodes = [1, 2]\nmodes = [\"token\"]\n").expect("write");
        let e = Experiment::from_file(&path).expect("valid");
        assert_eq!(e.name, "two-nodes");
        assert_eq!(
            e.description,
            "the built-in experiment with modes = [\"token\"], nodes = [1,2]"
        );
        std::fs::write(&path, "name = \"x\"\ndescription = \"mine\"\n").expect("write");
        let e = Experiment::from_file(&path).expect("valid");
        assert_eq!((e.name.as_str(), e.description.as_str()), ("x", "mine"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_experiments_are_refused_with_reasons() {
        let cases: [(&str, &str); 11] = [
            ("nodes = [4, 2]", "increasing"),
            (
                "modes = [\"session\", \"session\"]",
                "session is named twice",
            ),
            ("modes = [\"cookies\"]", "unknown variant `cookies`"),
            ("node-cpu = 0", "node-cpu"),
            ("store-cpu = 0.0005", "smallest budget the kernel enforces"),
            ("duration = \"soon\"", "duration"),
            ("nmae = \"x\"", "unknown field"),
            ("cpu-period = \"5s\"", "cpu-period"),
            ("[faults]\nkinds = [\"meteor\"]", "unknown variant"),
            ("[faults]\npersistence = [\"rdb\"]", "unknown variant"),
            (
                "[faults]\npersistence = [\"aof\"]\nat = \"500ms\"",
                "at least 1s with aof",
            ),
        ];
        for (text, expected) in cases {
            let error = toml::from_str::<Experiment>(text)
                .map_err(anyhow::Error::from)
                .and_then(Experiment::plan)
                .expect_err(text);
            assert!(format!("{error:#}").contains(expected), "{text}: {error:#}");
        }
    }
}
