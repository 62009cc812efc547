//! LoRA adapters, loaded and unloaded at run time the way vLLM does it
//! (`POST /v1/load_lora_adapter`, `POST /v1/unload_lora_adapter`, with
//! `VLLM_ALLOW_RUNTIME_LORA_UPDATING`) or named at start-up
//! (`--lora-modules name=path`). A loaded adapter is listed by
//! `/v1/models` with its base model as `parent`, and a request naming it is
//! served by the base model's engine. Which adapters have requests running
//! or waiting is what `vllm:lora_requests_info` reports, as a gateway's
//! LoRA-affinity routing reads it.
//!
//! The mock holds no weights: loading checks the name only, and a batch
//! never waits for a free LoRA slot (`max_loras` is reported, not enforced).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// Most adapters loaded at once (vLLM's CPU-side LoRA cache is bounded too).
pub const MAX_LOADED: usize = 256;
const MAX_NAME: usize = 256;

/// Why an adapter could not be loaded or unloaded; the texts are vLLM's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoraError {
    #[error("The lora adapter '{0}' has already been loaded.")]
    AlreadyLoaded(String),
    #[error("The lora adapter '{0}' cannot be found.")]
    NotFound(String),
    #[error("Both 'lora_name' and 'lora_path' must be provided.")]
    MissingField,
    #[error("The lora name '{0}' is a served model's name.")]
    ModelName(String),
    #[error("A lora name is 1 to {MAX_NAME} bytes without whitespace; got {0:?}.")]
    BadName(String),
    #[error("{MAX_LOADED} lora adapters are loaded already; unload one first.")]
    Full,
}

#[derive(Debug, Default)]
struct Adapter {
    path: String,
    running: usize,
    waiting: usize,
}

#[derive(Debug, Default)]
struct State {
    adapters: BTreeMap<String, Adapter>,
    /// When the running or waiting sets last changed (Unix seconds).
    changed_at: f64,
}

/// The loaded adapters and their requests. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Loras {
    state: Arc<Mutex<State>>,
}

/// Adapters with requests running and waiting, for `vllm:lora_requests_info`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoraActivity {
    pub running: Vec<String>,
    pub waiting: Vec<String>,
    pub changed_at: f64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Loras {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads `name` from `path`; `models` are the served model names,
    /// which an adapter may not shadow.
    pub fn load(&self, name: &str, path: &str, models: &[String]) -> Result<(), LoraError> {
        if name.is_empty() || path.is_empty() {
            return Err(LoraError::MissingField);
        }
        if name.len() > MAX_NAME || name.chars().any(char::is_whitespace) {
            return Err(LoraError::BadName(name.to_string()));
        }
        if models.iter().any(|m| m == name) {
            return Err(LoraError::ModelName(name.to_string()));
        }
        let mut s = self.lock();
        if s.adapters.contains_key(name) {
            return Err(LoraError::AlreadyLoaded(name.to_string()));
        }
        if s.adapters.len() >= MAX_LOADED {
            return Err(LoraError::Full);
        }
        s.adapters.insert(
            name.to_string(),
            Adapter {
                path: path.to_string(),
                ..Adapter::default()
            },
        );
        Ok(())
    }

    /// Unloads `name`; requests already using it run to their end.
    pub fn unload(&self, name: &str) -> Result<(), LoraError> {
        if name.is_empty() {
            return Err(LoraError::NotFound(String::new()));
        }
        let mut s = self.lock();
        match s.adapters.remove(name) {
            Some(a) => {
                if a.running + a.waiting > 0 {
                    s.changed_at = unix_now();
                }
                Ok(())
            }
            None => Err(LoraError::NotFound(name.to_string())),
        }
    }

    /// Loaded adapters and their paths, by name.
    pub fn list(&self) -> Vec<(String, String)> {
        self.lock()
            .adapters
            .iter()
            .map(|(n, a)| (n.clone(), a.path.clone()))
            .collect()
    }

    pub fn is_loaded(&self, name: &str) -> bool {
        self.lock().adapters.contains_key(name)
    }

    /// Counts one request for `name` as waiting until [`LoraUse::start`].
    pub fn waiting(&self, name: &str) -> LoraUse {
        let mut s = self.lock();
        if let Some(a) = s.adapters.get_mut(name) {
            a.waiting += 1;
            s.changed_at = unix_now();
        }
        LoraUse {
            loras: self.clone(),
            name: name.to_string(),
            running: false,
        }
    }

    pub fn activity(&self) -> LoraActivity {
        let s = self.lock();
        let with = |f: fn(&Adapter) -> usize| {
            s.adapters
                .iter()
                .filter(|(_, a)| f(a) > 0)
                .map(|(n, _)| n.clone())
                .collect()
        };
        LoraActivity {
            running: with(|a| a.running),
            waiting: with(|a| a.waiting),
            changed_at: s.changed_at,
        }
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut Adapter)) {
        let mut s = self.lock();
        if let Some(a) = s.adapters.get_mut(name) {
            f(a);
            s.changed_at = unix_now();
        }
    }
}

