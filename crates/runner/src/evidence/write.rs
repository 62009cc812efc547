//! The evidence as text files in the report's artifacts folder: one file
//! per kind of record, one per log, each listed as an [`Artifact`].

use std::fmt::Write as _;
use std::path::Path;

use super::model::Evidence;
use report::Artifact;

impl Evidence {
    /// Writes the evidence into `dir` (under the report folder `root`) and
    /// returns the artifacts, with paths relative to `root`.
    pub fn write(&self, root: &Path, dir: &Path) -> std::io::Result<Vec<Artifact>> {
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
            "Deployments: conditions and ReplicaSet revisions",
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
        if !self.gaps.is_empty() {
            put(
                "not-collected.txt",
                self.gaps.join("\n") + "\n",
                "What could not be collected",
            )?;
        }
        for (pod, container, previous, text) in &self.logs {
            let name = format!(
                "logs/{pod}_{container}{}.log",
                if *previous { ".previous" } else { "" }
            );
            let what = if *previous {
                format!("Log of {pod}/{container} before its last restart")
            } else {
                format!("Log of {pod}/{container}")
            };
            put(&name, text.clone(), &what)?;
        }
        Ok(out)
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
                "pod/{} phase={} ready={} node={} version={}",
                p.name,
                p.phase,
                p.ready,
                p.node.as_deref().unwrap_or("(none)"),
                p.version.as_deref().unwrap_or("-")
            );
            let _ = writeln!(s, "  conditions: {}", p.conditions.join(", "));
            for c in &p.containers {
                let _ = writeln!(
                    s,
                    "  container {}: {} ready={} restarts={} memory limit={}",
                    c.name,
                    c.state,
                    c.ready,
                    c.restarts,
                    c.memory_limit.as_deref().unwrap_or("none")
                );
                if let Some(t) = &c.last_terminated {
                    let _ = writeln!(
                        s,
                        "    last terminated: {} (exit code {}) at {}",
                        t.reason,
                        t.exit_code,
                        t.finished_at.map(|t| t.to_string()).unwrap_or_default()
                    );
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
                "deployment/{} replicas={} ready={} updated={} available={}",
                d.name, d.replicas, d.ready, d.updated, d.available
            );
            for (t, st, reason, msg) in &d.conditions {
                let _ = writeln!(s, "  condition {t}={st} {reason}: {msg}");
            }
            for (rev, rs, images, version, ready) in &d.history {
                let _ = writeln!(
                    s,
                    "  revision {rev}: {rs} image={images} version={version} ready={ready}"
                );
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

    pub fn hpas_text(&self) -> String {
        let mut s = String::new();
        for h in &self.hpas {
            let _ = writeln!(
                s,
                "hpa/{} current={} desired={} min={} max={}",
                h.name, h.current, h.desired, h.min, h.max
            );
            for c in &h.conditions {
                let _ = writeln!(s, "  {c}");
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
