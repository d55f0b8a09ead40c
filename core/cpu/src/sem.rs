//! Semantic descriptors: what an instruction does, as data.
//!
//! Most general instructions are one of a few shapes ("first operand op
//! second operand, result to R1, condition code by rule X"). The opcode table
//! attaches a [`Sem`] to every opcode so that the interpreter (and the block
//! translator of part 2) implement each shape once instead of once per
//! mnemonic. Instructions that fit no shape carry [`Sem::Special`] and are
//! implemented by opcode.

/// Operand width of an arithmetic or logical operation (PoP: "32-bit" or
/// "64-bit" forms; the 32-bit forms use and set bits 32-63 of a register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// Bits 32-63 of the registers; bits 0-31 of R1 are unchanged.
    W32,
    /// All 64 bits.
    W64,
}

impl Width {
    /// Number of bits.
    pub const fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// How a second operand narrower than the operation is widened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ext {
    /// Signed byte.
    S8,
    /// Signed halfword.
    S16,
    /// Signed word.
    S32,
    /// Unsigned byte.
    U8,
    /// Unsigned halfword.
    U16,
    /// Unsigned word.
    U32,
    /// 31-bit unsigned (LLGT: bit 32 of the word is cleared).
    U31,
    /// The operation's own width, no extension.
    F,
}

impl Ext {
    /// Size in bytes of the storage operand for an operation of width `w`.
    pub const fn bytes(self, w: Width) -> usize {
        match self {
            Ext::S8 | Ext::U8 => 1,
            Ext::S16 | Ext::U16 => 2,
            Ext::S32 | Ext::U32 | Ext::U31 => 4,
            Ext::F => match w {
                Width::W32 => 4,
                Width::W64 => 8,
            },
        }
    }

    /// Widen the low bits of `v` to 64 bits (sign or zero extension).
    pub const fn apply(self, v: u64) -> u64 {
        match self {
            Ext::S8 => v as u8 as i8 as i64 as u64,
            Ext::S16 => v as u16 as i16 as i64 as u64,
            Ext::S32 => v as u32 as i32 as i64 as u64,
            Ext::U8 => v as u8 as u64,
            Ext::U16 => v as u16 as u64,
            Ext::U32 => v as u32 as u64,
            Ext::U31 => v & 0x7fff_ffff,
            Ext::F => v,
        }
    }
}

/// Where the second operand comes from. The exact register or address is
/// fixed by the instruction format: `Reg` is R2 (R3 in the three-operand
/// RRF-a forms), `Mem` is X2+B2+D2 (or the RIL relative address), `Imm` is I2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Src {
    /// A general register.
    Reg(Ext),
    /// A storage operand.
    Mem(Ext),
    /// The immediate field.
    Imm(Ext),
}

/// The operation of an [`Sem::Alu`] or [`Sem::MemImm`] instruction, with its
/// condition-code rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// Signed add: cc 0 zero, 1 < 0, 2 > 0, 3 overflow.
    Add,
    /// Logical add: cc = (result != 0) + 2 * carry.
    AddL,
    /// Logical add with carry (cc bit 2 as carry in).
    AddLC,
    /// Signed subtract, cc as [`AluOp::Add`].
    Sub,
    /// Logical subtract: cc = (result != 0) + 2 * (no borrow).
    SubL,
    /// Logical subtract with borrow (cc bit 2 clear = borrow in).
    SubLB,
    /// AND: cc 0 zero, 1 nonzero.
    And,
    /// OR: cc 0 zero, 1 nonzero.
    Or,
    /// XOR: cc 0 zero, 1 nonzero.
    Xor,
    /// Multiply single: low bits of the product, cc unchanged.
    Mul,
    /// Signed compare: cc 0 equal, 1 low, 2 high.
    Cmp,
    /// Logical compare: cc 0 equal, 1 low, 2 high.
    CmpL,
    /// Load: cc unchanged.
    Load,
    /// Load and test: cc 0 zero, 1 < 0, 2 > 0.
    LoadTest,
    /// Load complement: cc as add, overflow for the maximum negative number.
    LoadCompl,
    /// Load positive: cc 0 zero, 2 > 0, 3 overflow.
    LoadPos,
    /// Load negative: cc 0 zero, 1 < 0.
    LoadNeg,
}

/// Operation on an immediate field of a register (the `xIHH` .. `xILF`
/// families).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldOp {
    /// Insert immediate: the field is replaced, the rest kept, cc unchanged.
    Insert,
    /// Load logical immediate: the field is set, the rest of the 64 bits zeroed.
    LoadLogical,
    /// AND into the field; cc 0 if the field's result is zero, else 1.
    And,
    /// OR into the field; cc as AND.
    Or,
    /// XOR into the field; cc as AND.
    Xor,
    /// Test under mask (TMLL ..): cc 0 all selected zero, 3 all ones,
    /// 1 or 2 mixed with leftmost selected bit 0 or 1.
    Test,
}

/// Shift and rotate kinds (RS / RSY formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftOp {
    /// Shift left single logical.
    Sll,
    /// Shift right single logical.
    Srl,
    /// Shift left single (arithmetic): sign kept, overflow sets cc 3.
    Sla,
    /// Shift right single (arithmetic): cc 0/1/2.
    Sra,
    /// Rotate left single logical.
    Rll,
    /// Shift left double logical (even-odd pair).
    Sldl,
    /// Shift right double logical.
    Srdl,
    /// Shift left double arithmetic.
    Slda,
    /// Shift right double arithmetic.
    Srda,
}

/// The semantic shape of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sem {
    /// R1 = first operand `op` second operand. The first operand is R1, or R2
    /// for RRF-a and R3 for RIE-d (the distinct-operands forms).
    Alu(AluOp, Width, Src),
    /// Storage first operand with an immediate second operand (SI, SIY, SIL
    /// formats): `mem` is the storage operand's size and extension, `imm` the
    /// immediate's. Results other than compares are stored back.
    MemImm(AluOp, Width, Ext, Ext),
    /// Operate on a `bits`-wide immediate field at bit shift `shift` (counted
    /// from bit 63) of R1.
    Field(FieldOp, u8, u8),
    /// Store the rightmost `n` bytes of R1 at the second-operand address.
    Store(u8),
    /// A shift or rotate; the source is R1 (RS formats) or R3 (RSY formats).
    Shift(ShiftOp, Width),
    /// Implemented individually.
    Special,
}
