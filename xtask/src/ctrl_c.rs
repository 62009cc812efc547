//! One process-wide Ctrl-C handler for `run` and `e2e`: the first press
//! stops the run under way (which cleans up what its scenarios created),
//! the second exits at once.

/// The run now under way's Ctrl-C sender. The handler is process-wide and
/// installed once; a second run in one process (`xtask test` runs two
/// profiles) puts its sender here too. Held here, a sender also outlives a
/// handler that could not be installed: dropped, it would read as Ctrl-C.
static CANCEL: std::sync::Mutex<Option<tokio::sync::watch::Sender<bool>>> =
    std::sync::Mutex::new(None);
static CTRL_C_HANDLER: std::sync::Once = std::sync::Once::new();

pub fn install(tx: tokio::sync::watch::Sender<bool>) {
    *CANCEL.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    CTRL_C_HANDLER.call_once(|| {
        let presses = std::sync::atomic::AtomicU32::new(0);
        let handler = ctrlc::set_handler(move || {
            if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                eprintln!("\nCtrl-C: stopping; cleaning up what the scenarios created (Ctrl-C again to leave it)");
                if let Some(tx) = CANCEL.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    let _ = tx.send(true);
                }
            } else {
                eprintln!("second Ctrl-C: exiting without cleanup");
                std::process::exit(130);
            }
        });
        if let Err(e) = handler {
            eprintln!("warning: cannot catch Ctrl-C ({e}); an interrupted run will leave its namespaces");
        }
    });
}
