//! Random s390x programs under random DAT tables: the input of the
//! differential tests that check an engine against the interpreter.
//! Instructions are drawn from the translator's native list and its
//! fallbacks, plus MVCLE that pads or moves, branches through registers,
//! EXECUTE and EXECUTE RELATIVE LONG (of any instruction, and loops that
//! execute an MVC or XC whose address or bytes change between passes, in
//! the EXECUTE's page or the next), IPTE of a data page, random bytes
//! and stores into the program's own code frame through an alias page;
//! loads and stores go through random page tables (invalid, protected
//! and out-of-storage pages, storage keys).

use zmmu_cpu::decode::insn_len;
use zmmu_cpu::format::Format;
use zmmu_cpu::opcode::{ext_kind, split_key, ExtKind, Opcode};
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::prelude::*;

use crate::Rng;
use Opcode::*;

/// Size of the storage of every case.
pub const STORAGE: usize = 0x40000;
const SEGMENT_TABLE: u64 = 0x10000;
const PAGE_TABLE: u64 = 0x11000;
/// Logical code pages 0x100000..0x104000 -> frames 0x20000..0x24000.
const CODE: u64 = 0x10_0000;
const CODE_FRAME: u64 = 0x2_0000;
/// Logical data pages 0x108000..0x110000 -> frames 0x28000..
const DATA: u64 = 0x10_8000;
const DATA_FRAME: u64 = 0x2_8000;
/// A second primary space, which LCTLG of CR1 switches to and back
/// (the jit's jump cache sets a space's entries aside, docs/CHOICES.md
/// §38): its code pages map a copy of the code with a few bytes changed,
/// its data pages what the first space's do.
const SEGMENT_TABLE_B: u64 = 0x12000;
const PAGE_TABLE_B: u64 = 0x13000;
const CODE_COPY_FRAME: u64 = 0x2_4000;
/// The two registers no random instruction writes (their destinations
/// are R0-R9, their bases R10-R12, IPTE's table R13): the loop of
/// [`space_loop`] counts in R15 (as [`counted_loop`]'s does) and
/// addresses the pool with R14.
const LOOP_COUNT: u8 = 15;
const LOOP_POOL: u8 = 14;

/// What a relative field designates.
#[derive(Clone, Copy)]
enum To {
    /// The instruction this many ahead (the terminator at most).
    Ahead(usize),
    /// The instruction this many back.
    Back(usize),
    /// The program's constant pool (after its terminator: the ASCEs of
    /// the two spaces).
    Pool,
}

/// Instructions with a native translation (or a native candidate).
pub const NATIVE: &[Opcode] = &[
    LGR, LR, LTGR, LTR, AGR, AR, SGR, SR, ALGR, ALR, SLGR, SLR, NGR, NR, OGR, OR, XGR, XR, CGR, CR,
    CLGR, CLR, LGFR, LLGFR, AGHI, AHI, CGHI, CHI, LGHI, LHI, AGFI, AFI, LGFI, IILF, LLILF, LLIHF,
    IIHF, LG, L, LY, LLGF, LGF, LH, LHY, LGH, LLGC, LLC, LB, LGB, LLGH, AG, A, SG, S, CG, C, CLG,
    CL, NG, N, OG, O, XG, X, ALG, AL, STG, ST, STY, STH, STHY, STC, STCY, LA, LAY, LARL, SLLG,
    SRLG, SRAG, SLL, SRL, SRA, BRC, BRCL, BRCT, BRCTG, BRAS, BRASL, CIJ, CGIJ, CRJ, CGRJ, CLRJ,
    CLGRJ, CLIJ, CLGIJ, MSGR, MSR, MHI, MGHI, MSGFI, MS, MSG, ALCGR, ALCR, SLBGR, SLBR, NGRK, AGRK,
    SRK, ALRK, SLGRK, XRK, AHIK, AGHIK, NILL, OILL, XILF, NIHF, TMLL, TMHH, TMLH, MVI, CLI, NI, OI,
    XI, MVHI, MVGHI, MVHHI, CHSI, CGHSI, CLGHSI, CLFHSI, CLHHSI, MVIY, CLIY, ASI, AGSI, ALSI,
    ALGSI, LGRL, LRL, LGFRL, LLGFRL, LHRL, STGRL, STRL, STHRL, CGHRL, RISBG, RISBGN, RNSBG, ROSBG,
    RXSBG, LOCR, LOCGR, LDGR, LGDR, DLGR, DSGR, IC, ICY, MVC, XC, CLC, NC, OC, LMG, STMG, LM, STM,
    LMY, STMY, LCGR, LCR, LCGFR, LPGR, LPR, LPGFR, LNGR, LNR, LNGFR, RLL, RLLG, EAR, LD, LDY, STD,
    STDY, TM, TMY, PFD, LRV, LRVG, LRVH, STRV, STRVG, STRVH, LRVR, LRVGR, FLOGR, CS, CSY, CSG, ICM,
    ICMY, ICMH, DLR, DL, DLG, DSG, DSGFR, DSGF, IPM, LDR, LER, STNSM, STOSM, LAA, LAAG, LAAL,
    LAALG, CDSG, LOC, LOCG, STOC, STOCG, LOCHI, LOCGHI, LAN, LANG, LAO, LAOG, LAX, LAXG, CLM, CLMY,
    CLMH, ADBR, SDBR, MDBR, DDBR, ADB, SDB, MDB, DDB, VLBB, SLLK, SRLK, SRAK, LT, LTG, LTGF, AGF,
    SGF, LLGTR, LLGT, LHR, LLHR, LLCR, LBR, LGBR, LGHR, CGDBR, CFDBR, CDLFBR, VFEE, VFENE, MADBR,
    MSDBR, TCDB, MLGR, MLG, BRXH, BRXLE, BRXHG, BRXLG, AGFR, SGFR, ARK, SGRK,
];

