//! The memory an instruction run by the interpreter on behalf of the kvm
//! engine sees: the machine's, with stores into frames holding translated
//! code dropping their blocks, and every change of translation given to
//! the shadow pager and the jump cache as well as the software TLB.

use std::ops::Range;

use zmmu_cpu::clock::Timing;
use zmmu_cpu::decode::Insn;
use zmmu_cpu::memory::{Access, AddressType, Memory, System};
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::Cpu;
use zmmu_hv_kvm::KvmPaging;
use zmmu_machine::main_storage::MainStorage;
use zmmu_machine::system::{self, Board, Stores};
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::exception::Exception;
use zmmu_mmu::invalidate::{Invalidation, PendingFlush};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::shadow::ShadowPager;
use zmmu_mmu::storage::Storage;

use crate::blocks::Blocks;

/// The machine's memory, watched. It is also the absolute storage that
/// [`Memory::storage`] gives the DAT and key instructions (LRA, IPTE,
/// CSP, ...): their stores there drop the blocks of the code frames they
/// reach, and their reads cost nothing.
pub(crate) struct Watch<'a, 'b> {
    board: &'a mut Board<'b>,
    blocks: &'a mut Blocks,
    pager: &'a mut ShadowPager<KvmPaging>,
    paging: &'a mut KvmPaging,
    /// The CPU's DAT controls as the instruction began: a purge walks the
    /// tables under them.
    controls: Controls,
}

/// What an invalidation (this CPU's or one another CPU queued for it)
/// drops: the shadow mappings it covers, and the jump-cache entries of a
/// frame whose key changed; after any other, instruction fetches may
/// translate differently, so the jump cache is checked again. A purge
/// (PTLB, CSP) given the `tables` it walks (storage and the CPU's
/// controls) keeps the mappings they translate again
/// ([`ShadowPager::purge`]); without them (between batches: another CPU's
/// purge, or a reset) everything goes.
pub(crate) fn invalidated(
    pager: &mut ShadowPager<KvmPaging>,
    paging: &mut KvmPaging,
    blocks: &mut Blocks,
    invalidation: &Invalidation,
    tables: Option<(&MainStorage, &Controls)>,
) {
    blocks.invalidations += 1;
    blocks.fetch_epoch += 1;
    // The frames the image stores into at real addresses have their
    // reference and change bits one: a key changed, or reset (a reset, or
    // another CPU's purge, seen between batches), is the host's again.
    if let Some(area) = paging.image().map(|image| image.area()) {
        match (invalidation, tables) {
            (Invalidation::Key(frame), _) => area.remove_storable(frame.value()),
            (Invalidation::All, None) => {
                area.clear_storable();
                blocks.unpublish_all(&paging.exec_area());
            }
            _ => {}
        }
    }
    match (invalidation, tables) {
        (Invalidation::All, Some((storage, controls))) => pager.purge(paging, storage, controls),
        _ => pager.invalidate(paging, invalidation),
    }
    match *invalidation {
        Invalidation::Key(frame) => blocks.key_changed(frame.value(), paging),
        Invalidation::PageTableEntries { first, extra, .. } => blocks.purged_pages(first, extra),
        // An ASCE of tag 0 could not be told from the unused ASCEs of
        // the fetch controls (`fetch_controls`).
        Invalidation::Asce(asce) if asce.tag() != 0 => blocks.purged_asce(asce.tag()),
        _ => blocks.purged(),
    }
}

impl<'a, 'b> Watch<'a, 'b> {
    /// The machine's memory as the next instruction sees it, the CPU's DAT
    /// controls being `controls` (`DatBus::controls`) as it begins.
    pub fn new(
        board: &'a mut Board<'b>,
        blocks: &'a mut Blocks,
        pager: &'a mut ShadowPager<KvmPaging>,
        paging: &'a mut KvmPaging,
        controls: Controls,
    ) -> Self {
        Self {
            board,
            blocks,
            pager,
            paging,
            controls,
        }
    }

