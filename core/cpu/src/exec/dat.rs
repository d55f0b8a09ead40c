//! The privileged instructions of dynamic address translation and storage
//! keys (PoP ch. 10 "Control Instructions"): the invalidating ones (IPTE,
//! IDTE, CSP, CSPG, PTLB, SSKE, RRBE, SPX), which hand every change of
//! translation to [`Memory::invalidate`], and the ones that ask DAT a
//! question (LRA, LRAY, LRAG, TPROT, STRAG, LPTEA, ISKE). The rules live in
//! zmmu-mmu (`invalidate`, `lra`); here are the operands and the results.
//!
//! [`Memory::invalidate`]: crate::memory::Memory::invalidate

use super::{Exec, ExecResult, Next};
use crate::memory::{asc_space, logical_space, Access, AddressType, Bus};
use crate::opcode::Opcode;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::{AddressingMode, LogicalAddress, RealAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::{self, CspWidth, Invalidation, PendingFlush};
use zmmu_mmu::keys::StorageKey;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::lra;

/// Executes a DAT instruction ([`Opcode::is_dat`]); the privileged-state
/// check is done.
pub fn execute<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    use Opcode::*;
    match e.insn.op {
        IPTE => invalidate_page_table_entry(e),
        IDTE => invalidate_dat_table_entry(e),
        PTLB => {
            e.bus.invalidate(PendingFlush::local(Invalidation::All));
            Ok(Next::Seq)
        }
        CSP | CSPG => compare_and_swap_and_purge(e),
        SSKE => set_storage_key_extended(e),
        ISKE => insert_storage_key_extended(e),
        RRBE => reset_reference_bit_extended(e),
        SPX => set_prefix(e),
        LRA | LRAY | LRAG => load_real_address(e),
        TPROT => test_protection(e),
        STRAG => store_real_address(e),
        LPTEA => load_page_table_entry_address(e),
        PFMF => perform_frame_management_function(e),
        _ => Err(Exception::new(Code::OPERATION)),
    }
}

/// The DAT controls of the CPU's registers and the memory's facilities.
fn controls<B: Bus>(e: &Exec<'_, B>) -> Controls {
    Controls::from_registers(&e.cpu.cr, e.cpu.prefix, e.bus.facilities())
}

/// The real address in general register `r`, wrapped to the addressing
/// mode (SSKE, ISKE, RRBE).
fn real_operand<B: Bus>(e: &Exec<'_, B>, r: u8) -> RealAddress {
    RealAddress::new(e.cpu.psw.amode().wrap(e.cpu.r64(r)))
}

/// IPTE: the page-table origin in R1, the page index in R2. The
/// IPTE-range facility (13) is not installed (STFLE does not report it):
/// R3 and M4 are ignored.
fn invalidate_page_table_entry<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let (r1, r2) = (e.cpu.r64(f.r1), e.cpu.r64(f.r2));
    let flush = invalidate::ipte(e.bus.storage(), r1, r2, 0)?;
    e.bus.invalidate(flush);
    Ok(Next::Seq)
}

/// IDTE: the table designation in R1, the index and count in R2, the
/// ASCE for clearing by ASCE in R3 (register 0 stands for zero).
fn invalidate_dat_table_entry<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let r3 = if f.r3 == 0 { 0 } else { e.cpu.r64(f.r3) };
    let (r1, r2) = (e.cpu.r64(f.r1), e.cpu.r64(f.r2));
    let flush = invalidate::idte(e.bus.storage(), r1, r2, r3)?;
    e.bus.invalidate(flush);
    Ok(Next::Seq)
}