/// Instructions the interpreter runs for the jit.
pub const FALLBACK: &[Opcode] = &[SLA, RISBHG, LOCFH, STOCFH, MVCLE, CLCLE];

/// One generated instruction: bytes, and a relative field to patch with
/// the address of another instruction or the pool (field byte offset,
/// width in bytes, which).
struct Gen {
    bytes: Vec<u8>,
    rel: Option<(usize, usize, To)>,
    /// EX/BCR/BASR are preceded by a LARL of their target into r9.
    larl_target: Option<usize>,
    /// No bytes of its own: NOPR (`bcr 0,0`) up to the end of the page,
    /// so that the next instruction starts the next page (where the
    /// program's layout leaves room for it).
    to_page_end: bool,
}

impl Gen {
    fn plain(bytes: Vec<u8>, rel: Option<(usize, usize, To)>) -> Gen {
        Gen {
            bytes,
            rel,
            larl_target: None,
            to_page_end: false,
        }
    }
}

fn dest(rng: &mut Rng) -> u8 {
    rng.below(10) as u8
}

fn base(rng: &mut Rng) -> u8 {
    if rng.chance(5) {
        0
    } else {
        10 + rng.below(3) as u8
    }
}

/// The bytes of one random instance of `op` (a [`NATIVE`] or [`FALLBACK`]
/// instruction; a relative field as drawn, not patched to a target).
pub fn instance(op: Opcode, rng: &mut Rng) -> Vec<u8> {
    encode(op, rng).bytes
}

