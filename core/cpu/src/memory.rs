//! How the CPU reaches storage and the machine: the [`Memory`] and
//! [`System`] traits, and a flat test memory.
//!
//! The CPU computes effective addresses (base + index + displacement,
//! truncated to the addressing mode, PoP ch. 5 "Address Generation") and
//! splits an operand that wraps around the top of the addressing mode's
//! range; every contiguous piece then goes to the [`Memory`], which
//! translates (DAT, prefixing), checks keys and protection, and handles page
//! crossings.

use super::clock::Timing;
use super::decode::Insn;
use super::state::Cpu;
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::space::AddressSpace;
use zmmu_mmu::storage::Storage;

/// How the address of an access is to be interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressType {
    /// A logical address, translated according to the PSW (DAT bit and
    /// address-space control) with the PSW key. `base` is the operand's
    /// base register, whose access register selects the address space in
    /// AR mode.
    Logical {
        /// Base register number of the operand (0 when none).
        base: u8,
    },
    /// A logical address in an address space the instruction names,
    /// accessed with a key it supplies (MVCS, MVCP), whatever the PSW's
    /// address-space control and key.
    Explicit {
        /// The address space.
        space: AddressSpace,
        /// The access key.
        key: u8,
    },
    /// A real address (prefixed, not translated): LURA, STURA, STFL.
    Real,
    /// An absolute address: the lowcore fields an interruption stores,
    /// already prefixed.
    Absolute,
}

/// One storage access as the bus sees it.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    /// Fetch, read or write.
    pub kind: AccessKind,
    /// How to interpret the address.
    pub space: AddressType,
    /// The CPU's state at the time of the access (PSW, control registers,
    /// access registers, prefix).
    pub cpu: &'a Cpu,
}

impl Access<'_> {
    /// The access key: the one the instruction supplies, else the PSW key.
    pub const fn key(&self) -> u8 {
        match self.space {
            AddressType::Explicit { key, .. } => key,
            _ => self.cpu.psw.key(),
        }
    }
}

/// Guest storage as the CPU sees it: the one way instruction semantics
/// (the interpreter's, a translator's slow-path helpers, an in-VM
/// runtime's) reach the MMU layer.
pub trait Memory {
    /// Reads `buf.len()` bytes at `addr`.
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception>;

    /// Writes `data` at `addr`. An operand that crosses into a page that
    /// refuses the store is refused whole.
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception>;

    /// Recognizes the access exceptions of an access of `len` bytes at
    /// `addr` without transferring data, for instructions whose operands
    /// must be checked before any store (PoP "Recognition of Access
    /// Exceptions").
    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception>;

    /// Translates and records an access to the byte at `addr`: its
    /// absolute address (CSP and CSPG update their operand in absolute
    /// storage, interlocked).
    fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception>;

    /// An interlocked update of the `len`-byte storage operand at `addr`
    /// (`len` 4, 8 or 16, `addr` aligned on it): translated and checked
    /// as a store (which records R and C, also when nothing is stored, as
    /// QEMU's compare-and-swap does), then fetched and replaced by
    /// `update(old)` unless that is `None`, with no other CPU's access to
    /// the operand in between ([`Storage::interlocked`]). Answers the value
    /// fetched, big-endian.
    fn interlocked(
        &mut self,
        acc: &Access<'_>,
        addr: u64,
        len: usize,
        update: &mut dyn FnMut(u128) -> Option<u128>,
    ) -> Result<u128, Exception> {
        let absolute = self.translate(acc, addr)?;
        self.storage()
            .interlocked(absolute, len, update)
            .ok_or(Exception::addressing())
    }

    /// The installed facilities that translation depends on.
    fn facilities(&self) -> Facilities;

    /// Absolute storage with its keys, for the instructions that read or
    /// change DAT tables, storage keys or the prefix (IPTE, IDTE, CSP, SSKE,
    /// ISKE, RRBE, LRA, TPROT, STRAG, LPTEA, SPX). Whatever they change is
    /// handed back through [`Memory::invalidate`].
    fn storage(&mut self) -> &mut dyn Storage;

    /// Drops from every cache this memory keeps (TLB, shadow tables,
    /// translated code) what a change of translation requires, before the
    /// next access.
    fn invalidate(&mut self, flush: PendingFlush);

    /// The exception that reports an MMU refusal. A fault the memory
    /// cannot handle ([`Fault::ArtUnsupported`]) is reported as an
    /// operation exception, and the memory may record why so that the
    /// machine stops instead of delivering it.
    fn fault(&mut self, fault: Fault) -> Exception;
}

