//! The deployment examples in deploy/ stay usable: the Kubernetes
//! manifests parse and have what the walkthrough relies on, the store
//! keeps its state across a restart, no manifest carries a key, and the
//! cluster experiment is a valid external experiment.

use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every manifest in deploy/kubernetes.
fn manifests() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(deploy().join("kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    files.sort();
    files
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
    for file in manifests() {
        let file = file.as_str();
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
    for wanted in ["Deployment", "Service", "PersistentVolumeClaim"] {
        assert!(
            kinds.iter().any(|k| k == wanted),
            "no {wanted} in deploy/kubernetes"
        );
    }
}

/// The Deployment named `name`, from any manifest.
fn deployment(name: &str) -> serde_yaml::Value {
    manifests()
        .iter()
        .flat_map(|file| documents(file))
        .find(|doc| doc["kind"] == "Deployment" && doc["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Deployment {name}"))
}

#[test]
fn the_store_writes_an_append_only_file_to_a_volume_and_reloads_it() {
    let redis = deployment("authscale-redis");
    let pod = &redis["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .expect("redis args")
        .iter()
        .map(|a| a.as_str().expect("string args"))
        .collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1).copied())
    };
    assert_eq!(value("--appendonly"), Some("yes"), "{args:?}");
    assert_eq!(value("--appendfsync"), Some("everysec"), "{args:?}");
    let dir = value("--dir").expect("--dir: where the AOF lives");
    let mount = container["volumeMounts"]
        .as_sequence()
        .expect("volume mounts")
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap_or_else(|| panic!("no volume mounted at {dir}"));
    let volume = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume is declared");
    let claim = volume["persistentVolumeClaim"]["claimName"]
        .as_str()
        .expect("the AOF lives on a PersistentVolumeClaim");
    assert!(
        manifests()
            .iter()
            .flat_map(|f| documents(f))
            .any(|doc| doc["kind"] == "PersistentVolumeClaim" && doc["metadata"]["name"] == claim),
        "the claim {claim} is not declared"
    );
    // One pod at a time may own a ReadWriteOnce volume and its AOF.
    assert_eq!(redis["spec"]["strategy"]["type"], "Recreate");
}

/// Every mapping in `value`, depth first.
fn mappings(value: &serde_yaml::Value, out: &mut Vec<serde_yaml::Mapping>) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            out.push(map.clone());
            map.values().for_each(|v| mappings(v, out));
        }
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|v| mappings(v, out)),
        _ => {}
    }
}

#[test]
fn no_manifest_carries_key_material_and_the_nodes_read_the_key_from_a_secret() {
    for file in manifests() {
        for doc in documents(&file) {
            assert_ne!(doc["kind"], "Secret", "{file}: a Secret with a key in it");
            let mut found = Vec::new();
            mappings(&doc, &mut found);
            for map in found {
                for field in ["data", "binaryData", "stringData"] {
                    assert!(
                        !map.contains_key(field),
                        "{file}: `{field}` holds material in a manifest"
                    );
                }
            }
        }
    }
    let token = deployment("authscale-node-token");
    let pod = &token["spec"]["template"]["spec"];
    let args: Vec<&str> = pod["containers"][0]["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let key = args
        .iter()
        .find_map(|a| a.strip_prefix("--jwt-secret="))
        .expect("a token node names its key file");
    let secret = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find_map(|v| v["secret"]["secretName"].as_str())
        .expect("the key comes from a Secret");
    assert!(key.ends_with("/jwt.key"), "{key}");
    // The walkthrough (docs/cluster.md) creates that Secret from a random key.
    let readme =
        std::fs::read_to_string(deploy().join("../docs/cluster.md")).expect("docs/cluster.md");
    assert!(
        readme.contains("head -c 32 /dev/urandom > jwt.key")
            && readme.contains(&format!(
                "kubectl create secret generic {secret} --from-file=jwt.key"
            )),
        "docs/cluster.md does not create the Secret {secret}"
    );
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