fn encode(op: Opcode, rng: &mut Rng) -> Gen {
    let info = op.info().expect("a table instruction");
    let (b0, ext) = split_key(info.key);
    let len = insn_len(b0);
    let mut b: Vec<u8> = (0..len).map(|_| rng.bits() as u8).collect();
    b[0] = b0;
    let r1 = dest(rng);
    let r2 = rng.below(16) as u8;
    let bs = base(rng);
    let x2 = if rng.chance(10) {
        rng.below(10) as u8
    } else {
        0
    };
    let d12 = rng.below(0x1000) as u16;
    let mut rel = None;
    let ahead = 1 + rng.below(4) as usize;
    match op.format() {
        Format::RR => b[1] = r1 << 4 | r2,
        // SRST, CLST: mostly addresses of data in both registers.
        Format::Rre if matches!(op, SRST | CLST) => {
            let pick = |rng: &mut Rng| {
                if rng.chance(80) {
                    10 + rng.below(3) as u8
                } else {
                    rng.below(10) as u8
                }
            };
            b[2] = 0;
            b[3] = pick(rng) << 4 | pick(rng);
        }
        Format::Rre => {
            b[2] = 0;
            b[3] = r1 << 4 | r2;
        }
        Format::RiA | Format::RilA => b[1] = r1 << 4,
        Format::RiB | Format::RilB => {
            b[1] = r1 << 4;
            rel = Some((2, len - 2, To::Ahead(ahead)));
        }
        Format::RiC | Format::RilC => {
            b[1] = (rng.below(16) as u8) << 4;
            rel = Some((2, len - 2, To::Ahead(ahead)));
        }
        _ if matches!(op, LMG | STMG | LM | STM | LMY | STMY) => {
            // LM/STM r1..r3: loads stay below the base registers.
            b[1] = r1 << 4 | dest(rng).max(r1);
            b[2] = bs << 4 | (d12 >> 8) as u8;
            b[3] = d12 as u8;
            if len == 6 {
                b[4] = 0;
            }
        }
        Format::RsB | Format::RsyB => {
            // ICM and friends: R1 and a mask (zero included).
            b[1] = r1 << 4 | rng.below(16) as u8;
            b[2] = bs << 4 | (d12 >> 8) as u8;
            b[3] = d12 as u8;
            if len == 6 {
                b[4] = if rng.chance(90) { 0 } else { 0xff };
            }
        }
        _ if matches!(
            op,
            CS | CSY
                | CSG
                | CDSG
                | LAA
                | LAAG
                | LAAL
                | LAALG
                | LAN
                | LANG
                | LAO
                | LAOG
                | LAX
                | LAXG
        ) =>
        {
            // Mostly aligned operands (else a specification exception),
            // R3 any register (CDSG: mostly even-odd pairs, else a
            // specification exception too).
            let size = match op {
                CDSG => 16,
                CSG | LAAG | LAALG | LANG | LAOG | LAXG => 8,
                _ => 4,
            };
            let d = if rng.chance(75) {
                d12 & !(size - 1)
            } else {
                d12
            };
            let r3 = rng.below(16) as u8;
            let (r1, r3) = if op == CDSG && rng.chance(90) {
                (r1 & !1, r3 & !1)
            } else {
                (r1, r3)
            };
            b[1] = r1 << 4 | r3;
            b[2] = bs << 4 | (d >> 8) as u8;
            b[3] = d as u8;
            if len == 6 {
                b[4] = 0;
            }
        }
        Format::RxA | Format::RxyA | Format::Rxe | Format::RsA | Format::RsyA => {
            let shift = matches!(op.format(), Format::RsA | Format::RsyA);
            let second = if shift {
                if op.format() == Format::RsA {
                    0
                } else {
                    r2
                }
            } else {
                x2
            };
            b[1] = r1 << 4 | second;
            let (bb, d) = if shift && rng.chance(80) {
                (0, rng.below(70) as u16)
            } else {
                (bs, d12)
            };
            b[2] = bb << 4 | (d >> 8) as u8;
            b[3] = d as u8;
            if len == 6 {
                b[4] = if rng.chance(90) { 0 } else { 0xff };
            }
        }
        Format::RieB => {
            b[1] = r1 << 4 | r2;
            b[4] = (rng.below(16) as u8) << 4;
            rel = Some((2, 2, To::Ahead(ahead)));
        }
        Format::RieC => {
            b[1] = r1 << 4 | rng.below(16) as u8;
            rel = Some((2, 2, To::Ahead(ahead)));
        }
        // BRXH and its forms: R1, R3 (the increment, its pair's odd
        // register the comparand), forward.
        Format::Rsi | Format::RieE => {
            b[1] = r1 << 4 | r2;
            if len == 6 {
                b[4] = 0;
            }
            rel = Some((2, 2, To::Ahead(ahead)));
        }
        Format::SsA => {
            b[1] = if rng.chance(80) {
                rng.below(32) as u8
            } else {
                rng.bits() as u8
            };
            let (b1, d1) = (base(rng), rng.below(0xff0) as u16 + 8);
            let (b2, d2) = if rng.chance(30) {
                // The same base: operands that overlap (the XC-zeroing
                // idiom, a byte propagated by MVC, a partial overlap).
                (b1, d1 + rng.below(17) as u16 - 8)
            } else {
                (base(rng), rng.below(0x1000) as u16)
            };
            b[2] = b1 << 4 | (d1 >> 8) as u8;
            b[3] = d1 as u8;
            b[4] = b2 << 4 | (d2 >> 8) as u8;
            b[5] = d2 as u8;
        }
        Format::Si | Format::Sil | Format::Siy => {
            b[2] = bs << 4 | (d12 >> 8) as u8;
            b[3] = d12 as u8;
            if op.format() == Format::Siy {
                b[4] = 0;
            }
        }
        Format::RrfA => {
            b[2] = (rng.below(16) as u8) << 4;
            b[3] = r1 << 4 | r2;
        }
        Format::RieD => b[1] = r1 << 4 | rng.below(16) as u8,
        // VLGV: R1, V3, the element index B2 + D2, the element size M4
        // (4: a specification exception), RXB.
        Format::VrsC | Format::VrsB => {
            b[1] = r1 << 4 | rng.below(16) as u8;
            b[2] = (bs << 4) | (d12 >> 8) as u8;
            b[3] = d12 as u8;
            b[4] = (rng.below(5) as u8) << 4 | rng.below(16) as u8;
        }
        // VREP: V1, V3, an index (sometimes too large), M4, RXB.
        Format::VriC => {
            b[2] = 0;
            b[3] = rng.below(17) as u8;
            b[4] = (rng.below(5) as u8) << 4 | rng.below(16) as u8;
        }
        // VLBB: V1, X2, B2, D2, the block size M3 (7: a specification
        // exception), RXB.
        Format::Vrx => {
            b[1] = r1 << 4 | x2;
            b[2] = (bs << 4) | (d12 >> 8) as u8;
            b[3] = d12 as u8;
            b[4] = (rng.below(8) as u8) << 4 | rng.below(16) as u8;
        }
        // LOCHI and friends: R1 and a mask (zero included).
        Format::RieG => b[1] = r1 << 4 | rng.below(16) as u8,
        Format::RieF => b[1] = r1 << 4 | r2,
        Format::RrfC => b[3] = r1 << 4 | r2,
        // CGDBR, CFDBR, CDLFBR: R1, R2, the rounding M3 (1 ties away, 2
        // and 3 a specification exception), M4.
        Format::RrfE => {
            b[2] = (rng.below(8) as u8) << 4 | rng.below(16) as u8;
            b[3] = r1 << 4 | r2;
        }
        // VFEE, VFENE: V1, V2, V3, the flags M5 (4: a specification
        // exception), the element size M4 (3: likewise), RXB.
        Format::VrrB => {
            b[2] &= 0xf0;
            b[3] = (rng.below(5) as u8) << 4;
            b[4] = (rng.below(4) as u8) << 4 | rng.below(16) as u8;
        }
        _ => {}
    }
    match ext_kind(b0) {
        ExtKind::None => {}
        ExtKind::Byte1 => b[1] = ext,
        ExtKind::Nibble => b[1] = (b[1] & 0xf0) | ext,
        ExtKind::Byte5 => b[5] = ext,
    }
    Gen::plain(b, rel)
}

