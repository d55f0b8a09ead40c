//! Execution: one decoded instruction at a time on a [`Cpu`] through a
//! [`Bus`].
//!
//! [`Cpu::step`] fetches, decodes and executes one instruction;
//! [`execute`] carries out an already decoded instruction (what a block
//! translator's slow path calls). The semantic shapes of [`Sem`] are
//! implemented once in [`alu`]; instructions outside them live in
//! [`branch`], [`storage`], [`page`], [`control`], [`float`] (the FPC),
//! [`bfp`] (binary floating point), [`crypto`] (the message-security
//! assist) and [`vector`], grouped by concept.

pub mod alu;
pub mod bfp;
pub mod branch;
pub mod clock;
pub mod compare_swap_store;
pub mod control;
pub mod crypto;
pub mod dat;
pub mod float;
pub mod optional_move;
pub mod page;
pub mod storage;
pub mod vector;
pub mod vector_float;

use super::decode::{decode, insn_len, Insn};
use super::format::Format;
use super::interrupt::Interruption;
use super::memory::{Access, AddressType, Bus};
use super::opcode::Opcode;
use super::sem::Sem;
use super::state::Cpu;
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::exception::{Code, Ending};
use zmmu_mmu::PAGE_MASK;

/// The data-exception code of a floating-point register that the
/// AFP-register control makes unavailable.
pub const DXC_AFP_REGISTER: u8 = 1;

/// What happens to the PSW address after an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Continue with the next sequential instruction.
    Seq,
    /// Branch to this (already wrapped) address.
    Jump(u64),
    /// Re-execute the same instruction (an interruptible instruction that
    /// did a CPU-determined amount of its work, like MVCL).
    Again,
    /// The instruction loaded a whole new PSW (LPSWE); leave it alone.
    NewPsw,
    /// SUPERVISOR CALL with this interruption code.
    Svc(u16),
}

/// The execution context of one instruction: the CPU, the bus, the decoded
/// instruction and its address.
pub struct Exec<'a, B: Bus> {
    /// The CPU.
    pub cpu: &'a mut Cpu,
    /// Storage.
    pub bus: &'a mut B,
    /// The instruction being executed.
    pub insn: Insn,
    /// Its address (for an EXECUTE target: the target's address).
    pub at: u64,
    /// The instruction whose address and length define the next sequential
    /// instruction and the ILC stored with link information: the
    /// instruction itself, or for an EXECUTE target the EXECUTE (PoP
    /// "EXECUTE": the target's link information designates the instruction
    /// after the EXECUTE).
    pub sequential: Sequential,
}

/// Where the next sequential instruction is, and the instruction-length
/// code that goes with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequential {
    /// The address of the next sequential instruction, wrapped to the
    /// addressing mode.
    pub next: u64,
    /// The ILC of the instruction it follows.
    pub ilc: u8,
}

impl Sequential {
    /// The instruction `insn` at `at` followed by the next one, in `cpu`'s
    /// addressing mode.
    pub fn after(cpu: &Cpu, insn: &Insn, at: u64) -> Self {
        Self {
            next: cpu.psw.amode().wrap(at.wrapping_add(u64::from(insn.len))),
            ilc: insn.ilc(),
        }
    }
}

impl<B: Bus> core::fmt::Debug for Exec<'_, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exec")
            .field("insn", &self.insn)
            .field("at", &self.at)
            .finish()
    }
}

/// Shorthand for instruction results.
pub type ExecResult = Result<Next, Exception>;

impl<'a, B: Bus> Exec<'a, B> {
    /// Value of a register used as base or index: register 0 means zero.
    pub fn addr_reg(&self, r: u8) -> u64 {
        if r == 0 {
            0
        } else {
            self.cpu.r64(r)
        }
    }

    /// Effective address X + B + D, wrapped to the addressing mode.
    pub fn ea(&self, x: u8, b: u8, d: i32) -> u64 {
        let a = self
            .addr_reg(x)
            .wrapping_add(self.addr_reg(b))
            .wrapping_add(d as i64 as u64);
        self.cpu.psw.amode().wrap(a)
    }