/// CSP, CSPG: compare the even register of the R1 pair with the logical
/// second operand (addressed by R2, accessed as a store) and swap in the
/// odd one; purge every TLB when R2 bit 63 asks for it and the swap
/// happened.
fn compare_and_swap_and_purge<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    if f.r1 & 1 != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let word = e.insn.op == Opcode::CSP;
    let (width, mask) = if word {
        (CspWidth::Word, 0xFFFF_FFFF)
    } else {
        (CspWidth::Doubleword, u64::MAX)
    };
    let r2 = e.cpu.r64(f.r2);
    let address = e.cpu.psw.amode().wrap(width.operand_address(r2));
    let acc = Access {
        kind: AccessKind::Write,
        space: AddressType::Logical { base: f.r2 },
        cpu: e.cpu,
    };
    let operand = e.bus.translate(&acc, address)?;
    let (expected, new) = (e.cpu.r64(f.r1) & mask, e.cpu.r64(f.r1 + 1) & mask);
    let out = invalidate::csp(
        e.bus.storage(),
        operand,
        width,
        expected,
        new,
        CspWidth::purges_tlb(r2),
    )?;
    if out.cc == 1 {
        if word {
            e.cpu.set_r32(f.r1, out.found as u32);
        } else {
            e.cpu.set_r64(f.r1, out.found);
        }
    }
    e.set_cc(out.cc);
    if let Some(flush) = out.invalidation {
        e.bus.invalidate(flush);
    }
    Ok(Next::Seq)
}

/// SSKE's multiple-block control (M3 bit 3), with enhanced DAT 1.
const SSKE_MB: u8 = 1;

/// SSKE: the key in R1 bits 56-62 for the frame of the real address in R2.
/// The conditional options (MR, MC: facility 10) and the nonquiescing
/// control (NQ: facility 14) are not installed and ignored. With EDAT-1
/// (facility 8) and the multiple-block control (MB) one, R2 designates
/// an absolute address and the key is set for every 4 KiB block from
/// there to the end of its 1 MiB frame, all at once; R2 then holds the
/// address of the next frame (its bits 0-51 in the 64-bit mode, 32-51
/// otherwise; the byte index stays), as for PFMF of a large frame (PoP
/// ch. 10, "Set Storage Key Extended").
fn set_storage_key_extended<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let key = e.cpu.r64(f.r1) as u8;
    if f.m3 & SSKE_MB != 0 && e.bus.facilities().contains(Facilities::EDAT1) {
        let amode = e.cpu.psw.amode();
        let start = amode.wrap(e.cpu.r64(f.r2)) & !0xFFF;
        let end = (start | 0xF_FFFF) + 1;
        for block in (start..end).step_by(0x1000) {
            set_block_key(e, block, key)?;
        }
        let r2 = e.cpu.r64(f.r2);
        let r2 = match amode {
            AddressingMode::Bits64 => end | (r2 & 0xFFF),
            _ => (r2 & !0xFFFF_F000) | (amode.wrap(end) & 0xFFFF_F000),
        };
        e.cpu.set_r64(f.r2, r2);
        return Ok(Next::Seq);
    }
    let real = real_operand(e, f.r2);
    let prefix = e.cpu.prefix;
    let flush = invalidate::sske(e.bus.storage(), prefix, real, key)?;
    e.bus.invalidate(flush);
    Ok(Next::Seq)
}

/// Sets the key of the 4 KiB block at absolute `block` to `key` (the
/// ISKE-format byte) and invalidates what it changes (SSKE's multiple
/// blocks, PFMF's set-key control). Addressing exception if the block
/// does not exist.
fn set_block_key<B: Bus>(e: &mut Exec<'_, B>, block: u64, key: u8) -> Result<(), Exception> {
    let frame = zmmu_mmu::addr::AbsoluteAddress::new(block);
    e.bus
        .storage()
        .set_key(frame, StorageKey::new(key))
        .ok_or(Exception::addressing())?;
    e.bus
        .invalidate(PendingFlush::new(Invalidation::Key(frame)));
    Ok(())
}

/// PFMF's function controls in R1 (bits 32-63; bits 0-31 are ignored).
mod pfmf {
    /// Reserved bits: 32-45, 55 and 63 (specification exception).
    pub const RESERVED: u64 = 0xFFFC_0101;
    /// Set-key control (bit 46).
    pub const SK: u64 = 0x0002_0000;
    /// Clear-frame control (bit 47).
    pub const CF: u64 = 0x0001_0000;
    /// Frame-size code (bits 49-51): 0 4 KiB, 1 1 MiB, 2 2 GiB.
    pub const FSC: u64 = 0x0000_7000;
    /// Nonquiescing control (bit 52), facility 14.
    pub const NQ: u64 = 0x0000_0800;
    /// The key (bits 56-62: access control, F, R, C).
    pub const KEY: u64 = 0x0000_00FE;
}

