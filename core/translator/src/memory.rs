//! Guest storage operands from generated code: the one place that decides
//! how a guest access is emitted.
//!
//! Every native storage access is: the logical address in rax, then
//! [`Gen::access`] for the access's kind and length, then [`Gen::load`] or
//! [`Gen::store`] at r13 + rax. [`MemoryAccess`] chooses what `access`
//! emits; today the inline software-TLB probe ([`zmmu_mmu::tlb`]): slot,
//! tag compare for the block's partition, kind and key, add the addend,
//! bound check against the storage size. A miss calls the fill helper
//! ([`abi::CTX_FILL`]) out of line; anything else the fast path cannot do
//! goes to the instruction's slow path (the interpreter) before any
//! architected state changes. Loads and stores are big-endian (MOVBE when
//! [`Env::movbe`](crate::Env::movbe), else BSWAP).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use zmmu_cpu::sem::Ext;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::tlb;

use crate::abi;
use crate::emit::{low16, low32, low8, Current, Gen};
use crate::fill::{Fill, PairOrder};

// The inline probe computes `slot * ENTRY_SIZE` as `(a >> 7) & mask`.
const _: () = assert!(tlb::ENTRY_SIZE == 32 && zmmu_mmu::PAGE_SHIFT == 12);

/// How generated code reaches guest storage operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryAccess {
    /// No inline access (access-register mode): every instruction with a
    /// storage operand goes to the helper.
    Helper,
    /// The inline software-TLB probe of this TLB partition
    /// (`tlb::partition_index`); the key of every tag is
    /// [`Env::key`](crate::Env::key).
    SoftTlb {
        /// The partition.
        partition: usize,
        /// The storage size is a multiple of 4 KiB, so a page a TLB entry
        /// maps lies wholly in storage and no bound check is needed.
        whole_pages: bool,
        /// The host has FMA3 (x86's fused multiply-add, for MULTIPLY AND
        /// ADD: docs/CHOICES.md 51d). Only the jit knows, whose code runs
        /// on the host that translated it.
        fma: bool,
    },
    /// A plain access at the guest's logical address, translated by the
    /// host MMU (the `kvm` engine: the shadow of the s390x tables in the
    /// VM's page tables): no lookup, only a check that the whole access
    /// lies below the top of the addressing mode's range and below 2^47
    /// (else the slow path: wraparound, and what x86 cannot map). The
    /// context's storage base ([`abi::CTX_STORAGE`]) must be 0; a page
    /// fault is the runner's to resolve (see [`crate::Translated::sites`]).
    HostMmu,
}

impl MemoryAccess {
    /// Whether storage operands can be accessed from generated code.
    pub fn inline(self) -> bool {
        self != MemoryAccess::Helper
    }
}

impl Gen {
    /// Makes the `n`-byte access of `kind` at the logical address in rax
    /// reachable: on return the host byte is at r13 + rax; when the fast
    /// path cannot do it, jumps to the instruction's slow path. Uses rcx
    /// and rdx. Only for blocks whose [`MemoryAccess::inline`].
    pub(crate) fn access(
        &mut self,
        here: &mut Current,
        kind: AccessKind,
        n: u32,
    ) -> Result<(), IcedError> {
        match self.env.memory {
            MemoryAccess::SoftTlb { .. } => self.tlb_probe(here, kind, n),
            MemoryAccess::HostMmu => self.host_mmu_check(here, kind, n),
            MemoryAccess::Helper => unreachable!("native storage operands only when inline"),
        }
    }

