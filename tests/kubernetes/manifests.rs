//! Rendering the manifests offline and reading what they hold; what the binary accepts, read
//! from its own command line definition.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use crate::cli::Cli;
use clap::CommandFactory as _;
use serde::Deserialize as _;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

pub(crate) fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s")
}

/// Every directory under k8s/overlays with a kustomization: new overlays are checked too.
pub(crate) fn overlays() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(k8s_dir().join("overlays"))
        .expect("k8s/overlays exists")
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("kustomization.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 2, "expected the dev and prod overlays, found {dirs:?}");
    dirs
}

/// `kubectl kustomize DIR`: offline, and with no kubeconfig, so that it could not reach a
/// cluster even by mistake (kubectl's default server is localhost:8080, our REST port).
pub(crate) fn render(kubectl: &Path, dir: &Path) -> String {
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .env("KUBECONFIG", "/dev/null")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run kubectl kustomize");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl kustomize {} failed:\n{stderr}", dir.display());
    String::from_utf8(output.stdout).unwrap()
}

pub(crate) fn parse(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("kustomize renders valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading the rendered objects
// ---------------------------------------------------------------------------------------------

pub(crate) fn objects<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    docs.iter().filter(move |doc| doc["kind"] == kind)
}

/// `Kind/name`, as kubectl prints it.
pub(crate) fn id(doc: &Value) -> String {
    format!("{}/{}", str_at(doc, "/kind"), str_at(doc, "/metadata/name"))
}

pub(crate) fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn replicas(docs: &[Value], deployment: &str) -> Option<i64> {
    objects(docs, "Deployment")
        .find(|doc| doc["metadata"]["name"] == deployment)
        .and_then(|doc| doc.pointer("/spec/replicas"))
        .and_then(Value::as_i64)
}

/// A workload's pod template.
#[derive(Debug)]
pub(crate) struct Pod<'a> {
    pub(crate) owner: String,
    /// A long-running server (a Deployment, StatefulSet or DaemonSet), not a run-to-completion
    /// Job: servers need probes, ports and a drain.
    pub(crate) serves: bool,
    pub(crate) labels: &'a Value,
    pub(crate) spec: &'a Value,
}

pub(crate) fn pods(docs: &[Value]) -> Vec<Pod<'_>> {
    docs.iter()
        .filter_map(|doc| {
            let template = match doc["kind"].as_str()? {
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                    doc.pointer("/spec/template")?
                }
                "CronJob" => doc.pointer("/spec/jobTemplate/spec/template")?,
                _ => return None,
            };
            Some(Pod {
                owner: id(doc),
                serves: !matches!(doc["kind"].as_str(), Some("Job" | "CronJob")),
                labels: &template["metadata"]["labels"],
                spec: &template["spec"],
            })
        })
        .collect()
}

/// Every container and init container, named for messages: `Job/x init container y`.
pub(crate) fn pod_containers<'a>(pod: &Pod<'a>) -> Vec<(String, &'a Value)> {
    let mut found = Vec::new();
    for (field, what) in [("initContainers", "init container"), ("containers", "container")] {
        for container in pod.spec[field].as_array().into_iter().flatten() {
            let name = str_at(container, "/name");
            found.push((format!("{} {what} {name}", pod.owner), container));
        }
    }
    found
}

pub(crate) fn containers(docs: &[Value]) -> Vec<(String, &Value)> {
    pods(docs).iter().flat_map(pod_containers).collect()
}

/// A server's long-running containers (its init containers run to completion).
pub(crate) fn server_containers<'a>(pod: &Pod<'a>) -> Vec<(String, &'a Value)> {
    pod_containers(pod).into_iter().filter(|(name, _)| !name.contains(" init container ")).collect()
}

/// The container's `env` value of `name`, if it is set as a plain value.
pub(crate) fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"].as_array()?.iter().find(|var| var["name"] == name)?["value"].as_str()
}

/// Whether every `key: value` of `selector` is among `labels`.
pub(crate) fn selects(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|selector| {
        !selector.is_empty() && selector.iter().all(|(key, value)| labels.get(key) == Some(value))
    })
}

// ---------------------------------------------------------------------------------------------
// What the binary accepts, read from its own command line definition
// ---------------------------------------------------------------------------------------------

/// Every environment variable the binary reads, with the flag it stands for and its default.
pub(crate) fn settings() -> BTreeMap<String, (String, Option<String>)> {
    fn collect(command: &clap::Command, into: &mut BTreeMap<String, (String, Option<String>)>) {
        for arg in command.get_arguments() {
            if let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) {
                let default = arg.get_default_values().first();
                let default = default.map(|value| value.to_string_lossy().into_owned());
                into.insert(env.to_string_lossy().into_owned(), (long.to_owned(), default));
            }
        }
        for subcommand in command.get_subcommands() {
            collect(subcommand, into);
        }
    }
    let mut settings = BTreeMap::new();
    collect(&Cli::command(), &mut settings);
    settings
}

/// The value a server container gives a setting: its env value, else the binary's default.
pub(crate) fn setting(container: &Value, env: &str) -> Option<String> {
    env_value(container, env)
        .map(str::to_owned)
        .or_else(|| settings().get(env).and_then(|(_, default)| default.clone()))
}
