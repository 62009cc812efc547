//! Renders the Kubernetes manifests of a node pool's gpu-fakes: namespace,
//! service account, RBAC, DaemonSet, and a Service for `/metrics`; and,
//! apart, the DeviceClasses of the DRA driver ([`device_classes_yaml`]).
//!
//! The DaemonSet mounts both the device plugin's and the DRA plugin's
//! kubelet directories and its role may publish ResourceSlices whichever
//! `--gpu-api` it runs with, so switching the API is a change of one
//! argument.

use serde_json::{Value, json};

use crate::config::{GpuApi, PoolConfig};

/// What to render.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    pub namespace: String,
    pub image: String,
    /// Node pool name, used in object names (`gpu-fakes-<pool>`).
    pub pool: String,
    pub config: PoolConfig,
    pub port: u16,
    pub gpu_api: GpuApi,
}

impl Default for ManifestOptions {
    fn default() -> Self {
        Self {
            namespace: "gpu-fakes".into(),
            image: "inferbench/gpu-fakes:dev".into(),
            pool: "gpu".into(),
            config: PoolConfig::default(),
            port: 9400,
            gpu_api: GpuApi::default(),
        }
    }
}

fn args(o: &ManifestOptions) -> Vec<String> {
    let c = &o.config;
    let mut a = vec![
        "node-agent".to_string(),
        format!("--listen=0.0.0.0:{}", o.port),
        format!("--gpu-count={}", c.gpu_count),
        format!("--product={}", c.product),
        format!("--memory-mib={}", c.memory_mib),
        format!("--replicas={}", c.replicas),
        format!("--gpu-api={}", o.gpu_api.as_str()),
    ];
    if let Some(p) = &c.mig_profile {
        a.push(format!("--mig-profile={p}"));
        a.push(format!("--mig-instances={}", c.mig_instances));
    }
    a
}

/// The objects, in apply order.
pub fn objects(o: &ManifestOptions) -> Vec<Value> {
    let name = format!("gpu-fakes-{}", o.pool);
    let ns = &o.namespace;
    let labels = json!({ "app.kubernetes.io/name": "gpu-fakes", "inferbench.dev/pool": o.pool });
    vec![
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } }),
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": { "name": "gpu-fakes", "namespace": ns },
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": "inferbench-gpu-fakes" },
            "rules": [
                { "apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"] },
                { "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"] },
                { "apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get"] },
                // The DRA driver: its node's ResourceSlice, and the claims it prepares.
                { "apiGroups": ["resource.k8s.io"], "resources": ["resourceslices"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"] },
                { "apiGroups": ["resource.k8s.io"], "resources": ["resourceclaims"], "verbs": ["get"] },
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": "inferbench-gpu-fakes" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "inferbench-gpu-fakes" },
            "subjects": [{ "kind": "ServiceAccount", "name": "gpu-fakes", "namespace": ns }],
        }),
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "spec": {
                "selector": { "matchLabels": labels },
                "updateStrategy": { "type": "RollingUpdate" },
                "template": {
                    "metadata": { "labels": labels },
                    "spec": {
                        "serviceAccountName": "gpu-fakes",
                        "priorityClassName": "system-node-critical",
                        "nodeSelector": { "nvidia.com/gpu.present": "true", "inferbench.dev/pool": o.pool },
                        "tolerations": [
                            { "key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule" },
                        ],
                        "containers": [{
                            "name": "node-agent",
                            "image": o.image,
                            "imagePullPolicy": "Never",
                            "args": args(o),
                            "env": [
                                { "name": "NODE_NAME", "valueFrom": { "fieldRef": { "fieldPath": "spec.nodeName" } } },
                                { "name": "RUST_LOG", "value": "info" },
                            ],
                            "ports": [{ "name": "metrics", "containerPort": o.port }],
                            // Root to create sockets in the kubelet's hostPath directories.
                            "securityContext": { "runAsUser": 0, "runAsGroup": 0, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true },
                            "readinessProbe": { "httpGet": { "path": "/readyz", "port": "metrics" }, "periodSeconds": 2 },
                            "resources": {
                                "requests": { "cpu": "10m", "memory": "32Mi" },
                                "limits": { "memory": "128Mi" },
                            },
                            "volumeMounts": [
                                { "name": "device-plugins", "mountPath": "/var/lib/kubelet/device-plugins" },
                                { "name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": true },
                                { "name": "plugins", "mountPath": "/var/lib/kubelet/plugins" },
                                { "name": "plugins-registry", "mountPath": "/var/lib/kubelet/plugins_registry" },
                                { "name": "cdi", "mountPath": "/var/run/cdi" },
                            ],
                        }],
                        "volumes": [
                            { "name": "device-plugins", "hostPath": { "path": "/var/lib/kubelet/device-plugins", "type": "Directory" } },
                            { "name": "pod-resources", "hostPath": { "path": "/var/lib/kubelet/pod-resources", "type": "DirectoryOrCreate" } },
                            { "name": "plugins", "hostPath": { "path": "/var/lib/kubelet/plugins", "type": "DirectoryOrCreate" } },
                            { "name": "plugins-registry", "hostPath": { "path": "/var/lib/kubelet/plugins_registry", "type": "DirectoryOrCreate" } },
                            { "name": "cdi", "hostPath": { "path": "/var/run/cdi", "type": "DirectoryOrCreate" } },
                        ],
                    },
                },
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": name, "namespace": ns, "labels": labels,
                "annotations": { "prometheus.io/scrape": "true", "prometheus.io/port": o.port.to_string() },
            },
            "spec": {
                "selector": labels,
                "ports": [{ "name": "metrics", "port": o.port, "targetPort": "metrics" }],
            },
        }),
    ]
}

/// Errors rendering manifests.
#[derive(Debug, thiserror::Error)]
#[error("rendering YAML: {0}")]
pub struct RenderError(String);

fn to_yaml(header: &str, objects: Vec<Value>) -> Result<String, RenderError> {
    let mut out = String::from(header);
    for obj in objects {
        out.push_str("---\n");
        out.push_str(&yaml_serde::to_string(&obj).map_err(|e| RenderError(e.to_string()))?);
    }
    Ok(out)
}

/// The objects as one multi-document YAML stream.
pub fn render_yaml(o: &ManifestOptions) -> Result<String, RenderError> {
    to_yaml(
        "# Generated by `gpu-fakes render-manifests`; do not edit (test: manifests_fixture_is_current).\n",
        objects(o),
    )
}

/// The DRA driver's DeviceClasses (`gpu.nvidia.com`, `mig.nvidia.com`).
pub fn device_classes_yaml() -> Result<String, RenderError> {
    to_yaml(
        "# Generated by `gpu-fakes render-manifests --device-classes`; do not edit (test: manifests_fixture_is_current).\n",
        crate::dra::devices::device_classes(),
    )
}
