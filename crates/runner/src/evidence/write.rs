//! The evidence as text files in the report's artifacts folder: one file
//! per kind of record, one per log, and the JSON [`Recording`], each
//! listed as an [`Artifact`].

use std::fmt::Write as _;
use std::path::Path;

use super::model::{ContainerState, Evidence};
use super::record::{RECORDING_FILE, Recording};
use report::{Artifact, LoadReport};

impl Evidence {
    /// Writes the evidence (and, in the recording, `loads`) into `dir`
    /// (under the report folder `root`) and returns the artifacts, with
    /// paths relative to `root`.
    pub fn write(
        &self,
        root: &Path,
        dir: &Path,
        loads: &[LoadReport],
    ) -> std::io::Result<Vec<Artifact>> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let rel = |p: &Path| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/")
        };
        let mut out = Vec::new();
        let mut put = |name: &str, text: String, description: &str| -> std::io::Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            out.push(Artifact {
                path: rel(&path),
                description: description.to_string(),
            });
            Ok(())
        };
        put(
            "events.txt",
            self.events_text(),
            "Kubernetes events in the namespace, oldest first",
        )?;
        put(
            "pods.txt",
            self.pods_text(),
            "Pods: phase, conditions, container states and last terminations",
        )?;
        put(
            "rollout-history.txt",
            self.rollouts_text(),
            "Deployments: strategy, conditions and ReplicaSet revisions",
        )?;
        put(
            RECORDING_FILE,
            Recording {
                evidence: self.clone(),
                loads: loads.to_vec(),
            }
            .to_json(),
            "All of the evidence and the loads' failed requests as JSON (a recording the diagnosis can be replayed on)",
        )?;
        put(
            "endpoints.txt",
            self.services_text(),
            "Services: selectors, ready and not-ready endpoints, matching pods",
        )?;
        if !self.hpas.is_empty() {
            put(
                "autoscalers.txt",
                self.hpas_text(),
                "HorizontalPodAutoscalers: replicas and conditions",
            )?;
        }
        if !self.jobs.is_empty() {
            put(
                "jobs.txt",
                self.jobs_text(),
                "Jobs: retry budget, pods active, succeeded and failed, conditions",
            )?;
        }
        if !self.quotas.is_empty() || !self.limit_ranges.is_empty() {
            put(
                "quotas.txt",
                self.quotas_text(),
                "ResourceQuotas (hard and used) and LimitRanges",
            )?;
        }
        if !self.network_policies.is_empty() {
            let text: String = self
                .network_policies
                .iter()
                .map(|p| p.describe() + "\n")
                .collect();
            put(
                "network-policies.txt",
                text,
                "NetworkPolicies: the pods each selects and whom it admits",
            )?;
        }
        if !self.claims.is_empty() {
            let text: String = self.claims.iter().map(|c| c.describe() + "\n").collect();
            put(
                "resource-claims.txt",
                text,
                "ResourceClaims (DRA): what each asks for, what it was allocated, and for which pods",
            )?;
        }
        if !self.gaps.is_empty() {
            put(
                "not-collected.txt",
                self.gaps.join("\n") + "\n",
                "What could not be collected",
            )?;
        }
        for l in &self.logs {
            let (pod, container) = (&l.pod, &l.container);
            let name = format!(
                "logs/{pod}_{container}{}.log",
                if l.previous { ".previous" } else { "" }
            );
            let what = if l.previous {
                format!("Log of {pod}/{container} before its last restart")
            } else {
                format!("Log of {pod}/{container}")
            };
            put(&name, l.text.clone(), &what)?;
        }
        Ok(out)
    }

    /// Writes only the recording (`evidence.json`) into `dir`.
    pub fn write_recording(
        &self,
        root: &Path,
        dir: &Path,
        loads: &[LoadReport],
    ) -> std::io::Result<Artifact> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(RECORDING_FILE);
        std::fs::write(
            &path,
            Recording {
                evidence: self.clone(),
                loads: loads.to_vec(),
            }
            .to_json(),
        )?;
        Ok(Artifact {
            path: path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/"),
            description:
                "The evidence after this step and the loads so far, as JSON (--record-evidence)"
                    .into(),
        })
    }

    pub fn events_text(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            let _ = writeln!(s, "{}", e.render());
        }
        s
    }

    pub fn pods_text(&self) -> String {
        let mut s = String::new();
        for p in &self.pods {
            let _ = writeln!(
                s,
                "pod/{} phase={} ready={} node={} owner={}",
                p.name,
                p.phase,
                p.ready,
                p.node.as_deref().unwrap_or("(none)"),
                p.owner.as_deref().unwrap_or("(none)")
            );
            let conditions: Vec<String> = p.conditions.iter().map(|c| c.render()).collect();
            let _ = writeln!(s, "  conditions: {}", conditions.join(", "));
            if !p.volumes.is_empty() {
                let _ = writeln!(s, "  volumes: {}", p.volumes.join(", "));
            }
            for c in &p.containers {
                let _ = writeln!(
                    s,
                    "  container {} ({}): {} ready={} restarts={} memory limit={}",
                    c.name,
                    c.image,
                    c.state.render(),
                    c.ready,
                    c.restarts,
                    c.memory_limit.as_deref().unwrap_or("none")
                );
                if let ContainerState::Terminated(t) = &c.state
                    && !t.message.trim().is_empty()
                {
                    let _ = writeln!(s, "    termination message: {}", t.message.trim());
                }
                if let Some(t) = &c.last_terminated {
                    let _ = writeln!(
                        s,
                        "    last terminated: {} (exit code {}) at {}",
                        t.reason,
                        t.exit_code,
                        t.finished_at.map(|t| t.to_string()).unwrap_or_default()
                    );
                }
                for (what, probe) in [
                    ("readiness", &c.readiness),
                    ("liveness", &c.liveness),
                    ("startup", &c.startup),
                ] {
                    if let Some(probe) = probe {
                        let _ = writeln!(s, "    {what} probe: {}", probe.render());
                    }
                }
            }
        }
        s
    }

    pub fn rollouts_text(&self) -> String {
        let mut s = String::new();
        for d in &self.deployments {
            let _ = writeln!(
                s,
                "deployment/{} desired={} replicas={} ready={} updated={} available={} strategy: {}",
                d.name,
                d.desired,
                d.replicas,
                d.ready,
                d.updated,
                d.available,
                d.strategy.render()
            );
            for c in &d.conditions {
                let _ = writeln!(s, "  condition {}: {}", c.render(), c.message);
            }
            for r in self.replica_sets_of(&d.name) {
                let _ = writeln!(s, "  {}", r.render());
                for point in &r.history {
                    let _ = writeln!(
                        s,
                        "    {} replicas={} ready={} available={}",
                        point.at, point.replicas, point.ready, point.available
                    );
                }
            }
        }
        s
    }

    pub fn quotas_text(&self) -> String {
        let mut s = String::new();
        for q in &self.quotas {
            let _ = writeln!(s, "resourcequota/{}", q.name);
            for (k, hard) in &q.hard {
                let used = q.used.get(k).map_or("?", String::as_str);
                let _ = writeln!(s, "  {k}: used {used} of {hard}");
            }
        }
        for l in &self.limit_ranges {
            let _ = writeln!(s, "limitrange/{}", l.name);
            for line in &l.limits {
                let _ = writeln!(s, "  {line}");
            }
        }
        s
    }

    pub fn services_text(&self) -> String {
        let mut s = String::new();
        for svc in &self.services {
            let sel: Vec<String> = svc
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(s, "service/{} selector {{{}}}", svc.name, sel.join(","));
            let _ = writeln!(s, "  ready endpoints: {}", list_or_none(&svc.ready));
            let _ = writeln!(s, "  not-ready endpoints: {}", list_or_none(&svc.not_ready));
            let _ = writeln!(
                s,
                "  pods the selector matches: {}",
                list_or_none(&svc.matching_pods)
            );
        }
        s
    }

    pub fn jobs_text(&self) -> String {
        let mut s = String::new();
        for j in &self.jobs {
            let _ = writeln!(
                s,
                "job/{} active={} succeeded={} failed={} backoffLimit={} completions={}",
                j.name,
                j.active,
                j.succeeded,
                j.failed,
                j.backoff_limit
                    .map_or("6 (default)".into(), |b| b.to_string()),
                j.completions
                    .map_or("1 (default)".into(), |c| c.to_string()),
            );
            for c in &j.conditions {
                let _ = writeln!(s, "  {}: {}", c.render(), c.message);
            }
        }
        s
    }

    pub fn hpas_text(&self) -> String {
        let mut s = String::new();
        for h in &self.hpas {
            let _ = writeln!(
                s,
                "hpa/{} current={} desired={} min={} max={}",
                h.name, h.current, h.desired, h.min, h.max
            );
            for c in &h.conditions {
                let _ = writeln!(s, "  {}: {}", c.render(), c.message);
            }
        }
        s
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
