//! How `cargo xtask` ends: the error and its causes, one per line, and a
//! non-zero exit. Never anyhow's `Debug` form, which prints a stack
//! backtrace when `RUST_BACKTRACE` is set: a failed scenario or a bad input
//! is an answer, not a crash.

use std::process::ExitCode;

/// Prints `result`'s error (if any) and turns it into the exit code.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", render(&e));
            ExitCode::FAILURE
        }
    }
}

/// `error: <what>` and one `  caused by: <why>` line per cause.
pub fn render(e: &anyhow::Error) -> String {
    let mut out = format!("error: {e}");
    for cause in e.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn errors_print_their_chain_and_no_backtrace() {
        let e = Err::<(), _>(std::io::Error::other("connection refused"))
            .context("describing the cluster")
            .context("cargo xtask run")
            .unwrap_err();
        insta::assert_snapshot!("error_chain", render(&e));
    }
}