    /// Relative address: instruction address + 2 * RI, wrapped.
    pub fn rel(&self, ri: i64) -> u64 {
        self.cpu
            .psw
            .amode()
            .wrap(self.at.wrapping_add((ri as u64).wrapping_mul(2)))
    }

    /// The first-operand address B1 + D1.
    pub fn ea1(&self) -> u64 {
        self.ea(0, self.insn.f.b1, self.insn.f.d1)
    }

    /// The second-operand address as the format defines it: X2 + B2 + D2
    /// (RX, RXY, RXE, RXF, VRX), the relative address (RIL), or B2 + D2.
    pub fn ea2(&self) -> u64 {
        let f = &self.insn.f;
        match self.insn.op.format() {
            Format::RilA | Format::RilB | Format::RilC => self.rel(f.ri),
            Format::RxA
            | Format::RxB
            | Format::Rxe
            | Format::Rxf
            | Format::RxyA
            | Format::RxyB
            | Format::Vrx => self.ea(f.x2, f.b2, f.d2),
            _ => self.ea(0, f.b2, f.d2),
        }
    }

    /// The address of the next sequential instruction.
    pub fn next(&self) -> u64 {
        self.sequential.next
    }

    /// Split `[addr, addr + len)` at the top of the addressing mode's range:
    /// returns the length of the first piece (the second starts at 0).
    fn first_piece(&self, addr: u64, len: usize) -> usize {
        let room = self
            .cpu
            .psw
            .amode()
            .mask()
            .wrapping_sub(addr)
            .wrapping_add(1);
        if room == 0 || room >= len as u64 {
            len
        } else {
            room as usize
        }
    }

    /// Read `buf.len()` bytes at logical `addr` (operand base register `base`).
    pub fn read(&mut self, addr: u64, buf: &mut [u8], base: u8) -> Result<(), Exception> {
        self.read_in(AddressType::Logical { base }, addr, buf)
    }

    /// Read `buf.len()` bytes at `addr` in `space`.
    pub fn read_in(
        &mut self,
        space: AddressType,
        addr: u64,
        buf: &mut [u8],
    ) -> Result<(), Exception> {
        let n = self.first_piece(addr, buf.len());
        let (a, b) = buf.split_at_mut(n);
        let acc = Access {
            kind: AccessKind::Read,
            space,
            cpu: self.cpu,
        };
        self.bus.read(&acc, addr, a)?;
        if !b.is_empty() {
            self.bus.read(&acc, 0, b)?;
        }
        Ok(())
    }