/// A random instruction.
fn instruction(rng: &mut Rng) -> Gen {
    let roll = rng.below(1000);
    match roll {
        0..=779 => encode(rng.pick(NATIVE), rng),
        780..=884 => encode(rng.pick(FALLBACK), rng),
        885..=899 => {
            // lghi %r5,len2; lghi %r3,len; la %r2,d(%r10..%r12);
            // mvcle %r2,%r4,pad: a padding-only MVCLE (len2 = 0) within a
            // data page, across pages, or of the whole page; one with a
            // short second operand at r4; or (after la %r4,d(%r10..%r12))
            // a move from a data page at least as long as the first
            // operand, which may overlap it.
            let len = match rng.below(4) {
                0 => rng.below(0x100),
                1 => rng.below(0x1000),
                2 => 0x1000,
                _ => rng.below(0x8000),
            } as u16;
            let mut bytes = Vec::new();
            let second = match rng.below(10) {
                0..=7 => 0,
                8 => 1 + rng.below(8) as u16,
                _ => {
                    let d = rng.below(0x1000) as u16;
                    bytes.extend([
                        0x41,
                        0x40,
                        (10 + rng.below(3) as u8) << 4 | (d >> 8) as u8,
                        d as u8,
                    ]);
                    len.saturating_add(rng.below(0x100) as u16).min(0x7fff)
                }
            };
            let d = rng.below(0x1000) as u16;
            let pad = rng.below(0x1000) as u16;
            let [s0, s1] = second.to_be_bytes();
            let [l0, l1] = len.to_be_bytes();
            bytes.extend([
                0xa7,
                0x59,
                s0,
                s1,
                0xa7,
                0x39,
                l0,
                l1,
                0x41,
                0x20,
                (10 + rng.below(3) as u8) << 4 | (d >> 8) as u8,
                d as u8,
                0xa8,
                0x24,
                (pad >> 8) as u8,
                pad as u8,
            ]);
            Gen::plain(bytes, None)
        }
        900..=929 => {
            // BCR / BASR to a later instruction, or EX of any one (an odd
            // address one time in eight: a specification exception).
            let which = rng.below(3);
            let bytes = match which {
                0 => vec![0x07, (rng.below(16) as u8) << 4 | 9],
                1 => vec![0x0d, dest(rng) << 4 | 9],
                _ => vec![0x44, (rng.below(3) as u8) << 4, 0x90, rng.chance(12) as u8],
            };
            Gen {
                larl_target: Some(1 + rng.below(6) as usize),
                ..Gen::plain(bytes, None)
            }
        }
        // EXRL of a later instruction, R1 0 to 9 (its low byte ORed into
        // the target's second byte); the block goes on after it.
        930..=939 => Gen::plain(
            vec![0xc6, (rng.below(10) as u8) << 4, 0, 0, 0, 0],
            Some((2, 4, To::Ahead(1 + rng.below(6) as usize))),
        ),
        // IPTE r13,r10..r12: invalidate a data page.
        940..=949 => Gen::plain(
            vec![0xb2, 0x21, 0x00, 0xd0 | (10 + rng.below(3) as u8)],
            None,
        ),
        950..=954 => {
            // Random bytes: anything the decoder knows, or not.
            let len = [2, 4, 6][rng.below(3) as usize];
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.bits() as u8).collect();
            bytes[0] = (bytes[0] & 0x3f) | [0x00, 0x40, 0xc0][len / 2 - 1];
            Gen::plain(bytes, None)
        }
        _ => {
            // A store of a register into the code frame via the alias page.
            let op = rng.pick(&[STG, ST, STH, STC, MVI]);
            let mut g = encode(op, rng);
            let at = (0xf000 + rng.below(0x1000)) as u16;
            // Base r12 (which may point into the alias page), index 0.
            g.bytes[2] = 12 << 4 | ((at >> 8) & 0xf) as u8;
            g.bytes[3] = at as u8;
            if g.bytes.len() == 6 {
                g.bytes[4] = 0;
            }
            if op != MVI {
                g.bytes[1] &= 0xf0;
            }
            g
        }
    }
}

/// Appends `g`, after the LARL of its target into R9 if it has one.
fn push(gens: &mut Vec<Gen>, g: Gen) {
    if let Some(k) = g.larl_target {
        gens.push(Gen::plain(
            vec![0xc0, 0x90, 0, 0, 0, 0],
            Some((2, 4, To::Ahead(k + 1))),
        ));
    }
    gens.push(g);
}

/// A few random instructions run in the first primary space, the second,
/// then the first again: `lhi %r15,3; larl %r14,pool; l: lctlg
/// %c1,%c1,0(%r14); ...; xilf %r14,8; brct %r15,l` (the pool holds the
/// two ASCEs). The second run fetches the copy's bytes at the same
/// addresses; the third may use what the first translated (the jit's
/// jump-cache entries set aside, docs/CHOICES.md §38).
fn space_loop(rng: &mut Rng, gens: &mut Vec<Gen>) {
    let plain = Gen::plain;
    gens.push(plain(vec![0xa7, LOOP_COUNT << 4 | 8, 0, 3], None));
    gens.push(plain(
        vec![0xc0, LOOP_POOL << 4, 0, 0, 0, 0],
        Some((2, 4, To::Pool)),
    ));
    let top = gens.len();
    gens.push(plain(vec![0xeb, 0x11, LOOP_POOL << 4, 0, 0, 0x2f], None));
    for _ in 0..1 + rng.below(4) {
        push(gens, instruction(rng));
    }
    gens.push(plain(vec![0xc0, LOOP_POOL << 4 | 7, 0, 0, 0, 8], None));
    let back = gens.len() - top;
    gens.push(plain(
        vec![0xa7, LOOP_COUNT << 4 | 6, 0, 0],
        Some((2, 2, To::Back(back))),
    ));
}

