//! The deployment files in `deploy/`: every YAML file parses, the Kubernetes objects, compose
//! file, collector pipeline and kustomization hang together, and every configuration file the
//! hub is given there parses into its `Settings`, so none of them can drift from the code.
//! (CI also checks the Kubernetes manifests against the API schemas with kubernetes-validate.)

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde::Deserialize as _;
use serde_norway::Value;
use vawg_server::config::Settings;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every `*.yaml`/`*.yml` under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every document of a (multi-document) YAML file, with merge keys (`<<:`) applied.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            value
                .apply_merge()
                .unwrap_or_else(|e| panic!("{}: merge keys: {e}", path.display()));
            value
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The value at a dotted path (`spec.template.spec`), if present.
fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn str_at<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

fn k8s_objects() -> Vec<(PathBuf, Value)> {
    yaml_files(&deploy_dir().join("k8s"))
        .into_iter()
        .flat_map(|p| documents(&p).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

fn object<'a>(objects: &'a [(PathBuf, Value)], kind: &str) -> &'a Value {
    objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| str_at(o, "kind") == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in deploy/k8s"))
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let files = yaml_files(&deploy_dir());
    assert!(
        files.len() >= 8,
        "expected the deployment files, found {files:?}"
    );
    for file in files {
        assert!(!documents(&file).is_empty(), "{} is empty", file.display());
    }
}

#[test]
fn kubernetes_objects_are_complete() {
    let objects = k8s_objects();
    let kinds: BTreeSet<&str> = objects
        .iter()
        .filter_map(|(_, o)| str_at(o, "kind"))
        .collect();
    for kind in [
        "Namespace",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
    ] {
        assert!(kinds.contains(kind), "no {kind} in deploy/k8s: {kinds:?}");
    }
    for (path, o) in &objects {
        let what = format!("{} ({:?})", path.display(), str_at(o, "kind"));
        assert!(str_at(o, "apiVersion").is_some(), "{what}: apiVersion");
        assert!(str_at(o, "kind").is_some(), "{what}: kind");
        assert!(
            str_at(o, "metadata.name").is_some(),
            "{what}: metadata.name"
        );
        if str_at(o, "kind") != Some("Namespace") {
            assert_eq!(
                str_at(o, "metadata.namespace"),
                Some("vawg-hub"),
                "{what}: namespace"
            );
        }
    }
}

#[test]
fn the_deployment_is_replicated_probed_locked_down_and_bounded() {
    let objects = k8s_objects();
    let deployment = object(&objects, "Deployment");
    let replicas = at(deployment, "spec.replicas").and_then(Value::as_u64);
    assert!(replicas >= Some(2), "at least two replicas: {replicas:?}");
    let pod = at(deployment, "spec.template.spec").expect("pod spec");
    assert_eq!(
        at(pod, "securityContext.runAsNonRoot").and_then(Value::as_bool),
        Some(true)
    );
    let pod_labels = at(deployment, "spec.template.metadata.labels").expect("pod labels");
    let containers = at(pod, "containers")
        .and_then(Value::as_sequence)
        .expect("containers");
    assert!(!containers.is_empty());
    let health_port = at(pod, "containers")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
        })
        .find(|p| str_at(p, "name") == Some("health"))
        .and_then(|p| at(p, "containerPort"))
        .and_then(Value::as_u64)
        .expect("a port named health");
    for c in containers {
        let name = str_at(c, "name").unwrap_or("?");
        for probe in ["readinessProbe", "livenessProbe"] {
            let port = at(c, &format!("{probe}.grpc.port")).and_then(Value::as_u64);
            assert_eq!(port, Some(health_port), "{name}: {probe} on gRPC health");
        }
        for flag in [
            "securityContext.runAsNonRoot",
            "securityContext.readOnlyRootFilesystem",
        ] {
            assert_eq!(
                at(c, flag).and_then(Value::as_bool),
                Some(true),
                "{name}: {flag}"
            );
        }
        assert_eq!(
            at(c, "securityContext.allowPrivilegeEscalation").and_then(Value::as_bool),
            Some(false),
            "{name}: allowPrivilegeEscalation"
        );
        for bound in [
            "requests.cpu",
            "requests.memory",
            "limits.cpu",
            "limits.memory",
        ] {
            assert!(
                at(c, &format!("resources.{bound}")).is_some(),
                "{name}: resources.{bound}"
            );
        }
    }

    // The objects that point at the Deployment or its pods really do.
    let name = str_at(deployment, "metadata.name").unwrap();
    let hpa = object(&objects, "HorizontalPodAutoscaler");
    assert_eq!(str_at(hpa, "spec.scaleTargetRef.name"), Some(name));
    assert!(at(hpa, "spec.minReplicas").and_then(Value::as_u64) >= Some(2));
    let selects_pods = |selector: &Value| {
        selector
            .as_mapping()
            .expect("selector")
            .iter()
            .all(|(k, v)| pod_labels.get(k.as_str().unwrap()) == Some(v))
    };
    let pdb = object(&objects, "PodDisruptionBudget");
    assert!(selects_pods(
        at(pdb, "spec.selector.matchLabels").expect("pdb selector")
    ));
    for (_, service) in objects
        .iter()
        .filter(|(_, o)| str_at(o, "kind") == Some("Service"))
    {
        assert!(selects_pods(
            at(service, "spec.selector").expect("selector")
        ));
    }
}

