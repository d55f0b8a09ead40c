//! The opcode table: one row per instruction, mapping the opcode bits to the
//! mnemonic, the [`Format`] and the semantic shape ([`Sem`]).
//!
//! Opcode keys are written as the PoP writes them: `0x1A` (AR) for a one-byte
//! opcode, `0xA7E` (CHI) for a byte plus a 4-bit extension in bits 12-15, and
//! `0xB9E8` (AGRK) or `0xE304` (LG) for a byte plus an 8-bit extension (in
//! bits 8-15 or bits 40-47, depending on the first byte; see [`key_of`]).

use super::format::Format;
use super::sem::{AluOp::*, Ext::*, FieldOp as Fo, Sem, Sem::*, ShiftOp::*, Src::*, Width::*};

/// One row of the opcode table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The opcode key (see the module docs).
    pub key: u16,
    /// The instruction.
    pub op: Opcode,
    /// Its format.
    pub format: Format,
    /// Its semantic shape.
    pub sem: Sem,
}

/// Where the opcode extension of an instruction lives, decided by its first
/// byte (PoP "Instruction Formats": the opcode is in bits 0-7, optionally
/// extended by bits 8-15, 12-15 or 40-47).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtKind {
    /// No extension: the first byte is the opcode.
    None,
    /// Bits 8-15 (E, RRE, RRF, S, SSE, SIL, IE formats).
    Byte1,
    /// Bits 12-15 (RI, RIL, SSF formats).
    Nibble,
    /// Bits 40-47 (RXY, RSY, SIY, RIE, RIS, RRS, RXE, RXF formats).
    Byte5,
}

/// The extension kind for an instruction whose first byte is `op1`.
pub const fn ext_kind(op1: u8) -> ExtKind {
    match op1 {
        0x01 | 0xB2 | 0xB3 | 0xB9 | 0xE5 => ExtKind::Byte1,
        0xA5 | 0xA7 | 0xC0 | 0xC2 | 0xC4 | 0xC6 | 0xC8 | 0xCC => ExtKind::Nibble,
        0xE3 | 0xE6 | 0xE7 | 0xEB | 0xEC | 0xED => ExtKind::Byte5,
        _ => ExtKind::None,
    }
}

/// The opcode key of an instruction whose first byte is `b0`, second `b1`
/// and sixth `b5` (bytes an instruction does not have may be anything).
pub const fn key_of(b0: u8, b1: u8, b5: u8) -> u16 {
    match ext_kind(b0) {
        ExtKind::None => b0 as u16,
        ExtKind::Byte1 => (b0 as u16) << 8 | b1 as u16,
        ExtKind::Nibble => (b0 as u16) << 4 | (b1 & 0xf) as u16,
        ExtKind::Byte5 => (b0 as u16) << 8 | b5 as u16,
    }
}

const SP: Sem = Special;

macro_rules! opcodes {
    ($($name:ident $key:literal $fmt:ident $sem:expr;)*) => {
        /// Every instruction the decoder knows, named by its PoP mnemonic.
        #[allow(clippy::upper_case_acronyms, missing_docs)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Opcode {
            $($name,)*
            /// An opcode not in the table; executing it is an operation
            /// exception (code 0x0001).
            Unknown,
        }

        /// The table in declaration order (indexed by `Opcode as usize`).
        const TABLE_DATA: [OpInfo; COUNT] = [
            $(OpInfo { key: $key, op: Opcode::$name, format: Format::$fmt, sem: $sem },)*
        ];

        const NAMES: [&str; COUNT] = [$(stringify!($name),)*];

        /// Number of instructions in the table.
        pub const COUNT: usize = [$(stringify!($name),)*].len();
    };
}