/// A loop of a few random instructions run a few times: `lhi %r15,n; l:
/// [ar] ...; aghi; brct %r15,l`. Its block loops to itself where every
/// instruction is native; the add's cc is carried over the branch back
/// and stored where the loop leaves (docs/CHOICES.md §63a), the AR at
/// the start (every other loop) sets it again before anything reads it.
fn counted_loop(rng: &mut Rng, gens: &mut Vec<Gen>) {
    let plain = |bytes: Vec<u8>| Gen::plain(bytes, None);
    let count = 2 + rng.below(5) as u8;
    gens.push(plain(vec![0xa7, LOOP_COUNT << 4 | 8, 0, count]));
    let top = gens.len();
    let reg = |rng: &mut Rng| rng.below(10) as u8;
    if rng.below(2) == 0 {
        let (r1, r2) = (reg(rng), reg(rng));
        gens.push(plain(vec![0x1a, r1 << 4 | r2]));
    }
    for _ in 0..1 + rng.below(4) {
        push(gens, instruction(rng));
    }
    let r1 = reg(rng);
    gens.push(plain(vec![0xa7, r1 << 4 | 0xb, 0xff, rng.below(256) as u8]));
    let back = gens.len() - top;
    gens.push(Gen::plain(
        vec![0xa7, LOOP_COUNT << 4 | 6, 0, 0],
        Some((2, 2, To::Back(back))),
    ));
}

/// EXECUTE of an MVC or XC, the forms the jit runs natively
/// (docs/CHOICES.md §64a), twice in a loop counted in R8 (at most twice
/// however a branch enters it):
/// `lhi %r8,0; [larl %r9,t1; j l;] l: exrl %rX,t1 | [larl %r9,t1;] ex
/// %rX,0(%r9); [larl %r9,t2;] [j 1f; 1:] [larl %r7,t1; xi b(%r7),m;]
/// ahi %r8,1; clij %r8,2,4,l; jg after; [nopr up to the page's end;] t1:
/// mvc|xc; t2: mvc|xc; after:`. The EX's base is set by the LARL just before it, or
/// before its block (`j l` ends the block: the jit guesses the target
/// from the registers at the block's start), and then may designate
/// another target at the second pass (the guess fails at run time); the
/// XI changes the target between the passes (MVC <-> XC, or its length),
/// in the EXECUTE's block or the next; with `far`, the targets start the
/// next page (which [`case`] may leave invalid).
fn execute_loop(rng: &mut Rng, gens: &mut Vec<Gen>, far: bool) {
    const L: usize = 0;
    const T1: usize = 1;
    const T2: usize = 2;
    const AFTER: usize = 3;
    const NEXT: usize = 4;
    let form = rng.below(3); // 0: EXRL, 1: EX after a LARL, 2: EX guessed
    let r1 = dest(rng);
    let mut labels = [0usize; 4];
    // Relative fields to patch: (instruction, field, width, label).
    let mut refs: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut emit = |gens: &mut Vec<Gen>, bytes: Vec<u8>, field: Option<(usize, usize, usize)>| {
        if let Some((pos, width, label)) = field {
            refs.push((gens.len(), pos, width, label));
        }
        gens.push(Gen::plain(bytes, None));
    };
    emit(gens, vec![0xa7, 0x88, 0, 0], None);
    if form == 2 {
        emit(gens, vec![0xc0, 0x90, 0, 0, 0, 0], Some((2, 4, T1)));
        emit(gens, vec![0xa7, 0xf4, 0, 0], Some((2, 2, NEXT)));
    }
    labels[L] = gens.len();
    match form {
        0 => emit(gens, vec![0xc6, r1 << 4, 0, 0, 0, 0], Some((2, 4, T1))),
        _ => {
            if form == 1 {
                emit(gens, vec![0xc0, 0x90, 0, 0, 0, 0], Some((2, 4, T1)));
            }
            emit(gens, vec![0x44, r1 << 4, 0x90, 0], None);
        }
    }
    if form == 2 && rng.chance(50) {
        emit(gens, vec![0xc0, 0x90, 0, 0, 0, 0], Some((2, 4, T2)));
    }
    if rng.chance(40) {
        if rng.chance(50) {
            emit(gens, vec![0xa7, 0xf4, 0, 0], Some((2, 2, NEXT)));
        }
        emit(gens, vec![0xc0, 0x70, 0, 0, 0, 0], Some((2, 4, T1)));
        let (at, bits) = if rng.chance(50) {
            (0, 0xd2 ^ 0xd7)
        } else {
            (1, rng.bits() as u8)
        };
        emit(gens, vec![0x97, bits, 0x70, at], None);
    }
    emit(gens, vec![0xa7, 0x8a, 0, 1], None);
    emit(gens, vec![0xec, 0x84, 0, 0, 2, 0x7f], Some((2, 2, L)));
    emit(gens, vec![0xc0, 0xf4, 0, 0, 0, 0], Some((2, 4, AFTER)));
    if far {
        gens.push(Gen {
            to_page_end: true,
            ..Gen::plain(Vec::new(), None)
        });
    }
    labels[T1] = gens.len();
    gens.push(encode(rng.pick(&[MVC, XC]), rng));
    labels[T2] = gens.len();
    gens.push(encode(rng.pick(&[MVC, XC]), rng));
    labels[AFTER] = gens.len();
    for (i, pos, width, label) in refs {
        let to = match label {
            NEXT => To::Ahead(1),
            _ if labels[label] > i => To::Ahead(labels[label] - i),
            _ => To::Back(i - labels[label]),
        };
        gens[i].rel = Some((pos, width, to));
    }
}

/// The address of each of `gens` laid out from `start` (the pages' ends
/// where `pad`), and where the last ends.
fn layout(gens: &[Gen], start: u64, pad: bool) -> (Vec<u64>, u64) {
    let mut addrs = Vec::new();
    let mut at = start;
    for g in gens {
        addrs.push(at);
        at += if g.to_page_end && pad {
            at.wrapping_neg() & 0xfff
        } else {
            g.bytes.len() as u64
        };
    }
    (addrs, at)
}

