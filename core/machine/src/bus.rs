//! The DAT bus: the interpreter's [`Bus`] on zmmu-mmu's exact DAT. Every
//! access is split into 4 KiB pieces; each piece is translated by the
//! software [`Tlb`] (a miss walks the tables with [`zmmu_mmu::access`]) and
//! then read or written in [`OwnedStorage`] at its absolute address. The
//! TLB's [`Controls`] follow the CPU's control registers and prefix.
//!
//! The machine instructions the interpreter hands over
//! ([`Bus::control`]) are carried out with [`zmmu_mmu::lra`] and
//! [`zmmu_mmu::invalidate`]; every [`Invalidation`] they produce goes to the
//! TLB.

use alloc::format;
use alloc::string::String;

use zmmu_cpu::bus::{Access, AddressType, Bus};
use zmmu_cpu::decode::Insn;
use zmmu_cpu::opcode::Opcode;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::access::{self, AccessKind, Fault, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{AddressSpace, Controls, Facilities};
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::invalidate::{self, CspWidth, Invalidation};
use zmmu_mmu::lra;
use zmmu_mmu::storage::{OwnedStorage, Storage};
use zmmu_mmu::tlb::{self, Tlb};
use zmmu_mmu::PAGE_MASK;

use super::sclp::{Sclp, Serviced};

/// Why the bus asks the machine to stop instead of raising an exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// An instruction (or a variant of one) the machine does not implement.
    Unimplemented {
        /// Its mnemonic.
        mnemonic: &'static str,
        /// What exactly is missing, if more than the instruction.
        detail: Option<String>,
    },
}

/// Where an access goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Through DAT (or DAT off: `AddressSpace::Real`), prefixing and the key checks.
    Dat(AddressSpace),
    /// Straight to absolute storage.
    Absolute,
}

/// Guest storage behind zmmu-mmu's DAT and software TLB, plus the SCLP.
#[derive(Debug)]
pub struct DatBus {
    /// Absolute storage with its storage keys.
    pub storage: OwnedStorage,
    /// The software TLB of the one CPU.
    pub tlb: Tlb,
    /// The installed facilities DAT depends on.
    pub facilities: Facilities,
    /// The service-call logical processor (console).
    pub sclp: Sclp,
    /// A service signal is pending with this parameter.
    pub service_signal: Option<u32>,
    /// Set when an operation must stop the machine; the exception returned
    /// with it is not delivered.
    pub halt: Option<Halt>,
}

impl DatBus {
    /// A bus over `storage` with the facilities of QEMU 7.2's `-cpu max`
    /// that matter to DAT: low-address protection only (no EDAT, no ESOP).
    pub fn new(storage: OwnedStorage) -> Self {
        Self {
            storage,
            tlb: Tlb::default(),
            facilities: Facilities::LAP,
            sclp: Sclp::default(),
            service_signal: None,
            halt: None,
        }
    }

    /// The DAT controls the CPU's registers define (CR0 masked with
    /// `Cr0::TRANSLATION_BITS`: other CR0 changes leave the TLB alone).
    pub fn controls(&self, cpu: &Cpu) -> Controls {
        Controls::from_registers(&cpu.cr, cpu.prefix, self.facilities)
    }

    /// Tells the TLB about control-register and prefix changes.
    #[inline]
    fn sync(&mut self, cpu: &Cpu) {
        let controls = self.controls(cpu);
        if controls != *self.tlb.controls() {
            self.tlb.set_controls(&controls);
        }
    }

    /// Drops what `invalidation` covers from the TLB.
    pub fn invalidate(&mut self, invalidation: &Invalidation) {
        self.tlb.invalidate(invalidation);
    }

    fn target(acc: &Access<'_>) -> Target {
        match acc.space {
            AddressType::Logical { base } => Target::Dat(logical_space(acc.cpu, base)),
            AddressType::Explicit { space, .. } => Target::Dat(space),
            AddressType::Real => Target::Dat(AddressSpace::Real),
            AddressType::Absolute => Target::Absolute,
        }
    }

    fn exception(&mut self, fault: Fault) -> Exception {
        match fault {
            Fault::Program(e) => e,
            Fault::ArtUnsupported { alet } => {
                self.halt = Some(Halt::Unimplemented {
                    mnemonic: "access-register translation",
                    detail: Some(format!("ALET {alet:#x}")),
                });
                Exception::new(Code::OPERATION)
            }
        }
    }

