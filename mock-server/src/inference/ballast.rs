//! Memory a request holds while it runs, so that the mock's resident set
//! grows with load the way a model server's does.

use crate::config::Config;

/// Memory held for the life of a request: allocated and written, so the
/// resident set really grows (and a container limit really can be crossed).
pub(super) struct Ballast(#[allow(dead_code)] Vec<u8>);

impl Ballast {
    pub(super) fn for_request(cfg: &Config, body_len: usize) -> Ballast {
        let payload = (body_len as f64 * cfg.memory_per_payload_byte).min(u64::MAX as f64) as u64;
        let total = cfg.memory_per_request_bytes.saturating_add(payload);
        let len = usize::try_from(total).unwrap_or(usize::MAX);
        if len == 0 {
            return Ballast(Vec::new());
        }
        let mut probe: Vec<u8> = Vec::new();
        if probe.try_reserve_exact(len).is_err() {
            // The allocator refused outright; hold nothing rather than abort.
            tracing::warn!(bytes = len, "memory ballast could not be reserved");
            return Ballast(probe);
        }
        drop(probe);
        // Non-zero fill touches every page, so the memory is resident, not just reserved.
        Ballast(vec![0xA5; len])
    }
}