/// Lays out `n` random instructions at `start`, within the 16 KiB code
/// area that holds `start`; returns the code (up to the terminator), the
/// address of each instruction (the last is the terminator), that of the
/// constant pool (the next doubleword) and, if the program has one, that
/// of an EXECUTE target that starts a page after its EXECUTE's
/// ([`execute_loop`]).
fn program(rng: &mut Rng, start: u64, n: usize) -> (Vec<u8>, Vec<u64>, u64, Option<u64>) {
    let mut gens: Vec<Gen> = Vec::new();
    let mut far = rng.chance(50);
    for _ in 0..n {
        match rng.below(100) {
            0 => space_loop(rng, &mut gens),
            1 | 2 => {
                execute_loop(rng, &mut gens, far);
                far = false;
            }
            3 | 4 => counted_loop(rng, &mut gens),
            _ => push(&mut gens, instruction(rng)),
        }
    }
    gens.push(Gen::plain(vec![0, 0], None));
    let pad = gens.iter().position(|g| g.to_page_end);
    // The pool's 16 bytes stay in the code area too.
    let limit = (start | 0x3fff) + 1 - 24;
    let (addrs, end) = layout(&gens, start, true);
    let (addrs, far_target) = if end <= limit {
        let far_target = pad.map(|p| addrs[p + 1]);
        (addrs, far_target)
    } else {
        (layout(&gens, start, false).0, None)
    };
    let last = gens.len() - 1;
    let pool = (addrs[last] + 2 + 7) & !7;
    let mut code = Vec::new();
    for (i, g) in gens.iter().enumerate() {
        let mut bytes = if g.to_page_end {
            let len = addrs[i + 1] - addrs[i];
            [0x07, 0x00].repeat(len as usize / 2)
        } else {
            g.bytes.clone()
        };
        if let Some((pos, width, to)) = g.rel {
            let target = match to {
                To::Ahead(ahead) => addrs[(i + ahead).min(last)],
                To::Back(back) => addrs[i - back],
                To::Pool => pool,
            };
            let halfwords = (target as i64 - addrs[i] as i64) / 2;
            let be = halfwords.to_be_bytes();
            bytes[pos..pos + width].copy_from_slice(&be[8 - width..]);
        }
        code.extend_from_slice(&bytes);
    }
    (code, addrs, pool, far_target)
}

/// A random program in random tables: what an engine and the
/// interpreter both start from.
pub struct Case {
    /// The CPU at the program's first instruction.
    pub cpu: Cpu,
    /// Storage: tables, code (at its frames), data and storage keys.
    pub storage: OwnedStorage,
    /// The address of the program's terminator (two zero bytes: an
    /// operation exception).
    pub end: u64,
}