    /// After a store of `len` bytes at `addr`: drops the blocks of every
    /// code frame it reached.
    fn stored(&mut self, acc: &Access<'_>, addr: u64, len: usize) {
        if matches!(acc.space, AddressType::Logical { .. }) && len > 0 {
            let last = addr.wrapping_add(len as u64 - 1) & !0xfff;
            let first = self
                .blocks
                .written
                .map_or(addr & !0xfff, |(first, _)| first);
            self.blocks.written = Some((first, last));
        }
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
                Err(_) => self.drop_changed(0..u64::MAX),
            }
            at = at.wrapping_add(in_page);
            left -= in_page;
        }
    }

    /// After a store of `len` bytes at absolute `address`: drops the
    /// blocks of every code frame it reached.
    fn stored_absolute(&mut self, address: AbsoluteAddress, len: usize) {
        let first = address.value() & !0xfff;
        let end = address.value().saturating_add(len as u64);
        for page in (first..end).step_by(0x1000) {
            if self.blocks.has_code(page) {
                self.blocks.drop_page(page, self.paging);
            }
        }
    }

    /// Drops the blocks of the code frames with bytes at the absolute
    /// addresses `range` that stores nothing watched changed.
    fn drop_changed(&mut self, range: Range<u64>) {
        self.blocks
            .drop_changed(&self.board.bus.storage, self.paging, range);
    }
}

impl Storage for Watch<'_, '_> {
    fn size(&self) -> u64 {
        self.board.bus.storage.size()
    }

    fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
        self.board.bus.storage.read(address, buf)
    }

    fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
        self.board.bus.storage.write(address, data)?;
        self.stored_absolute(address, data.len());
        Some(())
    }

    fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
        self.board.bus.storage.key(address)
    }

    fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
        self.board.bus.storage.set_key(address, key)
    }

    fn update_key(
        &mut self,
        address: AbsoluteAddress,
        change: &mut dyn FnMut(StorageKey) -> StorageKey,
    ) -> Option<StorageKey> {
        self.board.bus.storage.update_key(address, change)
    }

    fn interlocked(
        &mut self,
        address: AbsoluteAddress,
        len: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Option<u128> {
        let mut stored = false;
        let old = self
            .board
            .bus
            .storage
            .interlocked(address, len, &mut |old| {
                let new = update(old);
                stored = new.is_some();
                new
            })?;
        if stored {
            self.stored_absolute(address, len);
        }
        Some(old)
    }

    fn code_frame(&self, address: AbsoluteAddress) -> bool {
        self.board.bus.storage.code_frame(address)
    }

    fn set_code_frame(&mut self, address: AbsoluteAddress, code: bool) -> Option<()> {
        self.board.bus.storage.set_code_frame(address, code)
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
        self
    }

    /// The shadow pager drops what the TLB drops: this instruction's
    /// invalidation, and those other CPUs queue for this one while it
    /// waits for their acknowledgements.
    fn invalidate(&mut self, flush: PendingFlush) {
        let storage = self.board.bus.storage.share();
        let controls = self.controls;
        let (pager, paging, blocks) = (&mut *self.pager, &mut *self.paging, &mut *self.blocks);
        self.board.invalidate_also(flush, &mut |invalidation| {
            invalidated(
                pager,
                paging,
                blocks,
                invalidation,
                Some((&storage, &controls)),
            )
        });
    }

    fn fault(&mut self, fault: Fault) -> Exception {
        self.board.fault(fault)
    }
}

impl System for Watch<'_, '_> {
    /// The code frames the instruction may have stored into are compared
    /// with their bytes when translated: where the machine says it may
    /// store ([`system::stores`]), a service call only into its SCCB (at
    /// most 64 KiB at the absolute address in R2: `Sclp::service_call`),
    /// I/O anywhere. Comparing every code frame (thousands of pages)
    /// after each system instruction was 0.4% of a Linux boot's samples.
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let stored = match system::stores(cpu, insn) {
            Stores::Nothing => 0..0,
            Stores::Absolute { start, end } => start..end,
            Stores::Anything if insn.op == Opcode::SERVC => {
                let sccb = cpu.r64(insn.f.r2);
                sccb..sccb.saturating_add(0x1_0000)
            }
            Stores::Anything => 0..u64::MAX,
        };
        let result = self.board.system_instruction(cpu, insn);
        self.drop_changed(stored);
        result
    }

    fn clock(&mut self) -> Option<&mut dyn Timing> {
        self.board.clock()
    }
}