opcodes! {
    SPM 0x04 RR SP;
    BALR 0x05 RR SP;
    BCTR 0x06 RR SP;
    BCR 0x07 RR SP;
    SVC 0x0A I SP;
    BSM 0x0B RR SP;
    BASSM 0x0C RR SP;
    BASR 0x0D RR SP;
    MVCL 0x0E RR SP;
    CLCL 0x0F RR SP;
    LPR 0x10 RR Alu(LoadPos, W32, Reg(F));
    LNR 0x11 RR Alu(LoadNeg, W32, Reg(F));
    LTR 0x12 RR Alu(LoadTest, W32, Reg(F));
    LCR 0x13 RR Alu(LoadCompl, W32, Reg(F));
    NR 0x14 RR Alu(And, W32, Reg(F));
    CLR 0x15 RR Alu(CmpL, W32, Reg(F));
    OR 0x16 RR Alu(Or, W32, Reg(F));
    XR 0x17 RR Alu(Xor, W32, Reg(F));
    LR 0x18 RR Alu(Load, W32, Reg(F));
    CR 0x19 RR Alu(Cmp, W32, Reg(F));
    AR 0x1A RR Alu(Add, W32, Reg(F));
    SR 0x1B RR Alu(Sub, W32, Reg(F));
    MR 0x1C RR SP;
    DR 0x1D RR SP;
    ALR 0x1E RR Alu(AddL, W32, Reg(F));
    SLR 0x1F RR Alu(SubL, W32, Reg(F));
    LDR 0x28 RR SP;
    LER 0x38 RR SP;
    STH 0x40 RxA Store(2);
    LA 0x41 RxA SP;
    STC 0x42 RxA Store(1);
    IC 0x43 RxA SP;
    EX 0x44 RxA SP;
    BAL 0x45 RxA SP;
    BCT 0x46 RxA SP;
    BC 0x47 RxB SP;
    LH 0x48 RxA Alu(Load, W32, Mem(S16));
    CH 0x49 RxA Alu(Cmp, W32, Mem(S16));
    AH 0x4A RxA Alu(Add, W32, Mem(S16));
    SH 0x4B RxA Alu(Sub, W32, Mem(S16));
    MH 0x4C RxA Alu(Mul, W32, Mem(S16));
    BAS 0x4D RxA SP;
    CVD 0x4E RxA SP;
    CVB 0x4F RxA SP;
    ST 0x50 RxA Store(4);
    LAE 0x51 RxA SP;
    N 0x54 RxA Alu(And, W32, Mem(F));
    CL 0x55 RxA Alu(CmpL, W32, Mem(F));
    O 0x56 RxA Alu(Or, W32, Mem(F));
    X 0x57 RxA Alu(Xor, W32, Mem(F));
    L 0x58 RxA Alu(Load, W32, Mem(F));
    C 0x59 RxA Alu(Cmp, W32, Mem(F));
    A 0x5A RxA Alu(Add, W32, Mem(F));
    S 0x5B RxA Alu(Sub, W32, Mem(F));
    M 0x5C RxA SP;
    D 0x5D RxA SP;
    AL 0x5E RxA Alu(AddL, W32, Mem(F));
    SL 0x5F RxA Alu(SubL, W32, Mem(F));
    STD 0x60 RxA SP;
    LD 0x68 RxA SP;
    STE 0x70 RxA SP;
    LE 0x78 RxA SP;
    MS 0x71 RxA Alu(Mul, W32, Mem(F));
    SSM 0x80 Si SP;
    LPSW 0x82 Si SP;
    DIAG 0x83 RsA SP;
    BRXH 0x84 Rsi SP;
    BRXLE 0x85 Rsi SP;
    BXH 0x86 RsA SP;
    BXLE 0x87 RsA SP;
    SRL 0x88 RsA Shift(Srl, W32);
    SLL 0x89 RsA Shift(Sll, W32);
    SRA 0x8A RsA Shift(Sra, W32);
    SLA 0x8B RsA Shift(Sla, W32);
    SRDL 0x8C RsA Shift(Srdl, W64);
    SLDL 0x8D RsA Shift(Sldl, W64);
    SRDA 0x8E RsA Shift(Srda, W64);
    SLDA 0x8F RsA Shift(Slda, W64);
    STM 0x90 RsA SP;
    TM 0x91 Si SP;
    MVI 0x92 Si MemImm(Load, W32, U8, U8);
    NI 0x94 Si MemImm(And, W32, U8, U8);
    CLI 0x95 Si MemImm(CmpL, W32, U8, U8);
    OI 0x96 Si MemImm(Or, W32, U8, U8);
    XI 0x97 Si MemImm(Xor, W32, U8, U8);
    LM 0x98 RsA SP;
    TRACE 0x99 RsA SP;
    LAM 0x9A RsA SP;
    STAM 0x9B RsA SP;
    IIHH 0xA50 RiA Field(Fo::Insert, 48, 16);
    IIHL 0xA51 RiA Field(Fo::Insert, 32, 16);
    IILH 0xA52 RiA Field(Fo::Insert, 16, 16);
    IILL 0xA53 RiA Field(Fo::Insert, 0, 16);
    NIHH 0xA54 RiA Field(Fo::And, 48, 16);
    NIHL 0xA55 RiA Field(Fo::And, 32, 16);
    NILH 0xA56 RiA Field(Fo::And, 16, 16);
    NILL 0xA57 RiA Field(Fo::And, 0, 16);
    OIHH 0xA58 RiA Field(Fo::Or, 48, 16);
    OIHL 0xA59 RiA Field(Fo::Or, 32, 16);
    OILH 0xA5A RiA Field(Fo::Or, 16, 16);
    OILL 0xA5B RiA Field(Fo::Or, 0, 16);
    LLIHH 0xA5C RiA Field(Fo::LoadLogical, 48, 16);
    LLIHL 0xA5D RiA Field(Fo::LoadLogical, 32, 16);
    LLILH 0xA5E RiA Field(Fo::LoadLogical, 16, 16);
    LLILL 0xA5F RiA Field(Fo::LoadLogical, 0, 16);
    TMLH 0xA70 RiA Field(Fo::Test, 16, 16);
    TMLL 0xA71 RiA Field(Fo::Test, 0, 16);
    TMHH 0xA72 RiA Field(Fo::Test, 48, 16);
    TMHL 0xA73 RiA Field(Fo::Test, 32, 16);
    BRC 0xA74 RiC SP;
    BRAS 0xA75 RiB SP;
    BRCT 0xA76 RiB SP;
    BRCTG 0xA77 RiB SP;
    LHI 0xA78 RiA Alu(Load, W32, Imm(S16));
    LGHI 0xA79 RiA Alu(Load, W64, Imm(S16));
    AHI 0xA7A RiA Alu(Add, W32, Imm(S16));
    AGHI 0xA7B RiA Alu(Add, W64, Imm(S16));
    MHI 0xA7C RiA Alu(Mul, W32, Imm(S16));
    MGHI 0xA7D RiA Alu(Mul, W64, Imm(S16));
    CHI 0xA7E RiA Alu(Cmp, W32, Imm(S16));
    CGHI 0xA7F RiA Alu(Cmp, W64, Imm(S16));
    MVCLE 0xA8 RsA SP;
    CLCLE 0xA9 RsA SP;
    STNSM 0xAC Si SP;
    STOSM 0xAD Si SP;
    SIGP 0xAE RsA SP;
    MC 0xAF Si SP;
    LRA 0xB1 RxA SP;
    STIDP 0xB202 S SP;
    SCK 0xB204 S SP;
    STCK 0xB205 S SP;
    SCKC 0xB206 S SP;
    STCKC 0xB207 S SP;
    SPT 0xB208 S SP;
    STPT 0xB209 S SP;
    SPKA 0xB20A S SP;
    IPK 0xB20B S SP;
    PTLB 0xB20D S SP;
    SPX 0xB210 S SP;
    STPX 0xB211 S SP;
    STAP 0xB212 S SP;
    SAC 0xB219 S SP;
    SERVC 0xB220 Rre SP;
    IPTE 0xB221 RrfA SP;
    IPM 0xB222 Rre SP;
    ISKE 0xB229 Rre SP;
    RRBE 0xB22A Rre SP;
    SSKE 0xB22B RrfC SP;
    TB 0xB22C Rre SP;
    CSCH 0xB230 S SP;
    HSCH 0xB231 S SP;
    MSCH 0xB232 S SP;
    SSCH 0xB233 S SP;
    STSCH 0xB234 S SP;
    TSCH 0xB235 S SP;
    TPI 0xB236 S SP;
    SAL 0xB237 S SP;
    RSCH 0xB238 S SP;
    STCRW 0xB239 S SP;
    RCHP 0xB23B S SP;
    SCHM 0xB23C S SP;
    BAKR 0xB240 Rre SP;
    CKSM 0xB241 Rre SP;
    STURA 0xB246 Rre SP;
    PALB 0xB248 Rre SP;
    EREG 0xB249 Rre SP;
    ESTA 0xB24A Rre SP;
    LURA 0xB24B Rre SP;
    TAR 0xB24C Rre SP;
    CPYA 0xB24D Rre SP;
    SAR 0xB24E Rre SP;
    EAR 0xB24F Rre SP;
    CSP 0xB250 Rre SP;
    MSR 0xB252 Rre Alu(Mul, W32, Reg(F));
    MVPG 0xB254 Rre SP;
    MVST 0xB255 Rre SP;
    CUSE 0xB257 Rre SP;
    CLST 0xB25D Rre SP;
    SRST 0xB25E Rre SP;
    CHSC 0xB25F Rre SP;
    XSCH 0xB276 S SP;
    STCKE 0xB278 S SP;
    SACF 0xB279 S SP;
    STCKF 0xB27C S SP;
    STSI 0xB27D S SP;
    STFPC 0xB29C S SP;
    LFPC 0xB29D S SP;
    STFLE 0xB2B0 S SP;
    STFL 0xB2B1 S SP;
    LPSWE 0xB2B2 S SP;
    PPA 0xB2E8 RrfC SP;
    ETND 0xB2EC Rre SP;
    TEND 0xB2F8 S SP;
    NIAI 0xB2FA IE SP;
    TRAP4 0xB2FF S SP;
    LPEBR 0xB300 Rre SP;
    LNEBR 0xB301 Rre SP;
    LTEBR 0xB302 Rre SP;
    LCEBR 0xB303 Rre SP;
    LDEBR 0xB304 Rre SP;
    LXDBR 0xB305 Rre SP;
    LXEBR 0xB306 Rre SP;
    MXDBR 0xB307 Rre SP;
    KEBR 0xB308 Rre SP;
    CEBR 0xB309 Rre SP;
    AEBR 0xB30A Rre SP;
    SEBR 0xB30B Rre SP;
    MDEBR 0xB30C Rre SP;
    DEBR 0xB30D Rre SP;
    MAEBR 0xB30E Rrd SP;
    MSEBR 0xB30F Rrd SP;
    LPDBR 0xB310 Rre SP;
    LNDBR 0xB311 Rre SP;
    LTDBR 0xB312 Rre SP;
    LCDBR 0xB313 Rre SP;
    SQEBR 0xB314 Rre SP;
    SQDBR 0xB315 Rre SP;
    SQXBR 0xB316 Rre SP;
    MEEBR 0xB317 Rre SP;
    KDBR 0xB318 Rre SP;
    CDBR 0xB319 Rre SP;
    ADBR 0xB31A Rre SP;
    SDBR 0xB31B Rre SP;
    MDBR 0xB31C Rre SP;
    DDBR 0xB31D Rre SP;
    MADBR 0xB31E Rrd SP;
    MSDBR 0xB31F Rrd SP;
    LEDBR 0xB344 Rre SP;
    LPXBR 0xB340 Rre SP;
    LNXBR 0xB341 Rre SP;
    LTXBR 0xB342 Rre SP;
    LCXBR 0xB343 Rre SP;
    LDXBR 0xB345 Rre SP;
    LEXBR 0xB346 Rre SP;
    FIXBR 0xB347 RrfE SP;
    KXBR 0xB348 Rre SP;
    CXBR 0xB349 Rre SP;
    AXBR 0xB34A Rre SP;
    SXBR 0xB34B Rre SP;
    MXBR 0xB34C Rre SP;
    DXBR 0xB34D Rre SP;
    FIEBR 0xB357 RrfE SP;
    FIDBR 0xB35F RrfE SP;
    LXR 0xB365 Rre SP;
    LZXR 0xB376 Rre SP;
    CXLFBR 0xB392 RrfE SP;
    CXFBR 0xB396 Rre SP;
    CFXBR 0xB39A RrfE SP;
    CLFXBR 0xB39E RrfE SP;
    CXLGBR 0xB3A2 RrfE SP;
    CXGBR 0xB3A6 Rre SP;
    CGXBR 0xB3AA RrfE SP;
    CLGXBR 0xB3AE RrfE SP;
    CELFBR 0xB390 RrfE SP;
    CDLFBR 0xB391 RrfE SP;
    CEFBR 0xB394 Rre SP;
    CDFBR 0xB395 Rre SP;
    CFEBR 0xB398 RrfE SP;
    CFDBR 0xB399 RrfE SP;
    CLFEBR 0xB39C RrfE SP;
    CLFDBR 0xB39D RrfE SP;
    CELGBR 0xB3A0 RrfE SP;
    CDLGBR 0xB3A1 RrfE SP;
    CEGBR 0xB3A4 Rre SP;
    CDGBR 0xB3A5 Rre SP;
    CGEBR 0xB3A8 RrfE SP;
    CGDBR 0xB3A9 RrfE SP;
    CLGEBR 0xB3AC RrfE SP;
    CLGDBR 0xB3AD RrfE SP;
    SFPC 0xB384 Rre SP;
    EFPC 0xB38C Rre SP;
    LZER 0xB374 Rre SP;
    LZDR 0xB375 Rre SP;
    LDGR 0xB3C1 Rre SP;
    LGDR 0xB3CD Rre SP;
    LPGR 0xB900 Rre Alu(LoadPos, W64, Reg(F));
    LNGR 0xB901 Rre Alu(LoadNeg, W64, Reg(F));
    LTGR 0xB902 Rre Alu(LoadTest, W64, Reg(F));
    LCGR 0xB903 Rre Alu(LoadCompl, W64, Reg(F));
    LGR 0xB904 Rre Alu(Load, W64, Reg(F));
    LURAG 0xB905 Rre SP;
    LGBR 0xB906 Rre Alu(Load, W64, Reg(S8));
    LGHR 0xB907 Rre Alu(Load, W64, Reg(S16));
    AGR 0xB908 Rre Alu(Add, W64, Reg(F));
    SGR 0xB909 Rre Alu(Sub, W64, Reg(F));
    ALGR 0xB90A Rre Alu(AddL, W64, Reg(F));
    SLGR 0xB90B Rre Alu(SubL, W64, Reg(F));
    MSGR 0xB90C Rre Alu(Mul, W64, Reg(F));
    DSGR 0xB90D Rre SP;
    EREGG 0xB90E Rre SP;
    LRVGR 0xB90F Rre SP;
    LPGFR 0xB910 Rre Alu(LoadPos, W64, Reg(S32));
    LNGFR 0xB911 Rre Alu(LoadNeg, W64, Reg(S32));
    LTGFR 0xB912 Rre Alu(LoadTest, W64, Reg(S32));
    LCGFR 0xB913 Rre Alu(LoadCompl, W64, Reg(S32));
    LGFR 0xB914 Rre Alu(Load, W64, Reg(S32));
    LLGFR 0xB916 Rre Alu(Load, W64, Reg(U32));
    LLGTR 0xB917 Rre Alu(Load, W64, Reg(U31));
    AGFR 0xB918 Rre Alu(Add, W64, Reg(S32));
    SGFR 0xB919 Rre Alu(Sub, W64, Reg(S32));
    ALGFR 0xB91A Rre Alu(AddL, W64, Reg(U32));
    SLGFR 0xB91B Rre Alu(SubL, W64, Reg(U32));
    MSGFR 0xB91C Rre Alu(Mul, W64, Reg(S32));
    DSGFR 0xB91D Rre SP;
    LRVR 0xB91F Rre SP;
    CGR 0xB920 Rre Alu(Cmp, W64, Reg(F));
    CLGR 0xB921 Rre Alu(CmpL, W64, Reg(F));
    STURG 0xB925 Rre SP;
    // Message-security assist (facilities 17, 57, 76, 77, 146), PoP ch. 7.
    KMAC 0xB91E Rre SP;
    PCKMO 0xB928 Rre SP;
    KMA 0xB929 RrfB SP;
    KMF 0xB92A Rre SP;
    KMO 0xB92B Rre SP;
    PCC 0xB92C Rre SP;
    KMCTR 0xB92D RrfB SP;
    KM 0xB92E Rre SP;
    KMC 0xB92F Rre SP;
    PRNO 0xB93C Rre SP;
    KIMD 0xB93E Rre SP;
    KLMD 0xB93F Rre SP;
    LBR 0xB926 Rre Alu(Load, W32, Reg(S8));
    LHR 0xB927 Rre Alu(Load, W32, Reg(S16));
    CGFR 0xB930 Rre Alu(Cmp, W64, Reg(S32));
    CLGFR 0xB931 Rre Alu(CmpL, W64, Reg(U32));
    BCTGR 0xB946 Rre SP;
    CGRT 0xB960 RrfC SP;
    CLGRT 0xB961 RrfC SP;
    NNGRK 0xB964 RrfA SP;
    OCGRK 0xB965 RrfA SP;
    NOGRK 0xB966 RrfA SP;
    NXGRK 0xB967 RrfA SP;
    CRT 0xB972 RrfC SP;
    CLRT 0xB973 RrfC SP;
    NNRK 0xB974 RrfA SP;
    OCRK 0xB975 RrfA SP;
    NORK 0xB976 RrfA SP;
    NXRK 0xB977 RrfA SP;
    NGR 0xB980 Rre Alu(And, W64, Reg(F));
    OGR 0xB981 Rre Alu(Or, W64, Reg(F));
    XGR 0xB982 Rre Alu(Xor, W64, Reg(F));
    FLOGR 0xB983 Rre SP;
    LLGCR 0xB984 Rre Alu(Load, W64, Reg(U8));
    LLGHR 0xB985 Rre Alu(Load, W64, Reg(U16));
    MLGR 0xB986 Rre SP;
    DLGR 0xB987 Rre SP;
    ALCGR 0xB988 Rre Alu(AddLC, W64, Reg(F));
    SLBGR 0xB989 Rre Alu(SubLB, W64, Reg(F));
    CSPG 0xB98A Rre SP;
    EPSW 0xB98D Rre SP;
    IDTE 0xB98E RrfB SP;
    LLCR 0xB994 Rre Alu(Load, W32, Reg(U8));
    LLHR 0xB995 Rre Alu(Load, W32, Reg(U16));
    MLR 0xB996 Rre SP;
    DLR 0xB997 Rre SP;
    ALCR 0xB998 Rre Alu(AddLC, W32, Reg(F));
    SLBR 0xB999 Rre Alu(SubLB, W32, Reg(F));
    LPTEA 0xB9AA RrfB SP;
    PFMF 0xB9AF Rre SP;
    SELFHR 0xB9C0 RrfA SP;
    AHHHR 0xB9C8 RrfA SP;
    SHHHR 0xB9C9 RrfA SP;
    ALHHHR 0xB9CA RrfA SP;
    SLHHHR 0xB9CB RrfA SP;
    CHHR 0xB9CD Rre SP;
    CLHHR 0xB9CF Rre SP;
    AHHLR 0xB9D8 RrfA SP;
    SHHLR 0xB9D9 RrfA SP;
    ALHHLR 0xB9DA RrfA SP;
    SLHHLR 0xB9DB RrfA SP;
    CHLR 0xB9DD Rre SP;
    CLHLR 0xB9DF Rre SP;
    LOCFHR 0xB9E0 RrfC SP;
    POPCNT 0xB9E1 RrfC SP;
    LOCGR 0xB9E2 RrfC SP;
    SELGR 0xB9E3 RrfA SP;
    NGRK 0xB9E4 RrfA Alu(And, W64, Reg(F));
    NCGRK 0xB9E5 RrfA SP;
    OGRK 0xB9E6 RrfA Alu(Or, W64, Reg(F));
    XGRK 0xB9E7 RrfA Alu(Xor, W64, Reg(F));
    AGRK 0xB9E8 RrfA Alu(Add, W64, Reg(F));
    SGRK 0xB9E9 RrfA Alu(Sub, W64, Reg(F));
    ALGRK 0xB9EA RrfA Alu(AddL, W64, Reg(F));
    SLGRK 0xB9EB RrfA Alu(SubL, W64, Reg(F));
    SELR 0xB9F0 RrfA SP;
    LOCR 0xB9F2 RrfC SP;
    NRK 0xB9F4 RrfA Alu(And, W32, Reg(F));
    NCRK 0xB9F5 RrfA SP;
    ORK 0xB9F6 RrfA Alu(Or, W32, Reg(F));
    XRK 0xB9F7 RrfA Alu(Xor, W32, Reg(F));
    ARK 0xB9F8 RrfA Alu(Add, W32, Reg(F));
    SRK 0xB9F9 RrfA Alu(Sub, W32, Reg(F));
    ALRK 0xB9FA RrfA Alu(AddL, W32, Reg(F));
    SLRK 0xB9FB RrfA Alu(SubL, W32, Reg(F));
    STCTL 0xB6 RsA SP;
    LCTL 0xB7 RsA SP;
    CS 0xBA RsA SP;
    CDS 0xBB RsA SP;
    CLM 0xBD RsB SP;
    STCM 0xBE RsB SP;
    ICM 0xBF RsB SP;
    LARL 0xC00 RilB SP;
    LGFI 0xC01 RilA Alu(Load, W64, Imm(S32));
    BRCL 0xC04 RilC SP;
    BRASL 0xC05 RilB SP;
    XIHF 0xC06 RilA Field(Fo::Xor, 32, 32);
    XILF 0xC07 RilA Field(Fo::Xor, 0, 32);
    IIHF 0xC08 RilA Field(Fo::Insert, 32, 32);
    IILF 0xC09 RilA Field(Fo::Insert, 0, 32);
    NIHF 0xC0A RilA Field(Fo::And, 32, 32);
    NILF 0xC0B RilA Field(Fo::And, 0, 32);
    OIHF 0xC0C RilA Field(Fo::Or, 32, 32);
    OILF 0xC0D RilA Field(Fo::Or, 0, 32);
    LLIHF 0xC0E RilA Field(Fo::LoadLogical, 32, 32);
    LLILF 0xC0F RilA Field(Fo::LoadLogical, 0, 32);
    MSGFI 0xC20 RilA Alu(Mul, W64, Imm(S32));
    MSFI 0xC21 RilA Alu(Mul, W32, Imm(F));
    SLGFI 0xC24 RilA Alu(SubL, W64, Imm(U32));
    SLFI 0xC25 RilA Alu(SubL, W32, Imm(F));
    AGFI 0xC28 RilA Alu(Add, W64, Imm(S32));
    AFI 0xC29 RilA Alu(Add, W32, Imm(F));
    ALGFI 0xC2A RilA Alu(AddL, W64, Imm(U32));
    ALFI 0xC2B RilA Alu(AddL, W32, Imm(F));
    CGFI 0xC2C RilA Alu(Cmp, W64, Imm(S32));
    CFI 0xC2D RilA Alu(Cmp, W32, Imm(F));
    CLGFI 0xC2E RilA Alu(CmpL, W64, Imm(U32));
    CLFI 0xC2F RilA Alu(CmpL, W32, Imm(F));
    LLHRL 0xC42 RilB Alu(Load, W32, Mem(U16));
    LGHRL 0xC44 RilB Alu(Load, W64, Mem(S16));
    LHRL 0xC45 RilB Alu(Load, W32, Mem(S16));
    LLGHRL 0xC46 RilB Alu(Load, W64, Mem(U16));
    STHRL 0xC47 RilB Store(2);
    LGRL 0xC48 RilB Alu(Load, W64, Mem(F));
    STGRL 0xC4B RilB Store(8);
    LGFRL 0xC4C RilB Alu(Load, W64, Mem(S32));
    LRL 0xC4D RilB Alu(Load, W32, Mem(F));
    LLGFRL 0xC4E RilB Alu(Load, W64, Mem(U32));
    STRL 0xC4F RilB Store(4);
    EXRL 0xC60 RilB SP;
    PFDRL 0xC62 RilC SP;
    CGHRL 0xC64 RilB Alu(Cmp, W64, Mem(S16));
    CHRL 0xC65 RilB Alu(Cmp, W32, Mem(S16));
    CLGHRL 0xC66 RilB Alu(CmpL, W64, Mem(U16));
    CLHRL 0xC67 RilB Alu(CmpL, W32, Mem(U16));
    CGRL 0xC68 RilB Alu(Cmp, W64, Mem(F));
    CLGRL 0xC6A RilB Alu(CmpL, W64, Mem(F));
    CGFRL 0xC6C RilB Alu(Cmp, W64, Mem(S32));
    CRL 0xC6D RilB Alu(Cmp, W32, Mem(F));
    CLGFRL 0xC6E RilB Alu(CmpL, W64, Mem(U32));
    CLRL 0xC6F RilB Alu(CmpL, W32, Mem(F));
    MVCOS 0xC80 Ssf SP;
    ECTG 0xC81 Ssf SP;
    CSST 0xC82 Ssf SP;
    LPD 0xC84 Ssf SP;
    LPDG 0xC85 Ssf SP;
    BRCTH 0xCC6 RilB SP;
    AIH 0xCC8 RilA SP;
    ALSIH 0xCCA RilA SP;
    ALSIHN 0xCCB RilA SP;
    CIH 0xCCD RilA SP;
    CLIH 0xCCF RilA SP;
    TRTR 0xD0 SsA SP;
    MVN 0xD1 SsA SP;
    MVC 0xD2 SsA SP;
    MVZ 0xD3 SsA SP;
    NC 0xD4 SsA SP;
    CLC 0xD5 SsA SP;
    OC 0xD6 SsA SP;
    XC 0xD7 SsA SP;
    MVCK 0xD9 SsD SP;
    MVCP 0xDA SsD SP;
    MVCS 0xDB SsD SP;
    TR 0xDC SsA SP;
    TRT 0xDD SsA SP;
    ED 0xDE SsA SP;
    EDMK 0xDF SsA SP;
    PKU 0xE1 SsF SP;
    UNPKU 0xE2 SsA SP;
    LTG 0xE302 RxyA Alu(LoadTest, W64, Mem(F));
    LRAG 0xE303 RxyA SP;
    LG 0xE304 RxyA Alu(Load, W64, Mem(F));
    CVBY 0xE306 RxyA SP;
    AG 0xE308 RxyA Alu(Add, W64, Mem(F));
    SG 0xE309 RxyA Alu(Sub, W64, Mem(F));
    ALG 0xE30A RxyA Alu(AddL, W64, Mem(F));
    SLG 0xE30B RxyA Alu(SubL, W64, Mem(F));
    MSG 0xE30C RxyA Alu(Mul, W64, Mem(F));
    DSG 0xE30D RxyA SP;
    CVBG 0xE30E RxyA SP;
    LRVG 0xE30F RxyA SP;
    LT 0xE312 RxyA Alu(LoadTest, W32, Mem(F));
    LRAY 0xE313 RxyA SP;
    LGF 0xE314 RxyA Alu(Load, W64, Mem(S32));
    LGH 0xE315 RxyA Alu(Load, W64, Mem(S16));
    LLGF 0xE316 RxyA Alu(Load, W64, Mem(U32));
    LLGT 0xE317 RxyA Alu(Load, W64, Mem(U31));
    AGF 0xE318 RxyA Alu(Add, W64, Mem(S32));
    SGF 0xE319 RxyA Alu(Sub, W64, Mem(S32));
    ALGF 0xE31A RxyA Alu(AddL, W64, Mem(U32));
    SLGF 0xE31B RxyA Alu(SubL, W64, Mem(U32));
    MSGF 0xE31C RxyA Alu(Mul, W64, Mem(S32));
    DSGF 0xE31D RxyA SP;
    LRV 0xE31E RxyA SP;
    LRVH 0xE31F RxyA SP;
    CG 0xE320 RxyA Alu(Cmp, W64, Mem(F));
    CLG 0xE321 RxyA Alu(CmpL, W64, Mem(F));
    STG 0xE324 RxyA Store(8);
    NTSTG 0xE325 RxyA SP;
    CVDY 0xE326 RxyA SP;
    LZRG 0xE32A RxyA SP;
    LLZRGF 0xE33A RxyA SP;
    LZRF 0xE33B RxyA SP;
    CVDG 0xE32E RxyA SP;
    STRVG 0xE32F RxyA SP;
    CGF 0xE330 RxyA Alu(Cmp, W64, Mem(S32));
    CLGF 0xE331 RxyA Alu(CmpL, W64, Mem(U32));
    LTGF 0xE332 RxyA Alu(LoadTest, W64, Mem(S32));
    CGH 0xE334 RxyA Alu(Cmp, W64, Mem(S16));
    PFD 0xE336 RxyB SP;
    STRV 0xE33E RxyA SP;
    STRVH 0xE33F RxyA SP;
    BCTG 0xE346 RxyA SP;
    STY 0xE350 RxyA Store(4);
    MSY 0xE351 RxyA Alu(Mul, W32, Mem(F));
    NY 0xE354 RxyA Alu(And, W32, Mem(F));
    CLY 0xE355 RxyA Alu(CmpL, W32, Mem(F));
    OY 0xE356 RxyA Alu(Or, W32, Mem(F));
    XY 0xE357 RxyA Alu(Xor, W32, Mem(F));
    LY 0xE358 RxyA Alu(Load, W32, Mem(F));
    CY 0xE359 RxyA Alu(Cmp, W32, Mem(F));
    AY 0xE35A RxyA Alu(Add, W32, Mem(F));
    SY 0xE35B RxyA Alu(Sub, W32, Mem(F));
    MFY 0xE35C RxyA SP;
    ALY 0xE35E RxyA Alu(AddL, W32, Mem(F));
    SLY 0xE35F RxyA Alu(SubL, W32, Mem(F));
    STHY 0xE370 RxyA Store(2);
    LAY 0xE371 RxyA SP;
    STCY 0xE372 RxyA Store(1);
    ICY 0xE373 RxyA SP;
    LAEY 0xE375 RxyA SP;
    LB 0xE376 RxyA Alu(Load, W32, Mem(S8));
    LGB 0xE377 RxyA Alu(Load, W64, Mem(S8));
    LHY 0xE378 RxyA Alu(Load, W32, Mem(S16));
    CHY 0xE379 RxyA Alu(Cmp, W32, Mem(S16));
    AHY 0xE37A RxyA Alu(Add, W32, Mem(S16));
    SHY 0xE37B RxyA Alu(Sub, W32, Mem(S16));
    MHY 0xE37C RxyA Alu(Mul, W32, Mem(S16));
    NG 0xE380 RxyA Alu(And, W64, Mem(F));
    OG 0xE381 RxyA Alu(Or, W64, Mem(F));
    XG 0xE382 RxyA Alu(Xor, W64, Mem(F));
    MLG 0xE386 RxyA SP;
    DLG 0xE387 RxyA SP;
    ALCG 0xE388 RxyA Alu(AddLC, W64, Mem(F));
    SLBG 0xE389 RxyA Alu(SubLB, W64, Mem(F));
    STPQ 0xE38E RxyA SP;
    LPQ 0xE38F RxyA SP;
    LLGC 0xE390 RxyA Alu(Load, W64, Mem(U8));
    LLGH 0xE391 RxyA Alu(Load, W64, Mem(U16));
    LLC 0xE394 RxyA Alu(Load, W32, Mem(U8));
    LLH 0xE395 RxyA Alu(Load, W32, Mem(U16));
    ML 0xE396 RxyA SP;
    DL 0xE397 RxyA SP;
    ALC 0xE398 RxyA Alu(AddLC, W32, Mem(F));
    SLB 0xE399 RxyA Alu(SubLB, W32, Mem(F));
    LBH 0xE3C0 RxyA SP;
    LLCH 0xE3C2 RxyA SP;
    STCH 0xE3C3 RxyA SP;
    LHH 0xE3C4 RxyA SP;
    LLHH 0xE3C6 RxyA SP;
    STHH 0xE3C7 RxyA SP;
    LFH 0xE3CA RxyA SP;
    STFH 0xE3CB RxyA SP;
    CHF 0xE3CD RxyA SP;
    CLHF 0xE3CF RxyA SP;
    LASP 0xE500 Sse SP;
    TPROT 0xE501 Sse SP;
    STRAG 0xE502 Sse SP;
    MVCRL 0xE50A Sse SP;
    MVCSK 0xE50E Sse SP;
    MVCDK 0xE50F Sse SP;
    MVHHI 0xE544 Sil MemImm(Load, W32, S16, S16);
    MVGHI 0xE548 Sil MemImm(Load, W64, F, S16);
    MVHI 0xE54C Sil MemImm(Load, W32, F, S16);
    CHHSI 0xE554 Sil MemImm(Cmp, W32, S16, S16);
    CLHHSI 0xE555 Sil MemImm(CmpL, W32, U16, U16);
    CGHSI 0xE558 Sil MemImm(Cmp, W64, F, S16);
    CLGHSI 0xE559 Sil MemImm(CmpL, W64, F, U16);
    CHSI 0xE55C Sil MemImm(Cmp, W32, F, S16);
    CLFHSI 0xE55D Sil MemImm(CmpL, W32, F, U16);
    MVCIN 0xE8 SsA SP;
    PKA 0xE9 SsF SP;
    UNPKA 0xEA SsA SP;
    LMG 0xEB04 RsyA SP;
    SRAG 0xEB0A RsyA Shift(Sra, W64);
    SLAG 0xEB0B RsyA Shift(Sla, W64);
    SRLG 0xEB0C RsyA Shift(Srl, W64);
    SLLG 0xEB0D RsyA Shift(Sll, W64);
    TRACG 0xEB0F RsyA SP;
    CSY 0xEB14 RsyA SP;
    RLLG 0xEB1C RsyA Shift(Rll, W64);
    RLL 0xEB1D RsyA Shift(Rll, W32);
    CLMH 0xEB20 RsyB SP;
    CLMY 0xEB21 RsyB SP;
    STMG 0xEB24 RsyA SP;
    STCTG 0xEB25 RsyA SP;
    STMH 0xEB26 RsyA SP;
    STCMH 0xEB2C RsyB SP;
    STCMY 0xEB2D RsyB SP;
    LCTLG 0xEB2F RsyA SP;
    CSG 0xEB30 RsyA SP;
    CDSY 0xEB31 RsyA SP;
    CDSG 0xEB3E RsyA SP;
    BXHG 0xEB44 RsyA SP;
    BXLEG 0xEB45 RsyA SP;
    ECAG 0xEB4C RsyA SP;
    TMY 0xEB51 Siy SP;
    MVIY 0xEB52 Siy MemImm(Load, W32, U8, U8);
    NIY 0xEB54 Siy MemImm(And, W32, U8, U8);
    CLIY 0xEB55 Siy MemImm(CmpL, W32, U8, U8);
    OIY 0xEB56 Siy MemImm(Or, W32, U8, U8);
    XIY 0xEB57 Siy MemImm(Xor, W32, U8, U8);
    ASI 0xEB6A Siy MemImm(Add, W32, F, S8);
    ALSI 0xEB6E Siy MemImm(AddL, W32, F, S8);
    AGSI 0xEB7A Siy MemImm(Add, W64, F, S8);
    ALGSI 0xEB7E Siy MemImm(AddL, W64, F, S8);
    ICMH 0xEB80 RsyB SP;
    ICMY 0xEB81 RsyB SP;
    MVCLU 0xEB8E RsyA SP;
    CLCLU 0xEB8F RsyA SP;
    STMY 0xEB90 RsyA SP;
    LMH 0xEB96 RsyA SP;
    LMY 0xEB98 RsyA SP;
    LAMY 0xEB9A RsyA SP;
    STAMY 0xEB9B RsyA SP;
    SRAK 0xEBDC RsyA Shift(Sra, W32);
    SLAK 0xEBDD RsyA Shift(Sla, W32);
    SRLK 0xEBDE RsyA Shift(Srl, W32);
    SLLK 0xEBDF RsyA Shift(Sll, W32);
    LOCFH 0xEBE0 RsyB SP;
    STOCFH 0xEBE1 RsyB SP;
    LOCG 0xEBE2 RsyB SP;
    STOCG 0xEBE3 RsyB SP;
    LANG 0xEBE4 RsyA SP;
    LAOG 0xEBE6 RsyA SP;
    LAXG 0xEBE7 RsyA SP;
    LAAG 0xEBE8 RsyA SP;
    LAALG 0xEBEA RsyA SP;
    LOC 0xEBF2 RsyB SP;
    STOC 0xEBF3 RsyB SP;
    LAN 0xEBF4 RsyA SP;
    LAO 0xEBF6 RsyA SP;
    LAX 0xEBF7 RsyA SP;
    LAA 0xEBF8 RsyA SP;
    LAAL 0xEBFA RsyA SP;
    LOCHI 0xEC42 RieG SP;
    BRXHG 0xEC44 RieE SP;
    BRXLG 0xEC45 RieE SP;
    LOCGHI 0xEC46 RieG SP;
    LOCHHI 0xEC4E RieG SP;
    RISBLG 0xEC51 RieF SP;
    RNSBG 0xEC54 RieF SP;
    RISBG 0xEC55 RieF SP;
    ROSBG 0xEC56 RieF SP;
    RXSBG 0xEC57 RieF SP;
    RISBGN 0xEC59 RieF SP;
    RISBHG 0xEC5D RieF SP;
    CGRJ 0xEC64 RieB SP;
    CLGRJ 0xEC65 RieB SP;
    CGIT 0xEC70 RieA SP;
    CLGIT 0xEC71 RieA SP;
    CIT 0xEC72 RieA SP;
    CLFIT 0xEC73 RieA SP;
    CRJ 0xEC76 RieB SP;
    CLRJ 0xEC77 RieB SP;
    CGIJ 0xEC7C RieC SP;
    CLGIJ 0xEC7D RieC SP;
    CIJ 0xEC7E RieC SP;
    CLIJ 0xEC7F RieC SP;
    AHIK 0xECD8 RieD Alu(Add, W32, Imm(S16));
    AGHIK 0xECD9 RieD Alu(Add, W64, Imm(S16));
    ALHSIK 0xECDA RieD Alu(AddL, W32, Imm(S16));
    ALGHSIK 0xECDB RieD Alu(AddL, W64, Imm(S16));
    CGRB 0xECE4 Rrs SP;
    CLGRB 0xECE5 Rrs SP;
    CRB 0xECF6 Rrs SP;
    CLRB 0xECF7 Rrs SP;
    CGIB 0xECFC Ris SP;
    CLGIB 0xECFD Ris SP;
    CIB 0xECFE Ris SP;
    CLIB 0xECFF Ris SP;
    LDEB 0xED04 Rxe SP;
    LXDB 0xED05 Rxe SP;
    LXEB 0xED06 Rxe SP;
    MXDB 0xED07 Rxe SP;
    KEB 0xED08 Rxe SP;
    CEB 0xED09 Rxe SP;
    TCEB 0xED10 Rxe SP;
    TCDB 0xED11 Rxe SP;
    TCXB 0xED12 Rxe SP;
    AEB 0xED0A Rxe SP;
    SEB 0xED0B Rxe SP;
    MDEB 0xED0C Rxe SP;
    DEB 0xED0D Rxe SP;
    MAEB 0xED0E Rxf SP;
    MSEB 0xED0F Rxf SP;
    SQEB 0xED14 Rxe SP;
    SQDB 0xED15 Rxe SP;
    MEEB 0xED17 Rxe SP;
    KDB 0xED18 Rxe SP;
    CDB 0xED19 Rxe SP;
    ADB 0xED1A Rxe SP;
    SDB 0xED1B Rxe SP;
    MDB 0xED1C Rxe SP;
    DDB 0xED1D Rxe SP;
    MADB 0xED1E Rxf SP;
    MSDB 0xED1F Rxf SP;
    LEY 0xED64 RxyA SP;
    LDY 0xED65 RxyA SP;
    STEY 0xED66 RxyA SP;
    STDY 0xED67 RxyA SP;
    LMD 0xEF SsE SP;
    SRP 0xF0 SsC SP;
    MVO 0xF1 SsB SP;
    PACK 0xF2 SsB SP;
    UNPK 0xF3 SsB SP;
    ZAP 0xF8 SsB SP;
    CP 0xF9 SsB SP;
    AP 0xFA SsB SP;
    SP 0xFB SsB SP;
    MP 0xFC SsB SP;
    DP 0xFD SsB SP;
    PR 0x0101 E SP;
    UPT 0x0102 E SP;
    PTFF 0x0104 E SP;
    SCKPF 0x0107 E SP;
    TAM 0x010B E SP;
    SAM24 0x010C E SP;
    SAM31 0x010D E SP;
    SAM64 0x010E E SP;
    TRAP2 0x01FF E SP;
    // Vector facility for z/Architecture (facility 129), PoP chapters 21-22.
    VLEBRH 0xE601 Vrx SP;
    VLEBRG 0xE602 Vrx SP;
    VLEBRF 0xE603 Vrx SP;
    VLLEBRZ 0xE604 Vrx SP;
    VLBRREP 0xE605 Vrx SP;
    VLBR 0xE606 Vrx SP;
    VLER 0xE607 Vrx SP;
    VSTEBRH 0xE609 Vrx SP;
    VSTEBRG 0xE60A Vrx SP;
    VSTEBRF 0xE60B Vrx SP;
    VSTBR 0xE60E Vrx SP;
    VSTER 0xE60F Vrx SP;
    VLEB 0xE700 Vrx SP;
    VLEH 0xE701 Vrx SP;
    VLEG 0xE702 Vrx SP;
    VLEF 0xE703 Vrx SP;
    VLLEZ 0xE704 Vrx SP;
    VLREP 0xE705 Vrx SP;
    VL 0xE706 Vrx SP;
    VLBB 0xE707 Vrx SP;
    VSTEB 0xE708 Vrx SP;
    VSTEH 0xE709 Vrx SP;
    VSTEG 0xE70A Vrx SP;
    VSTEF 0xE70B Vrx SP;
    VST 0xE70E Vrx SP;
    VGEG 0xE712 Vrv SP;
    VGEF 0xE713 Vrv SP;
    VSCEG 0xE71A Vrv SP;
    VSCEF 0xE71B Vrv SP;
    VLGV 0xE721 VrsC SP;
    VLVG 0xE722 VrsB SP;
    LCBB 0xE727 Rxe SP;
    VESL 0xE730 VrsA SP;
    VERLL 0xE733 VrsA SP;
    VLM 0xE736 VrsA SP;
    VLL 0xE737 VrsB SP;
    VESRL 0xE738 VrsA SP;
    VESRA 0xE73A VrsA SP;
    VSTM 0xE73E VrsA SP;
    VSTL 0xE73F VrsB SP;
    VLEIB 0xE740 VriA SP;
    VLEIH 0xE741 VriA SP;
    VLEIG 0xE742 VriA SP;
    VLEIF 0xE743 VriA SP;
    VGBM 0xE744 VriA SP;
    VFTCI 0xE74A VriE SP;
    VREPI 0xE745 VriA SP;
    VGM 0xE746 VriB SP;
    VREP 0xE74D VriC SP;
    VPOPCT 0xE750 VrrA SP;
    VCTZ 0xE752 VrrA SP;
    VCLZ 0xE753 VrrA SP;
    VLR 0xE756 VrrA SP;
    VISTR 0xE75C VrrA SP;
    VSEG 0xE75F VrrA SP;
    VMRL 0xE760 VrrC SP;
    VMRH 0xE761 VrrC SP;
    VLVGP 0xE762 VrrF SP;
    VSUM 0xE764 VrrC SP;
    VSUMG 0xE765 VrrC SP;
    VCKSM 0xE766 VrrC SP;
    VSUMQ 0xE767 VrrC SP;
    VN 0xE768 VrrC SP;
    VNC 0xE769 VrrC SP;
    VO 0xE76A VrrC SP;
    VNO 0xE76B VrrC SP;
    VNX 0xE76C VrrC SP;
    VX 0xE76D VrrC SP;
    VNN 0xE76E VrrC SP;
    VOC 0xE76F VrrC SP;
    VESLV 0xE770 VrrC SP;
    VERIM 0xE772 VriD SP;
    VERLLV 0xE773 VrrC SP;
    VSL 0xE774 VrrC SP;
    VSLB 0xE775 VrrC SP;
    VSLDB 0xE777 VriD SP;
    VESRLV 0xE778 VrrC SP;
    VESRAV 0xE77A VrrC SP;
    VSRL 0xE77C VrrC SP;
    VSRLB 0xE77D VrrC SP;
    VSRA 0xE77E VrrC SP;
    VSRAB 0xE77F VrrC SP;
    VFEE 0xE780 VrrB SP;
    VFENE 0xE781 VrrB SP;
    VFAE 0xE782 VrrB SP;
    VPDI 0xE784 VrrC SP;
    VBPERM 0xE785 VrrC SP;
    VSLD 0xE786 VriD SP;
    VSRD 0xE787 VriD SP;
    VSTRC 0xE78A VrrD SP;
    VSTRS 0xE78B VrrD SP;
    VPERM 0xE78C VrrE SP;
    VSEL 0xE78D VrrE SP;
    VFMS 0xE78E VrrE SP;
    VFMA 0xE78F VrrE SP;
    VPK 0xE794 VrrC SP;
    VPKLS 0xE795 VrrB SP;
    VPKS 0xE797 VrrB SP;
    VFNMS 0xE79E VrrE SP;
    VFNMA 0xE79F VrrE SP;
    VMLH 0xE7A1 VrrC SP;
    VML 0xE7A2 VrrC SP;
    VMH 0xE7A3 VrrC SP;
    VMLE 0xE7A4 VrrC SP;
    VMLO 0xE7A5 VrrC SP;
    VME 0xE7A6 VrrC SP;
    VMO 0xE7A7 VrrC SP;
    VMALH 0xE7A9 VrrD SP;
    VMAL 0xE7AA VrrD SP;
    VMAH 0xE7AB VrrD SP;
    VMALE 0xE7AC VrrD SP;
    VMALO 0xE7AD VrrD SP;
    VMAE 0xE7AE VrrD SP;
    VMAO 0xE7AF VrrD SP;
    VGFM 0xE7B4 VrrC SP;
    VMSL 0xE7B8 VrrD SP;
    VACCC 0xE7B9 VrrD SP;
    VAC 0xE7BB VrrD SP;
    VGFMA 0xE7BC VrrD SP;
    VSBCBI 0xE7BD VrrD SP;
    VSBI 0xE7BF VrrD SP;
    VCLGD 0xE7C0 VrrA SP;
    VCDLG 0xE7C1 VrrA SP;
    VCGD 0xE7C2 VrrA SP;
    VCDG 0xE7C3 VrrA SP;
    VFLL 0xE7C4 VrrA SP;
    VFLR 0xE7C5 VrrA SP;
    VFI 0xE7C7 VrrA SP;
    WFK 0xE7CA VrrA SP;
    WFC 0xE7CB VrrA SP;
    VFPSO 0xE7CC VrrA SP;
    VFSQ 0xE7CE VrrA SP;
    VUPLL 0xE7D4 VrrA SP;
    VUPLH 0xE7D5 VrrA SP;
    VUPL 0xE7D6 VrrA SP;
    VUPH 0xE7D7 VrrA SP;
    VTM 0xE7D8 VrrA SP;
    VECL 0xE7D9 VrrA SP;
    VEC 0xE7DB VrrA SP;
    VLC 0xE7DE VrrA SP;
    VLP 0xE7DF VrrA SP;
    VFS 0xE7E2 VrrC SP;
    VFA 0xE7E3 VrrC SP;
    VFD 0xE7E5 VrrC SP;
    VFM 0xE7E7 VrrC SP;
    VFCE 0xE7E8 VrrC SP;
    VFCHE 0xE7EA VrrC SP;
    VFCH 0xE7EB VrrC SP;
    VFMIN 0xE7EE VrrC SP;
    VFMAX 0xE7EF VrrC SP;
    VAVGL 0xE7F0 VrrC SP;
    VACC 0xE7F1 VrrC SP;
    VAVG 0xE7F2 VrrC SP;
    VA 0xE7F3 VrrC SP;
    VSCBI 0xE7F5 VrrC SP;
    VS 0xE7F7 VrrC SP;
    VCEQ 0xE7F8 VrrB SP;
    VCHL 0xE7F9 VrrB SP;
    VCH 0xE7FB VrrB SP;
    VMNL 0xE7FC VrrC SP;
    VMXL 0xE7FD VrrC SP;
    VMN 0xE7FE VrrC SP;
    VMX 0xE7FF VrrC SP;
}

