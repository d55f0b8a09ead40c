//! Control and system instructions: PSW and control-register access,
//! address-space and key control, clocks, facility and CPU identification,
//! SUPERVISOR CALL, and the hand-off of the instructions whose semantics
//! are the machine's ([`crate::memory::System`]).

use super::{Exec, ExecResult, Next};
use crate::interrupt::lowcore;
use crate::memory::Bus;
use crate::opcode::Opcode;
use crate::state::{mask, Cpu, Psw};
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;

/// The facility bits STFLE and STFL report (bit n = facility n): those whose
/// instructions and behaviour zmmu implements, and no other. QEMU 7.2's
/// `-cpu max` (TCG) reports more (16, 22, 24, 30, 31, 37, 40, 41,
/// 49, 51, 52, 58, 69, 71, 72, 75, 131, 138); each is left out
/// here until zmmu implements it. zmmu offers 5, which QEMU does not.
///
/// | bit | facility | why it is offered |
/// |---|---|---|
/// | 0 | N3 instructions in ESA/390 mode | the N3 instructions are implemented (z/Architecture has them all) |
/// | 1 | z/Architecture installed | the only architecture zmmu runs |
/// | 2 | z/Architecture active | the CPU runs in z/Architecture mode |
/// | 3 | DAT enhancement (IDTE, CSPG) | [`super::dat`] |
/// | 4, 5 | IDTE clears the TLB entries formed through the invalidated segment-table (4) and region-table (5) entries, and clears by ASCE | `zmmu_mmu::invalidate::idte` hands each exact invalidation to every TLB of the configuration |
/// | 7 | STFLE | STFLE below |
/// | 9 | sense running status | the SIGP order (the machine's `sigp`) |
/// | 17 | message-security assist (KM, KMC, KIMD, KLMD, KMAC) | [`super::crypto`]: the query function |
/// | 18 | long displacement | every RXY/RSY/SIY form the base has |
/// | 19 | long displacement with high performance | the long forms run as fast as the short ones (the same semantics, the same translation) |
/// | 21 | extended immediate | all of its instructions |
/// | 25 | store clock fast (STCKF) | [`super::clock`] |
/// | 27 | move with optional specifications | [`super::optional_move`] |
/// | 32, 33 | compare and swap and store, and its second version | [`super::compare_swap_store`] |
/// | 34 | general-instructions extension | every instruction of it; ECAG answers "no information" as QEMU |
/// | 35 | execute extensions (EXRL) | [`super::Exec::execute_target`] |
/// | 45 | distinct operands, high word, interlocked access 1, load/store on condition 1, population count | every instruction of the five (the high-word register forms in [`super::alu`]) |
/// | 53 | load/store on condition 2 and load-and-zero rightmost byte | LOCHI, LOCGHI, LOCHHI, LOCFHR in [`super::alu`]; LOCFH, STOCFH, LZRF, LZRG, LLZRGF in [`super::storage`] |
/// | 57 | message-security-assist extension 5 (PRNO) | [`super::crypto`]: the query function |
/// | 61 | miscellaneous-instruction extensions 3 (NCRK .. OCGRK, SELR, SELGR, SELFHR, MVCRL, POPCNT M3) | [`super::alu`], [`super::storage`]; a model may switch it off (`mie3`) |
/// | 76 | message-security-assist extension 3 (PCKMO) | [`super::crypto`]: the query function |
/// | 77 | message-security-assist extension 4 (KMF, KMO, PCC, KMCTR) | [`super::crypto`]: the query function |
/// | 129 | vector facility for z/Architecture | [`super::vector`] |
/// | 130 | instruction-execution protection | the MMU's DAT (`zmmu_mmu`, `Controls::iep`), which the machine offers with it |
/// | 135 | vector-enhancements facility 1 | [`super::vector`] (VNX, VNN, VOC, VBPERM, VMSL, VLLEZ M3 6, VPOPCT M3 1-3) and [`super::vector_float`] (VFMIN, VFMAX, VFNMA, VFNMS, the short and extended formats, these through [`super::bfp`]'s extended format); a model may switch it off (`vxeh`) |
/// | 148 | vector-enhancements facility 2 | [`super::vector`] (the byte- and element-reversed loads and stores, VSLD, VSRD, VSTRS) and [`super::vector_float`] (VCFPS, VCFPL, VCSFP, VCLFP); a model may switch it off (`vxeh2`) |
/// | 146 | message-security-assist extension 8 (KMA) | [`super::crypto`]: the query function |
///
/// One doubleword per 64 facilities.
pub const FACILITIES: [u64; 3] = [
    facility_bits(&[
        0, 1, 2, 3, 4, 5, 7, 9, 17, 18, 19, 21, 25, 27, 32, 33, 34, 35, 45, 53, 57, 61,
    ]),
    facility_bits(&[76 - 64, 77 - 64]),
    facility_bits(&[129 - 128, 130 - 128, 135 - 128, 146 - 128, 148 - 128]),
];

