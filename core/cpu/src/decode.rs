//! Decoding: instruction bytes to a typed [`Insn`].

use super::format::Fields;
use super::opcode::{lookup, Opcode};

/// Instruction length in bytes from the first byte: bits 0-1 of the opcode
/// are 00 for 2 bytes, 01 or 10 for 4 bytes, 11 for 6 bytes (PoP
/// "Instruction Formats"). This is also the ILC times two.
pub const fn insn_len(first: u8) -> usize {
    match first >> 6 {
        0 => 2,
        1 | 2 => 4,
        _ => 6,
    }
}

/// A decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// The instruction ([`Opcode::Unknown`] if not in the table).
    pub op: Opcode,
    /// Length in bytes: 2, 4 or 6.
    pub len: u8,
    /// The fields of the instruction's format.
    pub f: Fields,
}

impl Insn {
    /// The instruction-length code (1, 2 or 3) stored on an interruption.
    pub const fn ilc(&self) -> u8 {
        self.len / 2
    }
}

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the length the first byte announces.
    Truncated {
        /// The announced length.
        needed: usize,
    },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated { needed } => {
                write!(
                    f,
                    "truncated instruction: its first byte announces {needed} bytes"
                )
            }
        }
    }
}

impl core::error::Error for DecodeError {}

/// Decode the instruction at the start of `bytes`. Unknown opcodes decode to
/// [`Opcode::Unknown`] with the length their first byte announces, so that
/// execution can report an operation exception with the right ILC.
pub fn decode(bytes: &[u8]) -> Result<Insn, DecodeError> {
    let first = *bytes.first().ok_or(DecodeError::Truncated { needed: 2 })?;
    let len = insn_len(first);
    let code = bytes
        .get(..len)
        .ok_or(DecodeError::Truncated { needed: len })?;
    let mut image = [0u8; 8];
    if let Some(dst) = image.get_mut(2..2 + len) {
        dst.copy_from_slice(code);
    }
    let image = u64::from_be_bytes(image);
    let byte = |i: usize| code.get(i).copied().unwrap_or(0);
    Ok(match lookup(first, byte(1), byte(5)) {
        Some(row) => Insn {
            op: row.op,
            len: len as u8,
            f: row.format.fields(image),
        },
        _ => Insn {
            op: Opcode::Unknown,
            len: len as u8,
            f: Fields::default(),
        },
    })
}

impl Opcode {
    /// Does this instruction end a straight-line block for a translator:
    /// it may change the instruction address other than sequentially
    /// (branches, EXECUTE, SVC, LPSW/LPSWE, SAM*), or change state that
    /// decides how the following instructions are fetched or translated
    /// (control registers, the PSW mask, prefix, address-space control),
    /// or is a DAT or system instruction ([`Opcode::is_dat`],
    /// [`Opcode::is_system`]).
    pub fn ends_block(self) -> bool {
        use Opcode::*;
        self.is_dat()
            || self.is_system()
            || matches!(
                self,
                BCR | BC
                    | BRC
                    | BRCL
                    | BAS
                    | BASR
                    | BAL
                    | BALR
                    | BRAS
                    | BRASL
                    | BCT
                    | BCTR
                    | BCTG
                    | BCTGR
                    | BRCT
                    | BRCTG
                    | BRCTH
                    | BXH
                    | BXLE
                    | BXHG
                    | BXLEG
                    | BRXH
                    | BRXLE
                    | BRXHG
                    | BRXLG
                    | CRJ
                    | CGRJ
                    | CLRJ
                    | CLGRJ
                    | CIJ
                    | CGIJ
                    | CLIJ
                    | CLGIJ
                    | CRB
                    | CGRB
                    | CLRB
                    | CLGRB
                    | CIB
                    | CGIB
                    | CLIB
                    | CLGIB
                    | CRT
                    | CGRT
                    | CLRT
                    | CLGRT
                    | CIT
                    | CGIT
                    | CLFIT
                    | CLGIT
                    | BSM
                    | BASSM
                    | EX
                    | EXRL
                    | SVC
                    | LPSW
                    | LPSWE
                    | SAM24
                    | SAM31
                    | SAM64
                    | SSM
                    | STOSM
                    | STNSM
                    | LCTL
                    | LCTLG
                    | SPX
                    | SAC
                    | SACF
                    | SPKA
                    | MVCL
                    | CLCL
                    | Unknown
            )
    }

