//! Decoding the probe's result records into vector probes. This only
//! interprets what the machine reported (interruption code, TEID, old PSW,
//! the tag read next to the accessed byte, LRAG, ISKE); probes whose
//! observations are incomplete are dropped, never guessed.

use super::layout::RECORD_WORDS;
use super::plan::ProbeSpec;
use crate::vector::{Amode, Expect, Lra, Probe, ProbeKind, ProbeSpace};

/// The TEID slot's contents before every access.
const TEID_SENTINEL: u64 = 0xfeed_face_cafe_beef;
/// Record kinds: the snippet ended with SVC, was interrupted, or skipped.
const KIND_SVC: u64 = 1;
const KIND_PROGRAM: u64 = 2;

/// Why a probe's observations were not turned into a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dropped {
    /// An earlier store in the scenario landed on a frame without tags.
    Tainted,
    /// The access succeeded on a frame without tags (a table or the lowcore).
    Untagged,
    /// The observations contradict each other (for example LRAG failed
    /// after a successful access).
    Inconsistent,
    /// The reference does not implement the instruction (operation
    /// exception).
    Unimplemented,
    /// The reference's answer is known not to be architected (QEMU's LRA
    /// condition codes 1-3).
    Unarchitected,
    /// A step after an operation that was dropped (its effect is unknown).
    AfterDropped,
    /// A stale-window access whose alternatives were not both recorded.
    NoAlternative,
}

/// One record as the probe wrote it.
#[derive(Debug, Clone, Copy)]
pub struct Record(pub [u64; RECORD_WORDS]);

impl Record {
    /// Scenario index within the batch and probe index within the scenario.
    pub fn position(&self) -> (u64, u64) {
        (self.0[0] >> 32, self.0[0] & 0xffff_ffff)
    }

    fn kind(word: u64) -> u64 {
        word >> 56
    }
}

pub(crate) fn tag_frame(tag: u64) -> Option<u64> {
    let valid = tag & 0xff00_ff00_ff00_ff00 == 0 && (tag >> 48) & 0xff == 0x5a;
    valid.then_some(((tag >> 32) & 0xff) << 16 | ((tag >> 16) & 0xff) << 8 | (tag & 0xff))
}

fn wrap(addr: u64, amode: Amode) -> u64 {
    addr & amode.max_addr()
}

/// Codes whose TEID the vectors carry.
pub(crate) fn has_teid(pic: u64) -> bool {
    matches!(pic, 0x04 | 0x10 | 0x11 | 0x38..=0x3b)
}

/// What a reference's records may be trusted for.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// LOAD REAL ADDRESS is architected: keep its result.
    pub lra: bool,
    /// The TEID of a protection exception is defined (ESOP-1/ESOP-2
    /// installed); without, it is left out.
    pub protection_teid: bool,
    /// The scenario's prefix: the key of the active lowcore's first frame is
    /// changed by every interruption, so it is not recorded.
    pub prefix: u64,
}

/// Turns one record into a probe.
pub fn decode(spec: &ProbeSpec, rec: &Record, rules: Rules) -> Result<Probe, Dropped> {
    let r = &rec.0;
    let kind = Record::kind(r[1]);
    if kind == 3 {
        return Err(Dropped::Tainted);
    }
    let pic = r[1] & 0xffff;
    let succeeded = match spec.access {
        ProbeKind::InstructionFetch => {
            kind == KIND_PROGRAM
                && pic == 1
                && r[3] == wrap(spec.addr + 2, spec.amode)
                && Record::kind(r[5]) == KIND_SVC
        }
        _ => kind == KIND_SVC,
    };
    let lrag = |status: u64, r1: u64| {
        (spec.space != ProbeSpace::Real && Record::kind(status) == KIND_SVC)
            .then_some(Lra { cc: status & 3, r1 })
    };
    // LRAG in the probe's space, and in the space that translated the
    // access (primary for an instruction fetch in secondary-space mode).
    let lra = lrag(r[6], r[7]);
    let lra_of_access = lrag(r[10], r[11]);
    let expect = if succeeded {
        let frame = tag_frame(r[4]).ok_or(Dropped::Untagged)?;
        let real = match spec.space {
            ProbeSpace::Real => spec.addr,
            _ => match lra_of_access {
                Some(Lra { cc: 0, r1 }) => r1,
                _ => return Err(Dropped::Inconsistent),
            },
        };
        Expect::Success {
            real,
            abs: frame << 12 | (spec.addr & 0xfff),
        }
    } else if kind == KIND_PROGRAM && !(spec.access == ProbeKind::InstructionFetch && pic == 1) {
        let defined = has_teid(pic) && (pic != 0x04 || rules.protection_teid);
        let teid = (defined && r[2] != TEID_SENTINEL).then_some(r[2]);
        Expect::Exception { pic, teid }
    } else {
        return Err(Dropped::Inconsistent);
    };
    let key_after = match expect {
        Expect::Success { abs, .. } if r[8] & 0x100 != 0 && abs >> 12 != rules.prefix >> 12 => {
            Some(r[8] & 0xff)
        }
        _ => None,
    };
    Ok(Probe {
        addr: spec.addr,
        space: spec.space,
        amode: spec.amode,
        access: spec.access,
        key: spec.key,
        expect,
        // `mem` lists the tables the planner built for the access's own
        // translation; an instruction fetch in secondary-space mode is
        // translated through the primary space, so LRAG in the secondary
        // space may read table frames that `mem` does not list (their tag
        // fill). Such an LRA result is not a function of the recorded state
        // and is left out.
        lra: if rules.lra && !fetch_through_primary(spec) {
            lra
        } else {
            None
        },
        key_after,
    })
}