/// The facility list of `cpu`'s model: [`FACILITIES`], less the vector
/// facility (129), the vector-enhancements facilities 1 (135) and 2 (148)
/// and the miscellaneous-instruction-extensions facility 3 (61) on a
/// model without them (135 needs 129, 148 needs 135: PoP "Facility
/// Indications").
pub const fn facilities(cpu: &Cpu) -> [u64; 3] {
    let mut list = FACILITIES;
    if !cpu.vector_facility {
        list = without(list, 129);
    }
    if !cpu.vxeh() {
        list = without(list, 135);
    }
    if !cpu.vxeh2() {
        list = without(list, 148);
    }
    if !cpu.mie3_facility {
        list = without(list, 61);
    }
    list
}

/// `list` without facility `n`.
const fn without(mut list: [u64; 3], n: usize) -> [u64; 3] {
    list[n / 64] &= !(1 << (63 - n % 64));
    list
}

/// The facility list STFLE and STFL store: the CPU model's
/// ([`facilities`]) and the DAT facilities the machine offers (`dat`):
/// enhanced DAT 1 (8) and enhanced suppression on protection 2 (131),
/// which the MMU implements and a CPU model may switch on.
pub fn facility_list(cpu: &Cpu, dat: Facilities) -> [u64; 3] {
    let mut list = facilities(cpu);
    for (facility, n) in [(Facilities::EDAT1, 8), (Facilities::ESOP2, 131)] {
        if dat.contains(facility) {
            list[n / 64] |= 1 << (63 - n % 64);
        }
    }
    list
}

/// Facility `n` of the CPU model is installed on `cpu`: STFLE reports it.
pub const fn installed(cpu: &Cpu, n: u32) -> bool {
    let list = facilities(cpu);
    let word = (n / 64) as usize;
    word < list.len() && list[word] & (1 << (63 - n % 64)) != 0
}

const fn facility_bits(bits: &[u32]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < bits.len() {
        v |= 1 << (63 - bits[i]);
        i += 1;
    }
    v
}

/// The machine type STIDP and STSI 1.1.1 report: 0x8561 (IBM z15 T01), as
/// QEMU 7.2's `-cpu max` under TCG.
pub const MACHINE_TYPE: u16 = 0x8561;

/// The CPU identification STIDP stores, as QEMU stores it under TCG:
/// version code 0 (bits 0-7), a CPU identification of zero but for the
/// CPU address in its low four bits placed where QEMU's basic mode puts
/// them (bits 6-9 of the doubleword: QEMU deposits them at bit 54 counted
/// from the right), the machine type (bits 32-47), format 0 (bit 48).
pub const fn cpu_id(cpu_addr: u16) -> u64 {
    (((cpu_addr & 0xF) as u64) << 54) | ((MACHINE_TYPE as u64) << 16)
}

/// Control instructions, or `None` if `e.insn` is not one.
pub fn special<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    let f = e.insn.f;
    Some(match e.insn.op {
        SVC => Ok(Next::Svc(f.i2 as u16)),
        SAM24 | SAM31 | SAM64 => set_addressing_mode(e),
        TAM => {
            let cc = match e.cpu.psw.amode() {
                AddressingMode::Bits24 => 0,
                AddressingMode::Bits31 => 1,
                AddressingMode::Bits64 => 3,
            };
            e.set_cc(cc);
            Ok(Next::Seq)
        }
        EPSW => {
            let m = e.cpu.psw.mask;
            e.cpu.set_r32(f.r1, (m >> 32) as u32);
            if f.r2 != 0 {
                e.cpu.set_r32(f.r2, m as u32);
            }
            Ok(Next::Seq)
        }
        EAR => {
            let v = e.cpu.ar[usize::from(f.r2 & 15)];
            e.cpu.set_r32(f.r1, v);
            Ok(Next::Seq)
        }
        SAR => {
            e.cpu.ar[usize::from(f.r1 & 15)] = e.cpu.r32(f.r2);
            Ok(Next::Seq)
        }
        STCK | STCKF | STCKE => super::clock::store_clock(e),
        STFLE => store_facility_list_extended(e),
        ECAG => {
            // EXTRACT CPU ATTRIBUTE: zmmu describes no cache, and answers
            // every attribute with all ones, as QEMU does.
            e.cpu.set_r64(f.r1, u64::MAX);
            Ok(Next::Seq)
        }
        IPK => insert_psw_key(e),
        SPKA => set_psw_key_from_address(e),
        SAC | SACF => set_address_space_control(e),
        MC => monitor_call(e),
        _ => return privileged(e),
    })
}

