//! STORE SYSTEM INFORMATION (PoP ch. 10 "STORE SYSTEM INFORMATION"), as
//! QEMU's `s390-ccw-virtio` machine answers it under TCG: the machine
//! presents itself as a virtual machine (configuration level 3) of
//! manufacturer "QEMU", on a logical partition on a basic machine, and
//! stores a 4 KiB system-information block (SYSIB) for function code 1
//! (selectors 1.1, 2.1, 2.2), 2 (2.1, 2.2) and 3 (2.2). Function code 15
//! (configuration topology) needs the configuration-topology facility (11),
//! which zmmu does not offer: like every other function code above 3 it
//! answers condition code 3.

use zmmu_cpu::decode::Insn;
use zmmu_cpu::memory::{Access, AddressType, Memory};
use zmmu_cpu::state::Cpu;
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::kind::AccessKind;

use crate::board::Board;
use crate::config::Config;
use crate::sclp::ASCII_TO_EBCDIC;

/// The size of a SYSIB: STSI stores a whole 4 KiB block (QEMU stores every
/// byte, zeros where a field is reserved or not reported).
pub const SYSIB_SIZE: usize = 4096;

/// The configuration level this machine reports for function code 0: a
/// virtual machine (level 3).
pub const CURRENT_LEVEL: u64 = 3;

/// GR0 bits 36-55 must be zero (PoP: specification exception).
pub const R0_RESERVED: u64 = 0x0FFF_FF00;
/// GR1 bits 32-47 must be zero (PoP: specification exception).
pub const R1_RESERVED: u64 = 0xFFFF_0000;

/// The CPU capability of SYSIB 1.2.2, as QEMU reports it.
pub const CPU_CAPABILITY: u32 = 0x443A_FC29;
/// The capability-adjustment factor of SYSIB 2.2.2 and 3.2.2 (QEMU's).
pub const CAPABILITY_ADJUSTMENT: u32 = 1000;
/// The VM name QEMU reports when the configuration has none (`-name`).
pub const DEFAULT_NAME: &str = "TCGguest";
/// The control-program identifier of SYSIB 3.2.2 (Linux uses it to tell
/// KVM/QEMU from z/VM).
pub const CONTROL_PROGRAM: &str = "KVM/Linux       ";

/// What a valid function code and selector pair stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// 1.1.1: basic-machine configuration.
    BasicMachine,
    /// 1.2.1: basic-machine CPU.
    BasicMachineCpu,
    /// 1.2.2: basic-machine CPUs.
    BasicMachineCpus,
    /// 2.2.1: logical-partition CPU.
    LogicalPartitionCpu,
    /// 2.2.2: logical-partition CPUs.
    LogicalPartitionCpus,
    /// 3.2.2: virtual-machine CPUs.
    VirtualMachineCpus,
}

impl Block {
    /// The block for function code `fc` and selectors `sel1`, `sel2`, if
    /// the machine provides it.
    pub const fn select(fc: u64, sel1: u64, sel2: u64) -> Option<Self> {
        Some(match (fc, sel1, sel2) {
            (1, 1, 1) => Self::BasicMachine,
            (1, 2, 1) => Self::BasicMachineCpu,
            (1, 2, 2) => Self::BasicMachineCpus,
            (2, 2, 1) => Self::LogicalPartitionCpu,
            (2, 2, 2) => Self::LogicalPartitionCpus,
            (3, 2, 2) => Self::VirtualMachineCpus,
            _ => return None,
        })
    }
}

/// The CPU counts the blocks report: the configured CPUs, no standby
/// CPUs, and as reserved the rest of `maxcpus` (QEMU's counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuCounts {
    /// Total CPUs (configured + standby + reserved).
    pub total: u16,
    /// Configured CPUs.
    pub configured: u16,
    /// Reserved CPUs.
    pub reserved: u16,
}

impl CpuCounts {
    /// The counts of a machine with `cpus`.
    pub fn of(cpus: &crate::config::Cpus) -> Self {
        let configured = cpus.core_ids.len() as u16;
        Self {
            total: cpus.max_cpus,
            configured,
            reserved: cpus.max_cpus - configured,
        }
    }
}

/// Puts `text` in EBCDIC at `block[at..]` (QEMU's `ascii2ebcdic` table).
fn put_ebcdic(block: &mut [u8], at: usize, text: &[u8]) {
    for (d, &c) in block[at..at + text.len()].iter_mut().zip(text) {
        *d = ASCII_TO_EBCDIC[usize::from(c)];
    }
}

fn put(block: &mut [u8], at: usize, bytes: &[u8]) {
    block[at..at + bytes.len()].copy_from_slice(bytes);
}

