//! The manifests `apply` and `assert` read: a template file (with the
//! `values.yaml` beside it) or an inline resource, rendered with the
//! scenario's and the operation's bindings.

use std::path::Path;

use serde_json::Value;

use crate::context::{Ctx, OpError};
use scenario::bindings::{self as template, Bindings};

/// Bindings for a template file: `values.yaml` beside it, then the
/// scenario's bindings, then the operation's own.
fn bindings_for(ctx: &Ctx, file: &Path, extra: &Bindings) -> Result<Bindings, OpError> {
    let mut b = Bindings::new();
    if let Some(values) = file.parent().map(|d| d.join("values.yaml"))
        && values.is_file()
        && values != file
    {
        b = template::load_values(&values).map_err(OpError::bad)?;
    }
    b.extend(ctx.bindings.clone());
    b.extend(extra.clone());
    Ok(b)
}

pub(super) fn render_source(
    ctx: &Ctx,
    file: Option<&str>,
    resource: Option<&Value>,
    extra: &Bindings,
) -> Result<String, OpError> {
    match (file, resource) {
        (Some(f), _) => {
            let path = ctx.resolve(f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| OpError::bad(format!("cannot read {}: {e}", path.display())))?;
            let b = bindings_for(ctx, &path, extra)?;
            template::render(&path, &text, &b).map_err(OpError::bad)
        }
        (None, Some(r)) => {
            let text = yaml_serde::to_string(r).map_err(OpError::bad)?;
            let mut b = ctx.bindings.clone();
            b.extend(extra.clone());
            template::render(Path::new("(inline resource)"), &text, &b).map_err(OpError::bad)
        }
        (None, None) => Err(OpError::bad("nothing to render")),
    }
}
