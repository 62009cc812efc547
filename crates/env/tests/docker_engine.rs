//! Sets up the Docker engine for real (installs, starts, applies capfix).

#[test]
#[ignore = "needs root and may install and start Docker: run cargo xtask test"]
fn ensure_engine_runs_privileged_containers() {
    let (docker, setup) = environment::docker::ensure_engine().expect("a working engine");
    eprintln!("engine setup: {setup:?}, cli {}", docker.cli().display());
    assert!(docker.engine_running());
    // A second call changes nothing.
    let (_, again) = environment::docker::ensure_engine().expect("still working");
    assert!(!again.installed && !again.started, "{again:?}");
}
