//! The memory interface the interpreter uses, and a flat test memory.
//!
//! The CPU computes effective addresses (base + index + displacement,
//! truncated to the addressing mode, DAT checklist 1.2) and splits an operand
//! that wraps around the top of the addressing mode's range; every
//! contiguous piece then goes to the [`Bus`], which translates (DAT,
//! prefixing), checks keys and protection, and handles page crossings.

use super::decode::Insn;
use super::state::Cpu;
use zmmu_mmu::access::AccessKind;
use zmmu_mmu::control;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;

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
        space: control::AddressSpace,
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

/// Guest storage as the CPU sees it.
pub trait Bus {
    /// Read `buf.len()` bytes at `addr`.
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception>;

    /// Write `data` at `addr`.
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception>;

    /// Recognize the access exceptions of an access of `len` bytes at `addr`
    /// without transferring data, for instructions whose operands must be
    /// checked before any store (PoP "Recognition of Access Exceptions").
    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception>;

    /// Carry out a control instruction that needs the machine
    /// ([`crate::opcode::Opcode::needs_machine`]: DAT tables, storage
    /// keys, TLB, SCLP, other CPUs). The CPU has already checked the
    /// privileged state. The default raises an operation exception.
    fn control(&mut self, cpu: &mut Cpu, insn: &Insn) -> Result<(), Exception> {
        let _ = (cpu, insn);
        Err(Exception::new(Code::OPERATION))
    }

    /// SET PREFIX: make bits 33-50 of `operand` the CPU's prefix, after
    /// checking that the new prefix area is in storage (addressing
    /// exception otherwise), and drop whatever cached translations the
    /// change affects.
    fn set_prefix(&mut self, cpu: &mut Cpu, operand: u64) -> Result<(), Exception>;
}

#[cfg(feature = "alloc")]
pub use flat::FlatMemory;

#[cfg(feature = "alloc")]
mod flat {
    use super::{Access, AddressType, Bus};
    use crate::state::Cpu;
    use alloc::vec;
    use alloc::vec::Vec;
    use zmmu_mmu::addr::RealAddress;
    use zmmu_mmu::exception::Code;
    use zmmu_mmu::exception::Exception;
    use zmmu_mmu::prefix::{Prefix, PREFIX_AREA};

    /// A flat, untranslated memory for user-level tests: logical = real =
    /// absolute, except that real accesses are prefixed. Addresses outside
    /// `base..base + size` raise an addressing exception. Keys, protection
    /// and DAT are ignored.
    #[derive(Clone, Debug)]
    pub struct FlatMemory {
        base: u64,
        bytes: Vec<u8>,
    }

    impl FlatMemory {
        /// `size` zero bytes starting at address `base`.
        pub fn new(base: u64, size: usize) -> Self {
            Self {
                base,
                bytes: vec![0; size],
            }
        }

        /// The first address.
        pub fn base(&self) -> u64 {
            self.base
        }

        /// All bytes.
        pub fn bytes(&self) -> &[u8] {
            &self.bytes
        }

        /// All bytes, writable (for loading programs).
        pub fn bytes_mut(&mut self) -> &mut [u8] {
            &mut self.bytes
        }

        /// The byte range for `len` bytes at `addr`, or an addressing exception.
        fn range(&self, addr: u64, len: u64) -> Result<core::ops::Range<usize>, Exception> {
            let off = addr
                .checked_sub(self.base)
                .ok_or(Exception::new(Code::ADDRESSING))?;
            let end = off
                .checked_add(len)
                .ok_or(Exception::new(Code::ADDRESSING))?;
            if end > self.bytes.len() as u64 {
                return Err(Exception::new(Code::ADDRESSING));
            }
            Ok(off as usize..end as usize)
        }

        fn absolute(acc: &Access<'_>, addr: u64) -> u64 {
            match acc.space {
                AddressType::Real => acc.cpu.prefix.to_absolute(RealAddress::new(addr)).value(),
                _ => addr,
            }
        }

        /// Copy `data` to `addr` directly (no access checks).
        pub fn load(&mut self, addr: u64, data: &[u8]) -> Result<(), Exception> {
            let r = self.range(addr, data.len() as u64)?;
            self.bytes[r].copy_from_slice(data);
            Ok(())
        }

        /// The bytes at `addr..addr + len`, if inside.
        pub fn slice(&self, addr: u64, len: usize) -> Option<&[u8]> {
            self.range(addr, len as u64).ok().map(|r| &self.bytes[r])
        }
    }

    impl Bus for FlatMemory {
        fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
            // A real access may cross the prefix-area boundary: go per page.
            if acc.space == AddressType::Real {
                for (i, b) in buf.iter_mut().enumerate() {
                    let a = Self::absolute(acc, addr.wrapping_add(i as u64));
                    *b = self.bytes[self.range(a, 1)?.start];
                }
                return Ok(());
            }
            let r = self.range(addr, buf.len() as u64)?;
            buf.copy_from_slice(&self.bytes[r]);
            Ok(())
        }

        fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
            if acc.space == AddressType::Real {
                for (i, b) in data.iter().enumerate() {
                    let a = Self::absolute(acc, addr.wrapping_add(i as u64));
                    let at = self.range(a, 1)?.start;
                    self.bytes[at] = *b;
                }
                return Ok(());
            }
            let r = self.range(addr, data.len() as u64)?;
            self.bytes[r].copy_from_slice(data);
            Ok(())
        }

        fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
            if len == 0 {
                return Ok(());
            }
            let _ = acc;
            self.range(addr, len).map(|_| ())
        }

        fn set_prefix(&mut self, cpu: &mut Cpu, operand: u64) -> Result<(), Exception> {
            let prefix = Prefix::new(operand);
            self.range(prefix.value(), PREFIX_AREA)?;
            cpu.prefix = prefix;
            Ok(())
        }
    }
}
