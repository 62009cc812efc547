//! Ctrl-C, as every operation of a run sees it: a watch channel that flips
//! to `true` once.

/// Ctrl-C, seen by every operation.
#[derive(Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>);

impl Cancel {
    /// A sender that cancels (send `true`) and the receiver operations hold.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Cancel) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn cancelled(&mut self) {
        let _ = self.0.wait_for(|c| *c).await;
    }
}
