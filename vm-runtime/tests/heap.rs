//! The image's heap holds the most a translation needs with room to
//! spare (docs/CHOICES.md 89): a block holds at most `MAX_BLOCK`
//! instructions of one page, and the image translates one block at a
//! time, freeing all it allocated but iced's tables (made at the first
//! translation), so what this test measures bounds it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::storage::OwnedStorage;
use zmmu_translator::{Env, MemoryAccess};
use zmmu_vm_runtime::translate::{env_word, translate_from, Request, CODE_BYTES, HEAP_BYTES};

/// The system allocator, counting the bytes allocated now and at most.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator as it came.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: as for System.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The blocks of `kvm/tests/data/program_blocks.txt`: address and bytes.
fn corpus() -> Vec<(u64, Vec<u8>)> {
    let text = include_str!("../../kvm/tests/data/program_blocks.txt");
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let hex = f.get(8)?;
            let bytes = (0..hex.len() / 2)
                .map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some((u64::from_str_radix(f.first()?, 16).ok()?, bytes))
        })
        .collect()
}

#[test]
fn a_quarter_of_the_heap_is_left_at_the_peak_of_the_worst_blocks() {
    let mut storage = OwnedStorage::new(0x2_0000);
    let mut code = Box::new([0u8; CODE_BYTES]);
    let mut blocks = corpus();
    // Random bytes as code, and the corpus' longest instructions 64 times
    // over (the most a block holds).
    let mut seed = 0x5eedu64;
    for _ in 0..256 {
        let bytes = (0..64)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) as u8
            })
            .collect();
        blocks.push((seed >> 20 & 0xffe, bytes));
    }
    let longest: Vec<Vec<u8>> = blocks
        .iter()
        .filter(|(_, bytes)| bytes.len() >= 6 && bytes[0] >> 6 == 3)
        .map(|(_, bytes)| bytes[..6].to_vec())
        .take(64)
        .collect();
    for insn in longest {
        blocks.push((0x800, insn.repeat(64)));
    }
    let before = NOW.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    // Nothing of iced's is made before: its tables count.
    for (id, (addr, bytes)) in blocks.iter().enumerate() {
        let at = 0x1_0000 + (addr & 0xfff) as usize;
        let n = bytes.len().min(0x1_1000 - at);
        storage.bytes_mut()[0x1_0000..0x1_1000].fill(0);
        storage.bytes_mut()[at..at + n].copy_from_slice(&bytes[..n]);
        for memory in [MemoryAccess::HostMmu, MemoryAccess::Helper] {
            let env = Env {
                amode: AddressingMode::Bits64,
                key: (id % 16) as u8,
                memory,
                movbe: false,
            };
            let request = Request {
                addr: *addr,
                absolute: at as u64,
                env: env_word(&env),
                ip: 0xffff_ffff_c000_1000,
                id: id as u64,
                stubs: [0, 0xffff_ffff_c000_0100, 0xffff_ffff_c000_0000],
            };
            translate_from(&request, &storage, &mut code);
        }
    }
    let peak = PEAK.load(Ordering::Relaxed) - before;
    eprintln!("peak {peak} bytes, heap {HEAP_BYTES}");
    assert!(peak * 4 <= HEAP_BYTES * 3, "peak {peak}, heap {HEAP_BYTES}");
}
