//! The batch blob the probe program reads (format in `conformance/gen/probe.c`).

use super::layout::{BLOB_SIZE, STORAGE_SIZE, TAG_RANGES};
use super::plan::Plan;
use crate::vector::{ProbeKind, ProbeSpace};

/// Identifies a batch blob ("zmmuprob").
const MAGIC: u64 = 0x7a6d_6d75_7072_6f62;

/// Encodes `plans` as one batch; `console` asks the probe to print its
/// records on the SCLP ASCII console.
pub fn encode(plans: &[Plan], console: bool) -> Result<Vec<u8>, String> {
    let mut w: Vec<u64> = vec![
        MAGIC,
        1,
        u64::from(console),
        plans.len() as u64,
        STORAGE_SIZE,
        TAG_RANGES.len() as u64,
    ];
    for (first, end) in TAG_RANGES {
        w.extend([first, end]);
    }
    for plan in plans {
        let mem = plan.mem();
        w.extend([
            plan.prefix,
            plan.cr0,
            plan.cr1,
            plan.cr7,
            plan.cr13,
            mem.len() as u64,
            plan.keys.len() as u64,
            plan.probes.len() as u64,
        ]);
        for (addr, bytes) in &mem {
            w.extend([*addr, bytes.len() as u64]);
            for chunk in bytes.chunks(8) {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                w.push(u64::from_be_bytes(word));
            }
        }
        for (&addr, &key) in &plan.keys {
            w.extend([addr, key]);
        }
        for p in &plan.probes {
            let space = match p.space {
                ProbeSpace::Primary => 0,
                ProbeSpace::Secondary => 1,
                ProbeSpace::Home => 2,
                ProbeSpace::Real => 3,
            };
            let access = match p.access {
                ProbeKind::InstructionFetch => 0,
                ProbeKind::Read => 1,
                ProbeKind::Write => 2,
            };
            w.extend([
                p.addr,
                space | p.amode.bits() << 8 | access << 16 | p.key << 24,
            ]);
        }
    }
    let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_be_bytes()).collect();
    if bytes.len() as u64 > BLOB_SIZE {
        return Err(format!("batch blob of {} bytes is too large", bytes.len()));
    }
    Ok(bytes)
}
