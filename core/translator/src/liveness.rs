//! Condition-code liveness within a block: which instructions set the
//! condition code before anything can read it, so that the one an
//! instruction just before them sets need not reach the PSW. A leaf module
//! (the instruction classes and the block generator both ask it).

use zmmu_cpu::decode::Insn;
use zmmu_cpu::format::Format;
use zmmu_cpu::sem::{AluOp, Sem, Src};

/// Whether `insn` is translated natively, sets the condition code on every
/// path without reading it, and cannot take an exception before setting it
/// (a register or immediate operand: its one slow path is an overflow,
/// which completes the instruction): the condition code an instruction
/// just before it sets need not reach the PSW.
pub(crate) fn overwrites_cc(insn: &Insn) -> bool {
    let format = insn.op.format();
    match insn.op.sem() {
        Sem::Alu(op, _, Src::Reg(_)) => {
            matches!(format, Format::RR | Format::Rre | Format::RrfA) && sets_cc_only(op)
        }
        Sem::Alu(op, _, Src::Imm(_)) => {
            matches!(format, Format::RiA | Format::RilA | Format::RieD) && sets_cc_only(op)
        }
        _ => false,
    }
}

/// The ALU operations the `alu` class emits that set the condition code
/// without reading it.
fn sets_cc_only(op: AluOp) -> bool {
    matches!(
        op,
        AluOp::Add
            | AluOp::AddL
            | AluOp::Sub
            | AluOp::SubL
            | AluOp::And
            | AluOp::Or
            | AluOp::Xor
            | AluOp::Cmp
            | AluOp::CmpL
            | AluOp::LoadTest
            | AluOp::LoadCompl
            | AluOp::LoadPos
            | AluOp::LoadNeg
    )
}
