//! How setting up or talking to the Docker engine fails.

use std::path::PathBuf;
use std::time::Duration;

use super::capfix::CAPFIX_RUNTIME;
use crate::tools::exec::ExecError;

/// Errors from setting up or talking to the Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "Docker is not installed and this process is not root, so it cannot install it.\n\
         Install it yourself (Debian/Ubuntu: `sudo apt-get install docker.io`), start it \
         (`sudo systemctl start docker` or `sudo dockerd &`) and add yourself to the `docker` group, \
         or run this command as root."
    )]
    NotRootCannotInstall,
    #[error(
        "Docker is not installed and `apt-get` is not available here to install it.\n\
         Install a Docker engine for your distribution (https://docs.docker.com/engine/install/), \
         start it, and run this command again."
    )]
    NoApt,
    #[error(
        "the Docker engine is not running and this process is not root, so it cannot start it.\n\
         Start it (`sudo systemctl start docker`, or `sudo dockerd &`) and make sure `docker info` works \
         for your user (membership of the `docker` group)."
    )]
    NotRootCannotStart,
    #[error("installing Docker with apt-get failed: {0}")]
    Install(#[source] ExecError),
    #[error("dockerd did not answer within {after:?}; its log is {log}:\n{log_tail}")]
    EngineDidNotStart {
        after: Duration,
        log: PathBuf,
        log_tail: String,
    },
    #[error(
        "privileged containers fail on this host ({detail}), and the running dockerd was not started by \
         inferbench, so it is left alone.\nStop it and run again (inferbench then starts dockerd with its \
         `{CAPFIX_RUNTIME}` runtime), or register an OCI runtime that drops capabilities missing from \
         the host's bounding set."
    )]
    PrivilegedUnsupported { detail: String },
    #[error("privileged containers still fail after installing the {CAPFIX_RUNTIME} runtime: {0}")]
    CapfixDidNotHelp(String),
    #[error("cannot find `{0}` to wrap for the {CAPFIX_RUNTIME} runtime; install runc")]
    RuncMissing(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("unexpected output from docker: {0}")]
    Parse(String),
}

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DockerError {
    let what = what.into();
    move |source| DockerError::Io { what, source }
}
