//! Memory limits: the total of all of a call's linear memories, not each one alone.

use wasmtime::ResourceLimiter;

/// Caps the sum of every memory a store creates or grows, and remembers whether the cap was hit
/// so the call's error can name it.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    used: usize,
    /// Set when a growth was refused.
    pub exceeded: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes in total.
    pub fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            used: 0,
            exceeded: false,
        }
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used - current.min(self.used) + desired;
        if total > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold references, not data; a generous fixed cap keeps a guest from exhausting
        // host memory through them.
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_on_the_total_of_all_memories() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        // A second memory may only use what the first left.
        assert!(!l.memory_growing(0, 50, None).unwrap());
        assert!(l.exceeded);
        assert!(l.memory_growing(0, 40, None).unwrap());
    }
}