/// The table in declaration order (indexed by `Opcode as usize`).
pub static TABLE: [OpInfo; COUNT] = TABLE_DATA;

/// The first byte and the opcode extension of a key: the inverse of
/// [`key_of`] (the extension is 0 for a one-byte opcode).
pub const fn split_key(key: u16) -> (u8, u8) {
    if key <= 0xFF && matches!(ext_kind(key as u8), ExtKind::None) {
        (key as u8, 0)
    } else if key <= 0xFFF && matches!(ext_kind((key >> 4) as u8), ExtKind::Nibble) {
        ((key >> 4) as u8, (key & 0xF) as u8)
    } else {
        ((key >> 8) as u8, key as u8)
    }
}

/// No instruction.
const NO_ROW: u16 = u16::MAX;

/// The first bytes that take an extension, one 256-entry block of
/// [`Index::extended`] each.
const EXTENDED: usize = count_extended();

const fn count_extended() -> usize {
    let mut n = 0;
    let mut b = 0;
    while b < 256 {
        if !matches!(ext_kind(b as u8), ExtKind::None) {
            n += 1;
        }
        b += 1;
    }
    n
}

/// The decoder's direct index into [`TABLE`], built from it at compile
/// time: the first byte selects a row, or the block of rows indexed by the
/// opcode extension.
struct Index {
    /// Per first byte: the row (one-byte opcodes) or the block number.
    first: [u16; 256],
    /// Per block and extension: the row.
    extended: [[u16; 256]; EXTENDED],
}

