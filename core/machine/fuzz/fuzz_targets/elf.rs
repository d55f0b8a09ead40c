//! Fuzzes the ELF loader with arbitrary files: it never panics, and every
//! segment it accepts lies inside guest storage with its file data no
//! longer than its memory size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmmu_machine::elf;

fuzz_target!(|data: &[u8]| {
    let storage = 1 << 24;
    if let Ok(image) = elf::parse(data, storage) {
        for segment in &image.segments {
            let end = segment.address.checked_add(segment.memory_size).expect("segment end overflows");
            assert!(end <= storage, "segment {} ends past storage", segment.index);
            assert!(segment.data.len() as u64 <= segment.memory_size);
        }
    }
});