/// PFMF: for the frame the second-operand address in R2 designates, set
/// the storage key of each 4 KiB block to R1 bits 56-62 (SK) and/or clear
/// it to zeros (CF), as R1 asks (PoP ch. 10 "Perform Frame Management
/// Function", with EDAT-1). A 4 KiB frame's address is real (prefixed), a
/// 1 MiB frame's absolute, done from the 4 KiB block R2 designates (where
/// an interrupted PFMF resumes) to the frame's end; after a large frame
/// R2 holds the address of the next one (bits 32-63 only outside the
/// 64-bit mode). Specification
/// exception for a reserved bit, NQ (facility 14 is not installed) or a
/// frame size other than 4 KiB and 1 MiB (2 GiB frames need EDAT-2,
/// facility 78, which zmmu does not offer); protection for clearing a
/// frame that starts at a low address under low-address protection;
/// addressing for a block outside storage. Usage indication (UI) is a
/// hint, and the conditional key controls (MR, MC) need facility 10: both
/// are ignored. The whole frame is done at once (the architecture lets a
/// large frame be interrupted; KVM does not).
fn perform_frame_management_function<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let r1 = e.cpu.r64(f.r1) & 0xFFFF_FFFF;
    if r1 & (pfmf::RESERVED | pfmf::NQ) != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let amode = e.cpu.psw.amode();
    let operand = amode.wrap(e.cpu.r64(f.r2)) & !0xFFF;
    let large = match r1 & pfmf::FSC {
        0 => false,
        0x1000 => true,
        _ => return Err(Exception::new(Code::SPECIFICATION)),
    };
    let controls = controls(e);
    if r1 & pfmf::CF != 0 && zmmu_mmu::lap::refuses_store(&controls, None, operand) {
        let space = zmmu_mmu::space::AddressSpace::Real;
        let teid = zmmu_mmu::exception::Teid::for_access(
            LogicalAddress::new(operand),
            AccessKind::Write,
            space,
        );
        return Err(Exception::protection(
            zmmu_mmu::exception::ProtectionKind::LowAddress,
            teid,
            space,
            controls.facilities,
        ));
    }
    let (start, end) = if large {
        (operand, (operand | 0xF_FFFF) + 1)
    } else {
        let start = e.cpu.prefix.to_absolute(RealAddress::new(operand)).value();
        (start, start + 0x1000)
    };
    let key = (r1 & pfmf::KEY) as u8;
    for block in (start..end).step_by(0x1000) {
        let frame = zmmu_mmu::addr::AbsoluteAddress::new(block);
        let storage = e.bus.storage();
        if !storage.contains(frame) {
            return Err(Exception::addressing());
        }
        if r1 & pfmf::CF != 0 {
            storage
                .write(frame, &[0; 0x1000])
                .ok_or(Exception::addressing())?;
        }
        if r1 & (pfmf::CF | pfmf::SK) == pfmf::CF {
            // Clearing stores: the block is referenced and changed.
            let rc = StorageKey::R | StorageKey::C;
            storage
                .update_key(frame, &mut |k| StorageKey::new(k.value() | rc))
                .ok_or(Exception::addressing())?;
        }
        if r1 & pfmf::SK != 0 {
            set_block_key(e, block, key)?;
        }
    }
    if large {
        let r2 = match amode {
            AddressingMode::Bits64 => end,
            _ => (e.cpu.r64(f.r2) & !0xFFFF_FFFF) | amode.wrap(end),
        };
        e.cpu.set_r64(f.r2, r2);
    }
    Ok(Next::Seq)
}

/// ISKE: the key of the frame of the real address in R2 into R1 bits
/// 56-63.
fn insert_storage_key_extended<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let absolute = e.cpu.prefix.to_absolute(real_operand(e, f.r2));
    let key = e
        .bus
        .storage()
        .key(absolute)
        .ok_or(Exception::addressing())?;
    let r1 = (e.cpu.r64(f.r1) & !0xFF) | u64::from(key.value());
    e.cpu.set_r64(f.r1, r1);
    Ok(Next::Seq)
}