static INDEX: Index = index(&TABLE_DATA);

/// Builds [`INDEX`]; a key that does not round-trip through [`key_of`] or
/// that two rows share stops the build.
const fn index(table: &[OpInfo; COUNT]) -> Index {
    let mut first = [NO_ROW; 256];
    let mut block = 0;
    let mut b = 0;
    while b < 256 {
        if !matches!(ext_kind(b as u8), ExtKind::None) {
            first[b] = block;
            block += 1;
        }
        b += 1;
    }
    let mut extended = [[NO_ROW; 256]; EXTENDED];
    let mut row = 0;
    while row < COUNT {
        let key = table[row].key;
        let (b0, ext) = split_key(key);
        assert!(
            key_of(b0, ext, ext) == key,
            "an opcode key that no instruction has"
        );
        let slot = if matches!(ext_kind(b0), ExtKind::None) {
            &mut first[b0 as usize]
        } else {
            &mut extended[first[b0 as usize] as usize][ext as usize]
        };
        assert!(*slot == NO_ROW, "two instructions with one opcode key");
        *slot = row as u16;
        row += 1;
    }
    Index { first, extended }
}

/// The table row of the instruction whose first byte is `b0`, second `b1`
/// and sixth `b5` (bytes an instruction does not have may be anything):
/// two array reads, no search.
#[inline]
pub fn lookup(b0: u8, b1: u8, b5: u8) -> Option<&'static OpInfo> {
    let first = INDEX.first[usize::from(b0)];
    let row = match ext_kind(b0) {
        ExtKind::None => first,
        kind => {
            let ext = match kind {
                ExtKind::Nibble => b1 & 0xF,
                ExtKind::Byte5 => b5,
                _ => b1,
            };
            INDEX.extended.get(usize::from(first))?[usize::from(ext)]
        }
    };
    TABLE.get(usize::from(row))
}

