//! LOAD MULTIPLE and STORE MULTIPLE in translated code under the host
//! MMU: an operand whose second page raises an access exception leaves
//! every register and byte as the interpreter leaves them (PoP: the
//! exception suppresses the operation; the interpreter checks the whole
//! operand before it loads a register or stores a byte), even when a
//! register loaded before the fault is the base register.

mod common;

use common::{program_machine, run_like, Quiet};
use zmmu_machine::Machine;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::storage::Storage;

/// The last doubleword of the 16 MiB of [`program_machine`]: an operand
/// here of more than 8 bytes runs into an addressing exception.
const EDGE: u64 = 0xff_fff8;

/// lgfi r3,EDGE ; lm r2,r4,0(r3) (r3, the base, is the second word
/// loaded; its new value would be 0) ; then an invalid opcode.
const LOAD: [u8; 12] = [
    0xc0, 0x31, 0x00, 0xff, 0xff, 0xf8, 0x98, 0x24, 0x30, 0x00, 0x00, 0x00,
];

/// lgfi r7,EDGE ; lghi r5,0x1234 ; lghi r6,0x5678 ; lghi r8,0x9abc ;
/// stmg r5,r5,0(r7) (fits) ; stmg r5,r8,0(r7) (the first doubleword fits,
/// the rest does not) ; then an invalid opcode.
const STORE: [u8; 32] = [
    0xc0, 0x71, 0x00, 0xff, 0xff, 0xf8, 0xa7, 0x59, 0x12, 0x34, 0xa7, 0x69, 0x56, 0x78, 0xa7, 0x89,
    0x9a, 0xbc, 0xeb, 0x55, 0x70, 0x00, 0x00, 0x24, 0xeb, 0x68, 0x70, 0x00, 0x00, 0x24, 0x00, 0x00,
];

fn machine(program: &[u8]) -> Machine {
    let mut machine = program_machine(0x2000, program);
    machine
        .bus
        .storage
        .write_u64(AbsoluteAddress::new(EDGE), 0x0bad_cafe_0000_0000)
        .unwrap();
    machine
}

/// What a run leaves: the registers, the program-interruption code and
/// old PSW, and the last 8 bytes of storage.
fn state(machine: &Machine) -> ([u64; 16], u16, u64, u64) {
    let storage = &machine.bus.storage;
    let mut code = [0u8; 2];
    storage.read(AbsoluteAddress::new(0x8e), &mut code).unwrap();
    (
        machine.cpu.gpr,
        u16::from_be_bytes(code),
        storage.read_u64(AbsoluteAddress::new(0x158)).unwrap(),
        storage.read_u64(AbsoluteAddress::new(EDGE)).unwrap(),
    )
}

fn same_as_the_interpreter(program: &[u8]) -> ([u64; 16], u16, u64, u64) {
    let mut reference = machine(program);
    let expected = reference.run(Some(100), &mut Quiet);
    let want = state(&reference);
    let Some((machine, _)) = run_like(&expected, machine(program), 100) else {
        return want;
    };
    assert_eq!(state(&machine), want);
    want
}

#[test]
fn load_multiple_into_an_addressing_exception_loads_no_register() {
    let (gpr, code, _, _) = same_as_the_interpreter(&LOAD);
    assert_eq!(code, 5, "addressing exception");
    assert_eq!(gpr[2], 0);
    assert_eq!(gpr[3], EDGE, "the base register unchanged");
}

#[test]
fn store_multiple_into_an_addressing_exception_stores_no_byte() {
    let (_, code, _, edge) = same_as_the_interpreter(&STORE);
    assert_eq!(code, 5, "addressing exception");
    assert_eq!(edge, 0x1234, "the first STMG's first doubleword only");
}
