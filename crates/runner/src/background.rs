//! A load running in the background while later operations run: what the
//! scenario's context holds until an `expect` (or the scenario's end)
//! settles it. The `loads` module starts and finishes them.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::forwarder::ServiceForwarder;
use load::attack::RunningLoad;
use scenario::model::Load;

pub struct BackgroundLoad {
    pub(crate) running: RunningLoad,
    pub(crate) spec: Load,
    pub(crate) deadline: Duration,
    pub(crate) _forwarder: ServiceForwarder,
    pub(crate) progress: JoinHandle<()>,
    /// The step that started it: its errors fail that step.
    pub(crate) step: String,
}
