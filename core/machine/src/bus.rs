//! The DAT bus: the CPU's [`Memory`] on zmmu-mmu's exact DAT. Every access
//! goes through zmmu-mmu's one software access path ([`range`]): split at
//! page boundaries, each page translated by the software [`Tlb`] (a miss
//! walks the tables with [`zmmu_mmu::access`]), then read or written in
//! [`MainStorage`] at its absolute address. The TLB's [`Controls`] follow
//! the CPU's control registers and prefix; every [`PendingFlush`] the DAT
//! instructions produce goes to the TLB.

use alloc::format;
use alloc::string::String;

use zmmu_cpu::memory::{logical_space, Access, AddressType, Memory, System};
use zmmu_cpu::state::Cpu;
use zmmu_mmu::access::{self, Fault, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::control::{Controls, Facilities};
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::{Invalidation, PendingFlush};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::range::{self, PageTranslator};
use zmmu_mmu::space::AddressSpace;
use zmmu_mmu::storage::{OwnedStorage, Storage};

use crate::main_storage::MainStorage;
use zmmu_mmu::tlb::{self, Tlb};

use crate::tlb_log::{TlbEvent, TlbLog};

/// Why the machine stops instead of delivering an exception.
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

impl Target {
    fn of(acc: &Access<'_>) -> Self {
        match acc.space {
            AddressType::Logical { base } => Self::Dat(logical_space(acc.cpu, base)),
            AddressType::Explicit { space, .. } => Self::Dat(space),
            AddressType::Real => Self::Dat(AddressSpace::Real),
            AddressType::Absolute => Self::Absolute,
        }
    }
}

/// Guest storage behind zmmu-mmu's DAT and software TLB.
#[derive(Debug)]
pub struct DatBus {
    /// Main storage with its storage keys, shared with the other CPUs.
    pub storage: MainStorage,
    /// The software TLB of this CPU.
    pub tlb: Tlb,
    /// The installed facilities DAT depends on.
    pub facilities: Facilities,
    /// Set when an access needs what the machine does not implement
    /// (access-register translation); the operation exception returned
    /// with it is not delivered.
    pub halt: Option<Halt>,
    /// The TLB's fills and invalidations, recorded while `Some` (tracing).
    pub tlb_log: Option<TlbLog>,
}

impl DatBus {
    /// Drops what `invalidation` covers from this CPU's TLB (and logs it
    /// when a tracer asked for the log).
    pub fn invalidate_tlb(&mut self, invalidation: &Invalidation) {
        self.tlb.invalidate(invalidation);
        if let Some(log) = &mut self.tlb_log {
            log.push(TlbEvent::Invalidate(*invalidation));
        }
    }

    /// A bus over a copy of `storage` in main storage (for tests and
    /// tools that build storage first), as [`DatBus::over`].
    pub fn new(storage: OwnedStorage) -> Self {
        Self::over(MainStorage::from(&storage))
    }

    /// A bus over `storage` with the facilities of QEMU 7.2's `-cpu max`
    /// that matter to DAT: low-address protection only (no EDAT, no ESOP).
    pub fn over(storage: MainStorage) -> Self {
        Self {
            storage,
            tlb: Tlb::default(),
            facilities: Facilities::LAP,
            halt: None,
            tlb_log: None,
        }
    }

    fn log(&mut self, event: TlbEvent) {
        if let Some(log) = &mut self.tlb_log {
            log.push(event);
        }
    }

    /// The DAT controls the CPU's registers define (CR0 masked with
    /// `Cr0::TRANSLATION_BITS`: other CR0 changes leave the TLB alone).
    pub fn controls(&self, cpu: &Cpu) -> Controls {
        Controls::from_registers(&cpu.cr, cpu.prefix, self.facilities)
    }

    /// Checks the access `acc` to the byte at `addr` as [`Memory::translate`]
    /// would, but records nothing (no R or C bit, no TLB entry): the
    /// absolute address and the frame's storage key as it stands. The jit
    /// looks at the page an instruction crosses into this way, so that it
    /// never sets a reference bit the interpreter would not have set yet.
    pub fn check_only(
        &mut self,
        acc: &Access<'_>,
        addr: u64,
    ) -> Result<(AbsoluteAddress, zmmu_mmu::keys::StorageKey), Exception> {
        let pages = self.pages(acc);
        let Target::Dat(space) = pages.target else {
            let absolute = AbsoluteAddress::new(addr);
            let key = self.storage.key(absolute).ok_or(Exception::addressing())?;
            return Ok((absolute, key));
        };
        let request = pages.request(space, addr, acc.kind);
        let controls = *self.tlb.controls();
        let checked =
            access::check(&self.storage, &controls, request).map_err(|f| self.fault(f))?;
        Ok((checked.absolute, checked.key))
    }

    /// Tells the TLB about control-register and prefix changes.
    #[inline]
    fn sync(&mut self, cpu: &Cpu) {
        let controls = self.controls(cpu);
        if controls != *self.tlb.controls() {
            self.tlb.set_controls(&controls);
            self.log(TlbEvent::Controls);
        }
    }

    /// The pages of one access, as the software access path sees them.
    fn pages(&mut self, acc: &Access<'_>) -> Pages<'_> {
        self.sync(acc.cpu);
        Pages {
            target: Target::of(acc),
            key: acc.key(),
            bus: self,
        }
    }
}

/// One access's translator for [`range`]: the bus, where the access goes
/// and its key.
struct Pages<'a> {
    bus: &'a mut DatBus,
    target: Target,
    key: u8,
}

impl Pages<'_> {
    fn request(&self, space: AddressSpace, address: u64, kind: AccessKind) -> Request {
        Request {
            address: LogicalAddress::new(address),
            space,
            kind,
            key: self.key,
        }
    }

    /// The TLB's hit path: one tag compare, no walk, nothing to record.
    fn hit(&self, space: AddressSpace, address: u64, kind: AccessKind) -> Option<u64> {
        let source = access::asce_source(space, kind).ok()?;
        self.bus
            .tlb
            .lookup(tlb::partition_index(source), address, kind, self.key)
    }
}

