//! Loading a static s390x ELF executable into a [`FlatMemory`].

use zmmu_cpu::memory::FlatMemory;

fn be(bytes: &[u8], off: usize, n: usize) -> u64 {
    bytes[off..off + n]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// The PT_LOAD segments of an ELF64 big-endian image: (vaddr, file bytes,
/// memory size).
pub fn segments(elf: &[u8]) -> Vec<(u64, Vec<u8>, u64)> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not ELF64");
    assert_eq!(elf[5], 2, "not big-endian");
    let phoff = be(elf, 0x20, 8) as usize;
    let phentsize = be(elf, 0x36, 2) as usize;
    let phnum = be(elf, 0x38, 2) as usize;
    let mut v = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if be(elf, ph, 4) != 1 {
            continue;
        }
        let offset = be(elf, ph + 8, 8) as usize;
        let vaddr = be(elf, ph + 0x10, 8);
        let filesz = be(elf, ph + 0x20, 8) as usize;
        let memsz = be(elf, ph + 0x28, 8);
        v.push((vaddr, elf[offset..offset + filesz].to_vec(), memsz));
    }
    v
}

/// Entry point of an ELF64 big-endian image.
pub fn entry(elf: &[u8]) -> u64 {
    be(elf, 0x18, 8)
}

/// One flat memory covering all PT_LOAD segments, loaded.
pub fn load(elf: &[u8]) -> FlatMemory {
    let segs = segments(elf);
    let lo = segs.iter().map(|s| s.0).min().expect("no PT_LOAD") & !0xfff;
    let hi = segs.iter().map(|s| s.0 + s.2).max().unwrap_or(lo);
    let mut mem = FlatMemory::new(lo, (hi - lo + 0x1000) as usize);
    for (vaddr, bytes, _) in &segs {
        mem.load(*vaddr, bytes).expect("segment inside memory");
    }
    mem
}