    /// Write `data` at logical `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8], base: u8) -> Result<(), Exception> {
        self.write_in(AddressType::Logical { base }, addr, data)
    }

    /// Write `data` at `addr` in `space`.
    pub fn write_in(
        &mut self,
        space: AddressType,
        addr: u64,
        data: &[u8],
    ) -> Result<(), Exception> {
        let n = self.first_piece(addr, data.len());
        let (a, b) = data.split_at(n);
        let acc = Access {
            kind: AccessKind::Write,
            space,
            cpu: self.cpu,
        };
        self.bus.write(&acc, addr, a)?;
        if !b.is_empty() {
            self.bus.write(&acc, 0, b)?;
        }
        Ok(())
    }

    /// Recognize access exceptions for `len` bytes at logical `addr`.
    pub fn check(
        &mut self,
        addr: u64,
        len: u64,
        kind: AccessKind,
        base: u8,
    ) -> Result<(), Exception> {
        self.check_in(AddressType::Logical { base }, addr, len, kind)
    }

    /// Recognize access exceptions for `len` bytes at `addr` in `space`.
    pub fn check_in(
        &mut self,
        space: AddressType,
        addr: u64,
        len: u64,
        kind: AccessKind,
    ) -> Result<(), Exception> {
        let n = self.first_piece(addr, usize::try_from(len).unwrap_or(usize::MAX)) as u64;
        let acc = Access {
            kind,
            space,
            cpu: self.cpu,
        };
        self.bus.check(&acc, addr, n)?;
        if len > n {
            self.bus.check(&acc, 0, len - n)?;
        }
        Ok(())
    }

    /// An interlocked update of the aligned `len`-byte operand at logical
    /// `addr` ([`crate::memory::Memory::interlocked`]): `update` gets the
    /// value fetched and answers the value to store, if any.
    pub fn interlocked(
        &mut self,
        addr: u64,
        len: usize,
        base: u8,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Result<u128, Exception> {
        let acc = Access {
            kind: AccessKind::Write,
            space: AddressType::Logical { base },
            cpu: self.cpu,
        };
        self.bus.interlocked(&acc, addr, len, update)
    }

    /// Read an `n`-byte (1..=8) big-endian unsigned value.
    pub fn read_uint(&mut self, addr: u64, n: usize, base: u8) -> Result<u64, Exception> {
        let mut buf = [0u8; 8];
        let n = n.min(8);
        self.read(addr, &mut buf[8 - n..], base)?;
        Ok(u64::from_be_bytes(buf))
    }

    /// Write the rightmost `n` (1..=8) bytes of `v`, big-endian.
    pub fn write_uint(&mut self, addr: u64, n: usize, v: u64, base: u8) -> Result<(), Exception> {
        let buf = v.to_be_bytes();
        let n = n.min(8);
        self.write(addr, &buf[8 - n..], base)
    }

    /// Specification exception unless `r` is even (the even register of an
    /// even-odd pair).
    pub fn even(&self, r: u8) -> Result<(), Exception> {
        if r & 1 == 0 {
            Ok(())
        } else {
            Err(Exception::new(Code::SPECIFICATION))
        }
    }

    /// Specification exception unless `addr` is a multiple of `align`.
    pub fn aligned(&self, addr: u64, align: u64) -> Result<(), Exception> {
        if addr % align == 0 {
            Ok(())
        } else {
            Err(Exception::new(Code::SPECIFICATION))
        }
    }

    /// Floating-point register number `r` (0-15), or a data exception with
    /// DXC 1 when the AFP-register control makes it unavailable
    /// ([`Cpu::fpr_available`]).
    pub fn fpr(&self, r: u8) -> Result<u8, Exception> {
        if self.cpu.fpr_available(r) {
            Ok(r & 15)
        } else {
            Err(Exception::data(DXC_AFP_REGISTER))
        }
    }

    /// The floating-point register pair `r`, `r + 2` of an extended operand
    /// (PoP "Floating-Point-Register Pairs"): both registers available, as
    /// [`Exec::fpr`] checks, and `r` one of 0, 1, 4, 5, 8, 9, 12, 13, else a
    /// specification exception.
    pub fn fpr_pair(&self, r: u8) -> Result<u8, Exception> {
        self.fpr(r)?;
        self.fpr(r + 2)?;
        self.bfp_registers::<bfp::Extended>(&[r])?;
        Ok(r & 15)
    }

    /// Privileged-operation exception in the problem state.
    pub fn privileged(&self) -> Result<(), Exception> {
        if self.cpu.psw.problem_state() {
            Err(Exception::new(Code::PRIVILEGED_OPERATION))
        } else {
            Ok(())
        }
    }

    /// Set the condition code.
    pub fn set_cc(&mut self, cc: u8) {
        self.cpu.psw.set_cc(cc);
    }

    /// Raise fixed-point overflow after a result with `overflow` has been
    /// stored, if PSW bit 20 enables it.
    pub fn overflow(&self, overflow: bool) -> ExecResult {
        if overflow && self.cpu.psw.mask & super::state::mask::FIXED_OVERFLOW != 0 {
            Err(Exception::new(Code::FIXED_POINT_OVERFLOW))
        } else {
            Ok(Next::Seq)
        }
    }

    /// A register address in the form the addressing mode stores addresses
    /// into registers (LA, MVCL ...): 24-bit sets bits 40-63 and zeroes
    /// 32-39, 31-bit sets bits 33-63 and zeroes 32, bits 0-31 unchanged;
    /// 64-bit sets all.
    pub fn set_addr_reg(&mut self, r: u8, addr: u64) {
        use zmmu_mmu::addr::AddressingMode;
        match self.cpu.psw.amode() {
            AddressingMode::Bits64 => self.cpu.set_r64(r, addr),
            m => self.cpu.set_r32(r, m.wrap(addr) as u32),
        }
    }
}

