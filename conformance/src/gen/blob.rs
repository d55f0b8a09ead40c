//! The batch blob the probe program reads (format in `conformance/gen/probe.c`).

use super::layout::{BLOB_SIZE, STORAGE_SIZE, TAG_RANGES};
use super::plan::Plan;
use super::sequence::StepPlan;
use crate::steps::{LraForm, Op};
use crate::vector::{Amode, ProbeKind, ProbeSpace};

/// Identifies a batch blob ("zmmuprob").
const MAGIC: u64 = 0x7a6d_6d75_7072_6f62;

/// Encodes `plans` as one batch; `console` asks the probe to print its
/// records on the SCLP ASCII console.
pub fn encode(plans: &[Plan], console: bool) -> Result<Vec<u8>, String> {
    let mut w = header(1, plans.len(), console);
    for plan in plans {
        state(&mut w, plan, plan.probes.len());
        for p in &plan.probes {
            w.extend([
                p.addr,
                space_code(p.space)
                    | p.amode.bits() << 8
                    | access_code(p.access) << 16
                    | p.key << 24,
            ]);
        }
    }
    finish(&w)
}

/// Encodes format-2 `plans` as one batch (blob version 2): each step is
/// five words, `op | space << 8 | amode << 16 | access << 24 | key << 32 |
/// size << 40 | option << 48` and four operands (`conformance/gen/probe.c`).
pub fn encode_steps(plans: &[StepPlan], console: bool) -> Result<Vec<u8>, String> {
    let mut w = header(2, plans.len(), console);
    for plan in plans {
        state(&mut w, &plan.base, plan.steps.len());
        for op in &plan.steps {
            w.extend(step_words(op));
        }
    }
    finish(&w)
}

fn header(version: u64, scenarios: usize, console: bool) -> Vec<u64> {
    let mut w: Vec<u64> = vec![
        MAGIC,
        version,
        u64::from(console),
        scenarios as u64,
        STORAGE_SIZE,
        TAG_RANGES.len() as u64,
    ];
    for (first, end) in TAG_RANGES {
        w.extend([first, end]);
    }
    w
}

/// A scenario's initial state: registers, counts, `mem` and keys.
fn state(w: &mut Vec<u64>, plan: &Plan, steps: usize) {
    let mem = plan.mem();
    w.extend([
        plan.prefix,
        plan.cr0,
        plan.cr1,
        plan.cr7,
        plan.cr13,
        mem.len() as u64,
        plan.keys.len() as u64,
        steps as u64,
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
}

fn space_code(space: ProbeSpace) -> u64 {
    match space {
        ProbeSpace::Primary => 0,
        ProbeSpace::Secondary => 1,
        ProbeSpace::Home => 2,
        ProbeSpace::Real => 3,
    }
}

fn access_code(access: ProbeKind) -> u64 {
    match access {
        ProbeKind::InstructionFetch => 0,
        ProbeKind::Read => 1,
        ProbeKind::Write => 2,
    }
}

/// The five words of one step.
fn step_words(op: &Op) -> [u64; 5] {
    let psw = |code: u64, space: ProbeSpace, amode: Amode| {
        code | space_code(space) << 8 | amode.bits() << 16
    };
    match *op {
        Op::Access {
            addr,
            space,
            amode,
            access,
            key,
            size,
        } => [
            psw(1, space, amode) | access_code(access) << 24 | key << 32 | size << 40,
            addr,
            0,
            0,
            0,
        ],
        Op::Tprot {
            addr,
            space,
            amode,
            key,
        } => [psw(2, space, amode) | key << 32, addr, 0, 0, 0],
        Op::Lra {
            form,
            addr,
            space,
            amode,
        } => {
            let option = match form {
                LraForm::Lra => 0,
                LraForm::Lray => 1,
                LraForm::Lrag => 2,
            };
            [psw(3, space, amode) | option << 48, addr, 0, 0, 0]
        }
        Op::Strag { addr, space, amode } => [psw(4, space, amode), addr, 0, 0, 0],
        Op::Lptea { addr, m4 } => [5 | m4 << 48, addr, 0, 0, 0],
        Op::Ipte {
            pto,
            va,
            range,
            local,
        } => [6 | u64::from(local) << 48, pto, va, range, 0],
        Op::Idte { r1, r2, r3, local } => [7 | u64::from(local) << 48, r1, r2, r3, 0],
        Op::Csp {
            width,
            addr,
            compare,
            replace,
            purge,
        } => [
            8 | (u64::from(purge) | (width & 8)) << 48,
            addr,
            compare,
            replace,
            0,
        ],
        Op::Ptlb => [9, 0, 0, 0, 0],
        Op::Sske { addr, key, m3 } => [10 | m3 << 48, addr, key, 0, 0],
        Op::Rrbe { addr } => [11, addr, 0, 0, 0],
        Op::Spx { prefix } => [12, prefix, 0, 0, 0],
        Op::Store { addr, value } => [13, addr, value, 0, 0],
        Op::Lctlg { cr, value } => [14, u64::from(cr), value, 0, 0],
    }
}

fn finish(w: &[u64]) -> Result<Vec<u8>, String> {
    let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_be_bytes()).collect();
    if bytes.len() as u64 > BLOB_SIZE {
        return Err(format!("batch blob of {} bytes is too large", bytes.len()));
    }
    Ok(bytes)
}
