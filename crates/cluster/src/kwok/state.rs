//! `kwok.json`: what a kwok cluster runs (ports, processes), written as each
//! process starts so that `down` can stop a half-started cluster too.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{KwokError, STATE_FILE, io_err};

/// The loopback ports of one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub etcd_client: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
    pub controller_manager: u16,
    pub scheduler: u16,
    pub kwok: u16,
}

impl Ports {
    /// Six distinct free loopback ports (each held until all are chosen,
    /// then released for the components to bind).
    pub fn pick() -> Result<Ports, KwokError> {
        let mut held = Vec::with_capacity(6);
        let mut ports = [0u16; 6];
        for p in &mut ports {
            let l =
                TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free loopback port"))?;
            *p = l
                .local_addr()
                .map_err(io_err("reading a loopback port"))?
                .port();
            held.push(l);
        }
        drop(held);
        Ok(Ports {
            etcd_client: ports[0],
            etcd_peer: ports[1],
            apiserver: ports[2],
            controller_manager: ports[3],
            scheduler: ports[4],
            kwok: ports[5],
        })
    }
}

/// One started process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentState {
    pub name: String,
    pub pid: u32,
    pub log: PathBuf,
}

/// The content of `kwok.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub provider: String,
    pub kubernetes_version: String,
    pub kwok_version: String,
    pub ports: Ports,
    pub components: Vec<ComponentState>,
}

impl State {
    pub fn new(name: &str, ports: Ports) -> State {
        State {
            name: name.to_string(),
            provider: "kwok".to_string(),
            kubernetes_version: environment::tools::versions::KUBERNETES.to_string(),
            kwok_version: environment::tools::versions::KWOK.to_string(),
            ports,
            components: Vec::new(),
        }
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.apiserver)
    }

    /// `dir/kwok.json`, or `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<State>, KwokError> {
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(KwokError::State {
                    path,
                    detail: e.to_string(),
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| KwokError::State {
                path,
                detail: e.to_string(),
            })
    }

    /// Writes `dir/kwok.json` (atomically).
    pub fn save(&self, dir: &Path) -> Result<(), KwokError> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| KwokError::State {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(io_err(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io_err(format!("writing {}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct() {
        let p = Ports::pick().expect("ports");
        let mut all = vec![
            p.etcd_client,
            p.etcd_peer,
            p.apiserver,
            p.controller_manager,
            p.scheduler,
            p.kwok,
        ];
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6);
    }

    #[test]
    fn state_round_trips() {
        let dir =
            std::env::temp_dir().join(format!("inferbench-kwok-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert_eq!(State::load(&dir).expect("load"), None);
        let mut s = State::new("x", Ports::pick().expect("ports"));
        s.components.push(ComponentState {
            name: "etcd".into(),
            pid: 42,
            log: dir.join("logs/etcd.log"),
        });
        s.save(&dir).expect("save");
        assert_eq!(State::load(&dir).expect("load"), Some(s.clone()));
        assert!(s.server().starts_with("https://127.0.0.1:"));
        std::fs::write(dir.join(STATE_FILE), "{").expect("write");
        assert!(matches!(State::load(&dir), Err(KwokError::State { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