impl PageTranslator for Pages<'_> {
    type Error = Exception;
    type Storage = MainStorage;

    fn translate(&mut self, address: u64, kind: AccessKind) -> Result<AbsoluteAddress, Exception> {
        let Target::Dat(space) = self.target else {
            return Ok(AbsoluteAddress::new(address));
        };
        if let Some(absolute) = self.hit(space, address, kind) {
            return Ok(AbsoluteAddress::new(absolute));
        }
        let request = self.request(space, address, kind);
        let bus = &mut *self.bus;
        match bus.tlb.access(&mut bus.storage, request) {
            Ok(translated) => {
                if !translated.hit {
                    bus.log(TlbEvent::Fill {
                        address,
                        space,
                        kind,
                        absolute: translated.absolute.value(),
                    });
                }
                Ok(translated.absolute)
            }
            Err(fault) => Err(bus.fault(fault)),
        }
    }

    fn probe(&mut self, address: u64, kind: AccessKind) -> Result<(), Exception> {
        let Target::Dat(space) = self.target else {
            return match self.bus.storage.contains(AbsoluteAddress::new(address)) {
                true => Ok(()),
                false => Err(Exception::addressing()),
            };
        };
        if self.hit(space, address, kind).is_some() {
            return Ok(());
        }
        let request = self.request(space, address, kind);
        let controls = *self.bus.tlb.controls();
        access::check(&self.bus.storage, &controls, request)
            .map(|_| ())
            .map_err(|fault| self.bus.fault(fault))
    }

    fn storage(&mut self) -> &mut MainStorage {
        &mut self.bus.storage
    }
}

impl Memory for DatBus {
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        range::read(&mut self.pages(acc), acc.kind, addr, buf)
    }

    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        range::write(&mut self.pages(acc), addr, data)
    }

    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        range::check(&mut self.pages(acc), acc.kind, addr, len)
    }

    fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
        let absolute = self.pages(acc).translate(addr, acc.kind)?;
        match self.storage.contains(absolute) {
            true => Ok(absolute),
            false => Err(Exception::addressing()),
        }
    }

    fn facilities(&self) -> Facilities {
        self.facilities
    }

    fn storage(&mut self) -> &mut dyn Storage {
        &mut self.storage
    }

    fn invalidate(&mut self, flush: PendingFlush) {
        flush.apply(|invalidation| self.invalidate_tlb(invalidation));
    }

    fn fault(&mut self, fault: Fault) -> Exception {
        match fault {
            Fault::Program(exception) => exception,
            Fault::ArtUnsupported { alet } => {
                self.halt = Some(Halt::Unimplemented {
                    mnemonic: "access-register translation",
                    detail: Some(format!("ALET {alet:#x}")),
                });
                Exception::new(Code::OPERATION)
            }
        }
    }
}

/// Storage alone, with no service processor and no other CPUs: a CPU
/// stepped on a bare [`DatBus`] takes SERVICE CALL, SIGNAL PROCESSOR and
/// DIAGNOSE as operation exceptions. [`crate::Machine`] adds the system.
impl System for DatBus {}