    /// Translates and records one access inside a page; the absolute address.
    fn translate(
        &mut self,
        target: Target,
        kind: AccessKind,
        key: u8,
        address: u64,
        len: usize,
    ) -> Result<AbsoluteAddress, Exception> {
        match target {
            Target::Absolute => {
                let end = address.checked_add(len as u64);
                match end {
                    Some(end) if end <= self.storage.size() => Ok(AbsoluteAddress::new(address)),
                    _ => Err(Exception::new(Code::ADDRESSING)),
                }
            }
            Target::Dat(space) => {
                // The hit path: one tag compare, no walk, nothing to record.
                if let Ok(source) = access::asce_source(space, kind) {
                    let partition = tlb::partition_index(source);
                    if let Some(absolute) = self.tlb.lookup(partition, address, kind, key) {
                        return Ok(AbsoluteAddress::new(absolute));
                    }
                }
                let request = Request {
                    address: LogicalAddress::new(address),
                    space,
                    kind,
                    key,
                };
                match self.tlb.access(&mut self.storage, request) {
                    Ok(t) => Ok(t.absolute),
                    Err(fault) => Err(self.exception(fault)),
                }
            }
        }
    }

    /// Recognizes the access exceptions of one page piece without recording
    /// anything.
    fn probe(
        &mut self,
        target: Target,
        kind: AccessKind,
        key: u8,
        address: u64,
    ) -> Result<(), Exception> {
        let Target::Dat(space) = target else {
            return self.translate(target, kind, key, address, 1).map(|_| ());
        };
        let source = access::asce_source(space, kind).map_err(|f| self.exception(f))?;
        if self
            .tlb
            .lookup(tlb::partition_index(source), address, kind, key)
            .is_some()
        {
            return Ok(());
        }
        let request = Request {
            address: LogicalAddress::new(address),
            space,
            kind,
            key,
        };
        let controls = *self.tlb.controls();
        access::check(&self.storage, &controls, request)
            .map(|_| ())
            .map_err(|f| self.exception(f))
    }
}

/// The pieces of `[address, address + len)` that stay inside one 4 KiB
/// page: `(offset in the operand, address, length)`.
fn pages(address: u64, len: usize) -> impl Iterator<Item = (usize, u64, usize)> {
    let mut done = 0usize;
    core::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let at = address.wrapping_add(done as u64);
        let room = (0x1000 - (at & PAGE_MASK)) as usize;
        let n = room.min(len - done);
        let piece = (done, at, n);
        done += n;
        Some(piece)
    })
}

/// The address space of a logical access: real with DAT off, otherwise the
/// PSW's address-space control; in access-register mode the ALET of the
/// base register's access register (AR 0 always means primary).
pub fn logical_space(cpu: &Cpu, base: u8) -> AddressSpace {
    if !cpu.psw.dat() {
        return AddressSpace::Real;
    }
    asc_space(cpu, base)
}

/// The space the PSW's address-space control names, whatever the DAT bit
/// (what LRA and STRAG translate in).
pub fn asc_space(cpu: &Cpu, base: u8) -> AddressSpace {
    match cpu.psw.asc() {
        0 => AddressSpace::Primary,
        1 => AddressSpace::AccessRegister {
            alet: if base == 0 {
                0
            } else {
                cpu.ar[usize::from(base & 15)]
            },
            ar: base & 15,
        },
        2 => AddressSpace::Secondary,
        _ => AddressSpace::Home,
    }
}

