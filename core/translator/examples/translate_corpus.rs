//! Translation cost per guest instruction over a corpus of blocks, for
//! profiling the translator away from the runner's noise.
//!
//! `cargo run --release -p zmmu-translator --example translate_corpus --
//! FILE [ROUNDS] [EVICT_KB]`, FILE from a jit run:
//! `ZMMU_BLOCK_CORPUS=FILE zmmu run --engine jit ...` writes every block
//! it translates. FILE: one block a line, `address amode
//! partition whole_pages fma movbe key count hex-bytes` (address and
//! bytes in hex; amode 24, 31 or 64; partition -1 for
//! `MemoryAccess::Helper`). Each round translates every block in order
//! with a fresh `Translator`; between blocks, `EVICT_KB` KiB of other
//! data are written (untimed), as the guest's run between translations
//! evicts the translator's tables from the caches. Prints the median and
//! the fastest round, and the code's size (the inline part apart) and a
//! hash of it.

use std::time::{Duration, Instant};

use zmmu_mmu::addr::AddressingMode;
use zmmu_translator::{decode_block, stubs, Env, Guest, MemoryAccess, Translator};

fn parse(line: &str) -> Option<(Vec<Guest>, Env)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [at, amode, partition, whole, fma, movbe, key, count, hex] = f[..] else {
        return None;
    };
    let at = u64::from_str_radix(at, 16).ok()?;
    let amode = match amode {
        "24" => AddressingMode::Bits24,
        "31" => AddressingMode::Bits31,
        _ => AddressingMode::Bits64,
    };
    let memory = match partition.parse::<i64>().ok()? {
        p if p < 0 => MemoryAccess::Helper,
        p => MemoryAccess::SoftTlb {
            partition: p as usize,
            whole_pages: whole == "1",
            fma: fma == "1",
        },
    };
    let bytes = (0..hex.len() / 2)
        .map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .ok()?;
    let block = decode_block(&bytes, at, amode, count.parse().ok()?);
    let env = Env {
        amode,
        key: key.parse().ok()?,
        memory,
        movbe: movbe == "1",
    };
    (!block.is_empty()).then_some((block, env))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("a corpus file");
    let rounds: usize = args.get(2).map_or(5, |r| r.parse().expect("rounds"));
    let evict_kb: usize = args.get(3).map_or(0, |e| e.parse().expect("KiB"));
    let text = std::fs::read_to_string(path).expect("readable corpus");
    let blocks: Vec<_> = text.lines().filter_map(parse).collect();
    let insns: usize = blocks.iter().map(|(b, _)| b.len()).sum();
    let base = 0x7f00_0000_0000u64;
    let (shared, stubs) = stubs(base).expect("stubs");
    let mut other = vec![0u8; evict_kb * 1024];
    let mut times = Vec::new();
    let mut bytes = 0;
    // Of them, the blocks' inline code (the rest: their out-of-line
    // paths, fills, slow paths and exits).
    let mut inline = 0;
    // A hash of the code (FNV-1a): changes to the translator that keep
    // its code keep it.
    let mut hash = 0u64;
    for _ in 0..rounds {
        let mut t = Translator::new().expect("translator");
        let mut ip = base + shared.len() as u64;
        let mut total = Duration::ZERO;
        bytes = 0;
        inline = 0;
        hash = 0xcbf2_9ce4_8422_2325;
        for (id, (block, env)) in blocks.iter().enumerate() {
            for (k, b) in other.iter_mut().enumerate().step_by(64) {
                *b = b.wrapping_add(k as u8);
            }
            let started = Instant::now();
            let translated = t
                .translate(block, env, ip, id as u32, &stubs, &[])
                .expect("translated");
            total += started.elapsed();
            inline += translated.inline_end - ip;
            let code = translated.code;
            ip += code.len() as u64;
            for &b in &code {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            bytes += code.len();
        }
        std::hint::black_box(&other);
        times.push(total.as_nanos() as f64 / insns as f64);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{} blocks, {insns} instructions, {bytes} bytes of code ({inline} inline, hash {hash:016x}): {:.0} ns per guest instruction (median of {rounds}), {:.0} fastest",
        blocks.len(),
        times[rounds / 2],
        times[0],
    );
}
