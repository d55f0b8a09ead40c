//! A CPU whose every control comes from a fuzzer's bytes: what the fuzz
//! targets that run arbitrary code under hostile DAT tables share.

use zmmu_cpu::state::{mask, Cpu, Psw};

/// Bytes [`cpu`] reads.
pub const HEAD: usize = 160;

/// The big-endian doubleword at `at` of `data`, zero-padded.
fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_be_bytes(b)
}

/// A CPU from the first [`HEAD`] bytes of `head`: the 16 general
/// registers, CR1 (the primary ASCE) and CR0 (its low word, with the
/// external-interruption subclass bits on), and a flags doubleword that
/// picks the PSW's key, addressing mode, DAT, problem state and address-
/// space control, and the instruction address: an even offset below
/// `span` (a power of two) from `code`.
pub fn cpu(head: &[u8], code: u64, span: u64) -> Cpu {
    let mut cpu = Cpu::new();
    for r in 0..16 {
        cpu.gpr[r] = u64_at(head, 8 * r);
    }
    let flags = u64_at(head, 128);
    cpu.cr[1] = u64_at(head, 136);
    cpu.cr[0] = u64_at(head, 144) & !(0xffff_ffff << 32) | 0xe0;
    let mut m = mask::EA | mask::BA | ((flags & 0xf) << 52) | (((flags >> 4) & 3) << 44);
    if flags & 0x40 != 0 {
        m |= mask::DAT;
    }
    if flags & 0x80 != 0 {
        m &= !mask::EA;
    }
    if flags & 0x100 != 0 {
        m |= mask::PROBLEM;
    }
    m |= ((flags >> 9) & 3) << 46;
    cpu.psw = Psw {
        mask: m,
        addr: code + ((flags >> 16) & (span - 2)),
    };
    cpu
}