/// Privileged instructions (privileged-operation exception in the problem
/// state), or `None`.
fn privileged<B: Bus>(e: &mut Exec<'_, B>) -> Option<ExecResult> {
    use Opcode::*;
    let known = e.insn.op.is_dat()
        || e.insn.op.is_system()
        || matches!(
            e.insn.op,
            LPSWE
                | LPSW
                | LCTLG
                | LCTL
                | STCTG
                | STCTL
                | SSM
                | STOSM
                | STNSM
                | STPX
                | SCK
                | SCKPF
                | SCKC
                | STCKC
                | SPT
                | STPT
                | STAP
                | STIDP
                | STFL
                | TB
                | LURA
                | LURAG
                | STURA
                | STURG
        );
    if !known {
        return None;
    }
    if let Err(x) = e.privileged() {
        return Some(Err(x));
    }
    Some(match e.insn.op {
        LPSWE => load_psw(e, true),
        LPSW => load_psw(e, false),
        LCTLG | LCTL | STCTG | STCTL => control_registers(e),
        SSM => set_system_mask(e),
        STOSM | STNSM => store_then_change_system_mask(e),
        STPX => store_prefix(e),
        STAP => store_cpu_address(e),
        STIDP => store_cpu_id(e),
        STFL => store_facility_list(e),
        LURA | LURAG | STURA | STURG => real_access(e),
        TB => test_block(e),
        SCK | SCKPF | SCKC | STCKC | SPT | STPT => super::clock::timing(e),
        op if op.is_dat() => super::dat::execute(e),
        _ => e.bus.system_instruction(e.cpu, &e.insn).map(|()| Next::Seq),
    })
}

/// SAM24, SAM31, SAM64: set the addressing mode; the updated instruction
/// address must fit the new mode (specification exception).
fn set_addressing_mode<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let mode = match e.insn.op {
        Opcode::SAM24 => AddressingMode::Bits24,
        Opcode::SAM31 => AddressingMode::Bits31,
        _ => AddressingMode::Bits64,
    };
    let next = e.at.wrapping_add(u64::from(e.insn.len));
    if next & !mode.mask() != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    e.cpu.psw.set_amode(mode);
    Ok(Next::Jump(next))
}

/// MC D1(B1),I2: with the monitor-mask bit of class I2 bits 4-7 (CR8 bit
/// 48 + class) one, a monitor-event program interruption after the
/// instruction completes, with the class stored at real 0x94 and the
/// first-operand address as the monitor code at real 0xB0; otherwise
/// nothing. I2 bits 0-3 must be zero (specification exception).
fn monitor_call<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let i2 = e.insn.f.i2;
    if i2 & 0xF0 != 0 {
        return Err(Exception::new(Code::SPECIFICATION));
    }
    let class = (i2 & 0xF) as u16;
    if e.cpu.cr[8] & (0x8000 >> class) == 0 {
        return Ok(Next::Seq);
    }
    // The interruption's stores, made here: nothing runs between this
    // instruction and the interruption it ends with.
    // A lowcore outside storage check-stops at the delivery that follows.
    let code = e.ea1();
    for (field, bytes) in [
        (lowcore::MONITOR_CLASS, &class.to_be_bytes()[..]),
        (lowcore::MONITOR_CODE, &code.to_be_bytes()[..]),
    ] {
        let _ = e.cpu.store_lowcore(e.bus, field, bytes);
    }
    Err(Exception::new(Code::MONITOR_EVENT))
}

/// SAC, SACF: the address-space control from bits 52-55 of the
/// second-operand address (0 primary, 1 secondary, 2 AR, 3 home).
fn set_address_space_control<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let code = (e.ea(0, e.insn.f.b2, e.insn.f.d2) >> 8) & 0xf;
    let asc = match code {
        0 => 0,
        1 => 2,
        2 => 1,
        3 => 3,
        _ => return Err(Exception::new(Code::SPECIFICATION)),
    };
    if e.insn.op == Opcode::SAC && !e.cpu.psw.dat() {
        return Err(Exception::new(Code::SPECIAL_OPERATION));
    }
    if !e.cpu.secondary_space_control() {
        return Err(Exception::new(Code::SPECIAL_OPERATION));
    }
    if asc == 3 && e.cpu.psw.problem_state() {
        return Err(Exception::new(Code::PRIVILEGED_OPERATION));
    }
    e.cpu.psw.mask = (e.cpu.psw.mask & !mask::ASC) | (asc << 46);
    Ok(Next::Seq)
}