impl Bus for DatBus {
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        self.sync(acc.cpu);
        let target = Self::target(acc);
        let kind = acc.kind;
        let key = acc.key();
        for (offset, at, n) in pages(addr, buf.len()) {
            let absolute = self.translate(target, kind, key, at, n)?;
            let piece = &mut buf[offset..offset + n];
            self.storage
                .read(absolute, piece)
                .ok_or(Exception::new(Code::ADDRESSING))?;
        }
        Ok(())
    }

    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        self.sync(acc.cpu);
        let target = Self::target(acc);
        let key = acc.key();
        // A store that crosses a page is refused whole if any page refuses it.
        if (addr & PAGE_MASK) + data.len() as u64 > 0x1000 {
            for (_, at, _) in pages(addr, data.len()).skip(1) {
                self.probe(target, AccessKind::Write, key, at)?;
            }
        }
        for (offset, at, n) in pages(addr, data.len()) {
            let absolute = self.translate(target, AccessKind::Write, key, at, n)?;
            self.storage
                .write(absolute, &data[offset..offset + n])
                .ok_or(Exception::new(Code::ADDRESSING))?;
        }
        Ok(())
    }

    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        self.sync(acc.cpu);
        let target = Self::target(acc);
        let kind = acc.kind;
        let key = acc.key();
        // At most one probe per page, whatever the length.
        let len = usize::try_from(len.min(1 << 32)).unwrap_or(usize::MAX);
        for (_, at, _) in pages(addr, len) {
            self.probe(target, kind, key, at)?;
        }
        Ok(())
    }

    fn control(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        self.sync(cpu);
        let result = self.machine_instruction(cpu, insn);
        // The instruction may have changed what the TLB depends on.
        self.sync(cpu);
        result
    }

    fn set_prefix(&mut self, cpu: &mut Cpu, operand: u64) -> Result<(), Exception> {
        let (prefix, inv) = invalidate::spx(&self.storage, cpu.prefix, operand)?;
        inv.apply(|inv| self.invalidate(inv));
        cpu.prefix = prefix;
        self.sync(cpu);
        Ok(())
    }
}

/// The value of a register used as a base or index (register 0 is zero).
fn addr_reg(cpu: &Cpu, r: u8) -> u64 {
    if r == 0 {
        0
    } else {
        cpu.r64(r)
    }
}

/// An effective address X + B + D, wrapped to the addressing mode.
fn ea(cpu: &Cpu, x: u8, b: u8, d: i32) -> u64 {
    cpu.psw.amode().wrap(
        addr_reg(cpu, x)
            .wrapping_add(addr_reg(cpu, b))
            .wrapping_add(d as i64 as u64),
    )
}

impl DatBus {
    fn unimplemented(&mut self, insn: &Insn, detail: Option<String>) -> Exception {
        self.halt = Some(Halt::Unimplemented {
            mnemonic: insn.op.mnemonic(),
            detail,
        });
        Exception::new(Code::OPERATION)
    }

