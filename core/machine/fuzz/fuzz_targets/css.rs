//! Fuzzes the channel subsystem: random I/O instructions (CSCH, HSCH,
//! MSCH, SSCH, STSCH, TSCH, TPI, SAL, RSCH, STCRW, RCHP, SCHM, CHSC, XSCH)
//! with random GR1, operand addresses, CR6 masks and PSW I/O enablement,
//! over storage filled with random ORBs, SCHIBs, CCW chains, IDAW lists and
//! request blocks, and DIAGNOSE X'500' notifications with random queues,
//! on a machine with a virtio-net-ccw device (subchannel 0) and a virtio
//! block device over an image in memory (subchannel 1, whose virtio
//! commands and rings are then random too): no panic, no hang (every
//! channel program and every queue is bounded), and a start that ends
//! with cc 0 leaves the subchannel status pending or suspended.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zmmu_machine::config::{Config, Device};
use zmmu_machine::css::scsw;
use zmmu_machine::virtio_blk::{BackendError, BlockBackend};
use zmmu_machine::virtqueue::RingError;
use zmmu_machine::Machine;

/// A 64 KiB image in memory.
#[derive(Debug)]
struct Image(Vec<u8>);

impl BlockBackend for Image {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_only(&self) -> bool {
        false
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BackendError> {
        let at = usize::try_from(offset).map_err(|_| BackendError)?;
        let bytes = self.0.get(at..at + buf.len()).ok_or(BackendError)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let at = usize::try_from(offset).map_err(|_| BackendError)?;
        let bytes = self.0.get_mut(at..at + data.len()).ok_or(BackendError)?;
        bytes.copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn broken(&mut self, _: usize, _: &RingError) {}
}

/// Storage: the lowcore, the code page at 0x2000, then what the fuzzer
/// fills.
const MEMORY: usize = 0x30000;
const CODE: u64 = 0x2000;
const FILL: u64 = 0x3000;
const BITS64: u64 = 0x0000_0001_8000_0000;
const IO: u64 = 0x0200_0000_0000_0000;
const DISABLED_WAIT: u64 = 0x0002_0001_8000_0000;

/// The second opcode byte of each I/O instruction (first byte 0xB2), and
/// DIAGNOSE's (0x83).
const OPS: [u8; 15] = [
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3B, 0x3C, 0x5F, 0x76, 0x83,
];
const DIAG: u8 = 0x83;
const SSCH: u8 = 0x33;
const RSCH: u8 = 0x38;

#[derive(Arbitrary, Debug)]
enum Address {
    /// Inside the filled area, on a doubleword (mostly valid operands).
    Near(u16),
    /// Anything: misaligned, outside storage, above 2G.
    Raw(u64),
}

impl Address {
    fn value(&self) -> u64 {
        match self {
            Self::Near(v) => FILL + (u64::from(*v) * 8) % (MEMORY as u64 - FILL),
            Self::Raw(v) => *v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Gr1 {
    /// Subchannel `n` of set 0, with the one bit.
    Subchannel(u8),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Step {
    Instruction {
        op: u8,
        gr1: Gr1,
        /// The operand address (GR2; CHSC's request in GR2 too).
        operand: Address,
        cr6: u8,
        io_enabled: bool,
    },
    /// The guest changes storage between instructions.
    Store { at: u16, bytes: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    storage: Vec<u8>,
    steps: Vec<Step>,
}

fuzz_target!(|input: Input| {
    let config = Config {
        devices: vec![Device::VirtioNetCcw],
        ..Config::default()
    };
    let mut m = Machine::with_config(MEMORY, config).unwrap();
    m.add_drive(Box::new(Image(vec![0; 0x10000])), "fuzz");
    if !input.storage.is_empty() {
        let fill: Vec<u8> = input
            .storage
            .iter()
            .copied()
            .cycle()
            .take(MEMORY - FILL as usize)
            .collect();
        m.load(FILL, &fill).unwrap();
    }
    let wait = [DISABLED_WAIT.to_be_bytes(), 0u64.to_be_bytes()].concat();
    for new_psw in [0x1b0, 0x1c0, 0x1d0, 0x1e0, 0x1f0] {
        m.load(new_psw, &wait).unwrap();
    }
    for step in input.steps.into_iter().take(64) {
        match step {
            Step::Store { at, bytes } => {
                let at = FILL + u64::from(at) % (MEMORY as u64 - FILL);
                let room = (MEMORY as u64 - at) as usize;
                let _ = m.load(at, &bytes[..bytes.len().min(room)]);
            }
            Step::Instruction {
                op,
                gr1,
                operand,
                cr6,
                io_enabled,
            } => {
                let op = OPS[usize::from(op) % OPS.len()];
                // B2 D2 = GR2 + 0 for the S formats; CHSC names GR2 as R1;
                // DIAGNOSE X'500' (virtio notify when GR1 is 3: the
                // subchannel word in GR2, the queue in GR3 = cr6).
                let bytes = match op {
                    0x5F => [0xB2, op, 0x00, 0x20],
                    DIAG => [DIAG, 0x24, 0x05, 0x00],
                    _ => [0xB2, op, 0x20, 0x00],
                };
                m.load(CODE, &bytes).unwrap();
                m.cpu.gpr[1] = match gr1 {
                    Gr1::Subchannel(n) => 0x0001_0000 | u64::from(n % 3),
                    Gr1::Raw(v) => v,
                };
                m.cpu.gpr[2] = operand.value();
                if op == DIAG {
                    m.cpu.gpr[2] = m.cpu.gpr[1];
                    m.cpu.gpr[1] = 3;
                    m.cpu.gpr[3] = u64::from(cr6 % 2);
                }
                m.cpu.cr[6] = u64::from(cr6) << 24;
                m.cpu.psw.mask = BITS64 | if io_enabled { IO } else { 0 };
                m.cpu.psw.addr = CODE;
                m.run(Some(1), &mut ());
                let completed = m.cpu.psw.addr == CODE + 4;
                let number = (m.cpu.gpr[1] & 0xFFFF) as usize;
                if completed
                    && (op == SSCH || op == RSCH)
                    && m.cpu.psw.cc() == 0
                    && number < m.services.css.subchannels.len()
                {
                    let ctrl = m.services.css.subchannels[number].schib.scsw.ctrl;
                    assert!(
                        ctrl & (scsw::STATUS_PENDING | scsw::SUSPENDED) != 0,
                        "a start that completed left neither status nor suspension: {ctrl:#x}"
                    );
                }
            }
        }
    }
});