/// STFLE: store as many facility doublewords as R0 bits 56-63 + 1 allow;
/// R0 bits 56-63 receive the number needed minus one; cc 0 if all fit, 3
/// otherwise.
fn store_facility_list_extended<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let a = e.ea2();
    e.aligned(a, 8)?;
    let room = (e.cpu.r64(0) & 0xff) as usize + 1;
    let list = facility_list(e.cpu, e.bus.facilities());
    let n = room.min(list.len());
    for (i, dw) in list.iter().take(n).enumerate() {
        let at = e.cpu.psw.amode().wrap(a.wrapping_add(8 * i as u64));
        e.write_uint(at, 8, *dw, e.insn.f.b2)?;
    }
    let r0 = (e.cpu.r64(0) & !0xff) | (list.len() as u64 - 1);
    e.cpu.set_r64(0, r0);
    e.set_cc(if room >= list.len() { 0 } else { 3 });
    Ok(Next::Seq)
}

/// LPSWE (16-byte PSW) and LPSW (8-byte ESA/390 form, bit 12 must be one).
/// The operand must be doubleword aligned.
fn load_psw<B: Bus>(e: &mut Exec<'_, B>, extended: bool) -> ExecResult {
    // LPSW is an SI instruction (operand D1(B1)), LPSWE an S instruction.
    let (a, base) = if extended {
        (e.ea2(), e.insn.f.b2)
    } else {
        (e.ea1(), e.insn.f.b1)
    };
    e.aligned(a, 8)?;
    let psw = if extended {
        let mut buf = [0u8; 16];
        e.read(a, &mut buf, base)?;
        Psw::from_bytes(buf)
    } else {
        let short = e.read_uint(a, 8, base)?;
        if short & (1 << 51) == 0 {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        Psw {
            mask: (short & 0xfff7_ffff_0000_0000) | (short & 0x8000_0000),
            addr: short & 0x7fff_ffff,
        }
    };
    // An invalid PSW is loaded all the same: the specification exception
    // is recognized early, before the next instruction is fetched
    // ([`crate::state::Cpu::step`]), with ILC 0.
    e.cpu.psw = psw;
    Ok(Next::NewPsw)
}

/// LCTLG, LCTL, STCTG, STCTL: control registers R1 through R3 (wrapping).
fn control_registers<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let wide = matches!(e.insn.op, Opcode::LCTLG | Opcode::STCTG);
    let n = if wide { 8 } else { 4 };
    let a = e.ea2();
    e.aligned(a, n as u64)?;
    let count = u64::from((f.r3.wrapping_sub(f.r1) & 15) + 1);
    let load = matches!(e.insn.op, Opcode::LCTLG | Opcode::LCTL);
    let kind = if load {
        AccessKind::Read
    } else {
        AccessKind::Write
    };
    e.check(a, count * n as u64, kind, f.b2)?;
    for i in 0..count {
        let r = usize::from((f.r1 + i as u8) & 15);
        let at = e.cpu.psw.amode().wrap(a.wrapping_add(i * n as u64));
        if load {
            let v = e.read_uint(at, n, f.b2)?;
            e.cpu.cr[r] = if wide {
                v
            } else {
                (e.cpu.cr[r] & !0xffff_ffff) | v
            };
        } else {
            let v = e.cpu.cr[r];
            e.write_uint(at, n, v, f.b2)?;
        }
    }
    Ok(Next::Seq)
}

/// LURA, LURAG, STURA, STURG: a word or doubleword at the real address in
/// R2 (prefixed, not translated).
fn real_access<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let wide = matches!(e.insn.op, Opcode::LURAG | Opcode::STURG);
    let n = if wide { 8 } else { 4 };
    let addr = e.cpu.psw.amode().wrap(e.cpu.r64(f.r2));
    e.aligned(addr, n as u64)?;
    let mut buf = [0u8; 8];
    match e.insn.op {
        Opcode::LURA | Opcode::LURAG => {
            e.cpu.load_real(e.bus, addr, &mut buf[8 - n..])?;
            let v = u64::from_be_bytes(buf);
            if wide {
                e.cpu.set_r64(f.r1, v);
            } else {
                e.cpu.set_r32(f.r1, v as u32);
            }
        }
        _ => {
            buf = e.cpu.r64(f.r1).to_be_bytes();
            e.cpu.store_real(e.bus, addr, &buf[8 - n..])?;
        }
    }
    Ok(Next::Seq)
}