/// One request's use of an adapter: waiting, then running; uncounted on drop.
#[derive(Debug)]
pub struct LoraUse {
    loras: Loras,
    name: String,
    running: bool,
}

impl LoraUse {
    /// The request got its running slot.
    pub fn start(&mut self) {
        if !self.running {
            self.running = true;
            self.loras.update(&self.name, |a| {
                a.waiting = a.waiting.saturating_sub(1);
                a.running += 1;
            });
        }
    }
}

impl Drop for LoraUse {
    fn drop(&mut self) {
        let running = self.running;
        self.loras.update(&self.name, |a| {
            if running {
                a.running = a.running.saturating_sub(1);
            } else {
                a.waiting = a.waiting.saturating_sub(1);
            }
        });
    }
}

/// Parses `--lora-modules` entries: `name=path`.
pub fn parse_module(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok((n.to_string(), p.to_string())),
        _ => Err(format!(
            "--lora-modules {spec:?}: expected NAME=PATH, e.g. sql-lora=/adapters/sql"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> Vec<String> {
        vec!["base".to_string()]
    }

    #[test]
    fn load_unload_and_refusals() {
        let l = Loras::default();
        l.load("sql", "/a/sql", &models()).unwrap();
        assert_eq!(
            l.load("sql", "/a/sql", &models()),
            Err(LoraError::AlreadyLoaded("sql".into()))
        );
        assert_eq!(
            l.load("base", "/x", &models()),
            Err(LoraError::ModelName("base".into()))
        );
        assert_eq!(l.load("", "/x", &models()), Err(LoraError::MissingField));
        assert_eq!(l.list(), vec![("sql".to_string(), "/a/sql".to_string())]);
        l.unload("sql").unwrap();
        assert_eq!(l.unload("sql"), Err(LoraError::NotFound("sql".into())));
    }

    #[test]
    fn activity_follows_requests() {
        let l = Loras::default();
        l.load("a", "/a", &models()).unwrap();
        l.load("b", "/b", &models()).unwrap();
        let mut one = l.waiting("a");
        let _two = l.waiting("b");
        assert_eq!(l.activity().waiting, ["a", "b"]);
        one.start();
        let act = l.activity();
        assert_eq!(
            (act.running, act.waiting),
            (vec!["a".into()], vec!["b".into()])
        );
        assert!(act.changed_at > 0.0);
        drop(one);
        assert!(l.activity().running.is_empty());
    }

    #[test]
    fn modules_need_a_name_and_a_path() {
        assert_eq!(parse_module("x=/p").unwrap(), ("x".into(), "/p".into()));
        assert!(parse_module("x").unwrap_err().contains("NAME=PATH"));
    }
}