#[test]
fn configmaps_and_secrets_the_deployment_mounts_exist_or_are_documented() {
    let objects = k8s_objects();
    let deployment = object(&objects, "Deployment");
    let kustomization = &documents(&deploy_dir().join("kustomization.yaml"))[0];
    let mut config_maps: BTreeSet<String> = objects
        .iter()
        .filter(|(_, o)| str_at(o, "kind") == Some("ConfigMap"))
        .filter_map(|(_, o)| str_at(o, "metadata.name").map(str::to_owned))
        .collect();
    for generator in at(kustomization, "configMapGenerator")
        .and_then(Value::as_sequence)
        .expect("configMapGenerator")
    {
        config_maps.insert(str_at(generator, "name").unwrap().to_owned());
        for file in generator.get("files").and_then(Value::as_sequence).unwrap() {
            let file = file.as_str().unwrap();
            assert!(
                deploy_dir().join(file).is_file(),
                "kustomization generates from missing {file}"
            );
        }
    }
    // Every definition and policy file reaches the cluster.
    let generated: BTreeSet<String> = at(kustomization, "configMapGenerator")
        .and_then(Value::as_sequence)
        .unwrap()
        .iter()
        .flat_map(|g| g.get("files").and_then(Value::as_sequence).unwrap().iter())
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    for folder in ["definitions", "policies"] {
        for entry in std::fs::read_dir(deploy_dir().join(folder)).unwrap() {
            let name = format!("{folder}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(generated.contains(&name), "{name} is not in a ConfigMap");
        }
    }
    for resource in at(kustomization, "resources")
        .and_then(Value::as_sequence)
        .unwrap()
    {
        let resource = resource.as_str().unwrap();
        assert!(deploy_dir().join(resource).is_file(), "missing {resource}");
    }

    let readme = std::fs::read_to_string(deploy_dir().join("README.md")).unwrap();
    for volume in at(deployment, "spec.template.spec.volumes")
        .and_then(Value::as_sequence)
        .unwrap()
    {
        if let Some(cm) = str_at(volume, "configMap.name") {
            assert!(
                config_maps.contains(cm),
                "ConfigMap {cm} is neither defined nor generated"
            );
        }
        if let Some(secret) = str_at(volume, "secret.secretName") {
            assert!(
                readme.contains(secret),
                "deploy/README.md does not say how to create Secret {secret}"
            );
        }
    }
}

#[test]
fn compose_runs_two_hubs_postgres_and_a_collector() {
    let compose = &documents(&deploy_dir().join("compose.yaml"))[0];
    let services = at(compose, "services")
        .and_then(Value::as_mapping)
        .expect("services");
    let hubs: Vec<&str> = services
        .iter()
        .filter(|(_, s)| {
            str_at(s, "build.dockerfile") == Some("deploy/Containerfile")
                && at(s, "command")
                    .and_then(Value::as_sequence)
                    .is_some_and(|c| c.first().and_then(Value::as_str) == Some("serve"))
        })
        .map(|(name, _)| name.as_str().unwrap())
        .collect();
    assert_eq!(hubs.len(), 2, "two hub replicas: {hubs:?}");
    for hub in &hubs {
        let env = at(&services[*hub], "environment").expect("environment");
        let url = str_at(env, "VAWG_DATABASE_URL").unwrap_or_default();
        assert!(url.starts_with("postgres://"), "{hub} uses PostgreSQL");
        assert!(
            str_at(env, "OTEL_EXPORTER_OTLP_ENDPOINT").is_some(),
            "{hub} exports telemetry"
        );
    }
    // The hubs' VAWG_* variables name real settings, with values of the right type.
    let env = at(&services[hubs[0]], "environment")
        .and_then(Value::as_mapping)
        .unwrap();
    let mut table = toml::Table::new();
    for (key, value) in env {
        let Some(key) = key.as_str().unwrap().strip_prefix("VAWG_") else {
            continue;
        };
        let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
        let (last, parents) = path.split_last().unwrap();
        let mut t = &mut table;
        for p in parents {
            t = t
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap();
        }
        let value = value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| serde_norway::to_string(value).unwrap().trim().to_owned());
        t.insert(last.clone(), toml::Value::String(value));
    }
    let settings: Settings = toml::Value::Table(table)
        .try_into()
        .unwrap_or_else(|e| panic!("compose hub environment: {e}"));
    assert!(settings.tls.is_some() && settings.jwt.is_some());
    assert!(settings.audit.signing_key.is_some());

    let image = |name: &str| {
        str_at(&services[name], "image")
            .unwrap_or_default()
            .to_owned()
    };
    assert!(image("postgres").contains("postgres"));
    assert!(image("otel-collector").contains("opentelemetry-collector"));
    assert!(deploy_dir().join("Containerfile").is_file());
    assert!(deploy_dir().join("otel-collector.yaml").is_file());
}

