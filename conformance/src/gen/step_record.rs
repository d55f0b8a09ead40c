//! Decoding the probe's format-2 records (`conformance/gen/probe.c`,
//! "format-2 scenarios") into steps. As for version 1, this only interprets
//! what the machine reported; a step whose observations are incomplete or
//! contradict each other is dropped, never guessed.

use super::record::{has_teid, tag_frame, Dropped, Record};
use crate::steps::{Op, Outcome};
use crate::vector::{ProbeKind, ProbeSpace};

/// The TEID slot's contents before every access.
const TEID_SENTINEL: u64 = 0xfeed_face_cafe_beef;
const KIND_SVC: u64 = 1;
const KIND_PROGRAM: u64 = 2;
const KIND_TAINTED: u64 = 3;
const KIND_HARNESS: u64 = 4;

/// What a reference's records may be trusted for, and the state the
/// driver tracked up to this step.
#[derive(Debug, Clone, Copy)]
pub struct StepRules {
    /// LOAD REAL ADDRESS sets architected condition codes (else only its
    /// condition code 0 results are kept).
    pub lra: bool,
    /// Protection TEIDs are defined (ESOP-1/ESOP-2).
    pub protection_teid: bool,
    /// The step is in a stale window: the real address of an access comes
    /// from the absolute one by prefixing (LRAG walks the new tables).
    pub window: bool,
    /// The key after the step is recorded (not in or after a stale window).
    pub key_after: bool,
    /// The prefix when the step ran.
    pub prefix: u64,
}

/// A decoded step: its outcome and the key after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The outcome.
    pub outcome: Outcome,
    /// The key of the frame named, where recorded.
    pub key_after: Option<u64>,
}

fn kind(word: u64) -> u64 {
    word >> 56
}

/// The real address a prefix gives absolute `abs`.
fn real_of_abs(prefix: u64, abs: u64) -> u64 {
    if abs < 0x2000 {
        abs + prefix
    } else if abs >= prefix && abs < prefix + 0x2000 {
        abs - prefix
    } else {
        abs
    }
}

/// A program interruption of a snippet whose instruction is first: the
/// old PSW at the instruction (nullified) or past it.
fn exception(rec: &Record, rules: &StepRules, with_ending: bool) -> Result<Outcome, Dropped> {
    let r = &rec.0;
    let pic = r[1] & 0xffff;
    let length = r[9] >> 8;
    let nullified = match r[3] {
        0 => Some(true),
        n if n == length => Some(false),
        _ => return Err(Dropped::Inconsistent),
    };
    let defined = has_teid(pic) && (pic != 0x04 || rules.protection_teid);
    Ok(Outcome::Exception {
        pic,
        teid: (defined && r[2] != TEID_SENTINEL).then_some(r[2]),
        nullified: nullified.filter(|_| with_ending),
    })
}

/// The real address of an access's byte at `addr` whose frame the tag
/// names: the address itself with DAT off, LRAG's answer with DAT on (in a
/// stale window, the prefixed absolute address: LRAG walks the new tables).
fn real_of(
    space: ProbeSpace,
    addr: u64,
    abs: u64,
    lrag: (u64, u64),
    rules: &StepRules,
) -> Result<u64, Dropped> {
    if space == ProbeSpace::Real {
        return Ok(addr);
    }
    let (status, r1) = lrag;
    let consistent = |real: u64| real == abs || real_of_abs(rules.prefix, abs) == real;
    match (kind(status) == KIND_SVC && status & 3 == 0, rules.window) {
        (true, _) if consistent(r1) => Ok(r1),
        (_, true) => Ok(real_of_abs(rules.prefix, abs)),
        _ => Err(Dropped::Inconsistent),
    }
}

