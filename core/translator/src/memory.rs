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
use crate::emit::{Current, Gen};

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

/// The out-of-line part of one inline access: where a TLB miss goes.
pub(crate) struct Fill {
    /// The miss path.
    label: CodeLabel,
    /// The probe, retried after a fill.
    retry: CodeLabel,
    /// Where a fill that gives the absolute address itself resumes.
    hit: CodeLabel,
    /// The instruction's slow path.
    slow: CodeLabel,
    kind: AccessKind,
    n: u32,
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
            MemoryAccess::SoftTlb { partition } => self.tlb_probe(here, partition, kind, n),
            MemoryAccess::HostMmu => self.host_mmu_check(here, n),
            MemoryAccess::Helper => unreachable!("native storage operands only when inline"),
        }
    }

    /// The range check of [`MemoryAccess::HostMmu`]: the `n` bytes at rax
    /// must end at or below the top of the addressing mode (s390x wraps
    /// there, x86 would not) and at or below 2^47 (the lower half, which
    /// the shadow maps; above it lie non-canonical addresses and the
    /// runtime).
    fn host_mmu_check(&mut self, here: &mut Current, n: u32) -> Result<(), IcedError> {
        here.used_slow = true;
        let slow = here.slow;
        let a = &mut self.a;
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

    /// The inline software-TLB probe of `partition`: on a hit rax holds the
    /// absolute address; a miss calls the fill helper out of line.
    fn tlb_probe(
        &mut self,
        here: &mut Current,
        partition: usize,
        kind: AccessKind,
        n: u32,
    ) -> Result<(), IcedError> {
        here.used_slow = true;
        let slow = here.slow;
        let base = (partition * tlb::PARTITION_STRIDE) as i32;
        let mut retry = self.a.create_label();
        let fill = self.a.create_label();
        let mut hit = self.a.create_label();
        self.fills.push(Fill {
            label: fill,
            retry,
            hit,
            slow,
            kind,
            n,
        });
        let a = &mut self.a;
        a.set_label(&mut retry)?;
        if n > 1 {
            a.mov(ecx, eax)?;
            a.and(ecx, 0xfff)?;
            a.cmp(ecx, (0x1000 - n) as i32)?;
            a.ja(slow)?;
        }
        a.mov(rdx, rax)?;
        a.shr(rdx, 7)?;
        a.and(edx, ((tlb::ENTRIES - 1) * tlb::ENTRY_SIZE) as i32)?;
        a.mov(rcx, rax)?;
        a.and(rcx, -4096)?;
        a.or(rcx, tlb::tag(0, self.env.key) as i32)?;
        a.cmp(
            rcx,
            qword_ptr(r12 + rdx + (base + tlb::TAG_OFFSET[kind as usize] as i32)),
        )?;
        a.jne(fill)?;
        a.add(
            rax,
            qword_ptr(r12 + rdx + (base + tlb::ADDEND_OFFSET as i32)),
        )?;
        a.lea(rcx, qword_ptr(rax + n as i32))?;
        a.cmp(rcx, r14)?;
        a.ja(slow)?;
        // Where a fill that gives the absolute address itself resumes.
        a.nop()?;
        a.set_label(&mut hit)?;
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

    /// The miss paths of the block's probes. A TLB miss: the fill helper
    /// translates the access as the interpreter would (walk, keys, R/C) and
    /// says whether the probe now hits; if not (an exception to raise, a
    /// page that is never cached), the interpreter runs the instruction.
    pub(crate) fn emit_fills(&mut self) -> Result<(), IcedError> {
        let fills = core::mem::take(&mut self.fills);
        for mut fill in fills {
            let a = &mut self.a;
            a.set_label(&mut fill.label)?;
            a.mov(qword_ptr(rsp), rax)?;
            a.mov(rdi, rbp)?;
            a.mov(rsi, rax)?;
            a.mov(edx, fill.kind as u32 | fill.n << 8)?;
            a.call(qword_ptr(rbp + abi::CTX_FILL as i32))?;
            a.cmp(eax, abi::FILL_ABSOLUTE as i32)?;
            a.mov(rax, qword_ptr(rsp))?;
            a.jb(fill.retry)?;
            a.ja(fill.slow)?;
            a.mov(rax, qword_ptr(rbp + abi::CTX_FILL_ABSOLUTE as i32))?;
            a.jmp(fill.hit)?;
        }
        Ok(())
    }
}
