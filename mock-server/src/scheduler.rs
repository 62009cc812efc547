//! Admission: at most `max_num_seqs` requests run at once, the rest wait in
//! a first-come, first-served queue (so `vllm:num_requests_waiting` really
//! rises under load). The limit can change at run time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

#[derive(Debug)]
struct Inner {
    running: usize,
    limit: usize,
    next_id: u64,
    waiters: VecDeque<(u64, oneshot::Sender<()>)>,
}

/// The running slots and the waiting queue.
#[derive(Debug, Clone)]
pub struct Scheduler {
    inner: Arc<Mutex<Inner>>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitError {
    /// The waiting queue is at its configured length.
    QueueFull,
}

/// Holds a running slot; dropping it hands the slot to the next waiter.
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Mutex<Inner>>,
}

impl Scheduler {
    pub fn new(limit: usize) -> Scheduler {
        Scheduler {
            inner: Arc::new(Mutex::new(Inner {
                running: 0,
                limit: limit.max(1),
                next_id: 0,
                waiters: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests running now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Changes the number of slots; waiters are admitted at once if the limit grew.
    pub fn set_limit(&self, limit: usize) {
        let mut inner = self.lock();
        inner.limit = limit.max(1);
        admit_waiters(&mut inner);
    }

    /// Waits for a slot. `max_waiting == 0` means the queue is unbounded.
    /// If the returned future is dropped while waiting, the request leaves the queue.
    pub async fn admit(&self, max_waiting: usize) -> Result<Slot, AdmitError> {
        let (id, rx) = {
            let mut inner = self.lock();
            if inner.running < inner.limit && inner.waiters.is_empty() {
                inner.running += 1;
                return Ok(Slot {
                    inner: self.inner.clone(),
                });
            }
            if max_waiting > 0 && inner.waiters.len() >= max_waiting {
                return Err(AdmitError::QueueFull);
            }
            let (tx, rx) = oneshot::channel();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.waiters.push_back((id, tx));
            (id, rx)
        };
        let mut leave = LeaveQueueOnDrop {
            inner: Some(self.inner.clone()),
            id,
        };
        // The sender is only dropped after a slot was handed over (running
        // already counts us) or by our own removal, so an error cannot happen
        // while we are still queued.
        let _ = rx.await;
        leave.inner = None;
        Ok(Slot {
            inner: self.inner.clone(),
        })
    }
}

/// Removes a waiter that gave up (client went away) from the queue, or
/// returns its slot if one was handed to it in the meantime.
struct LeaveQueueOnDrop {
    inner: Option<Arc<Mutex<Inner>>>,
    id: u64,
}

impl Drop for LeaveQueueOnDrop {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
        let before = guard.waiters.len();
        guard.waiters.retain(|(id, _)| *id != self.id);
        if guard.waiters.len() == before {
            // Already admitted: the slot counted for us must be released.
            guard.running = guard.running.saturating_sub(1);
            admit_waiters(&mut guard);
        }
    }
}

fn admit_waiters(inner: &mut Inner) {
    while inner.running < inner.limit {
        let Some((_, tx)) = inner.waiters.pop_front() else {
            break;
        };
        inner.running += 1;
        if tx.send(()).is_err() {
            // Receiver gone without running its drop guard yet; undo.
            inner.running -= 1;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.running = inner.running.saturating_sub(1);
        admit_waiters(&mut inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn queues_beyond_the_limit_and_admits_in_order() {
        let s = Scheduler::new(1);
        let first = s.admit(0).await.unwrap();
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.admit(0).await.map(|_slot| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!((s.running(), s.waiting()), (1, 1));
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!((s.running(), s.waiting()), (0, 0));
    }

    #[tokio::test]
    async fn bounded_queue_rejects() {
        let s = Scheduler::new(1);
        let _a = s.admit(1).await.unwrap();
        let s2 = s.clone();
        let _w = tokio::spawn(async move { s2.admit(1).await.map(|_slot| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(s.admit(1).await.unwrap_err(), AdmitError::QueueFull);
    }

    #[tokio::test]
    async fn cancelled_waiter_leaves_the_queue() {
        let s = Scheduler::new(1);
        let a = s.admit(0).await.unwrap();
        let s2 = s.clone();
        let w = tokio::spawn(async move { s2.admit(0).await.map(|_slot| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        w.abort();
        let _ = w.await;
        assert_eq!(s.waiting(), 0);
        drop(a);
        assert_eq!(s.running(), 0);
    }

    #[tokio::test]
    async fn raising_the_limit_admits_waiters() {
        let s = Scheduler::new(1);
        let _a = s.admit(0).await.unwrap();
        let s2 = s.clone();
        let w = tokio::spawn(async move { s2.admit(0).await.map(std::mem::forget) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.set_limit(2);
        w.await.unwrap().unwrap();
        assert_eq!(s.running(), 2);
    }
}
