//! The memory an instruction run by the interpreter on behalf of the kvm
//! engine sees: the machine's, with stores into frames holding translated
//! code dropping their blocks, and every change of translation given to
//! the shadow pager and the jump cache as well as the software TLB.

use zmmu_cpu::clock::Timing;
use zmmu_cpu::decode::Insn;
use zmmu_cpu::memory::{Access, AddressType, Memory, System};
use zmmu_cpu::state::Cpu;
use zmmu_hv_kvm::KvmPaging;
use zmmu_machine::system::Board;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::invalidate::{Invalidation, PendingFlush};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::shadow::ShadowPager;
use zmmu_mmu::storage::Storage;

use crate::blocks::Blocks;

/// The machine's memory, watched.
pub(crate) struct Watch<'a, 'b> {
    pub board: &'a mut Board<'b>,
    pub blocks: &'a mut Blocks,
    pub pager: &'a mut ShadowPager<KvmPaging>,
    pub paging: &'a mut KvmPaging,
    /// The instruction asked for absolute storage ([`Memory::storage`]:
    /// the DAT and key instructions), which it may change without a
    /// [`Memory::write`]: every block is dropped after it.
    pub storage_touched: bool,
}

/// What an invalidation (this CPU's or one another CPU queued for it)
/// drops: the shadow mappings it covers (all but the real space's for a
/// purge), and the jump-cache entries of a frame whose key changed; after
/// any other, instruction fetches may translate differently, so the jump
/// cache is checked again.
pub(crate) fn invalidated(
    pager: &mut ShadowPager<KvmPaging>,
    paging: &mut KvmPaging,
    blocks: &mut Blocks,
    invalidation: &Invalidation,
) {
    match invalidation {
        // PTLB and CSP: resets do not come this way.
        Invalidation::All => pager.purge(paging),
        _ => pager.invalidate(paging, invalidation),
    }
    match invalidation {
        Invalidation::Key(frame) => blocks.key_changed(frame.value(), paging),
        _ => blocks.recheck = true,
    }
}

impl Watch<'_, '_> {
    /// After a store of `len` bytes at `addr`: drops the blocks of every
    /// code frame it reached.
    fn stored(&mut self, acc: &Access<'_>, addr: u64, len: usize) {
        let read = Access {
            kind: AccessKind::Read,
            ..*acc
        };
        let mut at = addr;
        let mut left = len as u64;
        while left > 0 {
            let in_page = (0x1000 - (at & 0xfff)).min(left);
            let absolute = match acc.space {
                AddressType::Absolute => Ok(AbsoluteAddress::new(at)),
                _ => self.board.translate(&read, at),
            };
            match absolute {
                Ok(abs) if self.blocks.has_code(abs.value()) => {
                    self.blocks.drop_page(abs.value(), self.paging)
                }
                Ok(_) => {}
                // The store succeeded, so this is not expected; be safe.
                Err(_) => self.drop_changed(),
            }
            at = at.wrapping_add(in_page);
            left -= in_page;
        }
    }

    /// Drops the blocks of code frames that stores nothing watched
    /// changed.
    fn drop_changed(&mut self) {
        self.blocks
            .drop_changed(&self.board.bus.storage, self.paging);
    }

    /// What must follow the instruction: drops the blocks of changed code
    /// frames if it used absolute storage directly.
    pub fn finish(mut self) {
        if self.storage_touched {
            self.drop_changed();
        }
    }
}

impl Memory for Watch<'_, '_> {
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        self.board.read(acc, addr, buf)
    }

    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        self.board.write(acc, addr, data)?;
        self.stored(acc, addr, data.len());
        Ok(())
    }

    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        self.board.check(acc, addr, len)
    }

    fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
        let absolute = self.board.translate(acc, addr)?;
        // CSP and CSPG store their operand at this absolute address.
        if acc.kind == AccessKind::Write && self.blocks.has_code(absolute.value()) {
            self.blocks.drop_page(absolute.value(), self.paging);
        }
        Ok(absolute)
    }

    fn facilities(&self) -> Facilities {
        self.board.facilities()
    }

    fn storage(&mut self) -> &mut dyn Storage {
        self.storage_touched = true;
        self.board.storage()
    }

    /// The shadow pager drops what the TLB drops: this instruction's
    /// invalidation, and those other CPUs queue for this one while it
    /// waits for their acknowledgements.
    fn invalidate(&mut self, flush: PendingFlush) {
        let (pager, paging, blocks) = (&mut *self.pager, &mut *self.paging, &mut *self.blocks);
        self.board.invalidate_also(flush, &mut |invalidation| {
            invalidated(pager, paging, blocks, invalidation)
        });
    }

    fn fault(&mut self, fault: Fault) -> Exception {
        self.board.fault(fault)
    }
}

impl System for Watch<'_, '_> {
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let result = self.board.system_instruction(cpu, insn);
        // The SCLP, SIGP, DIAG and I/O may have stored anywhere.
        self.drop_changed();
        result
    }

    fn clock(&mut self) -> Option<&mut dyn Timing> {
        self.board.clock()
    }
}