/// An instruction fetch in secondary-space mode: translated with the primary
/// ASCE although the PSW names the secondary space.
fn fetch_through_primary(spec: &ProbeSpec) -> bool {
    spec.space == ProbeSpace::Secondary && spec.access == ProbeKind::InstructionFetch
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: ProbeSpec = ProbeSpec {
        addr: 0x1234,
        space: ProbeSpace::Primary,
        amode: Amode::Bits31,
        access: ProbeKind::Read,
        key: 0,
    };
    const TAG: u64 = 0x005a_0000_0008_0042;
    const QEMU: Rules = Rules {
        lra: false,
        protection_teid: true,
        prefix: 0,
    };
    const HERCULES: Rules = Rules {
        lra: true,
        protection_teid: false,
        prefix: 0x84_2000,
    };

    fn rec(words: &[(usize, u64)]) -> Record {
        let mut r = [0; RECORD_WORDS];
        for &(i, v) in words {
            r[i] = v;
        }
        Record(r)
    }

    #[test]
    fn read_success_uses_tag_and_lrag() {
        let r = rec(&[
            (1, 1 << 56 | 1),
            (4, TAG),
            (6, 1 << 56),
            (7, 0x842234),
            (10, 1 << 56),
            (11, 0x842234),
            (8, 0x104),
        ]);
        let p = decode(
            &SPEC,
            &r,
            Rules {
                prefix: 0,
                ..HERCULES
            },
        )
        .unwrap();
        assert_eq!(
            p.expect,
            Expect::Success {
                real: 0x842234,
                abs: 0x842234
            }
        );
        assert_eq!(p.key_after, Some(4));
        assert_eq!(
            p.lra,
            Some(Lra {
                cc: 0,
                r1: 0x842234
            })
        );
        assert_eq!(decode(&SPEC, &r, QEMU).unwrap().lra, None);
    }

    #[test]
    fn exceptions_keep_teid_only_where_defined() {
        let r = rec(&[
            (1, 2 << 56 | 0x11),
            (2, 0x1800),
            (6, 1 << 56 | 2),
            (7, 0x400800),
        ]);
        let p = decode(&SPEC, &r, QEMU).unwrap();
        assert_eq!(
            p.expect,
            Expect::Exception {
                pic: 0x11,
                teid: Some(0x1800)
            }
        );
        let r = rec(&[(1, 2 << 56 | 0x05), (2, 0x1800)]);
        let p = decode(&SPEC, &r, QEMU).unwrap();
        assert_eq!(
            p.expect,
            Expect::Exception {
                pic: 0x05,
                teid: None
            }
        );
        let r = rec(&[(1, 2 << 56 | 0x10), (2, TEID_SENTINEL)]);
        let p = decode(&SPEC, &r, QEMU).unwrap();
        assert_eq!(
            p.expect,
            Expect::Exception {
                pic: 0x10,
                teid: None
            }
        );
    }

    #[test]
    fn fetch_success_needs_operation_exception_after_the_address() {
        let spec = ProbeSpec {
            access: ProbeKind::InstructionFetch,
            space: ProbeSpace::Real,
            ..SPEC
        };
        let ok = rec(&[(1, 2 << 56 | 1), (3, 0x1236), (4, TAG), (5, 1 << 56 | 3)]);
        assert!(matches!(
            decode(&spec, &ok, QEMU).unwrap().expect,
            Expect::Success { real: 0x1234, .. }
        ));
        let odd = rec(&[(1, 2 << 56 | 1), (3, 0x5000), (4, TAG), (5, 1 << 56 | 3)]);
        assert_eq!(decode(&spec, &odd, QEMU), Err(Dropped::Inconsistent));
    }

    #[test]
    fn untagged_and_tainted_are_dropped() {
        let r = rec(&[
            (1, 1 << 56 | 1),
            (4, 0x1234),
            (6, 1 << 56),
            (7, 0x1234),
            (10, 1 << 56),
            (11, 0x1234),
        ]);
        assert_eq!(decode(&SPEC, &r, QEMU), Err(Dropped::Untagged));
        assert_eq!(
            decode(&SPEC, &rec(&[(1, 3 << 56)]), QEMU),
            Err(Dropped::Tainted)
        );
        let no_lra = rec(&[(1, 1 << 56 | 1), (4, TAG), (6, 2 << 56 | 0x12)]);
        assert_eq!(decode(&SPEC, &no_lra, QEMU), Err(Dropped::Inconsistent));
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn rules_drop_protection_teid_and_lowcore_key() {
        let spec = ProbeSpec {
            addr: 0x1234,
            space: ProbeSpace::Real,
            amode: Amode::Bits64,
            access: ProbeKind::Write,
            key: 3,
        };
        let rules = Rules {
            lra: true,
            protection_teid: false,
            prefix: 0x2000,
        };
        let prot = Record({
            let mut r = [0; RECORD_WORDS];
            r[1] = 2 << 56 | 4;
            r[2] = 0x4;
            r
        });
        assert_eq!(
            decode(&spec, &prot, rules).map(|p| p.expect),
            Ok(Expect::Exception { pic: 4, teid: None })
        );
        let ok = Record({
            let mut r = [0; RECORD_WORDS];
            r[1] = 1 << 56;
            r[4] = 0x005a_0000_0000_0002;
            r[8] = 0x106;
            r
        });
        assert_eq!(decode(&spec, &ok, rules).map(|p| p.key_after), Ok(None));
        let elsewhere = Rules {
            prefix: 0x4000,
            ..rules
        };
        assert_eq!(
            decode(&spec, &ok, elsewhere).map(|p| p.key_after),
            Ok(Some(6))
        );
    }
}