/// Execute the decoded instruction `insn` located at `at`.
pub fn execute<B: Bus>(cpu: &mut Cpu, bus: &mut B, insn: Insn, at: u64) -> ExecResult {
    execute_reporting(cpu, bus, insn, at).0
}

/// [`execute`], also giving the instruction that ran: for EXECUTE and
/// EXECUTE RELATIVE LONG the target (R1's byte ORed in) once it was
/// fetched and decoded, else `insn`. The target is fetched once, when the
/// EXECUTE runs (PoP "EXECUTE"); a caller that must know what ran in place
/// reads it here (a translator's helper: a target that branches or
/// changes the machine ends the chain of blocks).
pub fn execute_reporting<B: Bus>(
    cpu: &mut Cpu,
    bus: &mut B,
    insn: Insn,
    at: u64,
) -> (ExecResult, Insn) {
    let mut e = Exec::new(cpu, bus, insn, at);
    if !matches!(insn.op, Opcode::EX | Opcode::EXRL) {
        return (dispatch(&mut e), insn);
    }
    match e.execute_target() {
        Ok((target, target_insn)) => (run_target(&mut e, target, target_insn), target_insn),
        Err(exception) => (Err(exception), insn),
    }
}

impl<'a, B: Bus> Exec<'a, B> {
    /// Instruction `insn` at `at`, about to run on `cpu`.
    fn new(cpu: &'a mut Cpu, bus: &'a mut B, insn: Insn, at: u64) -> Self {
        let sequential = Sequential::after(cpu, &insn, at);
        Exec {
            cpu,
            bus,
            insn,
            at,
            sequential,
        }
    }
}

fn dispatch<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    match e.insn.op.sem() {
        Sem::Alu(op, w, src) => alu::alu(e, op, w, src),
        Sem::MemImm(op, w, mem, imm) => alu::mem_imm(e, op, w, mem, imm),
        Sem::Field(op, shift, bits) => alu::field(e, op, shift, bits),
        Sem::Store(n) => alu::store(e, n),
        Sem::Shift(op, w) => alu::shift(e, op, w),
        Sem::Special => special(e),
    }
}

/// The facility `op` belongs to is not installed on `cpu`'s model (the
/// vector facility with `-cpu max,vx=off`, the
/// miscellaneous-instruction-extensions facility 3 with `mie3=off`, the
/// vector-enhancements facilities 1 and 2 with `vxeh=off`, `vxeh2=off`) or not
/// offered by the machine
/// (`facilities`: PFMF without EDAT-1, facility 8): the operation
/// exception is the architected answer, not a gap of the interpreter.
pub fn absent_from_model(cpu: &Cpu, facilities: Facilities, op: Opcode) -> bool {
    ((op.is_vector() || op == Opcode::LCBB) && !cpu.vector_facility)
        || (op.is_mie3() && !cpu.mie3_facility)
        || (op.is_vector_enhancements_1() && !cpu.vxeh())
        || (op.is_vector_enhancements_2() && !cpu.vxeh2())
        || (op == Opcode::PFMF && !facilities.contains(Facilities::EDAT1))
}

fn special<B: Bus>(e: &mut Exec<'_, B>) -> ExecResult {
    if absent_from_model(e.cpu, e.bus.facilities(), e.insn.op) {
        return Err(Exception::new(Code::OPERATION));
    }
    if e.insn.op.is_vector() || e.insn.op == Opcode::LCBB {
        return vector::execute(e);
    }
    if let Some(r) = alu::special(e) {
        return r;
    }
    if let Some(r) = branch::special(e) {
        return r;
    }
    if let Some(r) = storage::special(e) {
        return r;
    }
    if let Some(r) = control::special(e) {
        return r;
    }
    if let Some(r) = float::special(e) {
        return r;
    }
    if let Some(r) = bfp::special(e) {
        return r;
    }
    if let Some(r) = crypto::special(e) {
        return r;
    }
    match e.insn.op {
        Opcode::MVPG => page::move_page(e),
        Opcode::MVCOS => optional_move::move_with_optional_specifications(e),
        Opcode::CSST => compare_swap_store::compare_and_swap_and_store(e),
        _ => Err(Exception::new(Code::OPERATION)),
    }
}