/// TB: test the 4 KiB block at the real address in R2 (bits 52-63
/// ignored) for usability and clear it; cc 0 (usable: zmmu's storage has
/// no unusable blocks), as QEMU. Prefixing, low-address protection and the
/// addressing exception apply; key-controlled protection does not (PoP
/// "TEST BLOCK"), so the store is made with key 0.
fn test_block<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let addr = e.cpu.psw.amode().wrap(e.cpu.r64(e.insn.f.r2)) & !0xfff;
    let mut keyless = e.cpu.clone();
    keyless.psw.mask &= !mask::KEY;
    keyless.store_real(e.bus, addr, &[0u8; 4096])?;
    e.set_cc(0);
    Ok(Next::Seq)
}

/// IPK: insert the PSW key into bits 56-59 of R2 (privileged in the problem state unless CR0 bit 36 allows it).
fn insert_psw_key<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    if e.cpu.psw.problem_state() && e.cpu.cr[0] & (1 << 27) == 0 {
        return Err(Exception::new(Code::PRIVILEGED_OPERATION));
    }
    let v = (e.cpu.r64(2) & !0xff) | (u64::from(e.cpu.psw.key()) << 4);
    e.cpu.set_r64(2, v);
    Ok(Next::Seq)
}

/// SPKA: set the PSW key from bits 56-59 of the second-operand address, if the PSW-key mask allows it.
fn set_psw_key_from_address<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let key = ((e.ea2() >> 4) & 0xf) as u8;
    if !e.cpu.key_authorized(key) {
        return Err(Exception::new(Code::PRIVILEGED_OPERATION));
    }
    e.cpu.psw.mask = (e.cpu.psw.mask & !mask::KEY) | (u64::from(key) << 52);
    Ok(Next::Seq)
}

/// SSM: replace PSW bits 0-7 with the byte at the operand address.
fn set_system_mask<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let byte = e.read_uint(e.ea1(), 1, f.b1)?;
    e.cpu.psw.mask = (e.cpu.psw.mask & !mask::SYSTEM) | (byte << 56);
    Ok(Next::Seq)
}

/// STOSM, STNSM: store PSW bits 0-7, then OR (STOSM) or AND (STNSM) them with I2.
fn store_then_change_system_mask<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let a = e.ea1();
    let old = (e.cpu.psw.mask >> 56) as u8;
    e.write_uint(a, 1, u64::from(old), f.b1)?;
    let i = f.i2 as u8;
    let new = if e.insn.op == Opcode::STOSM {
        old | i
    } else {
        old & i
    };
    e.cpu.psw.mask = (e.cpu.psw.mask & !mask::SYSTEM) | (u64::from(new) << 56);
    Ok(Next::Seq)
}

/// STPX: store the prefix register (a word, aligned).
fn store_prefix<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let a = e.ea2();
    e.aligned(a, 4)?;
    let p = e.cpu.prefix.value();
    e.write_uint(a, 4, p, f.b2)?;
    Ok(Next::Seq)
}

/// STAP: store the CPU address (a halfword, aligned).
fn store_cpu_address<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let a = e.ea2();
    e.aligned(a, 2)?;
    let v = u64::from(e.cpu.cpu_addr);
    e.write_uint(a, 2, v, f.b2)?;
    Ok(Next::Seq)
}

/// STIDP: store the CPU identification (a doubleword, aligned).
fn store_cpu_id<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    let f = e.insn.f;
    let a = e.ea2();
    e.aligned(a, 8)?;
    let v = cpu_id(e.cpu.cpu_addr);
    e.write_uint(a, 8, v, f.b2)?;
    Ok(Next::Seq)
}

/// STFL: store facility bits 0-31 at real location 200.
fn store_facility_list<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    // Into the lowcore as an interruption stores there: not subject to
    // key-controlled or low-address protection (an operating system
    // issues STFL with low-address protection on; QEMU stores the same).
    let word = (facility_list(e.cpu, e.bus.facilities())[0] >> 32) as u32;
    e.cpu
        .store_lowcore(e.bus, lowcore::STFL, &word.to_be_bytes())
        .map_err(|_| Exception::addressing())?;
    Ok(Next::Seq)
}