impl Opcode {
    /// The table row of this opcode (`None` for [`Opcode::Unknown`]).
    pub fn info(self) -> Option<&'static OpInfo> {
        TABLE.get(self as usize)
    }

    /// The PoP mnemonic, upper case ("UNKNOWN" for [`Opcode::Unknown`]).
    pub fn mnemonic(self) -> &'static str {
        NAMES.get(self as usize).copied().unwrap_or("UNKNOWN")
    }

    /// The instruction format (`E` for [`Opcode::Unknown`], which has none).
    pub fn format(self) -> Format {
        self.info().map_or(Format::E, |i| i.format)
    }

    /// The logical conversions of binary floating point (CELFBR, CDLFBR,
    /// CXLFBR, CELGBR, CDLGBR, CXLGBR, CLFEBR, CLFDBR, CLFXBR, CLGEBR,
    /// CLGDBR, CLGXBR; the
    /// floating-point-extension facility): rounded by M3 whatever the
    /// facility, with M4's inexact-exception control, always named.
    pub fn is_logical_bfp_conversion(self) -> bool {
        matches!(
            self,
            Opcode::CELFBR
                | Opcode::CDLFBR
                | Opcode::CELGBR
                | Opcode::CDLGBR
                | Opcode::CLFEBR
                | Opcode::CLFDBR
                | Opcode::CLGEBR
                | Opcode::CLGDBR
                | Opcode::CXLFBR
                | Opcode::CXLGBR
                | Opcode::CLFXBR
                | Opcode::CLGXBR
        )
    }

    /// The semantic shape.
    pub fn sem(self) -> Sem {
        self.info().map_or(Special, |i| i.sem)
    }
}
