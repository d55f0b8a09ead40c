//! What the jit's rule tests share: a program in real storage, the
//! disabled wait that ends a machine's run, and a loop of a million
//! instructions.

#![allow(dead_code)]

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::{Jit, Stats};
use zmmu_machine::bus::DatBus;
use zmmu_machine::{Machine, Stop};
use zmmu_mmu::prelude::*;

/// Where the program is.
pub const CODE: u64 = 0x2000;
/// Where its data is.
pub const DATA: u64 = 0x3000;

/// `size` bytes of storage with `code` at [`CODE`] and `data` at
/// [`DATA`], and a CPU about to run the code (DAT off, 64-bit), with `set`
/// applied to it.
pub fn machine(size: usize, code: &[u8], data: &[u8], set: impl FnOnce(&mut Cpu)) -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(size);
    storage.write(AbsoluteAddress::new(CODE), code).unwrap();
    storage.write(AbsoluteAddress::new(DATA), data).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    set(&mut cpu);
    (cpu, DatBus::new(storage))
}

/// The PSW of a disabled wait: the 64-bit mode, DAT off, no interruption
/// enabled.
pub const DISABLED_WAIT: u64 = 0x0002_0001_8000_0000;

/// Stores at `at` (a new PSW, or an LPSWE operand) a disabled-wait PSW
/// whose address is `addr`.
pub fn disabled_wait_at(m: &mut Machine, at: u64, addr: u64) {
    let wait = [DISABLED_WAIT.to_be_bytes(), addr.to_be_bytes()].concat();
    m.load(at, &wait).unwrap();
}

/// `lgfi %r5,1000000 ; brct %r5,. ; lpswe 0x300`: 1,000,002 instructions,
/// run at 0x20000 by [`run_million_loop`].
pub const MILLION_LOOP: &[u8] = &[
    0xC0, 0x51, 0x00, 0x0F, 0x42, 0x40, // lgfi %r5,1000000
    0xA7, 0x56, 0x00, 0x00, // brct %r5,.
    0xB2, 0xB2, 0x03, 0x00, // lpswe 0x300
];

/// Runs `m`, holding [`MILLION_LOOP`] at 0x20000 and started there, on
/// `jit` with the disabled wait at 0x77 its LPSWE loads, and checks that
/// it ends there after the loop's 1,000,002 instructions.
pub fn run_million_loop(m: &mut Machine, jit: &mut Jit) {
    disabled_wait_at(m, 0x300, 0x77);
    let out = m.run_with(Some(2_000_000), &mut (), jit);
    assert!(
        matches!(out.stop, Stop::DisabledWait { psw } if psw.addr == 0x77),
        "{:?}",
        out.stop
    );
    assert_eq!(out.instructions, 1 + 1_000_000 + 1);
}

/// The interpreter's run to compare the jit's with: up to `steps`
/// instructions of `cpu` on `bus`, ending after the first interruption,
/// whose result it gives (`Ok` if none came).
pub fn interpret(cpu: &mut Cpu, bus: &mut DatBus, steps: usize) -> Result<(), Interruption> {
    for _ in 0..steps {
        cpu.step(bus)?;
    }
    Ok(())
}

/// The first `size` bytes of `bus`'s storage.
pub fn storage_bytes(bus: &DatBus, size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    bus.storage
        .read(AbsoluteAddress::new(0), &mut bytes)
        .unwrap();
    bytes
}

/// The jit's run of a rule test, checked against the interpreter's.
pub struct Ran {
    pub cpu: Cpu,
    pub bus: DatBus,
    pub result: Result<(), Interruption>,
    pub stats: Stats,
}

impl Ran {
    /// `mnemonic` ran natively: neither a fallback nor a slow path.
    pub fn native(&self, mnemonic: &str) -> bool {
        let ran = |list: Vec<(&str, u64)>| list.iter().any(|&(m, _)| m == mnemonic);
        !ran(self.stats.fallbacks()) && !ran(self.stats.slow())
    }

    /// The program interruption's code and ILC, if the run ended with one.
    pub fn program(&self) -> Option<(Code, u8)> {
        match self.result {
            Err(Interruption::Program { exception, ilc }) => Some((exception.code, ilc)),
            _ => None,
        }
    }
}

/// Runs the machine `machine` makes on `jit` and, made again, on the
/// interpreter, up to the first interruption (at most `steps`
/// instructions); checks that both end alike (the interruption, the PSW,
/// the general, floating-point and vector registers, the FPC, the first
/// `size` bytes of storage) and gives the jit's run.
pub fn run_against_interpreter(
    mut jit: Jit,
    steps: u64,
    size: usize,
    machine: impl Fn() -> (Cpu, DatBus),
) -> Ran {
    let (mut cpu, mut bus) = machine();
    let result = jit.run(&mut cpu, &mut bus, steps).result;
    let (mut icpu, mut ibus) = machine();
    let expected = interpret(&mut icpu, &mut ibus, steps as usize);
    assert_eq!(result, expected, "the interruption");
    assert_eq!(cpu.psw, icpu.psw, "the PSW");
    assert_eq!(cpu.gpr, icpu.gpr, "the registers");
    assert_eq!(cpu.vr, icpu.vr, "the floating-point and vector registers");
    assert_eq!(cpu.fpc, icpu.fpc, "the FPC");
    assert!(
        storage_bytes(&bus, size) == storage_bytes(&ibus, size),
        "storage"
    );
    Ran {
        cpu,
        bus,
        result,
        stats: jit.stats().clone(),
    }
}