/// The SYSIB `which` for a machine configured as `config`, whose CPU has
/// address `cpu_addr` and machine type `machine_type`.
pub fn sysib(
    which: Block,
    config: &Config,
    cpu_addr: u16,
    machine_type: u16,
    cpus: CpuCounts,
) -> [u8; SYSIB_SIZE] {
    let mut b = [0u8; SYSIB_SIZE];
    let counts = |b: &mut [u8], at: usize| {
        put(b, at, &cpus.total.to_be_bytes());
        put(b, at + 2, &cpus.configured.to_be_bytes());
        // Standby CPUs (at + 4) stay zero.
        put(b, at + 6, &cpus.reserved.to_be_bytes());
    };
    match which {
        Block::BasicMachine => {
            // Manufacturer (32), type (48: the machine type of STIDP in
            // hexadecimal digits), model-capacity identifier (64),
            // sequence code (80), plant (96); the model (100) stays zero.
            put_ebcdic(&mut b, 32, b"QEMU            ");
            let digits = alloc::format!("{machine_type:04X}");
            put_ebcdic(&mut b, 48, &digits.as_bytes()[..4]);
            put_ebcdic(&mut b, 64, b"QEMU            ");
            put_ebcdic(&mut b, 80, b"QEMU            ");
            put_ebcdic(&mut b, 96, b"QEMU");
        }
        Block::BasicMachineCpu | Block::LogicalPartitionCpu => {
            // Sequence code (80), plant (96), CPU address (102).
            put_ebcdic(&mut b, 80, b"QEMUQEMUQEMUQEMU");
            put_ebcdic(&mut b, 96, b"QEMU");
            put(&mut b, 102, &cpu_addr.to_be_bytes());
        }
        Block::BasicMachineCpus => {
            // Format 0; CPU capability (32), then the counts (36).
            put(&mut b, 32, &CPU_CAPABILITY.to_be_bytes());
            counts(&mut b, 36);
        }
        Block::LogicalPartitionCpus => {
            // Partition number 0 (32), characteristics (35): dedicated;
            // counts (36), name (44), capability adjustment (52),
            // dedicated CPUs (72).
            b[35] = 0x80;
            counts(&mut b, 36);
            put_ebcdic(&mut b, 44, b"QEMU    ");
            put(&mut b, 52, &CAPABILITY_ADJUSTMENT.to_be_bytes());
            put(&mut b, 72, &cpus.configured.to_be_bytes());
        }
        Block::VirtualMachineCpus => {
            // One virtual-machine description (count at 31) of 64 bytes at
            // 32: counts (36), name (44), capability adjustment (52),
            // control-program identifier (56), extended-name encoding
            // (75: UTF-8), UUID (80); its extended name at 2048.
            b[31] = 1;
            counts(&mut b, 36);
            match &config.name {
                Some(name) => {
                    let name = name.as_bytes();
                    put(&mut b, 44, &[0x40; 8]);
                    put_ebcdic(&mut b, 44, &name[..name.len().min(8)]);
                    put(&mut b, 2048, &name[..name.len().min(256)]);
                }
                None => {
                    put_ebcdic(&mut b, 44, DEFAULT_NAME.as_bytes());
                    put(&mut b, 2048, DEFAULT_NAME.as_bytes());
                }
            }
            put(&mut b, 52, &CAPABILITY_ADJUSTMENT.to_be_bytes());
            put_ebcdic(&mut b, 56, CONTROL_PROGRAM.as_bytes());
            b[75] = 2;
            put(&mut b, 80, &config.uuid.unwrap_or_default());
        }
    }
    b
}

impl Board<'_> {
    /// STSI: the function code in GR0 bits 32-35, selector 1 in GR0 bits
    /// 56-63, selector 2 in GR1 bits 48-63, the SYSIB at the
    /// second-operand address. In QEMU's order: a function code above 3 is
    /// cc 3 with nothing checked; reserved bits of GR0 or GR1 are a
    /// specification exception; function code 0 puts the current level in
    /// GR0 (cc 0); an operand not on a 4 KiB boundary is a specification
    /// exception; a selector pair without a block is cc 3; otherwise the
    /// block is stored (access exceptions as for any store) with cc 0.
    pub(crate) fn store_system_information(
        &mut self,
        cpu: &mut Cpu,
        insn: &Insn,
    ) -> Result<(), Exception> {
        let r0 = cpu.r64(0);
        let r1 = cpu.r64(1);
        let fc = (r0 >> 28) & 0xF;
        if fc > CURRENT_LEVEL {
            cpu.psw.set_cc(3);
            return Ok(());
        }
        if r0 & R0_RESERVED != 0 || r1 & R1_RESERVED != 0 {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        if fc == 0 {
            cpu.set_r64(0, CURRENT_LEVEL << 28);
            cpu.psw.set_cc(0);
            return Ok(());
        }
        let f = insn.f;
        let base = if f.b2 == 0 { 0 } else { cpu.r64(f.b2) };
        let address = cpu.psw.amode().wrap(base.wrapping_add(f.d2 as i64 as u64));
        if address % SYSIB_SIZE as u64 != 0 {
            return Err(Exception::new(Code::SPECIFICATION));
        }
        let Some(which) = Block::select(fc, r0 & 0xFF, r1 & 0xFFFF) else {
            cpu.psw.set_cc(3);
            return Ok(());
        };
        let block = sysib(
            which,
            self.config,
            cpu.cpu_addr,
            zmmu_cpu::exec::control::MACHINE_TYPE,
            CpuCounts::of(&self.config.cpus),
        );
        let access = Access {
            kind: AccessKind::Write,
            space: AddressType::Logical { base: f.b2 },
            cpu,
        };
        self.write(&access, address, &block)?;
        cpu.psw.set_cc(0);
        Ok(())
    }
}
