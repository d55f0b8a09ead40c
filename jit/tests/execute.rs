//! EXECUTE and EXECUTE RELATIVE LONG on the jit (docs/CHOICES.md 45a):
//! the target runs in place by the helper, whose chain goes on in the
//! block after it unless the target branched or raised an exception. Each
//! rule is checked against the interpreter stepping the same code: the
//! registers, the PSW, storage and the interruption (code and ILC).

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_jit::{ChainEnd, Jit};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::prelude::*;

const CODE: u64 = 0x2000;
const DATA: u64 = 0x3000;

struct Ran {
    cpu: Cpu,
    bus: DatBus,
    result: Result<(), Interruption>,
}

fn machine(code: &[u8], set: &dyn Fn(&mut Cpu)) -> (Cpu, DatBus) {
    let mut storage = OwnedStorage::new(0x10000);
    storage.write(AbsoluteAddress::new(CODE), code).unwrap();
    let data: Vec<u8> = (0..64).collect();
    storage.write(AbsoluteAddress::new(DATA), &data).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    cpu.gpr[3] = DATA;
    cpu.gpr[4] = DATA + 32;
    set(&mut cpu);
    (cpu, DatBus::new(storage))
}

/// Runs `code` at CODE (DAT off, 64-bit; r3 = DATA, r4 = DATA + 32, the
/// 64 bytes at DATA are 0, 1, 2 ...) on the jit and on the interpreter up
/// to the first interruption; checks that both end alike and gives the
/// jit's machine and how many times its chain returned for a helper.
fn run(code: &[u8], set: impl Fn(&mut Cpu)) -> (Ran, u64) {
    let (mut cpu, mut bus) = machine(code, &set);
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let result = jit.run(&mut cpu, &mut bus, 20).result;
    let left = jit.stats().chain_ends[ChainEnd::Helper as usize];
    let (mut icpu, mut ibus) = machine(code, &set);
    let mut expected = Ok(());
    for _ in 0..20 {
        expected = icpu.step(&mut ibus);
        if expected.is_err() {
            break;
        }
    }
    assert_eq!(result, expected, "the interruption");
    assert_eq!(cpu.psw, icpu.psw, "the PSW");
    assert_eq!(cpu.gpr, icpu.gpr, "the registers");
    let bytes = |bus: &DatBus| {
        let mut b = [0u8; 64];
        bus.storage
            .read(AbsoluteAddress::new(DATA), &mut b)
            .unwrap();
        b
    };
    assert_eq!(bytes(&bus), bytes(&ibus), "storage");
    (Ran { cpu, bus, result }, left)
}

fn program(ran: &Ran) -> Option<(Code, u8)> {
    match ran.result {
        Err(Interruption::Program { exception, ilc }) => Some((exception.code, ilc)),
        _ => None,
    }
}

/// EXRL with R1 `r1` at `at` of the instruction at `target` (both
/// offsets from CODE).
fn exrl(r1: u8, at: i32, target: i32) -> [u8; 6] {
    let [a, b, c, d] = ((target - at) / 2).to_be_bytes();
    [0xc6, r1 << 4, a, b, c, d]
}

#[test]
fn a_target_that_runs_sequentially_returns_into_the_block() {
    // exrl %r1,mvc; ahi %r2,1; (0); mvc 0(1,%r3),0(%r4): R1's low byte 7
    // makes the length 8; the AHI after it runs without the chain leaving.
    let code = [
        &exrl(1, 0, 12)[..],
        &[0xa7, 0x2a, 0x00, 0x01, 0, 0],
        &[0xd2, 0x00, 0x30, 0x00, 0x40, 0x00],
    ]
    .concat();
    let (ran, left) = run(&code, |cpu| cpu.gpr[1] = 0xffff_ff07);
    let mut moved = [0u8; 9];
    ran.bus
        .storage
        .read(AbsoluteAddress::new(DATA), &mut moved)
        .unwrap();
    assert_eq!(moved, [32, 33, 34, 35, 36, 37, 38, 39, 8]);
    assert_eq!(ran.cpu.gpr[2], 1);
    assert_eq!(program(&ran), Some((Code::OPERATION, 1)));
    assert_eq!(left, 1, "only the invalid opcode leaves for the helper");
}

#[test]
fn r1_zero_runs_the_target_as_it_is_and_the_block_goes_on() {
    // ex %r0,0(%r6) twice (r6 = the AHI), then ahi %r2,16 itself; (0).
    let code = [
        0x44, 0x00, 0x60, 0x00, 0x44, 0x00, 0x60, 0x00, 0xa7, 0x2a, 0x00, 0x10, 0, 0,
    ];
    let (ran, left) = run(&code, |cpu| cpu.gpr[6] = CODE + 8);
    assert_eq!(ran.cpu.gpr[2], 0x30);
    assert_eq!(left, 1, "only the invalid opcode leaves for the helper");
}

#[test]
fn a_target_that_branches_leaves_the_block_for_its_target() {
    // exrl %r0,brc; ahi %r2,1; (0); brc 15,+4 (relative to the target);
    // ahi %r5,1; (0).
    let code = [
        &exrl(0, 0, 12)[..],
        &[0xa7, 0x2a, 0x00, 0x01, 0, 0],
        &[0xa7, 0xf4, 0x00, 0x02, 0xa7, 0x5a, 0x00, 0x01, 0, 0],
    ]
    .concat();
    let (ran, _) = run(&code, |_| {});
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[5]), (0, 1));
    assert_eq!(ran.cpu.psw.addr & 0xfff, 0x16);
}

#[test]
fn an_execute_of_an_execute_is_an_execute_exception() {
    // exrl %r0,exrl; (0); exrl %r0,... : ILC 3, the PSW after the first.
    let code = [&exrl(0, 0, 8)[..], &[0, 0], &exrl(0, 8, 0)].concat();
    let (ran, _) = run(&code, |_| {});
    assert_eq!(program(&ran), Some((Code::EXECUTE, 3)));
}

#[test]
fn an_odd_target_address_is_a_specification_exception() {
    // ex %r0,1(%r3); ahi %r2,1: ILC 2, the AHI does not run.
    let code = [0x44, 0x00, 0x30, 0x01, 0xa7, 0x2a, 0x00, 0x01, 0, 0];
    let (ran, _) = run(&code, |_| {});
    assert_eq!(program(&ran), Some((Code::SPECIFICATION, 2)));
    assert_eq!(ran.cpu.gpr[2], 0);
}

#[test]
fn the_target_is_fetched_when_it_runs() {
    // mvi 1(%r6),0x5a turns the target `ahi %r2,1` into `ahi %r5,1` in
    // the same block before the ex %r0,0(%r6) that runs it; (0).
    let code = [
        0x92, 0x5a, 0x60, 0x01, 0x44, 0x00, 0x60, 0x00, 0, 0, 0xa7, 0x2a, 0x00, 0x01,
    ];
    let (ran, _) = run(&code, |cpu| cpu.gpr[6] = CODE + 10);
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[5]), (0, 1));
}
