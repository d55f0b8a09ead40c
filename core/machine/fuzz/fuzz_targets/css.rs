//! Fuzzes the channel subsystem: random I/O instructions (CSCH, HSCH,
//! MSCH, SSCH, STSCH, TSCH, TPI, SAL, RSCH, STCRW, RCHP, SCHM, CHSC, XSCH)
//! with random GR1, operand addresses, CR6 masks and PSW I/O enablement,
//! over storage filled with random ORBs, SCHIBs, CCW chains, IDAW lists and
//! request blocks, on a machine with one virtio-net-ccw device: no panic,
//! no hang (every channel program is bounded), and a start that ends with
//! cc 0 leaves the subchannel status pending or suspended.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zmmu_machine::config::{Config, Device};
use zmmu_machine::css::scsw;
use zmmu_machine::Machine;

/// Storage: the lowcore, the code page at 0x2000, then what the fuzzer
/// fills.
const MEMORY: usize = 0x30000;
const CODE: u64 = 0x2000;
const FILL: u64 = 0x3000;
const BITS64: u64 = 0x0000_0001_8000_0000;
const IO: u64 = 0x0200_0000_0000_0000;
const DISABLED_WAIT: u64 = 0x0002_0001_8000_0000;

/// The second opcode byte of each I/O instruction (first byte 0xB2).
const OPS: [u8; 14] = [
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3B, 0x3C, 0x5F, 0x76,
];
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
                // B2 D2 = GR2 + 0 for the S formats; CHSC names GR2 as R1.
                let bytes = if op == 0x5F {
                    [0xB2, op, 0x00, 0x20]
                } else {
                    [0xB2, op, 0x20, 0x00]
                };
                m.load(CODE, &bytes).unwrap();
                m.cpu.gpr[1] = match gr1 {
                    Gr1::Subchannel(n) => 0x0001_0000 | u64::from(n % 3),
                    Gr1::Raw(v) => v,
                };
                m.cpu.gpr[2] = operand.value();
                m.cpu.cr[6] = u64::from(cr6) << 24;
                m.cpu.psw.mask = BITS64 | if io_enabled { IO } else { 0 };
                m.cpu.psw.addr = CODE;
                m.run(Some(1), &mut ());
                let completed = m.cpu.psw.addr == CODE + 4;
                if completed && (op == SSCH || op == RSCH) && m.cpu.psw.cc() == 0 {
                    let ctrl = m.services.css.subchannels[0].schib.scsw.ctrl;
                    assert!(
                        ctrl & (scsw::STATUS_PENDING | scsw::SUSPENDED) != 0,
                        "a start that completed left neither status nor suspension: {ctrl:#x}"
                    );
                }
            }
        }
    }
});