/// A case drawn from `rng`: DAT on (three in four) or off, 24-, 31- or
/// 64-bit addressing, a random PSW key, problem state and address-space
/// control, data pages valid, invalid, protected or outside storage,
/// storage keys that forbid some accesses, (often) the last data page
/// an alias of the first code frame, so that stores reach the code, and a
/// second primary space, whose code pages map a copy of the code with a
/// few bytes changed, that loops (`space_loop`) switch to and back.
pub fn case(rng: &mut Rng) -> Case {
    let mut storage = OwnedStorage::new(STORAGE);
    let dat = rng.chance(75);
    let amode = rng.below(10); // 0: 24-bit, 1-2: 31-bit, else 64-bit
    let start_off = rng.below(0xe00) & !1;
    let n = 100 + rng.below(300) as usize;
    let (code_base, data_base) = if dat {
        (CODE, DATA)
    } else {
        (CODE_FRAME, DATA_FRAME)
    };
    let (code, addrs, pool, far_target) = program(rng, code_base + start_off, n);
    let noise: Vec<u8> = (0..0x8000).map(|_| rng.bits() as u8).collect();
    storage
        .write(AbsoluteAddress::new(DATA_FRAME), &noise)
        .expect("data fits");
    let abs_start = CODE_FRAME + start_off;
    storage
        .write(AbsoluteAddress::new(abs_start), &code)
        .expect("code fits");
    // The second space's copy: one byte in 32 another.
    let copy: Vec<u8> = code
        .iter()
        .map(|&b| {
            if rng.below(32) == 0 {
                rng.bits() as u8
            } else {
                b
            }
        })
        .collect();
    storage
        .write(AbsoluteAddress::new(CODE_COPY_FRAME + start_off), &copy)
        .expect("code fits");
    let w =
        |s: &mut OwnedStorage, at: u64, v: u64| s.write_u64(AbsoluteAddress::new(at), v).unwrap();
    // Segment 1 (logical 1 MiB..2 MiB) -> the page table; every other
    // segment and page invalid, so that no store reaches a table (a table
    // changed without IPTE leaves what a TLB holds unpredictable).
    for i in 0..512 {
        w(&mut storage, SEGMENT_TABLE + i * 8, 0x20);
    }
    for i in 0..256 {
        w(&mut storage, PAGE_TABLE + i * 8, 0x400);
    }
    w(&mut storage, SEGMENT_TABLE + 8, PAGE_TABLE);
    for page in 0..4u64 {
        w(
            &mut storage,
            PAGE_TABLE + page * 8,
            CODE_FRAME + page * 0x1000,
        );
    }
    if let Some(target) = far_target.filter(|_| dat && rng.chance(25)) {
        // The page of the EXECUTE targets after a page's end invalid: the
        // EXECUTE's fetch of its target fails.
        w(
            &mut storage,
            PAGE_TABLE + (target - CODE) / 0x1000 * 8,
            0x400,
        );
    }
    // Data frames in a random order: neighbouring pages are not
    // neighbouring frames.
    let mut order: Vec<u64> = (0..8).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for page in 8..16u64 {
        let frame = DATA_FRAME + order[(page - 8) as usize] * 0x1000;
        let pte = match rng.below(100) {
            0..=4 => frame | 0x400,
            5..=9 => frame | 0x200,
            10..=12 => 0x7f_f000,
            _ => frame,
        };
        w(&mut storage, PAGE_TABLE + page * 8, pte);
    }
    if rng.chance(60) {
        // The last data page aliases the first code frame.
        w(&mut storage, PAGE_TABLE + 15 * 8, CODE_FRAME);
    }
    let hostile = rng.chance(25);
    if hostile {
        hostile_entries(rng, &mut storage);
    }
    // The second space: segment 1 -> its page table, whose code pages map
    // the copy and whose data pages are the first space's.
    for i in 0..512 {
        w(&mut storage, SEGMENT_TABLE_B + i * 8, 0x20);
    }
    w(&mut storage, SEGMENT_TABLE_B + 8, PAGE_TABLE_B);
    for page in 0..256u64 {
        let pte = match page {
            0..=3 => CODE_COPY_FRAME + page * 0x1000,
            8..=15 => storage
                .read_u64(AbsoluteAddress::new(PAGE_TABLE + page * 8))
                .expect("the page table"),
            _ => 0x400,
        };
        w(&mut storage, PAGE_TABLE_B + page * 8, pte);
    }
    let psw_key: u8 = if rng.chance(70) { 0 } else { 9 };
    // Code frames already referenced (or not): a block may then end with
    // an instruction crossing into the next page (docs/CHOICES.md §30).
    let code_referenced = rng.chance(50);
    for frame in 0..(STORAGE as u64 / 0x1000) {
        let key = if (0x20..0x24).contains(&frame) && code_referenced {
            StorageKey::R
        } else if (0x28..0x30).contains(&frame) && rng.chance(30) {
            let acc = rng.pick(&[0u8, 3, 9]);
            let fetch = if rng.chance(30) { StorageKey::F } else { 0 };
            (acc << 4) | fetch
        } else {
            0
        };
        storage
            .set_key(AbsoluteAddress::new(frame * 0x1000), StorageKey::new(key))
            .unwrap();
    }
    let mut cpu = Cpu::new();
    for cr in [1, 7, 13] {
        cpu.cr[cr] = SEGMENT_TABLE;
        if hostile && rng.chance(30) {
            cpu.cr[cr] |= hostile_asce_bits(rng);
        }
    }
    // The pool, in the code and its copy: the ASCEs of the two spaces.
    for frame in [CODE_FRAME, CODE_COPY_FRAME] {
        let at = frame + (pool - code_base);
        w(&mut storage, at, cpu.cr[1]);
        w(&mut storage, at + 8, SEGMENT_TABLE_B);
    }
    if rng.chance(50) {
        cpu.cr[0] |= zmmu_cpu::state::CR0_AFP_REGISTER;
    }
    if rng.chance(60) {
        cpu.cr[0] |= zmmu_cpu::state::CR0_VECTOR;
    }
    cpu.fpc = rng.bits() as u32 & !zmmu_cpu::exec::float::FPC_RESERVED;
    for r in 0..16 {
        // Some of the floating-point values BFP sign and test
        // instructions tell apart: zeros, infinities, NaNs.
        cpu.vr[r][0] = match rng.below(5) {
            // Numbers CONVERT TO FIXED takes in range and rounds.
            1 => (rng.bits() as i32 as f64 / 256.0).to_bits(),
            0 => rng.pick(&[
                0,
                1 << 63,
                0x7ff0_0000_0000_0000,
                0xfff0_0000_0000_0000,
                0x7ff8_0000_0000_0001,
                0x7ff0_0000_0000_0001,
                0xfff4_0000_0000_0000,
            ]),
            _ => rng.bits(),
        };
        cpu.ar[r] = rng.bits() as u32;
    }
    // Some vector halves of bytes 0-2: equal elements and zeros for the
    // find instructions.
    let vector_half = |rng: &mut Rng| {
        if rng.chance(30) {
            (0..8).fold(0, |h, _| h << 8 | rng.below(3))
        } else {
            rng.bits()
        }
    };
    for v in 0..32 {
        if v >= 16 {
            cpu.vr[v][0] = vector_half(rng);
        }
        cpu.vr[v][1] = vector_half(rng);
    }
    for r in 0..10 {
        cpu.gpr[r] = match rng.below(5) {
            0 => rng.below(16),
            1 => rng.bits() as u32 as u64,
            // The edges of the signed ranges (where LOAD COMPLEMENT and
            // LOAD POSITIVE overflow).
            2 => rng.pick(&[1 << 63, 0x8000_0000, 0xffff_ffff_8000_0000, u64::MAX]),
            _ => rng.bits(),
        };
    }
    for r in 10..13 {
        cpu.gpr[r] = data_base + rng.below(0x8000);
    }
    if dat && rng.chance(30) {
        // r12 into the alias of the code frame.
        cpu.gpr[12] = data_base + 0x7000 + rng.below(0x1000);
    }
    cpu.gpr[13] = PAGE_TABLE;
    let mut m = mask::EA | mask::BA | (u64::from(psw_key) << 52);
    match amode {
        0 => m &= !(mask::EA | mask::BA),
        1 | 2 => m &= !mask::EA,
        _ => {}
    }
    if rng.chance(15) {
        m |= mask::PROBLEM;
    }
    // The address-space control: primary mostly, else access-register,
    // secondary or home mode, all spaces with the same tables.
    if rng.chance(25) {
        m |= rng.below(4) << 46;
    }
    if dat {
        m |= mask::DAT;
    }
    m |= rng.below(4) << 44;
    if rng.chance(20) {
        m |= mask::FIXED_OVERFLOW;
    }
    if rng.chance(40) {
        // I/O and external interruptions enabled (none is ever pending
        // here): what STNSM disables and STOSM enables.
        m |= mask::IO | mask::EXT;
    }
    cpu.psw = Psw {
        mask: m,
        addr: code_base + start_off,
    };
    Case {
        cpu,
        storage,
        end: *addrs.last().expect("a program ends with its terminator"),
    }
}

