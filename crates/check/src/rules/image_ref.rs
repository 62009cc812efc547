//! Immutable image references.

use super::{Context, Rule};
use crate::finding::{Finding, Severity};

pub const RULE: Rule = Rule {
    id: "image-immutable-ref",
    severity: Severity::Error,
    summary: "Images are pinned by tag or digest, never `:latest`",
    help: "`:latest` (or no tag, which means latest) changes under a running Deployment: replicas of one rollout run different server versions, and a rollback does not bring the old one back. Pin a version tag; a digest (`@sha256:...`) is the strongest pin and is noted as info.",
    run,
};

/// The tag of an image reference, if any (the part after the last `:` that
/// follows the last `/`), and whether it has a digest.
fn tag_and_digest(image: &str) -> (Option<&str>, bool) {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    (last.split_once(':').map(|(_, t)| t), digest)
}

fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in &ctx.workloads {
        for c in w.containers() {
            let image = c.image();
            let line = w.line_in(&c, "image:");
            let (tag, digest) = tag_and_digest(image);
            let (severity, message, fix) = if digest {
                (
                    Severity::Info,
                    format!("container `{}` pins its image by digest ({image})", c.name),
                    "none needed; keep the tag beside the digest so readers know the version",
                )
            } else if image.is_empty() {
                (
                    Severity::Error,
                    format!("container `{}` has no image", c.name),
                    "set image to a versioned reference",
                )
            } else if tag == Some("latest") {
                (
                    Severity::Error,
                    format!(
                        "container `{}` uses the mutable tag :latest ({image})",
                        c.name
                    ),
                    "pin a version tag (vllm/vllm-openai:v0.x.y) or a digest",
                )
            } else if tag.is_none() {
                (
                    Severity::Error,
                    format!(
                        "container `{}` has no tag, which means :latest ({image})",
                        c.name
                    ),
                    "pin a version tag (vllm/vllm-openai:v0.x.y) or a digest",
                )
            } else {
                continue;
            };
            out.push(Finding::at(RULE.id, severity, w.obj, line, message, fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, run};
    use super::*;

    fn with_image(image: &str) -> String {
        deployment(1, "", "").replace("vllm/vllm-openai:v0.30.0", image)
    }

    #[test]
    fn passes_with_a_version_tag() {
        assert!(run(&RULE, &with_image("registry:5000/vllm/vllm-openai:v0.30.0")).is_empty());
    }

    #[test]
    fn fails_on_latest_and_on_no_tag() {
        for image in ["vllm/vllm-openai:latest", "registry:5000/vllm/vllm-openai"] {
            let f = run(&RULE, &with_image(image));
            assert_eq!(f.len(), 1, "{image}");
            assert_eq!(f[0].severity, Severity::Error, "{image}");
            assert_eq!(f[0].line, 16);
        }
    }

    #[test]
    fn notes_digests() {
        let f = run(&RULE, &with_image("vllm/vllm-openai@sha256:abc"));
        assert_eq!(f[0].severity, Severity::Info);
    }
}