impl<B: Bus> Exec<'_, B> {
    /// The target of EXECUTE / EXECUTE RELATIVE LONG: its address and the
    /// instruction there with bits 56-63 of R1 (unless R1 is 0) ORed into
    /// its second byte.
    pub fn execute_target(&mut self) -> Result<(u64, Insn), Exception> {
        let target = self.ea2();
        self.aligned(target, 2)?;
        let (mut bytes, len) = self.cpu.fetch_bytes(self.bus, target).map_err(|(e, _)| e)?;
        if self.insn.f.r1 != 0 {
            bytes[1] |= self.cpu.r64(self.insn.f.r1) as u8;
        }
        let insn = decode(&bytes[..len]).map_err(|_| Exception::new(Code::OPERATION))?;
        Ok((target, insn))
    }
}

/// The instruction the EX or EXRL `insn` at `at` would execute now, with
/// bits 56-63 of R1 ORed into its second byte ([`Exec::execute_target`]);
/// `None` where fetching or decoding it fails.
pub fn execute_target<B: Bus>(cpu: &mut Cpu, bus: &mut B, at: u64, insn: &Insn) -> Option<Insn> {
    let sequential = Sequential::after(cpu, insn, at);
    let mut exec = Exec {
        cpu,
        bus,
        insn: *insn,
        at,
        sequential,
    };
    exec.execute_target().ok().map(|(_, target)| target)
}

/// EXECUTE / EXECUTE RELATIVE LONG: execute the target `target_insn` at
/// `target` in place; the PSW then points after the EXECUTE, and relative
/// addresses in the target are relative to the target (PoP "EXECUTE").
fn run_target<B: Bus>(e: &mut Exec<'_, B>, target: u64, target_insn: Insn) -> ExecResult {
    if matches!(target_insn.op, Opcode::EX | Opcode::EXRL) {
        return Err(Exception::new(Code::EXECUTE));
    }
    let mut inner = Exec {
        cpu: &mut *e.cpu,
        bus: &mut *e.bus,
        insn: target_insn,
        at: target,
        sequential: e.sequential,
    };
    // `Next::Seq` continues after the EXECUTE (the caller's next address);
    // `Next::Again` re-executes the EXECUTE.
    dispatch(&mut inner)
}

impl Cpu {
    /// Fetch, decode and execute one instruction. On return the PSW points
    /// where the architecture says: at the next instruction, at a branch
    /// target, or (for nullifying exceptions) at the instruction itself; an
    /// interruption is returned for the caller to deliver with
    /// [`Cpu::deliver`] or to handle itself (a user-mode emulator handles
    /// SVC).
    pub fn step<B: Bus>(&mut self, bus: &mut B) -> Result<(), Interruption> {
        // Early exception recognition: an invalid PSW (loaded by LPSW(E) or
        // an interruption) is a specification exception with ILC 0 before
        // anything is fetched; the PSW is left as it is.
        if !self.psw.is_valid() {
            return Err(Interruption::Program {
                exception: Exception::new(Code::SPECIFICATION),
                ilc: 0,
            });
        }
        let at = self.psw.addr;
        let insn = self
            .fetch(bus, at)
            .map_err(|(exception, ilc)| Interruption::Program { exception, ilc })?;
        self.step_decoded(bus, insn, at).0
    }

    /// Execute `insn`, fetched and decoded at `at`, as [`Cpu::step`] does
    /// after its fetch: the PSW address set, an exception or SVC returned
    /// with the ILC of `insn`. Also gives the instruction that ran, as
    /// [`execute_reporting`] does (for an EXECUTE its target).
    pub fn step_decoded<B: Bus>(
        &mut self,
        bus: &mut B,
        insn: Insn,
        at: u64,
    ) -> (Result<(), Interruption>, Insn) {
        let amode = self.psw.amode();
        let (result, ran) = execute_reporting(self, bus, insn, at);
        (self.end(&insn, at, amode, result), ran)
    }