/// Entries no kernel writes, for a hostile case: every engine must give
/// what the DAT walk gives for them (the checklist's order: I, then the
/// table type, then PTE bit 52, then protection). Page-table entries of
/// data pages get bit 52 (a translation-specification exception), the
/// IEP bit or software bits (ignored here: IEP is not enabled), or the
/// invalid bit over random bits (all ignored but I); the segment entry of
/// the program gets DAT protection, the common-segment bit, a wrong table
/// type or the format-control bit (ignored without EDAT-1). No entry
/// points at a table frame, so stores never change the tables.
fn hostile_entries(rng: &mut Rng, storage: &mut OwnedStorage) {
    for page in 8..16u64 {
        if !rng.chance(30) {
            continue;
        }
        let at = AbsoluteAddress::new(PAGE_TABLE + page * 8);
        let pte = storage.read_u64(at).expect("the page table");
        let bad = match rng.below(3) {
            0 => pte | 0x800,
            1 => pte | rng.pick(&[0x100, 0xff, 0x1ff]),
            _ => rng.bits() | 0x400,
        };
        storage.write_u64(at, bad).expect("the page table");
    }
    let at = AbsoluteAddress::new(SEGMENT_TABLE + 8);
    let ste = storage.read_u64(at).expect("the segment table");
    let bits = rng.pick(&[0x200, 0x010, 0x004, 0x00c, 0x400, 0x210]);
    storage
        .write_u64(at, ste | bits)
        .expect("the segment table");
}

/// ASCE bits for a hostile case: private space (with a common segment, a
/// translation-specification exception), real space (no walk: the
/// logical address is real, mostly outside storage), a region-table
/// designation over the segment table (its entry 0, invalid, is then a
/// region translation exception), reserved bits.
fn hostile_asce_bits(rng: &mut Rng) -> u64 {
    rng.pick(&[0x100, 0x020, 0x004, 0x008, 0x00c, 0x00f, 0xc10])
}

/// What two runs of a case left, compared: `Ok` when the CPU state, the
/// storage and every storage key are the same, else the first difference
/// (`names` say which run is which). With `reference_ahead`, the second
/// run may have set reference bits the first left zero (an engine that
/// references pages ahead of use, which the architecture allows), never
/// missed one or changed anything else.
pub fn compare(
    first: (&Cpu, &impl Storage),
    second: (&Cpu, &impl Storage),
    names: [&str; 2],
    reference_ahead: bool,
) -> Result<(), String> {
    let [n1, n2] = names;
    let ((a, sa), (b, sb)) = (first, second);
    if a != b {
        let mut diff = String::new();
        for r in 0..16 {
            if a.gpr[r] != b.gpr[r] {
                diff += &format!(" r{r}: {n1} {:#x} {n2} {:#x};", a.gpr[r], b.gpr[r]);
            }
        }
        if a.psw != b.psw {
            diff += &format!(" psw: {n1} {:x?} {n2} {:x?};", a.psw, b.psw);
        }
        if diff.is_empty() {
            diff = format!(" {n1} {a:x?}\n {n2} {b:x?}");
        }
        return Err(format!("CPU differs:{diff}"));
    }
    let (x, y) = (bytes(sa), bytes(sb));
    if x != y {
        let at = x.iter().zip(&y).position(|(p, q)| p != q).unwrap_or(0);
        return Err(format!(
            "storage differs at {at:#x}: {n1} {:02x?} {n2} {:02x?}",
            &x[at..(at + 8).min(x.len())],
            &y[at..(at + 8).min(y.len())]
        ));
    }
    for frame in 0..sa.size().min(sb.size()) / 0x1000 {
        let at = AbsoluteAddress::new(frame * 0x1000);
        let (ka, kb) = (sa.key(at), sb.key(at));
        let ahead = |k: Option<StorageKey>| k.map(|k| StorageKey::new(k.value() | StorageKey::R));
        if ka != kb && !(reference_ahead && ahead(ka) == kb) {
            return Err(format!(
                "storage key of frame {frame:#x} differs: {n1} {ka:?} {n2} {kb:?}"
            ));
        }
    }
    Ok(())
}

/// Every byte of `storage`.
fn bytes(storage: &impl Storage) -> Vec<u8> {
    let mut all = vec![0; storage.size() as usize];
    storage
        .read(AbsoluteAddress::new(0), &mut all)
        .expect("the whole storage is readable");
    all
}