    /// The machine instructions (the privileged-state check is done).
    fn machine_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        use Opcode::*;
        let f = insn.f;
        let prefix = cpu.prefix;
        let amode = cpu.psw.amode();
        match insn.op {
            IPTE => {
                // The IPTE-range facility (13) is not installed (STFLE does
                // not report it): R3 and M4 are ignored.
                let inv = invalidate::ipte(&mut self.storage, cpu.r64(f.r1), cpu.r64(f.r2), 0)?;
                inv.apply(|inv| self.invalidate(inv));
            }
            IDTE => {
                let r3 = if f.r3 == 0 { 0 } else { cpu.r64(f.r3) };
                let inv = invalidate::idte(&mut self.storage, cpu.r64(f.r1), cpu.r64(f.r2), r3)?;
                inv.apply(|inv| self.invalidate(inv));
            }
            PTLB => self.tlb.flush(),
            CSP | CSPG => {
                if f.r1 & 1 != 0 {
                    return Err(Exception::new(Code::SPECIFICATION));
                }
                let (width, mask) = if insn.op == CSP {
                    (CspWidth::Word, 0xFFFF_FFFF)
                } else {
                    (CspWidth::Doubleword, u64::MAX)
                };
                // The second operand is logical, accessed as a store.
                let r2 = cpu.r64(f.r2);
                let address = amode.wrap(width.operand_address(r2));
                let target = Target::Dat(logical_space(cpu, f.r2));
                let operand = self.translate(
                    target,
                    AccessKind::Write,
                    cpu.psw.key(),
                    address,
                    width.bytes(),
                )?;
                let out = invalidate::csp(
                    &mut self.storage,
                    operand,
                    width,
                    cpu.r64(f.r1) & mask,
                    cpu.r64(f.r1 + 1) & mask,
                    CspWidth::purges_tlb(r2),
                )?;
                if out.cc == 1 {
                    if insn.op == CSP {
                        cpu.set_r32(f.r1, out.found as u32);
                    } else {
                        cpu.set_r64(f.r1, out.found);
                    }
                }
                if let Some(inv) = out.invalidation {
                    inv.apply(|inv| self.invalidate(inv));
                }
                cpu.psw.set_cc(out.cc);
            }
            SSKE => {
                let real = RealAddress::new(amode.wrap(cpu.r64(f.r2)));
                let key = cpu.r64(f.r1) as u8;
                let inv = invalidate::sske(&mut self.storage, prefix, real, key)?;
                inv.apply(|inv| self.invalidate(inv));
            }
            ISKE => {
                let real = RealAddress::new(amode.wrap(cpu.r64(f.r2)));
                let key = self
                    .storage
                    .key(prefix.to_absolute(real))
                    .ok_or(Exception::new(Code::ADDRESSING))?;
                let r1 = (cpu.r64(f.r1) & !0xFF) | u64::from(key.value());
                cpu.set_r64(f.r1, r1);
            }
            RRBE => {
                let real = RealAddress::new(amode.wrap(cpu.r64(f.r2)));
                let (cc, inv) = invalidate::rrbe(&mut self.storage, prefix, real)?;
                inv.apply(|inv| self.invalidate(inv));
                cpu.psw.set_cc(cc);
            }
            LRA | LRAY | LRAG => {
                let address = ea(cpu, f.x2, f.b2, f.d2);
                let wide = insn.op == LRAG || amode == zmmu_mmu::addr::AddressingMode::Bits64;
                let controls = *self.tlb.controls();
                let space = asc_space(cpu, f.b2);
                let out = lra::lra(
                    &self.storage,
                    &controls,
                    space,
                    LogicalAddress::new(address),
                    wide,
                )
                .map_err(|e| self.exception(e))?;
                cpu.set_r64(f.r1, out.lra_register(cpu.r64(f.r1), wide));
                cpu.psw.set_cc(out.cc);
            }
            TPROT => {
                let address = ea(cpu, 0, f.b1, f.d1);
                let key = ((ea(cpu, 0, f.b2, f.d2) >> 4) & 0xF) as u8;
                let controls = *self.tlb.controls();
                let space = logical_space(cpu, f.b1);
                let cc = lra::tprot(
                    &self.storage,
                    &controls,
                    space,
                    LogicalAddress::new(address),
                    key,
                )
                .map_err(|e| self.exception(e))?;
                cpu.psw.set_cc(cc);
            }
            STRAG => {
                let store_at = ea(cpu, 0, f.b1, f.d1);
                let address = ea(cpu, 0, f.b2, f.d2);
                if store_at & 7 != 0 {
                    return Err(Exception::new(Code::SPECIFICATION));
                }
                let controls = *self.tlb.controls();
                let space = asc_space(cpu, f.b2);
                let real = lra::strag(
                    &self.storage,
                    &controls,
                    space,
                    LogicalAddress::new(address),
                )
                .map_err(|e| self.exception(e))?;
                let acc = Access {
                    kind: AccessKind::Write,
                    space: AddressType::Logical { base: f.b1 },
                    cpu,
                };
                self.write(&acc, store_at, &real.value().to_be_bytes())?;
            }
            LPTEA => {
                let asce = match f.m4 {
                    0 => cpu.cr[1],
                    2 => cpu.cr[7],
                    3 => cpu.cr[13],
                    _ => {
                        return Err(self.unimplemented(
                            insn,
                            Some(format!("access-register mode (M4 = {})", f.m4)),
                        ))
                    }
                };
                let controls = *self.tlb.controls();
                let address = amode.wrap(cpu.r64(f.r2));
                let out = lra::lptea(
                    &self.storage,
                    &controls,
                    Asce::new(asce),
                    LogicalAddress::new(address),
                )?;
                cpu.set_r64(f.r1, out.r1);
                cpu.psw.set_cc(out.cc);
            }
            SERVC => {
                let command = cpu.r32(f.r1);
                let sccb = cpu.r64(f.r2);
                match self
                    .sclp
                    .service_call(&mut self.storage, prefix.value(), command, sccb)?
                {
                    Serviced::Done { parameter } => {
                        self.service_signal = Some(parameter);
                        cpu.psw.set_cc(0);
                    }
                    Serviced::Unsupported { command } => {
                        return Err(
                            self.unimplemented(insn, Some(format!("SCLP command {command:#010x}")))
                        )
                    }
                }
            }
            SIGP => {
                // One CPU: any other CPU address is not operational.
                let target = cpu.r64(f.r3) as u16;
                if target != cpu.cpu_addr {
                    cpu.psw.set_cc(3);
                } else {
                    let order = ea(cpu, 0, f.b2, f.d2) & 0xFF;
                    return Err(self.unimplemented(insn, Some(format!("order {order:#x}"))));
                }
            }
            _ => return Err(self.unimplemented(insn, None)),
        }
        Ok(())
    }
}
