//! Our mock-server image, built locally and loaded onto every node.

use super::{AddOn, AddOnContext, Installed};
use crate::ClusterError;

/// Builds the mock-server image and loads it onto the nodes (kind; kwok's
/// pods never pull an image).
#[derive(Debug, Clone, Copy)]
pub struct MockServerImage;

impl MockServerImage {
    pub const NAME: &'static str = "mock-server-image";
}

impl AddOn for MockServerImage {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn applies(&self, ctx: &AddOnContext) -> bool {
        ctx.runs_containers() && !ctx.options.skip_mock_server && ctx.docker().is_some()
    }

    fn install(&self, ctx: &AddOnContext) -> Result<Installed, ClusterError> {
        let docker = ctx.require_docker(Self::NAME)?;
        let image = environment::images::build_mock_server_image(docker)?;
        ctx.provider.load_image(ctx.cluster, &image)?;
        Ok(Installed { image: Some(image) })
    }
}