    /// Is this a privileged instruction that reads or changes DAT tables,
    /// storage keys or translation caches (executed by [`crate::exec::dat`]
    /// through [`crate::memory::Memory`])?
    pub fn is_dat(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            IPTE | IDTE
                | PTLB
                | CSP
                | CSPG
                | SSKE
                | ISKE
                | RRBE
                | LRA
                | LRAY
                | LRAG
                | TPROT
                | STRAG
                | LPTEA
                | SPX
                | PFMF
        )
    }

    /// Is this an instruction of the miscellaneous-instruction-extensions
    /// facility 3 (61)? (Its extension of POPCNT, M3 bit 0, is not an
    /// opcode of its own.)
    pub fn is_mie3(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            NCRK | NCGRK
                | NNRK
                | NNGRK
                | NORK
                | NOGRK
                | NXRK
                | NXGRK
                | OCRK
                | OCGRK
                | SELR
                | SELGR
                | SELFHR
                | MVCRL
        )
    }

    /// Is this an instruction of the vector-enhancements facility 1 (135)
    /// as a whole? (Its short and extended floating-point formats, VLLEZ
    /// M3 6 and VPOPCT M3 1-3 extend instructions of 129.)
    pub fn is_vector_enhancements_1(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            VBPERM | VMSL | VNN | VNX | VOC | VFMAX | VFMIN | VFNMA | VFNMS
        )
    }

    /// Is this an instruction of the vector-enhancements facility 2 (148)?
    /// (Its 32-bit conversions are VCDG .. VCLGD with M3 2.)
    pub fn is_vector_enhancements_2(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            VLBR | VLER
                | VSTBR
                | VSTER
                | VLEBRH
                | VLEBRF
                | VLEBRG
                | VSTEBRH
                | VSTEBRF
                | VSTEBRG
                | VLLEBRZ
                | VLBRREP
                | VSLD
                | VSRD
                | VSTRS
        )
    }

    /// Is this a vector floating-point instruction (executed by
    /// [`crate::exec::vector_float`])?
    pub fn is_vector_float(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            VFA | VFS
                | VFM
                | VFD
                | VFSQ
                | VFMA
                | VFMS
                | VFNMA
                | VFNMS
                | VFCE
                | VFCH
                | VFCHE
                | WFC
                | WFK
                | VFPSO
                | VFTCI
                | VFLL
                | VFLR
                | VFI
                | VCDG
                | VCDLG
                | VCGD
                | VCLGD
                | VFMIN
                | VFMAX
        )
    }

    /// Is this an instruction of the vector facility that needs the
    /// vector-enablement control (CR0 bit 46), executed by
    /// [`crate::exec::vector`]? Every opcode with first byte E7 hex except
    /// LOAD COUNT TO BLOCK BOUNDARY, and the byte-reversed and
    /// element-reversed loads and stores of the vector-enhancements
    /// facility 2 (first byte E6 hex).
    pub fn is_vector(self) -> bool {
        self.info()
            .is_some_and(|i| matches!(i.key >> 8, 0xE6 | 0xE7) && self != Opcode::LCBB)
    }

    /// Is this an instruction whose semantics are the machine's (the
    /// service processor, other CPUs, the hypervisor), handed to
    /// [`crate::memory::System::system_instruction`]?
    pub fn is_system(self) -> bool {
        use Opcode::*;
        matches!(self, SERVC | SIGP | DIAG | STSI) || self.is_io()
    }

    /// An I/O instruction (PoP ch. 14), carried out by the machine's
    /// channel subsystem: CSCH, HSCH, MSCH, SSCH, STSCH, TSCH, TPI, SAL,
    /// RSCH, STCRW, RCHP, SCHM, CHSC, XSCH.
    pub fn is_io(self) -> bool {
        use Opcode::*;
        matches!(
            self,
            CSCH | HSCH
                | MSCH
                | SSCH
                | STSCH
                | TSCH
                | TPI
                | SAL
                | RSCH
                | STCRW
                | RCHP
                | SCHM
                | CHSC
                | XSCH
        )
    }
}

/// Decode the straight-line block at the start of `bytes`: instructions up
/// to and including the first that [ends the block](Opcode::ends_block),
/// or as many whole instructions as `bytes` holds. Each comes with its
/// offset from the start. Decoding happens once; a translator or the
/// interpreter's block cache can then execute the typed instructions.
pub fn decode_block(bytes: &[u8]) -> impl Iterator<Item = (usize, Insn)> + '_ {
    let mut at = 0usize;
    let mut done = false;
    core::iter::from_fn(move || {
        if done {
            return None;
        }
        let insn = decode(bytes.get(at..)?).ok()?;
        let here = at;
        at += usize::from(insn.len);
        done = insn.op.ends_block();
        Some((here, insn))
    })
}