fn access(op: &Op, rec: &Record, rules: &StepRules) -> Result<(Outcome, Option<u64>), Dropped> {
    let Op::Access {
        addr,
        space,
        amode,
        access,
        size,
        ..
    } = *op
    else {
        return Err(Dropped::Inconsistent);
    };
    let r = &rec.0;
    let k = kind(r[1]);
    let pic = r[1] & 0xffff;
    let wrap = |a: u64| a & amode.max_addr();
    let succeeded = match access {
        ProbeKind::InstructionFetch => {
            k == KIND_PROGRAM && pic == 1 && r[3] == wrap(addr + 2) && kind(r[5]) == KIND_SVC
        }
        _ => k == KIND_SVC,
    };
    if !succeeded {
        return match (k, access) {
            (KIND_PROGRAM, ProbeKind::InstructionFetch) if pic != 1 => {
                let defined = has_teid(pic) && (pic != 0x04 || rules.protection_teid);
                Ok((
                    Outcome::Exception {
                        pic,
                        teid: (defined && r[2] != TEID_SENTINEL).then_some(r[2]),
                        nullified: None,
                    },
                    None,
                ))
            }
            (KIND_PROGRAM, ProbeKind::Read | ProbeKind::Write) => {
                Ok((exception(rec, rules, true)?, None))
            }
            _ => Err(Dropped::Inconsistent),
        };
    }
    let frame = tag_frame(r[4]).ok_or(Dropped::Untagged)?;
    let abs = frame << 12 | (addr & 0xfff);
    let real = real_of(space, addr, abs, (r[6], r[7]), rules)?;
    let last_addr = wrap(addr.wrapping_add(size - 1));
    let last = if access != ProbeKind::InstructionFetch && last_addr >> 12 != addr >> 12 {
        let frame = tag_frame(r[5]).ok_or(Dropped::Untagged)?;
        let abs = frame << 12 | (last_addr & 0xfff);
        Some((real_of(space, last_addr, abs, (r[10], r[11]), rules)?, abs))
    } else {
        None
    };
    let key = (r[8] & 0x100 != 0).then_some(r[8] & 0xff);
    Ok((Outcome::Access { real, abs, last }, key))
}

/// The condition code and register a completed operation reports.
fn completed(op: &Op, rec: &Record, rules: &StepRules) -> Result<Outcome, Dropped> {
    let r = &rec.0;
    let cc = r[9] & 3;
    let r1 = r[11];
    Ok(match op {
        Op::Tprot { .. } | Op::Csp { .. } | Op::Rrbe { .. } => Outcome::Done {
            cc: Some(cc),
            r1: None,
        },
        // QEMU answers condition code 3 for every failed translation and
        // loads all 64 bits of R1 in the 24/31-bit forms.
        Op::Lra { form, amode, .. } if !rules.lra && (cc != 0 || !form.wide(*amode)) => {
            return Err(Dropped::Unarchitected)
        }
        Op::Lra { .. } | Op::Lptea { .. } => Outcome::Done {
            cc: Some(cc),
            r1: Some(r1),
        },
        Op::Strag { .. } if r1 == TEID_SENTINEL => return Err(Dropped::Inconsistent),
        Op::Strag { .. } => Outcome::Done {
            cc: None,
            r1: Some(r1),
        },
        _ => Outcome::Done { cc: None, r1: None },
    })
}

/// Turns one step's record into its outcome (and key after).
pub fn decode_step(op: &Op, rec: &Record, rules: StepRules) -> Result<Seen, Dropped> {
    let r = &rec.0;
    let (outcome, key) = match kind(r[1]) {
        KIND_TAINTED => return Err(Dropped::Tainted),
        _ if op.is_access() => access(op, rec, &rules)?,
        KIND_HARNESS => (Outcome::Done { cc: None, r1: None }, None),
        KIND_SVC => (
            completed(op, rec, &rules)?,
            (r[8] & 0x100 != 0).then_some(r[8] & 0xff),
        ),
        KIND_PROGRAM if r[1] & 0xffff == 1 => return Err(Dropped::Unimplemented),
        KIND_PROGRAM => (exception(rec, &rules, true)?, None),
        _ => return Err(Dropped::Inconsistent),
    };
    Ok(Seen {
        outcome,
        key_after: key.filter(|_| rules.key_after),
    })
}
