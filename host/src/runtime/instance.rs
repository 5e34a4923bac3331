//! What one call's store holds ([`InstanceState`]): the WASI context, the resource
//! table, the instance's capabilities, and the memory limiter.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::caps::redact::CallRedactor;
use crate::caps::{CapsCtxView, CapsView, InstanceCaps};

/// Per-instance state: everything one call's store holds.
pub struct InstanceState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    /// The instance's capabilities, armed for its call.
    pub(crate) caps: InstanceCaps,
}

impl InstanceState {
    /// Cleans what the plugin writes of its secret values, for this call.
    pub(crate) fn redact(&self) -> &CallRedactor {
        self.caps.redact()
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CapsView for InstanceState {
    fn caps(&mut self) -> CapsCtxView<'_> {
        CapsCtxView {
            table: &mut self.table,
            caps: &mut self.caps,
        }
    }
}

/// Enforces a plugin's memory limit across all of an instance's memories, and records
/// the request that went over it so the fault can say so.
pub(super) struct MemoryLimiter {
    pub(super) limit: usize,
    pub(super) used: usize,
    pub(super) exceeded: Option<usize>,
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
            // An exhausted limit is a trap, not a value: the plugin cannot recover.
            self.exceeded = Some(total);
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded",
                self.limit
            ));
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
        Ok(desired <= 1_000_000)
    }
}

/// The most resources (open files and directories, streams, pollables) one instance
/// holds at once. Past it the call traps ([`Fault::TooManyResources`]): each open file
/// is a host file descriptor, and one plugin must not run the host out of them.
pub const MAX_RESOURCES: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limit_counts_every_memory_and_records_the_overflow() {
        let mut limiter = MemoryLimiter {
            limit: 100,
            used: 0,
            exceeded: None,
        };
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(limiter.memory_growing(30, 50, None).is_err());
        assert_eq!(limiter.exceeded, Some(110));
    }
}
