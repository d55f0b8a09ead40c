//! Fuzzes the kernel loader (`-kernel` and `-initrd`) with arbitrary
//! files: the first byte picks where the kernel ends and the initrd
//! begins. It never panics, and every segment it accepts lies inside
//! guest storage with its file data no longer than its memory size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmmu_machine::kernel;

fuzz_target!(|data: &[u8]| {
    let storage = 1 << 24;
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = (usize::from(split) * rest.len() / 255).min(rest.len());
    let (image, initrd) = rest.split_at(at);
    let initrd = (!initrd.is_empty()).then_some(initrd);
    if let Ok(image) = kernel::parse(image, initrd, storage) {
        for segment in &image.segments {
            let end = segment.address.checked_add(segment.memory_size).expect("segment end overflows");
            assert!(end <= storage, "segment {} ends past storage", segment.index);
            assert!(segment.data.len() as u64 <= segment.memory_size);
        }
    }
});
