//! Target discovery: which of a template's rendered objects the built-in
//! scenarios act on, found in the objects themselves instead of a naming
//! contract. The serving workload is the Deployment or StatefulSet whose
//! container asks for a GPU or runs an OpenAI-compatible server (see
//! [`crate::workload`]); its serving container is the one that does; its
//! Service is the one whose selector matches the workload's pod labels, and
//! the port is that Service's (the one named `http`, else the only one,
//! else the one that targets the container's port).
//!
//! Ambiguity is an error that lists the candidates and says how to choose
//! ([`Choice`]); so is a template with no serving workload or no Service.

use serde_json::Value;

use crate::input::Object;
use crate::workload::{self, Container, Workload};

/// What the user named where discovery alone cannot decide: `Kind/name` or
/// `name` for the workload and the Service, a container name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    pub workload: Option<String>,
    pub container: Option<String>,
    pub service: Option<String>,
}

/// The objects a scenario acts on, by index into the rendered objects (a
/// patch edits them in place, so they must not be reordered in between).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Index of the serving Deployment or StatefulSet.
    pub workload: usize,
    /// `Deployment/name`.
    pub workload_ref: String,
    pub container: String,
    /// Index of the Service that selects the workload's pods.
    pub service: usize,
    pub service_name: String,
    /// The Service port clients use.
    pub port: i64,
    /// What that port forwards to: a number or a container port's name.
    pub target_port: Value,
    /// The serving container's `nvidia.com/gpu` limit, if any.
    pub gpus: Option<f64>,
}

impl Target {
    /// One line for people: what was found and where it sends traffic.
    pub fn describe(&self) -> String {
        format!(
            "{} (container `{}`{}) behind Service/{} port {}",
            self.workload_ref,
            self.container,
            self.gpus
                .map(|g| format!(", {g} nvidia.com/gpu"))
                .unwrap_or_default(),
            self.service_name,
            self.port
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error(
        "no serving workload: none of {} has a container with an nvidia.com/gpu limit or an OpenAI-compatible server (vllm serve){}; give the serving container its GPU limit, or name the workload (`--target Deployment/NAME`)",
        plural_objects(.workloads),
        listed(.workloads)
    )]
    NoServingWorkload { workloads: Vec<String> },
    #[error(
        "{} serving workloads ({}): name the one the scenarios act on with `--target KIND/NAME`",
        .candidates.len(),
        .candidates.join(", ")
    )]
    SeveralWorkloads { candidates: Vec<String> },
    #[error("target {wanted}: no Deployment or StatefulSet of that name in the template{}", listed(.candidates))]
    NoSuchWorkload {
        wanted: String,
        candidates: Vec<String>,
    },
    #[error(
        "{workload}: {} containers could be the server ({}): name it with `--container NAME`",
        .candidates.len(),
        .candidates.join(", ")
    )]
    SeveralContainers {
        workload: String,
        candidates: Vec<String>,
    },
    #[error("{workload}: no container named {wanted}{}", listed(.candidates))]
    NoSuchContainer {
        workload: String,
        wanted: String,
        candidates: Vec<String>,
    },
    #[error(
        "{workload}: no Service selects its pods{}; the scenarios send their requests through one, so add a Service whose selector matches the pod template's labels",
        listed(.services)
    )]
    NoService {
        workload: String,
        services: Vec<String>,
    },
    #[error(
        "{workload}: {} Services select its pods ({}): name the one clients use with `--service NAME`",
        .candidates.len(),
        .candidates.join(", ")
    )]
    SeveralServices {
        workload: String,
        candidates: Vec<String>,
    },
    #[error("service {wanted}: no Service of that name selects {workload}'s pods{}", listed(.candidates))]
    NoSuchService {
        workload: String,
        wanted: String,
        candidates: Vec<String>,
    },
    #[error(
        "Service/{service}: {} ports and none is named `http` or targets the serving container's port; name one `http`",
        .ports
    )]
    AmbiguousPort { service: String, ports: usize },
    #[error("Service/{service}: no ports")]
    NoPort { service: String },
}

fn listed(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" (found: {})", items.join(", "))
    }
}

fn plural_objects(items: &[String]) -> String {
    match items.len() {
        0 => "the objects (no Deployment or StatefulSet)".into(),
        1 => "the one workload".into(),
        n => format!("the {n} workloads"),
    }
}

/// Whether `wanted` (`Kind/name` or `name`) names `obj`.
fn names(wanted: &str, obj: &Object) -> bool {
    match wanted.split_once('/') {
        Some((kind, name)) => kind.eq_ignore_ascii_case(obj.kind()) && name == obj.name(),
        None => wanted == obj.name(),
    }
}

