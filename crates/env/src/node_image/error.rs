//! How building the node image fails.

use crate::docker::DockerError;
use crate::tools::ToolError;
use crate::tools::exec::ExecError;

/// Errors from building the node image.
#[derive(Debug, thiserror::Error)]
pub enum NodeImageError {
    #[error(
        "building the kind node image needs root (debootstrap and chroot); run as root, or use \
         INFERBENCH_TOOL_SOURCE=download on a machine that can pull kindest/node"
    )]
    NotRoot,
    #[error("`debootstrap` is missing and apt-get could not install it: {0}")]
    NoDebootstrap(#[source] ExecError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the node image build went wrong: {0}")]
    Build(String),
}

pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NodeImageError {
    let what = what.into();
    move |source| NodeImageError::Io { what, source }
}
