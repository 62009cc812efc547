//! A load running in the background while later operations run: what the
//! scenario's context holds until an `expect` (or the scenario's end)
//! settles it. The `loads` module starts and finishes them.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::forwarder::ServiceForwarder;
use crate::load_pod::LoadPod;
use load::attack::RunningLoad;
use load::record::Recorder;
use report::RequestSlo;
use scenario::model::Load;

/// How the requests are being sent.
pub(crate) enum Running {
    /// A generator pod in the namespace, its output followed.
    InCluster {
        pod: Box<LoadPod>,
        recorder: Arc<Recorder>,
    },
    /// goose on the host, through a port-forward to the Service.
    PortForward {
        load: RunningLoad,
        _forwarder: ServiceForwarder,
    },
}

impl Running {
    pub(crate) fn recorder(&self) -> Arc<Recorder> {
        match self {
            Running::InCluster { recorder, .. } => recorder.clone(),
            Running::PortForward { load, .. } => load.recorder.clone(),
        }
    }
}

pub struct BackgroundLoad {
    pub(crate) running: Running,
    pub(crate) spec: Load,
    pub(crate) slo: Option<RequestSlo>,
    pub(crate) deadline: Duration,
    pub(crate) progress: JoinHandle<()>,
    /// Scrapes the serving pods' metrics while the load runs.
    pub(crate) scraper: crate::server_metrics::ScrapeTask,
    /// Reads the dcgm-exporters for the GPUs of the namespace's pods.
    pub(crate) gpu_scraper: crate::server_metrics::ScrapeTask,
    /// The serving pods' metrics just before the load began.
    pub(crate) baseline: Option<crate::server_metrics::Snapshot>,
    /// The step that started it: its errors fail that step.
    pub(crate) step: String,
}
