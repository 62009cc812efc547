//! goose's log, filtered. Left alone, goose installs a logger that prints a
//! `[WARN]` line for every failed request: thousands of lines when a load
//! runs into a Service without endpoints, burying the progress lines. Every
//! failed request is already counted and the first one kept by the
//! [`Recorder`](super::attack::Recorder), so this logger drops those lines
//! and prints goose's other warnings and errors to stderr.
//!
//! [`install`] sets it as the process's `log` logger unless the program set
//! one before (then goose's lines go there, and goose's own logger is not
//! installed either, since `log` takes one logger per process).

use std::sync::Once;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The module goose logs per-request failures from.
const PER_REQUEST_TARGET: &str = "goose::goose";

struct GooseLog;

impl GooseLog {
    fn wanted(metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Warn
            && !(metadata.level() == Level::Warn && metadata.target() == PER_REQUEST_TARGET)
    }
}

impl Log for GooseLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        GooseLog::wanted(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if GooseLog::wanted(record.metadata()) {
            eprintln!("{} [{}] {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: GooseLog = GooseLog;
static INSTALL: Once = Once::new();

/// Installs the filtering logger, once per process; harmless when the
/// program installed its own first.
pub fn install() {
    INSTALL.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(LevelFilter::Warn);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(level: Level, target: &str) -> bool {
        GooseLog::wanted(&Metadata::builder().level(level).target(target).build())
    }

    #[test]
    fn drops_per_request_warnings_and_keeps_the_rest() {
        assert!(!meta(Level::Warn, "goose::goose"));
        assert!(meta(Level::Error, "goose::goose"));
        assert!(meta(Level::Warn, "goose::config"));
        assert!(meta(Level::Error, "goose"));
        assert!(!meta(Level::Info, "goose::config"));
        assert!(!meta(Level::Debug, "harness"));
    }
}