/// Finds the serving workload, container, Service and port.
pub fn discover(objects: &[Object], choice: &Choice) -> Result<Target, DiscoverError> {
    let all = workload::workloads(objects);
    let kinds = |w: &&Workload<'_>| matches!(w.obj.kind(), "Deployment" | "StatefulSet");
    let workload = match &choice.workload {
        Some(wanted) => all
            .iter()
            .filter(kinds)
            .find(|w| names(wanted, w.obj))
            .ok_or_else(|| DiscoverError::NoSuchWorkload {
                wanted: wanted.clone(),
                candidates: all.iter().filter(kinds).map(|w| w.obj.display()).collect(),
            })?,
        None => {
            let serving: Vec<&Workload<'_>> = all.iter().filter(|w| w.serving).collect();
            match serving.as_slice() {
                [one] => *one,
                [] => {
                    return Err(DiscoverError::NoServingWorkload {
                        workloads: all.iter().filter(kinds).map(|w| w.obj.display()).collect(),
                    });
                }
                many => {
                    return Err(DiscoverError::SeveralWorkloads {
                        candidates: many.iter().map(|w| w.obj.display()).collect(),
                    });
                }
            }
        }
    };
    let workload_ref = workload.obj.display();
    let container = serving_container(workload, choice)?;
    let index = index_of(objects, workload.obj);

    let services: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind() == "Service")
        .filter(|o| {
            o.value
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .is_some_and(|s| !s.is_empty())
                && o.value
                    .pointer("/spec/selector")
                    .is_some_and(|s| workload::selects(s, workload.pod_labels))
        })
        .collect();
    let service = match (&choice.service, services.as_slice()) {
        (Some(wanted), _) => *services.iter().find(|s| names(wanted, s)).ok_or_else(|| {
            DiscoverError::NoSuchService {
                workload: workload_ref.clone(),
                wanted: wanted.clone(),
                candidates: services.iter().map(|s| s.name().to_string()).collect(),
            }
        })?,
        (None, [one]) => *one,
        (None, []) => {
            return Err(DiscoverError::NoService {
                workload: workload_ref,
                services: objects
                    .iter()
                    .filter(|o| o.kind() == "Service")
                    .map(Object::display)
                    .collect(),
            });
        }
        (None, many) => {
            return Err(DiscoverError::SeveralServices {
                workload: workload_ref,
                candidates: many.iter().map(|s| s.name().to_string()).collect(),
            });
        }
    };
    let (port, target_port) = service_port(service, &container)?;
    Ok(Target {
        workload: index,
        workload_ref,
        container: container.name.to_string(),
        service: index_of(objects, service),
        service_name: service.name().to_string(),
        port,
        target_port,
        gpus: container.gpu_limit(),
    })
}

fn index_of(objects: &[Object], obj: &Object) -> usize {
    objects
        .iter()
        .position(|o| std::ptr::eq(o, obj))
        .unwrap_or_default()
}

fn serving_container<'a>(
    w: &Workload<'a>,
    choice: &Choice,
) -> Result<Container<'a>, DiscoverError> {
    let containers: Vec<Container<'a>> = w.containers().into_iter().filter(|c| !c.init).collect();
    let names = || containers.iter().map(|c| c.name.to_string()).collect();
    if let Some(wanted) = &choice.container {
        return containers
            .iter()
            .find(|c| c.name == wanted)
            .copied()
            .ok_or_else(|| DiscoverError::NoSuchContainer {
                workload: w.obj.display(),
                wanted: wanted.clone(),
                candidates: names(),
            });
    }
    if let [one] = containers.as_slice() {
        return Ok(*one);
    }
    let serving: Vec<Container<'a>> = w.serving_containers();
    match serving.as_slice() {
        [one] => Ok(*one),
        _ => Err(DiscoverError::SeveralContainers {
            workload: w.obj.display(),
            candidates: if serving.is_empty() {
                names()
            } else {
                serving.iter().map(|c| c.name.to_string()).collect()
            },
        }),
    }
}

/// The Service port clients use: the one named `http`, the only one, or
/// the one that targets a port of the serving container.
fn service_port(service: &Object, c: &Container<'_>) -> Result<(i64, Value), DiscoverError> {
    let ports: Vec<&Value> = service
        .value
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let container_ports: Vec<&Value> = c
        .get("/ports")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let targets_container = |p: &Value| {
        let target = p.get("targetPort").or_else(|| p.get("port"));
        container_ports.iter().any(|cp| {
            target == cp.get("containerPort") || (target.is_some() && target == cp.get("name"))
        })
    };
    let chosen = match ports.as_slice() {
        [] => {
            return Err(DiscoverError::NoPort {
                service: service.name().to_string(),
            });
        }
        [one] => *one,
        many => many
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some("http"))
            .or_else(|| {
                let hits: Vec<&&Value> = many.iter().filter(|p| targets_container(p)).collect();
                (hits.len() == 1).then(|| hits[0])
            })
            .copied()
            .ok_or(DiscoverError::AmbiguousPort {
                service: service.name().to_string(),
                ports: many.len(),
            })?,
    };
    let port = chosen
        .get("port")
        .and_then(Value::as_i64)
        .ok_or(DiscoverError::NoPort {
            service: service.name().to_string(),
        })?;
    let target_port = chosen
        .get("targetPort")
        .cloned()
        .unwrap_or_else(|| Value::from(port));
    Ok((port, target_port))
}

#[cfg(test)]
mod tests;
