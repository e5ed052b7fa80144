//! The deployment examples in deploy/ stay usable: the Kubernetes
//! manifests parse and have what the walkthrough relies on, and the
//! cluster experiment is a valid external experiment.

use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn documents(file: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(deploy().join("kubernetes").join(file)).expect("manifest");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

#[test]
fn manifests_parse_and_nodes_are_ready_on_readyz() {
    let mut kinds = Vec::new();
    for file in ["redis.yaml", "node.yaml", "keys.yaml"] {
        for doc in documents(file) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: a document without kind"));
            assert!(
                doc["apiVersion"].is_string(),
                "{file}: {kind} without apiVersion"
            );
            assert!(
                doc["metadata"]["name"].is_string(),
                "{file}: {kind} without a name"
            );
            if kind == "Deployment"
                && doc["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("authscale-node"))
            {
                let container = &doc["spec"]["template"]["spec"]["containers"][0];
                assert_eq!(
                    container["readinessProbe"]["httpGet"]["path"], "/readyz",
                    "{file}"
                );
                assert!(
                    container["resources"]["limits"]["cpu"].is_string(),
                    "a node needs its CPU budget"
                );
            }
            kinds.push(kind.to_owned());
        }
    }
    for wanted in ["Deployment", "Service", "ConfigMap"] {
        assert!(
            kinds.iter().any(|k| k == wanted),
            "no {wanted} in deploy/kubernetes"
        );
    }
}

#[test]
fn the_cluster_experiment_is_a_valid_external_experiment() {
    let experiment =
        authscale_lab::Experiment::from_file(&deploy().join("cluster-experiment.toml"))
            .expect("parses");
    let external = experiment.external.clone().expect("an [external] section");
    assert!(external.scale_command.contains("{n}"));
    experiment.plan().expect("plans");
}