#[test]
fn the_collector_pipelines_take_otlp_traces_and_metrics() {
    let config = &documents(&deploy_dir().join("otel-collector.yaml"))[0];
    for signal in ["traces", "metrics"] {
        let pipeline = at(config, &format!("service.pipelines.{signal}"))
            .unwrap_or_else(|| panic!("no {signal} pipeline"));
        for part in ["receivers", "processors", "exporters"] {
            for component in pipeline
                .get(part)
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let component = component.as_str().unwrap();
                assert!(
                    at(config, part).and_then(|p| p.get(component)).is_some(),
                    "{signal} uses undefined {part} {component}"
                );
            }
        }
        assert!(
            pipeline
                .get("receivers")
                .and_then(Value::as_sequence)
                .is_some_and(|r| r.iter().any(|r| r.as_str() == Some("otlp"))),
            "{signal} receives OTLP"
        );
    }
    assert!(
        str_at(config, "receivers.otlp.protocols.grpc.endpoint")
            .is_some_and(|e| e.ends_with(":4317"))
    );
}

/// The example with every optional `# key = value` line and `# [section]` header switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_setting(line: &str) -> bool {
    let key_char = |c: char| c.is_ascii_lowercase() || c == '_' || c == '.';
    if let Some(header) = line.strip_prefix('[') {
        let header = header.trim_start_matches('[');
        let name = header.trim_end_matches(']');
        return header.ends_with(']') && !name.is_empty() && name.chars().all(key_char);
    }
    line.split_once(" = ")
        .is_some_and(|(key, _)| !key.is_empty() && key.chars().all(key_char))
}

/// Every dotted key path of a TOML table.
fn key_paths(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        if let toml::Value::Table(t) = value {
            key_paths(t, &format!("{path}."), out);
        }
        out.insert(path);
    }
}

#[test]
fn the_example_configuration_parses_and_shows_every_option() {
    let path = deploy_dir().join("hub.example.toml");
    Settings::load(Some(&path)).expect("hub.example.toml as shipped");
    let text = std::fs::read_to_string(&path).unwrap();
    let full = uncommented(&text);
    let settings: Settings = toml::from_str(&full)
        .unwrap_or_else(|e| panic!("hub.example.toml with every option switched on: {e}"));
    assert!(settings.tls.is_some() && settings.jwt.is_some() && settings.health_listen.is_some());

    // Every option the hub has (as far as its defaults show) is in the example.
    let mut documented = BTreeSet::new();
    key_paths(&toml::from_str(&full).unwrap(), "", &mut documented);
    let mut known = BTreeSet::new();
    key_paths(
        &toml::Table::try_from(Settings::default()).unwrap(),
        "",
        &mut known,
    );
    let missing: Vec<_> = known.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "hub.example.toml does not show {missing:?}"
    );
}

#[test]
fn the_kubernetes_configuration_parses() {
    let objects = k8s_objects();
    let config = objects
        .iter()
        .map(|(_, o)| o)
        .find(|o| str_at(o, "metadata.name") == Some("vawg-hub-config"))
        .expect("vawg-hub-config");
    let text = config
        .get("data")
        .and_then(|d| d.get("hub.toml"))
        .and_then(Value::as_str)
        .expect("data.hub.toml");
    let settings: Settings =
        toml::from_str(text).unwrap_or_else(|e| panic!("vawg-hub-config hub.toml: {e}"));
    assert!(settings.tls.is_some(), "mutual TLS configured");
    assert!(settings.jwt.is_some(), "token validation configured");
    assert!(settings.audit.signing_key.is_some(), "audit key configured");
    let health = settings
        .health_listen
        .expect("health_listen for the probes");
    let deployment = object(&objects, "Deployment");
    let probe_port = at(deployment, "spec.template.spec.containers")
        .and_then(Value::as_sequence)
        .and_then(|c| c.first())
        .and_then(|c| at(c, "readinessProbe.grpc.port"))
        .and_then(Value::as_u64);
    assert_eq!(probe_port, Some(u64::from(health.port())));
}

/// What the Kubernetes probes call: the plaintext health-only port answers readiness ("") and
/// liveness (`grpc.health.v1.Health`) without a client certificate, and serves nothing else.
#[tokio::test]
async fn the_probe_port_answers_health_in_plaintext_and_nothing_else() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use vawg_e2e::{Backend, TestApp, connect_with_retry};
    use vawg_proto::pb::{self, definition_service_client::DefinitionServiceClient};

    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.health_listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let addr = app.health_addr.expect("health listener bound");
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    let channel = connect_with_retry(&endpoint).await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "grpc.health.v1.Health"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of '{service}': {e}"))
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "service '{service}'");
    }
    let refused = DefinitionServiceClient::new(channel)
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .expect_err("only health is served on the probe port");
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    app.stop().await;
}