    /// The range check of [`MemoryAccess::HostMmu`]: the `n` bytes at rax
    /// must end at or below the top of the addressing mode (s390x wraps
    /// there, x86 would not) and at or below 2^47 (the lower half, which
    /// the shadow maps; above it lie non-canonical addresses and the
    /// runtime). A store that touches logical 0-511 or 4096-4607 goes to
    /// the slow path too, whatever the controls: low-address protection
    /// (PoP ch. 3) covers those bytes only, so the shadow maps the rest of
    /// the two low pages writable (`stores_check_low_addresses` of the
    /// shadow pager) and the interpreter decides the covered bytes.
    fn host_mmu_check(
        &mut self,
        here: &mut Current,
        kind: AccessKind,
        n: u32,
    ) -> Result<(), IcedError> {
        here.used_slow = true;
        let slow = here.slow;
        let a = &mut self.a;
        if kind == AccessKind::Write {
            // An access of at most 512 bytes touches a 512-byte range iff
            // its first or last byte lies in it; `a & !0x11ff == 0` is
            // `zmmu_mmu::lap::is_low_address` (the mask sign-extends).
            debug_assert!(n <= 512);
            const LOW: i32 = !0x11ff;
            a.test(rax, LOW)?;
            a.jz(slow)?;
            if n > 1 {
                a.lea(rcx, qword_ptr(rax + (n - 1) as i32))?;
                a.test(rcx, LOW)?;
                a.jz(slow)?;
            }
        }
        match self.env.amode {
            AddressingMode::Bits64 => {
                a.mov(rcx, zmmu_mmu::host::LOWER_HALF_END - u64::from(n))?;
                a.cmp(rax, rcx)?;
                a.ja(slow)?;
            }
            // rax is wrapped already: only a crossing of the top can fail.
            amode if n > 1 => {
                let top = match amode {
                    AddressingMode::Bits31 => 1u32 << 31,
                    _ => 1 << 24,
                };
                a.cmp(rax, (top - n) as i32)?;
                a.ja(slow)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The two `n`-byte operands of an SS instruction, the first (logical
    /// address in rax) accessed as `first`, the second (in rsi) read: on
    /// return their host bytes are at r13 + rax and r13 + rsi; when the
    /// fast path cannot do them, jumps to the slow path. Uses rcx, rdx and
    /// the frame's qwords.
    pub(crate) fn access_pair(
        &mut self,
        here: &mut Current,
        first: AccessKind,
        order: PairOrder,
        n: u32,
    ) -> Result<(), IcedError> {
        here.used_slow = true;
        let label = self.a.create_label();
        let mut hit = self.a.create_label();
        let slow = here.slow;
        self.fills.push(Fill::Pair {
            label,
            hit,
            slow,
            first,
            order,
            n,
            regs: self.regs,
        });
        let a = &mut self.a;
        a.mov(qword_ptr(rsp + abi::FRAME_FILL), rax)?;
        a.mov(qword_ptr(rsp + abi::FRAME_OPERAND), rsi)?;
        a.mov(rax, rsi)?;
        self.tlb_lookup(AccessKind::Read, n, slow, label)?;
        self.a.mov(rsi, rax)?;
        self.a.mov(rax, qword_ptr(rsp + abi::FRAME_FILL))?;
        self.tlb_lookup(first, n, slow, label)?;
        self.a.nop()?;
        self.a.set_label(&mut hit)?;
        self.a.nop()?;
        Ok(())
    }

    /// The inline software-TLB probe of `partition`: on a hit rax holds the
    /// absolute address; a miss calls the fill helper out of line.
    fn tlb_probe(&mut self, here: &mut Current, kind: AccessKind, n: u32) -> Result<(), IcedError> {
        here.used_slow = true;
        let slow = here.slow;
        let mut retry = self.a.create_label();
        let label = self.a.create_label();
        let mut hit = self.a.create_label();
        self.fills.push(Fill::One {
            label,
            retry,
            hit,
            slow,
            kind,
            n,
            regs: self.regs,
        });
        self.a.set_label(&mut retry)?;
        self.tlb_lookup(kind, n, slow, label)?;
        // Where a fill that gives the absolute address itself resumes.
        self.a.nop()?;
        self.a.set_label(&mut hit)?;
        self.a.nop()?;
        Ok(())
    }

    /// The TLB partition's byte offset from r12, the offset of its slot
    /// mask from r12, and whether storage is whole pages.
    fn partition(&self) -> (i32, i32, bool) {
        match self.env.memory {
            MemoryAccess::SoftTlb {
                partition,
                whole_pages,
                ..
            } => (
                (partition * tlb::PARTITION_STRIDE) as i32,
                tlb::slot_mask_offset(partition) as i32,
                whole_pages,
            ),
            MemoryAccess::HostMmu | MemoryAccess::Helper => {
                unreachable!("the software TLB's lookup only for its blocks")
            }
        }
    }

    /// The lookup: the logical address in rax becomes the absolute one; a
    /// tag mismatch jumps to `miss` with the tag formed in rcx and the
    /// slot's offset in rdx, an access beyond storage to `slow`. The tag
    /// is formed from the page of the last byte and compared in the slot
    /// of the first: an access that crosses a page never matches (the
    /// slot holds a page of its own slot number), and the fill sends it to
    /// the interpreter.
    pub(crate) fn tlb_lookup(
        &mut self,
        kind: AccessKind,
        n: u32,
        slow: CodeLabel,
        miss: CodeLabel,
    ) -> Result<(), IcedError> {
        let (base, mask, whole_pages) = self.partition();
        let a = &mut self.a;
        if n > 1 {
            a.lea(rcx, qword_ptr(rax + (n - 1) as i32))?;
        } else {
            a.mov(rcx, rax)?;
        }
        a.mov(rdx, rax)?;
        a.shr(rdx, 7)?;
        // The partition's slot mask: its size is the TLB's to choose.
        a.and(rdx, qword_ptr(r12 + mask))?;
        a.and(rcx, -4096)?;
        a.or(rcx, tlb::tag(0, self.env.key) as i32)?;
        a.cmp(
            rcx,
            qword_ptr(r12 + rdx + (base + tlb::TAG_OFFSET[kind as usize] as i32)),
        )?;
        a.jne(miss)?;
        a.add(
            rax,
            qword_ptr(r12 + rdx + (base + tlb::ADDEND_OFFSET as i32)),
        )?;
        if !whole_pages {
            a.lea(rcx, qword_ptr(rax + n as i32))?;
            a.cmp(rcx, qword_ptr(rbp + abi::CTX_STORAGE_LEN as i32))?;
            a.ja(slow)?;
        }
        Ok(())
    }

    /// A store that missed only because its frame holds translated code
    /// (the store tag has [`tlb::TAG_CODE`]) goes ahead at once when the
    /// 64-byte granules it touches hold no code (the map at
    /// [`abi::CTX_CODE_MAP`]); otherwise, and for any other miss, falls
    /// through to the fill. rcx and rdx as [`Gen::tlb_lookup`] leaves them
    /// on a miss.
    fn code_frame_store(&mut self, n: u32, hit: CodeLabel) -> Result<(), IcedError> {
        let (base, _, _) = self.partition();
        let mut other = self.a.create_label();
        let mut code = self.a.create_label();
        let a = &mut self.a;
        a.or(rcx, tlb::TAG_CODE as i32)?;
        let store = tlb::TAG_OFFSET[AccessKind::Write as usize] as i32;
        a.cmp(rcx, qword_ptr(r12 + rdx + (base + store)))?;
        a.jne(other)?;
        a.mov(qword_ptr(rsp + abi::FRAME_FILL), rax)?;
        a.add(
            rax,
            qword_ptr(r12 + rdx + (base + tlb::ADDEND_OFFSET as i32)),
        )?;
        a.mov(rcx, qword_ptr(rbp + abi::CTX_CODE_MAP as i32))?;
        for last in [0, n - 1] {
            a.lea(rdx, qword_ptr(rax + last as i32))?;
            a.shr(rdx, abi::CODE_GRANULE_SHIFT)?;
            a.bt(qword_ptr(rcx), rdx)?;
            a.jc(code)?;
        }
        a.jmp(hit)?;
        a.set_label(&mut code)?;
        a.mov(rax, qword_ptr(rsp + abi::FRAME_FILL))?;
        a.set_label(&mut other)?;
        a.nop()?;
        Ok(())
    }

    /// rsi = the big-endian `n`-byte value at r13 + rax, extended.
    pub(crate) fn load(&mut self, n: u32, ext: Ext) -> Result<(), IcedError> {
        let movbe = self.env.movbe;
        let a = &mut self.a;
        match n {
            8 => {
                if movbe {
                    a.movbe(rsi, qword_ptr(r13 + rax))?;
                } else {
                    a.mov(rsi, qword_ptr(r13 + rax))?;
                    a.bswap(rsi)?;
                }
            }
            4 => {
                if movbe {
                    a.movbe(esi, dword_ptr(r13 + rax))?;
                } else {
                    a.mov(esi, dword_ptr(r13 + rax))?;
                    a.bswap(esi)?;
                }
            }
            2 => {
                a.movzx(esi, word_ptr(r13 + rax))?;
                a.rol(si, 8)?;
            }
            _ => a.movzx(esi, byte_ptr(r13 + rax))?,
        }
        // The loads above zero-extend to 64 bits already.
        let extended = match ext {
            Ext::U8 => n == 1,
            Ext::U16 => n <= 2,
            Ext::U32 => n <= 4,
            _ => false,
        };
        if extended {
            return Ok(());
        }
        self.extend(ext)
    }

    /// Stores the low `n` bytes of rcx big-endian at r13 + rax.
    pub(crate) fn store(&mut self, n: u32) -> Result<(), IcedError> {
        let movbe = self.env.movbe;
        let a = &mut self.a;
        match n {
            8 => {
                if movbe {
                    a.movbe(qword_ptr(r13 + rax), rcx)?;
                } else {
                    a.bswap(rcx)?;
                    a.mov(qword_ptr(r13 + rax), rcx)?;
                }
            }
            4 => {
                if movbe {
                    a.movbe(dword_ptr(r13 + rax), ecx)?;
                } else {
                    a.bswap(ecx)?;
                    a.mov(dword_ptr(r13 + rax), ecx)?;
                }
            }
            2 => {
                a.rol(cx, 8)?;
                a.mov(word_ptr(r13 + rax), cx)?;
            }
            _ => a.mov(byte_ptr(r13 + rax), cl)?,
        }
        Ok(())
    }

    /// Stores the rightmost `n` bytes of `src` (which it leaves as it
    /// is) at the absolute address in rax: straight from `src` where MOVBE
    /// or a byte store takes it (docs/CHOICES.md §63d), else through rcx
    /// as [`Gen::store`].
    pub(crate) fn store_from(&mut self, n: u32, src: AsmRegister64) -> Result<(), IcedError> {
        let a = &mut self.a;
        match n {
            8 if self.env.movbe => a.movbe(qword_ptr(r13 + rax), src),
            4 if self.env.movbe => a.movbe(dword_ptr(r13 + rax), low32(src)),
            1 => a.mov(byte_ptr(r13 + rax), low8(src)),
            _ => {
                match n {
                    8 => a.mov(rcx, src)?,
                    4 => a.mov(ecx, low32(src))?,
                    _ => a.movzx(ecx, low16(src))?,
                }
                self.store(n)
            }
        }
    }

    /// The miss paths of the block's probes. A TLB miss: the fill helper
    /// translates the access as the interpreter would (walk, keys, R/C) and
    /// says whether the probe now hits; if not (an exception to raise, a
    /// page that is never cached), the interpreter runs the instruction.
    /// A pair's miss: the pair fill translates both operands and gives
    /// their absolute addresses, or sends the instruction to the
    /// interpreter.
    pub(crate) fn emit_fills(&mut self) -> Result<(), IcedError> {
        let mut fills = core::mem::take(&mut self.fills);
        for fill in fills.drain(..) {
            let a = &mut self.a;
            match fill {
                Fill::One {
                    mut label,
                    retry,
                    hit,
                    slow,
                    kind,
                    n,
                    regs,
                } => {
                    a.set_label(&mut label)?;
                    // The fill may raise the access's exception.
                    self.flush(&regs)?;
                    if kind == AccessKind::Write && n <= 1 << abi::CODE_GRANULE_SHIFT {
                        self.code_frame_store(n, hit)?;
                    }
                    let a = &mut self.a;
                    a.mov(qword_ptr(rsp + abi::FRAME_FILL), rax)?;
                    a.mov(rdi, rbp)?;
                    a.mov(rsi, rax)?;
                    a.mov(edx, kind as u32 | n << 8)?;
                    a.call(qword_ptr(rbp + abi::CTX_FILL as i32))?;
                    self.reload(&regs)?;
                    let a = &mut self.a;
                    a.cmp(eax, abi::FILL_ABSOLUTE as i32)?;
                    a.mov(rax, qword_ptr(rsp + abi::FRAME_FILL))?;
                    a.jb(retry)?;
                    a.ja(slow)?;
                    a.mov(rax, qword_ptr(rbp + abi::CTX_FILL_ABSOLUTE as i32))?;
                    a.jmp(hit)?;
                }
                Fill::Pair {
                    mut label,
                    hit,
                    slow,
                    first,
                    order,
                    n,
                    regs,
                } => {
                    a.set_label(&mut label)?;
                    self.flush(&regs)?;
                    let a = &mut self.a;
                    a.mov(rdi, rbp)?;
                    a.mov(rsi, qword_ptr(rsp + abi::FRAME_FILL))?;
                    a.mov(rdx, qword_ptr(rsp + abi::FRAME_OPERAND))?;
                    a.mov(ecx, first as u32 | (order as u32) << 8 | n << 16)?;
                    a.call(qword_ptr(rbp + abi::CTX_FILL_PAIR as i32))?;
                    self.reload(&regs)?;
                    let a = &mut self.a;
                    a.cmp(eax, abi::FILL_ABSOLUTE as i32)?;
                    a.jne(slow)?;
                    a.mov(rax, qword_ptr(rbp + abi::CTX_FILL_ABSOLUTE as i32))?;
                    a.mov(rsi, qword_ptr(rbp + abi::CTX_FILL_SECOND as i32))?;
                    a.jmp(hit)?;
                }
            }
        }
        // The list's allocation kept (with any fill added meanwhile).
        fills.append(&mut self.fills);
        self.fills = fills;
        Ok(())
    }
}