/// RRBE: reset the reference bit of the frame of the real address in R2;
/// the condition code says what R and C were.
fn reset_reference_bit_extended<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let real = real_operand(e, e.insn.f.r2);
    let prefix = e.cpu.prefix;
    let (cc, flush) = invalidate::rrbe(e.bus.storage(), prefix, real)?;
    e.bus.invalidate(flush);
    e.set_cc(cc);
    Ok(Next::Seq)
}

/// SPX: the prefix from the aligned word at the operand address; the new
/// prefix area must be in storage (addressing exception).
fn set_prefix<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea2();
    e.aligned(a, 4)?;
    let operand = e.read_uint(a, 4, e.insn.f.b2)?;
    let old = e.cpu.prefix;
    let (prefix, flush) = invalidate::spx(e.bus.storage(), old, operand)?;
    e.cpu.prefix = prefix;
    e.bus.invalidate(flush);
    Ok(Next::Seq)
}

/// LRA, LRAY, LRAG: translate the second-operand address in the space the
/// PSW's address-space control names, whatever the DAT bit; the 64-bit
/// result form for LRAG and in the 64-bit addressing mode.
fn load_real_address<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let address = e.ea(f.x2, f.b2, f.d2);
    let wide = e.insn.op == Opcode::LRAG || e.cpu.psw.amode() == AddressingMode::Bits64;
    let controls = controls(e);
    let space = asc_space(e.cpu, f.b2);
    let out = lra::lra(
        e.bus.storage(),
        &controls,
        space,
        LogicalAddress::new(address),
        wide,
    )
    .map_err(|fault| e.bus.fault(fault))?;
    let r1 = out.lra_register(e.cpu.r64(f.r1), wide);
    e.cpu.set_r64(f.r1, r1);
    e.set_cc(out.cc);
    Ok(Next::Seq)
}

/// TPROT: may the first-operand location be fetched or stored with the
/// access key in bits 56-59 of the second-operand address?
fn test_protection<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let address = e.ea(0, f.b1, f.d1);
    let key = ((e.ea(0, f.b2, f.d2) >> 4) & 0xF) as u8;
    let controls = controls(e);
    let space = logical_space(e.cpu, f.b1);
    let cc = lra::tprot(
        e.bus.storage(),
        &controls,
        space,
        LogicalAddress::new(address),
        key,
    )
    .map_err(|fault| e.bus.fault(fault))?;
    e.set_cc(cc);
    Ok(Next::Seq)
}

/// STRAG: store the real address of the second-operand address at the
/// doubleword-aligned first-operand address.
fn store_real_address<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let store_at = e.ea(0, f.b1, f.d1);
    let address = e.ea(0, f.b2, f.d2);
    if store_at & 7 != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let controls = controls(e);
    let space = asc_space(e.cpu, f.b2);
    let real = lra::strag(
        e.bus.storage(),
        &controls,
        space,
        LogicalAddress::new(address),
    )
    .map_err(|fault| e.bus.fault(fault))?;
    e.write_uint(store_at, 8, real.value(), f.b1)?;
    Ok(Next::Seq)
}

/// LPTEA: the address of the page-table entry of the address in R2, in
/// the space M4 names (0 primary, 2 secondary, 3 home; 1, the
/// access-register mode, needs access-register translation, which zmmu
/// does not implement: the memory reports it; 4-15 are a specification
/// exception).
fn load_page_table_entry_address<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let asce = match f.m4 {
        0 => e.cpu.cr[1],
        2 => e.cpu.cr[7],
        3 => e.cpu.cr[13],
        1 => {
            let alet = e.cpu.ar[usize::from(f.r2 & 15)];
            return Err(e.bus.fault(Fault::ArtUnsupported { alet }));
        }
        _ => return Err(Exception::new(Code::SPECIFICATION)),
    };
    let controls = controls(e);
    let address = e.cpu.psw.amode().wrap(e.cpu.r64(f.r2));
    let out = lra::lptea(
        e.bus.storage(),
        &controls,
        Asce::new(asce),
        LogicalAddress::new(address),
    )?;
    e.cpu.set_r64(f.r1, out.r1);
    e.set_cc(out.cc);
    Ok(Next::Seq)
}