/// The machine around a CPU: instructions whose semantics involve more
/// than the CPU and its storage (the service processor, other CPUs,
/// devices, the hypervisor).
pub trait System {
    /// Carries out SERVICE CALL, SIGNAL PROCESSOR or DIAGNOSE
    /// ([`crate::opcode::Opcode::is_system`]); the CPU has checked the
    /// privileged state. The default is an operation exception, as on a
    /// machine without them.
    fn system_instruction(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let _ = (cpu, insn);
        Err(Exception::new(Code::OPERATION))
    }

    /// The configuration's TOD clock, for STORE CLOCK, SET CLOCK and the
    /// CPU timer. `None` (the default): a machine without a clock, where
    /// those instructions are operation exceptions.
    fn clock(&mut self) -> Option<&mut dyn Timing> {
        None
    }
}

/// Everything a CPU executes against: its memory and its machine.
pub trait Bus: Memory + System {}

impl<T: Memory + System + ?Sized> Bus for T {}

/// The address space of a logical access: real with DAT off, otherwise the
/// PSW's address-space control (PoP ch. 3 "Address Spaces").
pub fn logical_space(cpu: &Cpu, base: u8) -> AddressSpace {
    if !cpu.psw.dat() {
        return AddressSpace::Real;
    }
    asc_space(cpu, base)
}

/// The space the PSW's address-space control names, whatever the DAT bit
/// (what LRA and STRAG translate in); in access-register mode the ALET of
/// the base register's access register (AR 0 always means primary).
pub fn asc_space(cpu: &Cpu, base: u8) -> AddressSpace {
    space_of(cpu, cpu.psw.asc(), base)
}

