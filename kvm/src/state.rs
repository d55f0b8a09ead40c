//! The CPU state and the translator's context in the VM's execution area:
//! the host's [`Cpu`] is copied in before translated code runs and the
//! registers translated code may change are copied back after it (and
//! around every host call), at the offsets of `zmmu_cpu::state::offset`.

use zmmu_cpu::state::{offset, Cpu};
use zmmu_hv_kvm::ExecArea;
use zmmu_translator::abi;
use zmmu_vm_runtime::protocol::cpu_page;

/// The virtual address of CPU state field `at` (a `state::offset`).
const fn cpu(at: usize) -> u64 {
    ExecArea::CPU + at as u64
}

/// The virtual address of context field `at` (an `abi::CTX_*`).
pub(crate) const fn ctx(at: usize) -> u64 {
    ExecArea::CONTEXT + at as u64
}

fn store_words(area: &ExecArea<'_>, at: u64, words: impl IntoIterator<Item = u64>) {
    for (i, word) in words.into_iter().enumerate() {
        let _ = area.store_u64(at + 8 * i as u64, word);
    }
}

fn load_words(area: &ExecArea<'_>, at: u64, words: &mut [u64]) {
    for (i, word) in words.iter_mut().enumerate() {
        *word = area.load_u64(at + 8 * i as u64).unwrap_or(0);
    }
}

/// Copies the state translated code reads into the VM.
pub(crate) fn store(area: &ExecArea<'_>, c: &Cpu) {
    store_words(area, cpu(offset::GPR), c.gpr);
    store_words(area, cpu(offset::CR), c.cr);
    store_words(area, cpu(offset::VR), c.vr.iter().flatten().copied());
    store_words(area, cpu(offset::PSW_MASK), [c.psw.mask, c.psw.addr]);
    let mut ar = [0u8; 64];
    for (bytes, r) in ar.chunks_exact_mut(4).zip(c.ar) {
        bytes.copy_from_slice(&r.to_le_bytes());
    }
    let _ = area.write(cpu(offset::AR), &ar);
    let _ = area.store_u64(cpu(offset::PREFIX), c.prefix.value());
    // What only the in-VM runtime image reads (and the FPC, which it
    // writes): translated code never touches these.
    let _ = area.write(cpu(cpu_page::FPC), &c.fpc.to_le_bytes());
    let _ = area.write(cpu(cpu_page::CPU_ADDR), &c.cpu_addr.to_le_bytes());
    let model = [u8::from(c.vector_facility), u8::from(c.mie3_facility)];
    let _ = area.write(cpu(cpu_page::VECTOR_FACILITY), &model[..1]);
    let _ = area.write(cpu(cpu_page::MIE3_FACILITY), &model[1..]);
}

/// Copies back what translated code and the in-VM runtime image may
/// change: general, access and vector (floating-point) registers, the FPC,
/// the PSW and the control registers (the image loads CR1 and CR7 where
/// neither chooses the root: `zmmu_vm_runtime::call`).
pub(crate) fn load(area: &ExecArea<'_>, c: &mut Cpu) {
    load_words(area, cpu(offset::GPR), &mut c.gpr);
    load_words(area, cpu(offset::CR), &mut c.cr);
    let mut vr = [0u64; 64];
    load_words(area, cpu(offset::VR), &mut vr);
    for (r, words) in c.vr.iter_mut().zip(vr.chunks_exact(2)) {
        *r = [words[0], words[1]];
    }
    let mut psw = [0u64; 2];
    load_words(area, cpu(offset::PSW_MASK), &mut psw);
    c.psw.mask = psw[0];
    c.psw.addr = psw[1];
    let mut ar = [0u8; 64];
    if area.read(cpu(offset::AR), &mut ar).is_some() {
        for (r, bytes) in c.ar.iter_mut().zip(ar.chunks_exact(4)) {
            *r = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
    }
    let mut fpc = [0u8; 4];
    if area.read(cpu(cpu_page::FPC), &mut fpc).is_some() {
        c.fpc = u32::from_le_bytes(fpc);
    }
}

/// The context a chain of blocks starts with: the host-call stub as the
/// helper, storage at virtual address 0 (accesses are made at the guest's
/// logical address), no TLB and no fill helper (the x86 MMU translates).
pub(crate) struct Context {
    pub helper: u64,
    pub budget: u64,
    pub generation: u32,
    pub bits: u64,
    pub block: u32,
}

impl Context {
    pub(crate) fn store(&self, area: &ExecArea<'_>) {
        for (field, value) in [
            (abi::CTX_HELPER, self.helper),
            (abi::CTX_TLB, 0),
            (abi::CTX_STORAGE, 0),
            (abi::CTX_STORAGE_LEN, 0),
            (abi::CTX_BUDGET, self.budget),
            (abi::CTX_JUMP, ExecArea::JUMP),
            (abi::CTX_GENERATION, u64::from(self.generation)),
            (abi::CTX_BITS, self.bits),
            (abi::CTX_LAST_BLOCK, u64::from(self.block)),
            (abi::CTX_FILL, 0),
            (abi::CTX_FILL_ABSOLUTE, 0),
        ] {
            let _ = area.store_u64(ctx(field), value);
        }
    }
}

/// The context's budget left and the last block that ran to its end.
pub(crate) fn ended(area: &ExecArea<'_>) -> (u64, u32) {
    let budget = area.load_u64(ctx(abi::CTX_BUDGET)).unwrap_or(0);
    let block = area.load_u64(ctx(abi::CTX_LAST_BLOCK)).unwrap_or(0);
    (budget, block as u32)
}

/// Records the budget left as the chain's return path would (a run that
/// ended at a host call, `hv_kvm::runtime::LEAVE`).
pub(crate) fn set_budget(area: &ExecArea<'_>, budget: u64) {
    let _ = area.store_u64(ctx(abi::CTX_BUDGET), budget);
}

/// Tells running code the PSW bits and fetch controls' tag of the blocks
/// its dispatcher looks for (a new address space during a host call).
pub(crate) fn set_bits(area: &ExecArea<'_>, bits: u64) {
    let _ = area.store_u64(ctx(abi::CTX_BITS), bits);
}

/// Records `last` ([`abi::last_run`]) as the last instruction run before
/// the dispatcher.
pub(crate) fn set_last_run(area: &ExecArea<'_>, last: u32) {
    let _ = area.store_u64(ctx(abi::CTX_LAST_BLOCK), u64::from(last));
}

/// Tells running code about a new jump-cache generation.
pub(crate) fn set_generation(area: &ExecArea<'_>, generation: u32) {
    let _ = area.store_u64(ctx(abi::CTX_GENERATION), u64::from(generation));
}

const _: () = assert!(offset::SIZE <= 4096 && abi::CTX_FILL_ABSOLUTE < 4096);
