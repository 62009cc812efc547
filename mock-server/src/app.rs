//! Shared server state: configuration, admission queue, metrics, identity.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError};
use crate::lora::Loras;
use crate::metrics::{EngineInfo, Metrics, ServerInfo};
use crate::scheduler::Scheduler;
use crate::tokenizer::Tokenizer;

/// Who answered: taken from the Downward API variables a pod spec sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub pod: String,
    pub namespace: String,
}

impl Identity {
    /// `POD_NAME` (else `HOSTNAME`) and `POD_NAMESPACE` from the environment.
    pub fn from_env() -> Identity {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Identity {
            pod: var("POD_NAME")
                .or_else(|| var("HOSTNAME"))
                .unwrap_or_else(|| "local".to_string()),
            namespace: var("POD_NAMESPACE").unwrap_or_default(),
        }
    }
}

/// The state every handler sees. Cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RwLock<Arc<Config>>,
    scheduler: Scheduler,
    metrics: Metrics,
    loras: Loras,
    tokenizer: Tokenizer,
    started: Instant,
    identity: Identity,
    shutting_down: AtomicBool,
}

impl App {
    /// Builds the state; the model-load clock starts now.
    pub fn new(config: Config, identity: Identity) -> Result<App, ConfigError> {
        config.validate()?;
        let metrics = Metrics::new(&config.served_model_names, u64::from(config.max_model_len));
        Ok(App {
            inner: Arc::new(Inner {
                scheduler: Scheduler::new(config.max_num_seqs),
                metrics,
                loras: Loras::default(),
                tokenizer: Tokenizer::default(),
                config: RwLock::new(Arc::new(config)),
                started: Instant::now(),
                identity,
                shutting_down: AtomicBool::new(false),
            }),
        })
    }

    /// A snapshot of the current configuration.
    pub fn config(&self) -> Arc<Config> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies a JSON merge patch to the configuration; returns the new one.
    pub fn patch_config(&self, patch: &serde_json::Value) -> Result<Arc<Config>, ConfigError> {
        let mut guard = self.inner.config.write().unwrap_or_else(|p| p.into_inner());
        let next = Arc::new(guard.patched(patch)?);
        self.inner.scheduler.set_limit(next.max_num_seqs);
        for model in &next.served_model_names {
            self.inner.metrics.model(model);
        }
        *guard = next.clone();
        Ok(next)
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn loras(&self) -> &Loras {
        &self.inner.loras
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    /// What the engine reports about its cache and adapters at a scrape.
    pub fn engine_info(&self) -> EngineInfo {
        let cfg = self.config();
        EngineInfo {
            kv_capacity_tokens: cfg.kv_cache_tokens,
            max_loras: cfg.max_loras,
            loras: self.inner.loras.activity(),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// Whether the simulated model load has finished.
    pub fn model_loaded(&self) -> bool {
        self.inner.started.elapsed() >= Duration::from_millis(self.config().model_load_ms)
    }

    /// Time left until the model is loaded.
    pub fn load_remaining(&self) -> Duration {
        Duration::from_millis(self.config().model_load_ms)
            .saturating_sub(self.inner.started.elapsed())
    }

    /// Readiness: model loaded, not forced unready, not shutting down.
    pub fn ready(&self) -> bool {
        self.model_loaded() && !self.config().force_unready && !self.shutting_down()
    }

    pub fn shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Marks the server as draining: readiness turns 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn server_info(&self) -> ServerInfo {
        ServerInfo {
            version: self.config().version.clone(),
            pod: self.inner.identity.pod.clone(),
            namespace: self.inner.identity.namespace.clone(),
            ready: self.ready(),
        }
    }
}
