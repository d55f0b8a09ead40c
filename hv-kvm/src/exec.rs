//! The execution area: the user pages of the system slot where translated
//! code running at CPL3 finds the CPU state, the translator's context and
//! the jump cache, in every root at fixed virtual addresses. The host reads
//! and writes them here between exits; this crate gives no meaning to their
//! contents (the engine that translates does), only bounds.

use crate::memory::SlotMemory;
use crate::runtime::{off, va};

/// The user-writable window of the system slot that translated code uses.
#[derive(Clone, Copy, Debug)]
pub struct ExecArea<'a> {
    memory: &'a SlotMemory,
}

impl<'a> ExecArea<'a> {
    /// The virtual address of the CPU state (one page).
    pub const CPU: u64 = va(off::EXEC_CPU);
    /// The virtual address of the translator's context (one page).
    pub const CONTEXT: u64 = va(off::EXEC_CTX);
    /// The virtual address of the jump cache.
    pub const JUMP: u64 = va(off::EXEC_JUMP);
    /// The room for the jump cache, in bytes.
    pub const JUMP_BYTES: u64 = off::EXEC_END - off::EXEC_JUMP;

    pub(crate) fn new(memory: &'a SlotMemory) -> Self {
        Self { memory }
    }

    /// The slot offset of `len` bytes at virtual address `at`, if they lie
    /// in the area.
    fn offset(at: u64, len: usize) -> Option<u64> {
        let start = at.checked_sub(va(off::EXEC_CPU))?;
        let end = start.checked_add(len as u64)?;
        (end <= off::EXEC_END - off::EXEC_CPU).then_some(off::EXEC_CPU + start)
    }

    /// Loads the 8-aligned word at virtual address `at`.
    pub fn load_u64(&self, at: u64) -> Option<u64> {
        self.memory.load_u64(Self::offset(at, 8)?)
    }

    /// Stores the 8-aligned word at virtual address `at`.
    pub fn store_u64(&self, at: u64, value: u64) -> Option<()> {
        self.memory.store_u64(Self::offset(at, 8)?, value)
    }

    /// Copies bytes out from virtual address `at`.
    pub fn read(&self, at: u64, buf: &mut [u8]) -> Option<()> {
        self.memory.read(Self::offset(at, buf.len())?, buf)
    }

    /// Copies bytes in at virtual address `at`.
    pub fn write(&self, at: u64, data: &[u8]) -> Option<()> {
        self.memory.write(Self::offset(at, data.len())?, data)
    }
}