    /// Ends `insn` at `at`, begun in the addressing mode `amode`, after
    /// its execution gave `result`, as [`Cpu::step`] does: the PSW address
    /// set where the architecture says (the next instruction, a branch
    /// target, the instruction itself for a nullifying exception: PoP
    /// ch. 6 "Types of Instruction Ending"), an exception or SVC returned
    /// with the ILC of `insn`.
    pub fn end(
        &mut self,
        insn: &Insn,
        at: u64,
        amode: zmmu_mmu::addr::AddressingMode,
        result: Result<Next, Exception>,
    ) -> Result<(), Interruption> {
        let ilc = insn.ilc();
        let next = amode.wrap(at.wrapping_add(u64::from(insn.len)));
        match result {
            Ok(Next::Seq) => {
                self.psw.addr = next;
                Ok(())
            }
            Ok(Next::Jump(t)) => {
                self.psw.addr = t;
                Ok(())
            }
            Ok(Next::Again) => {
                self.psw.addr = at;
                Ok(())
            }
            Ok(Next::NewPsw) => Ok(()),
            Ok(Next::Svc(code)) => {
                self.psw.addr = next;
                Err(Interruption::Supervisor { code, ilc })
            }
            Err(exception) => {
                self.psw.addr = match exception.code.ending() {
                    Ending::Nullify => at,
                    Ending::Suppress | Ending::Complete => next,
                };
                Err(Interruption::Program { exception, ilc })
            }
        }
    }

    /// Fetch and decode the instruction at `at`; an exception comes with the
    /// ILC to report (0 when not even the first halfword was fetched).
    pub fn fetch<B: Bus>(&self, bus: &mut B, at: u64) -> Result<Insn, (Exception, u8)> {
        if at & 1 != 0 {
            return Err((Exception::new(Code::SPECIFICATION), 0));
        }
        let (bytes, len) = self.fetch_bytes(bus, at)?;
        decode(&bytes[..len]).map_err(|_| (Exception::new(Code::OPERATION), (len / 2) as u8))
    }

    /// Fetch the bytes of the instruction at `at` (the first halfword says
    /// how many, [`insn_len`]); an exception comes with the ILC to report.
    fn fetch_bytes<B: Bus>(
        &self,
        bus: &mut B,
        at: u64,
    ) -> Result<([u8; 6], usize), (Exception, u8)> {
        let acc = Access {
            kind: AccessKind::InstructionFetch,
            space: AddressType::Logical { base: 0 },
            cpu: self,
        };
        let mut bytes = [0u8; 6];
        // Six bytes (the longest instruction) in the instruction's page: one
        // access, whose translation, protection and reference recording are
        // the first halfword's. Where it fails (storage may end inside the
        // page) the halfwords are fetched as the length says.
        if at & PAGE_MASK <= PAGE_MASK - 5 && bus.read(&acc, at, &mut bytes).is_ok() {
            return Ok((bytes, insn_len(bytes[0])));
        }
        bus.read(&acc, at, &mut bytes[..2]).map_err(|e| (e, 0))?;
        let len = insn_len(bytes[0]);
        if len > 2 {
            let rest = self.psw.amode().wrap(at.wrapping_add(2));
            bus.read(&acc, rest, &mut bytes[2..len])
                .map_err(|e| (e, (len / 2) as u8))?;
        }
        Ok((bytes, len))
    }

    /// Store `data` at real address `addr`.
    pub fn store_real<B: Bus>(&self, bus: &mut B, addr: u64, data: &[u8]) -> Result<(), Exception> {
        let acc = Access {
            kind: AccessKind::Write,
            space: AddressType::Real,
            cpu: self,
        };
        bus.write(&acc, addr, data)
    }

    /// Load `buf.len()` bytes from real address `addr`.
    pub fn load_real<B: Bus>(
        &self,
        bus: &mut B,
        addr: u64,
        buf: &mut [u8],
    ) -> Result<(), Exception> {
        let acc = Access {
            kind: AccessKind::Read,
            space: AddressType::Real,
            cpu: self,
        };
        bus.read(&acc, addr, buf)
    }
}