/// The space an address-space control `asc` (PSW bits 16-17: 0 primary,
/// 1 access register, 2 secondary, 3 home) names for an operand with base
/// register `base`.
pub fn space_of(cpu: &Cpu, asc: u8, base: u8) -> AddressSpace {
    match asc & 3 {
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

#[cfg(feature = "alloc")]
pub use flat::FlatMemory;

#[cfg(feature = "alloc")]
mod flat {
    use super::{Access, AddressType, Memory, System};
    use crate::clock::{Clock, Timing, VirtualTime, TOD_2026};
    use zmmu_mmu::access::Fault;
    use zmmu_mmu::addr::{AbsoluteAddress, RealAddress};
    use zmmu_mmu::control::Facilities;
    use zmmu_mmu::exception::{Code, Exception};
    use zmmu_mmu::invalidate::PendingFlush;
    use zmmu_mmu::keys::StorageKey;
    use zmmu_mmu::storage::{OwnedStorage, Storage};

    /// A flat, untranslated memory for user-level tests: logical = real =
    /// absolute, except that real accesses are prefixed. Addresses outside
    /// `base..base + size` raise an addressing exception. Operand accesses
    /// ignore keys, protection and DAT; the DAT instructions (LRA, IPTE,
    /// SSKE, ...) work on tables and keys in it as in any storage, and
    /// there is no cache to invalidate.
    #[derive(Clone, Debug)]
    pub struct FlatMemory {
        storage: FlatStorage,
        /// The installed facilities the DAT instructions see.
        pub facilities: Facilities,
        /// The TOD clock, in virtual time: it moves only when the caller
        /// advances `clock.source` (and steps by one unit per STORE CLOCK).
        pub clock: Clock<VirtualTime>,
    }

    /// The bytes and keys of a [`FlatMemory`] at absolute addresses
    /// `base..base + size`.
    #[derive(Clone, Debug)]
    struct FlatStorage {
        base: u64,
        inner: OwnedStorage,
    }

    impl FlatStorage {
        /// The address inside `inner`, or `None` below `base`.
        fn inner(&self, address: AbsoluteAddress) -> Option<AbsoluteAddress> {
            address
                .value()
                .checked_sub(self.base)
                .map(AbsoluteAddress::new)
        }
    }

    impl Storage for FlatStorage {
        fn size(&self) -> u64 {
            self.base.saturating_add(self.inner.size())
        }
        fn read_u64(&self, address: AbsoluteAddress) -> Option<u64> {
            self.inner.read_u64(self.inner(address)?)
        }
        fn write_u64(&mut self, address: AbsoluteAddress, value: u64) -> Option<()> {
            let at = self.inner(address)?;
            self.inner.write_u64(at, value)
        }
        fn read(&self, address: AbsoluteAddress, buf: &mut [u8]) -> Option<()> {
            self.inner.read(self.inner(address)?, buf)
        }
        fn write(&mut self, address: AbsoluteAddress, data: &[u8]) -> Option<()> {
            let at = self.inner(address)?;
            self.inner.write(at, data)
        }
        fn key(&self, address: AbsoluteAddress) -> Option<StorageKey> {
            self.inner.key(self.inner(address)?)
        }
        fn set_key(&mut self, address: AbsoluteAddress, key: StorageKey) -> Option<()> {
            let at = self.inner(address)?;
            self.inner.set_key(at, key)
        }
        fn contains(&self, address: AbsoluteAddress) -> bool {
            self.inner(address)
                .is_some_and(|at| self.inner.contains(at))
        }
    }

    impl FlatMemory {
        /// `size` zero bytes starting at address `base`.
        pub fn new(base: u64, size: usize) -> Self {
            Self {
                storage: FlatStorage {
                    base,
                    inner: OwnedStorage::new(size),
                },
                facilities: Facilities::LAP,
                clock: Clock::new(VirtualTime::default(), TOD_2026),
            }
        }

        /// The first address.
        pub fn base(&self) -> u64 {
            self.storage.base
        }

        /// All bytes, from the first address.
        pub fn bytes(&self) -> &[u8] {
            self.storage.inner.bytes()
        }

        /// All bytes, writable (for loading programs).
        pub fn bytes_mut(&mut self) -> &mut [u8] {
            self.storage.inner.bytes_mut()
        }

        /// Copy `data` to `addr` directly (no access checks).
        pub fn load(&mut self, addr: u64, data: &[u8]) -> Result<(), Exception> {
            self.storage
                .write(AbsoluteAddress::new(addr), data)
                .ok_or(Exception::addressing())
        }

        /// The bytes at `addr..addr + len`, if inside.
        pub fn slice(&self, addr: u64, len: usize) -> Option<&[u8]> {
            let start = usize::try_from(addr.checked_sub(self.base())?).ok()?;
            self.bytes().get(start..start.checked_add(len)?)
        }

        fn absolute(acc: &Access<'_>, addr: u64) -> AbsoluteAddress {
            match acc.space {
                AddressType::Real => acc.cpu.prefix.to_absolute(RealAddress::new(addr)),
                _ => AbsoluteAddress::new(addr),
            }
        }
    }

    impl Memory for FlatMemory {
        fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
            // A real access may cross the prefix-area boundary: byte by byte.
            if acc.space == AddressType::Real {
                for (i, b) in buf.iter_mut().enumerate() {
                    let at = Self::absolute(acc, addr.wrapping_add(i as u64));
                    self.storage
                        .read(at, core::slice::from_mut(b))
                        .ok_or(Exception::addressing())?;
                }
                return Ok(());
            }
            self.storage
                .read(AbsoluteAddress::new(addr), buf)
                .ok_or(Exception::addressing())
        }

        fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
            if acc.space == AddressType::Real {
                for (i, b) in data.iter().enumerate() {
                    let at = Self::absolute(acc, addr.wrapping_add(i as u64));
                    self.storage
                        .write(at, core::slice::from_ref(b))
                        .ok_or(Exception::addressing())?;
                }
                return Ok(());
            }
            self.storage
                .write(AbsoluteAddress::new(addr), data)
                .ok_or(Exception::addressing())
        }

        fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
            let _ = acc;
            if len == 0 {
                return Ok(());
            }
            let last = addr.checked_add(len - 1).ok_or(Exception::addressing())?;
            let inside = |a: u64| self.storage.contains(AbsoluteAddress::new(a));
            if inside(addr) && inside(last) {
                Ok(())
            } else {
                Err(Exception::addressing())
            }
        }

        fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
            let at = Self::absolute(acc, addr);
            if self.storage.contains(at) {
                Ok(at)
            } else {
                Err(Exception::addressing())
            }
        }

        fn facilities(&self) -> Facilities {
            self.facilities
        }

        fn storage(&mut self) -> &mut dyn Storage {
            &mut self.storage
        }

        fn invalidate(&mut self, flush: PendingFlush) {
            // No TLB, no shadow, no translated code: nothing is cached.
            flush.ignore();
        }

        fn fault(&mut self, fault: Fault) -> Exception {
            match fault {
                Fault::Program(exception) => exception,
                Fault::ArtUnsupported { .. } => Exception::new(Code::OPERATION),
            }
        }
    }

    /// No service processor, no other CPUs: SERVICE CALL, SIGNAL
    /// PROCESSOR and DIAGNOSE are operation exceptions. The clock runs in
    /// virtual time, advanced by the caller ([`FlatMemory::clock`]).
    impl System for FlatMemory {
        fn clock(&mut self) -> Option<&mut dyn Timing> {
            Some(&mut self.clock)
        }
    }
}
