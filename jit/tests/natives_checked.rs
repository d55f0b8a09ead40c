//! The jit's forms of docs/CHOICES.md 45: EXECUTE and EXECUTE RELATIVE
//! LONG, whose target runs in place by the helper and whose chain goes on
//! in the block after it unless the target branched or raised an
//! exception (45a); MVCLE that only pads within a page, native (45b);
//! long BFP arithmetic where the host's result is exact (45c); VLBB of
//! 16 bytes (45d); and of docs/CHOICES.md 51: the EXECUTE's target
//! fetched once (51a), CONVERT TO FIXED and FROM LOGICAL (51b), VFEE and
//! VFENE (51c), MULTIPLY AND ADD/SUBTRACT (51d), TEST DATA CLASS and
//! MULTIPLY LOGICAL (51e).
//! Each rule is checked against the interpreter stepping the same code:
//! the registers, the PSW, storage and the interruption (code and ILC).

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::memory::{Access, Memory, System};
use zmmu_cpu::state::{Cpu, CR0_AFP_REGISTER, CR0_VECTOR};
use zmmu_jit::{ChainEnd, Jit, JitMemory};
use zmmu_machine::bus::DatBus;
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::prelude::*;

mod common;
use common::{Ran, CODE, DATA};

impl Ran {
    /// How many times the chain returned to the run loop for a helper.
    fn left(&self) -> u64 {
        self.stats.chain_ends[ChainEnd::Helper as usize]
    }
}

fn machine(code: &[u8], set: &dyn Fn(&mut Cpu)) -> (Cpu, DatBus) {
    let data: Vec<u8> = (0..64).collect();
    common::machine(0x20000, code, &data, |cpu| {
        cpu.gpr[3] = DATA;
        cpu.gpr[4] = DATA + 32;
        set(cpu);
    })
}

/// Runs `code` at CODE (DAT off, 64-bit; r3 = DATA, r4 = DATA + 32, the
/// 64 bytes at DATA are 0, 1, 2 ...; 128 KiB of storage) on the jit and
/// on the interpreter up to the first interruption; checks that both end
/// alike (registers, PSW, interruption, storage) and gives the jit's.
fn run(code: &[u8], set: impl Fn(&mut Cpu)) -> Ran {
    run_on(Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap(), code, set)
}

/// [`run`] on `jit`.
fn run_on(jit: Jit, code: &[u8], set: impl Fn(&mut Cpu)) -> Ran {
    common::run_against_interpreter(jit, 20, 0x20000, || machine(code, &set))
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
    let ran = run(&code, |cpu| cpu.gpr[1] = 0xffff_ff07);
    let mut moved = [0u8; 9];
    ran.bus
        .storage
        .read(AbsoluteAddress::new(DATA), &mut moved)
        .unwrap();
    assert_eq!(moved, [32, 33, 34, 35, 36, 37, 38, 39, 8]);
    assert_eq!(ran.cpu.gpr[2], 1);
    assert_eq!(ran.program(), Some((Code::OPERATION, 1)));
    assert_eq!(
        ran.left(),
        1,
        "only the invalid opcode leaves for the helper"
    );
}

#[test]
fn r1_zero_runs_the_target_as_it_is_and_the_block_goes_on() {
    // ex %r0,0(%r6) twice (r6 = the AHI), then ahi %r2,16 itself; (0).
    let code = [
        0x44, 0x00, 0x60, 0x00, 0x44, 0x00, 0x60, 0x00, 0xa7, 0x2a, 0x00, 0x10, 0, 0,
    ];
    let ran = run(&code, |cpu| cpu.gpr[6] = CODE + 8);
    assert_eq!(ran.cpu.gpr[2], 0x30);
    assert_eq!(
        ran.left(),
        1,
        "only the invalid opcode leaves for the helper"
    );
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
    let ran = run(&code, |_| {});
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[5]), (0, 1));
    assert_eq!(ran.cpu.psw.addr & 0xfff, 0x16);
}

#[test]
fn an_execute_of_an_execute_is_an_execute_exception() {
    // exrl %r0,exrl; (0); exrl %r0,... : ILC 3, the PSW after the first.
    let code = [&exrl(0, 0, 8)[..], &[0, 0], &exrl(0, 8, 0)].concat();
    let ran = run(&code, |_| {});
    assert_eq!(ran.program(), Some((Code::EXECUTE, 3)));
}

#[test]
fn an_odd_target_address_is_a_specification_exception() {
    // ex %r0,1(%r3); ahi %r2,1: ILC 2, the AHI does not run.
    let code = [0x44, 0x00, 0x30, 0x01, 0xa7, 0x2a, 0x00, 0x01, 0, 0];
    let ran = run(&code, |_| {});
    assert_eq!(ran.program(), Some((Code::SPECIFICATION, 2)));
    assert_eq!(ran.cpu.gpr[2], 0);
}

#[test]
fn the_target_is_fetched_when_it_runs() {
    // mvi 1(%r6),0x5a turns the target `ahi %r2,1` into `ahi %r5,1` in
    // the same block before the ex %r0,0(%r6) that runs it; (0).
    let code = [
        0x92, 0x5a, 0x60, 0x01, 0x44, 0x00, 0x60, 0x00, 0, 0, 0xa7, 0x2a, 0x00, 0x01,
    ];
    let ran = run(&code, |cpu| cpu.gpr[6] = CODE + 10);
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[5]), (0, 1));
}

/// A bus that counts the instruction fetches at one address (the
/// fetches of an EXECUTE's target).
struct Fetches {
    bus: DatBus,
    at: u64,
    count: u64,
}

impl Memory for Fetches {
    fn read(&mut self, acc: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        if acc.kind == AccessKind::InstructionFetch && addr == self.at {
            self.count += 1;
        }
        self.bus.read(acc, addr, buf)
    }
    fn write(&mut self, acc: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        self.bus.write(acc, addr, data)
    }
    fn check(&mut self, acc: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        self.bus.check(acc, addr, len)
    }
    fn translate(&mut self, acc: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
        self.bus.translate(acc, addr)
    }
    fn facilities(&self) -> Facilities {
        self.bus.facilities()
    }
    fn storage(&mut self) -> &mut dyn Storage {
        self.bus.storage()
    }
    fn invalidate(&mut self, flush: PendingFlush) {
        self.bus.invalidate(flush)
    }
    fn fault(&mut self, fault: Fault) -> Exception {
        self.bus.fault(fault)
    }
}

impl System for Fetches {}

impl JitMemory for Fetches {
    fn dat_bus(&mut self) -> &mut DatBus {
        &mut self.bus
    }
}

#[test]
fn an_execute_fetches_its_target_once() {
    // loop: ex %r0,0(%r6); brct %r7,loop; (0); ahi %r2,1: 100 EXECUTEs
    // of the AHI, each fetching it (the first halfword at the target's
    // address) once, when it runs (PoP "EXECUTE").
    let code = [
        0x44, 0x00, 0x60, 0x00, 0xa7, 0x76, 0xff, 0xfe, 0, 0, 0xa7, 0x2a, 0x00, 0x01,
    ];
    let (mut cpu, bus) = machine(&code, &|cpu: &mut Cpu| {
        cpu.gpr[6] = CODE + 10;
        cpu.gpr[7] = 100;
    });
    let mut fetches = Fetches {
        bus,
        at: CODE + 10,
        count: 0,
    };
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    let result = jit.run(&mut cpu, &mut fetches, 1000).result;
    assert_eq!(cpu.gpr[2], 100);
    assert!(matches!(result, Err(Interruption::Program { .. })));
    assert_eq!(fetches.count, 100, "one fetch of the target per EXECUTE");
}

#[test]
fn an_interpreted_step_fetches_its_instruction_once() {
    // loop: ahi %r2,1; brct %r7,loop; (0): a block the jit leaves to the
    // interpreter (translated only at an entry it never reaches) runs 100
    // AHIs, each fetched once (the step runs what it fetched).
    let code = [0xa7, 0x2a, 0x00, 0x01, 0xa7, 0x76, 0xff, 0xfe, 0, 0];
    let (mut cpu, bus) = machine(&code, &|cpu: &mut Cpu| cpu.gpr[7] = 100);
    let mut fetches = Fetches {
        bus,
        at: CODE,
        count: 0,
    };
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    jit.set_translate_after(u32::MAX);
    let result = jit.run(&mut cpu, &mut fetches, 1000).result;
    assert_eq!(cpu.gpr[2], 100);
    assert!(matches!(result, Err(Interruption::Program { .. })));
    assert_eq!(jit.stats().blocks, 0, "nothing translated");
    assert_eq!(fetches.count, 100, "one fetch per AHI");
}

/// mvcle %r2,%r4,0x1ab(%r0): pad 0xab.
const MVCLE: [u8; 4] = [0xa8, 0x24, 0x01, 0xab];

/// r2 = `at`, r3 = `len`, r4 = r5 = 0.
fn pad_from(at: u64, len: u64) -> impl Fn(&mut Cpu) {
    move |cpu| {
        (cpu.gpr[2], cpu.gpr[3]) = (at, len);
        (cpu.gpr[4], cpu.gpr[5]) = (0, 0);
    }
}

fn filled(ran: &Ran, at: u64, len: usize) -> bool {
    let mut b = vec![0u8; len];
    ran.bus
        .storage
        .read(AbsoluteAddress::new(at), &mut b)
        .unwrap();
    b.iter().all(|&x| x == 0xab)
}

#[test]
fn padding_only_within_a_page_completes_natively() {
    // Bytes DATA + 8 .. + 48 become the pad; R1 past them, R1 + 1 zero,
    // cc 2 (the first operand was the longer); nothing else stored.
    let code = [&MVCLE[..], &[0, 0]].concat();
    let ran = run(&code, pad_from(DATA + 8, 40));
    assert!(filled(&ran, DATA + 8, 40));
    let mut after = [0u8; 1];
    ran.bus
        .storage
        .read(AbsoluteAddress::new(DATA + 48), &mut after)
        .unwrap();
    assert_eq!(after, [48], "the byte after the operand");
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[3]), (DATA + 48, 0));
    assert_eq!(ran.cpu.psw.cc(), 2);
    assert!(ran.native("MVCLE"));
    // A whole page.
    let ran = run(&code, pad_from(0x5000, 0x1000));
    assert!(filled(&ran, 0x5000, 0x1000));
    assert!(ran.native("MVCLE"));
}

#[test]
fn a_page_crossing_a_second_operand_or_the_low_pages_are_the_interpreters() {
    let code = [&MVCLE[..], &[0, 0]].concat();
    // Across a page: two runs of the interpreter, one execution.
    let ran = run(&code, pad_from(0x5ff0, 0x20));
    assert!(filled(&ran, 0x5ff0, 0x20));
    assert!(!ran.native("MVCLE"));
    // In the second low page (low-address protection's units).
    let ran = run(&code, pad_from(0x1100, 0x20));
    assert!(!ran.native("MVCLE"));
    // A second operand to move.
    let ran = run(&code, |cpu| {
        pad_from(0x5000, 0x20)(cpu);
        (cpu.gpr[4], cpu.gpr[5]) = (DATA, 8);
    });
    assert!(!ran.native("MVCLE"));
    // More than the CPU-determined amount: cc 3, the rest left.
    let ran = run(&code, pad_from(0x5000, 0x3000));
    assert_eq!(ran.cpu.psw.cc(), 3);
}

#[test]
fn an_access_exception_is_the_interpreters() {
    // The first operand beyond storage: addressing, nothing stored.
    let code = [&MVCLE[..], &[0, 0]].concat();
    let ran = run(&code, pad_from(0x10_0000, 0x20));
    assert_eq!(ran.program(), Some((Code::ADDRESSING, 2)));
    assert_eq!(ran.cpu.gpr[2], 0x10_0000);
}

#[test]
fn a_page_clear_over_translated_code_drops_it() {
    // mvcle %r2,%r4,0 at CODE clears the rest of its own page from CODE +
    // 4: the next instruction (ahi %r6,1) becomes zeros, an operation
    // exception where it was.
    let code = [0xa8, 0x24, 0x00, 0x00, 0xa7, 0x6a, 0x00, 0x01, 0, 0];
    let ran = run(&code, pad_from(CODE + 4, 0x1000 - 4));
    assert_eq!(ran.cpu.gpr[6], 0, "the AHI did not run");
    assert_eq!(ran.program(), Some((Code::OPERATION, 1)));
}

/// The FPC's inexact mask and flag.
const INEXACT_MASK: u32 = 0x0800_0000;
const INEXACT_FLAG: u32 = 0x0008_0000;

/// `code` with f1 = `a`, f2 = `b`, the AFP-register control one, FPC
/// `fpc`.
fn bfp(code: &[u8], a: f64, b: f64, fpc: u32) -> Ran {
    let code = [code, &[0, 0]].concat();
    run(&code, |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.vr[1][0] = a.to_bits();
        cpu.vr[2][0] = b.to_bits();
        cpu.fpc = fpc;
    })
}

fn f1(ran: &Ran) -> f64 {
    f64::from_bits(ran.cpu.vr[1][0])
}

const ADBR: [u8; 4] = [0xb3, 0x1a, 0x00, 0x12];
const SDBR: [u8; 4] = [0xb3, 0x1b, 0x00, 0x12];
const MDBR: [u8; 4] = [0xb3, 0x1c, 0x00, 0x12];
const DDBR: [u8; 4] = [0xb3, 0x1d, 0x00, 0x12];

#[test]
fn an_exact_sum_is_native_with_its_cc() {
    let ran = bfp(&ADBR, 1.5, 2.25, 0);
    assert_eq!((f1(&ran), ran.cpu.psw.cc(), ran.cpu.fpc), (3.75, 2, 0));
    assert!(ran.native("ADBR"));
    let ran = bfp(&SDBR, 1.5, 1.5, 0);
    assert_eq!((f1(&ran).to_bits(), ran.cpu.psw.cc()), (0, 0), "+0, cc 0");
    assert!(ran.native("SDBR"));
    let ran = bfp(&SDBR, 1.5, 4.0, 0);
    assert_eq!((f1(&ran), ran.cpu.psw.cc()), (-2.5, 1));
    for (code, name, want) in [(MDBR, "MDBR", 3.375), (DDBR, "DDBR", 1.5 / 2.25)] {
        let ran = bfp(&code, 1.5, 2.25, 0);
        assert_eq!(f1(&ran), want);
        assert!(ran.native(name));
    }
}

#[test]
fn an_inexact_result_sets_the_flag_or_traps_under_the_mask() {
    let tiny = 2f64.powi(-60);
    let ran = bfp(&ADBR, 1.0, tiny, 0);
    assert_eq!((f1(&ran), ran.cpu.fpc), (1.0, INEXACT_FLAG));
    assert!(ran.native("ADBR"));
    let ran = bfp(&DDBR, 1.0, 3.0, 0);
    assert_eq!((f1(&ran), ran.cpu.fpc), (1.0 / 3.0, INEXACT_FLAG));
    // The mask on: a data exception with the inexact DXC, the rounded
    // result stored (the interpreter's).
    let ran = bfp(&ADBR, 1.0, tiny, INEXACT_MASK);
    assert!(
        matches!(ran.result, Err(Interruption::Program { exception, .. }) if exception.dxc & 0xf8 == 0x08)
    );
    assert!(!ran.native("ADBR"));
}

#[test]
fn what_ieee_adds_to_the_host_is_the_interpreters() {
    let big = 2f64.powi(1000);
    let small = 2f64.powi(-1000);
    let cases = [
        (MDBR, big, big, 0),                         // overflow
        (MDBR, small, small, 0),                     // underflow
        (MDBR, 2f64.powi(-511), 2f64.powi(-511), 0), // the smallest normal
        (DDBR, 1.0, 0.0, 0),                         // division by zero
        (SDBR, f64::INFINITY, f64::INFINITY, 0),     // invalid
        (ADBR, f64::NAN, 1.0, 0),                    // a NaN operand
        (ADBR, 1.0, 2f64.powi(-60), 1),              // toward zero
        (MDBR, big, big, 0x2000_0000),               // overflow trapped
        (MDBR, 1e-300, 1e-300, 0x1000_0000),         // underflow trapped
    ];
    for (code, a, b, fpc) in cases {
        // `run` checks the jit against the interpreter.
        let ran = bfp(&code, a, b, fpc);
        let name = ["ADBR", "SDBR", "MDBR", "DDBR"][usize::from(code[1] - 0x1a)];
        assert!(!ran.native(name), "{name} {a} {b} {fpc:#x}");
    }
}

#[test]
fn without_the_afp_register_control_a_bfp_instruction_is_a_data_exception() {
    let ran = run(&[&ADBR[..], &[0, 0]].concat(), |cpu| cpu.vr[1][0] = 1);
    assert_eq!(ran.program(), Some((Code::DATA, 2)));
    assert!(
        matches!(ran.result, Err(Interruption::Program { exception, .. }) if exception.dxc == 2)
    );
}

#[test]
fn the_storage_form_reads_its_operand() {
    // adb %f1,56(%r3): the bytes 56..63 at DATA, 0x38393a3b3c3d3e3f (about
    // 2^-124), added to 1.5: inexact.
    let code = [0xed, 0x10, 0x30, 0x38, 0x00, 0x1a, 0, 0];
    let ran = run(&code, |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.vr[1][0] = 1.5f64.to_bits();
    });
    assert_eq!((f1(&ran), ran.cpu.fpc), (1.5, INEXACT_FLAG));
    assert!(ran.native("ADB"));
}

/// vlbb %v17,d(%r3),m3 (RXB names V17).
fn vlbb(d: u8, m3: u8) -> Vec<u8> {
    vec![0xe7, 0x10, 0x30, d, m3 << 4 | 8, 0x07, 0, 0]
}

fn vector_on(cpu: &mut Cpu) {
    cpu.cr[0] |= CR0_VECTOR;
}

#[test]
fn vlbb_of_sixteen_bytes_before_the_boundary_is_native() {
    let ran = run(&vlbb(0, 6), vector_on);
    assert_eq!(
        ran.cpu.vr[17],
        [0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f]
    );
    assert!(ran.native("VLBB"));
    // 16 bytes up to a 64-byte boundary exactly.
    let ran = run(&vlbb(48, 0), vector_on);
    assert_eq!(
        ran.cpu.vr[17],
        [0x3031_3233_3435_3637, 0x3839_3a3b_3c3d_3e3f]
    );
    assert!(ran.native("VLBB"));
}

#[test]
fn vlbb_nearer_the_boundary_disabled_or_of_a_bad_size_is_the_interpreters() {
    // 8 bytes to the 64-byte boundary: those, then zeros.
    let ran = run(&vlbb(56, 0), vector_on);
    assert_eq!(ran.cpu.vr[17], [0x3839_3a3b_3c3d_3e3f, 0]);
    assert!(!ran.native("VLBB"));
    let ran = run(&vlbb(0, 7), vector_on);
    assert_eq!(ran.program(), Some((Code::SPECIFICATION, 3)));
    let ran = run(&vlbb(0, 6), |_| {});
    assert_eq!(ran.program().map(|p| p.0), Some(Code::DATA));
}

// docs/CHOICES.md 51b: CONVERT TO FIXED (CGDBR, CFDBR) and CONVERT FROM
// LOGICAL (CDLFBR).

/// The second opcode byte of CGDBR and CFDBR.
const CGDBR: u8 = 0xa9;
const CFDBR: u8 = 0x99;

/// cgdbr or cfdbr %r2,`m3`,%f2 with f2 = `x`, r2 all ones 0xaa, the
/// AFP-register control one, FPC `fpc`.
fn to_fixed(op: u8, m3: u8, x: f64, fpc: u32) -> Ran {
    run(&[0xb3, op, m3 << 4, 0x22, 0, 0], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.vr[2][0] = x.to_bits();
        cpu.gpr[2] = 0xaaaa_aaaa_aaaa_aaaa;
        cpu.fpc = fpc;
    })
}

#[test]
fn convert_to_fixed_rounds_as_m3_says_natively() {
    // M3 4 to nearest even, 5 toward zero, 6 up, 7 down; each inexact
    // (the flag set), the cc the source's sign.
    for (m3, x, want) in [
        (4, 2.5, 2),
        (4, 3.5, 4),
        (4, -2.5, -2),
        (5, -2.7, -2),
        (6, 2.1, 3),
        (6, -2.9, -2),
        (7, 2.9, 2),
        (7, -2.1, -3),
    ] {
        let ran = to_fixed(CGDBR, m3, x, 0);
        assert_eq!(ran.cpu.gpr[2] as i64, want, "M3 {m3} of {x}");
        assert_eq!(ran.cpu.fpc, INEXACT_FLAG);
        assert_eq!(ran.cpu.psw.cc(), if x < 0.0 { 1 } else { 2 });
        assert!(ran.native("CGDBR"));
    }
}

#[test]
fn m3_zero_rounds_as_the_fpc_says() {
    // FPC rounding mode 0 nearest even, 1 toward zero, 2 up, 3 down.
    for (mode, up, down) in [(0, 2, -2), (1, 2, -2), (2, 3, -2), (3, 2, -3)] {
        let ran = to_fixed(CGDBR, 0, 2.5, mode);
        assert_eq!(ran.cpu.gpr[2] as i64, up, "mode {mode}");
        let ran = to_fixed(CGDBR, 0, -2.5, mode);
        assert_eq!(ran.cpu.gpr[2] as i64, down, "mode {mode}");
        assert!(ran.native("CGDBR"));
    }
}

#[test]
fn cfdbr_sets_bits_32_to_63_and_the_cc_is_the_sources() {
    // -0.25 toward zero is 0, cc 1 (negative source), inexact.
    let ran = to_fixed(CFDBR, 5, -0.25, 0);
    assert_eq!(ran.cpu.gpr[2], 0xaaaa_aaaa_0000_0000);
    assert_eq!((ran.cpu.psw.cc(), ran.cpu.fpc), (1, INEXACT_FLAG));
    assert!(ran.native("CFDBR"));
    // An exact -7: no flag; -0: cc 0.
    let ran = to_fixed(CFDBR, 4, -7.0, 0);
    assert_eq!((ran.cpu.gpr[2], ran.cpu.fpc), (0xaaaa_aaaa_ffff_fff9, 0));
    let ran = to_fixed(CFDBR, 4, -0.0, 0);
    assert_eq!(
        (ran.cpu.gpr[2], ran.cpu.psw.cc()),
        (0xaaaa_aaaa_0000_0000, 0)
    );
    // The range's ends after rounding.
    let ran = to_fixed(CFDBR, 5, 2147483647.9, 0);
    assert_eq!(ran.cpu.gpr[2] as u32, i32::MAX as u32);
    assert!(ran.native("CFDBR"));
    let ran = to_fixed(CGDBR, 4, -(2f64.powi(63)), 0);
    assert_eq!((ran.cpu.gpr[2], ran.cpu.fpc), (1 << 63, 0));
    assert!(ran.native("CGDBR"));
}

#[test]
fn out_of_range_nan_ties_away_and_the_trapped_inexact_are_the_interpreters() {
    // (op, M3, x, FPC): `run` compares the jit with the interpreter.
    let cases = [
        (CGDBR, 4, 2f64.powi(63), 0),           // too large: cc 3
        (CFDBR, 6, 2147483647.1, 0),            // rounds to 2^31
        (CFDBR, 5, -2147483649.0, 0),           // below -2^31
        (CGDBR, 5, f64::NAN, 0),                // a NaN: cc 3
        (CGDBR, 5, f64::INFINITY, 0x8000_0000), // invalid, trapped
        (CGDBR, 5, 2.5, INEXACT_MASK),          // inexact, trapped
        (CGDBR, 1, 2.5, 0),                     // ties away: 3
        (CFDBR, 3, 2.5, 0),                     // a specification exception
    ];
    for (op, m3, x, fpc) in cases {
        let ran = to_fixed(op, m3, x, fpc);
        let name = if op == CGDBR { "CGDBR" } else { "CFDBR" };
        assert!(!ran.native(name), "{name} M3 {m3} of {x}, FPC {fpc:#x}");
    }
    assert_eq!(to_fixed(CGDBR, 4, 2f64.powi(63), 0).cpu.psw.cc(), 3);
    assert_eq!(to_fixed(CGDBR, 1, 2.5, 0).cpu.gpr[2], 3);
}

#[test]
fn cdlfbr_of_any_32_bit_unsigned_integer_is_native() {
    // cdlfbr %f1,m3,%r2: r2's bits 32-63, unsigned.
    let cdlfbr = |m3: u8| {
        run(&[0xb3, 0x91, m3 << 4, 0x12, 0, 0], |cpu| {
            cpu.cr[0] |= CR0_AFP_REGISTER;
            cpu.gpr[2] = 0x1234_5678_ffff_fffe;
        })
    };
    let ran = cdlfbr(0);
    assert_eq!(f1(&ran), 4294967294.0);
    assert!(ran.native("CDLFBR"));
    // M3 3: a specification exception, the interpreter's.
    let ran = cdlfbr(3);
    assert_eq!(ran.program(), Some((Code::SPECIFICATION, 2)));
}

// docs/CHOICES.md 51c: VECTOR FIND ELEMENT (NOT) EQUAL.

/// The vector register of bytes `b` (bits 0-63 first).
fn vector(b: [u8; 16]) -> [u64; 2] {
    let half = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap());
    [half(0), half(8)]
}

/// vfee (`op` 0x80) or vfene (0x81) %v1,%v18,%v3,`m4`,`m5` with V18 =
/// `a`, V3 = `b`, V1 ones.
fn find(op: u8, m4: u8, m5: u8, a: [u8; 16], b: [u8; 16]) -> Ran {
    run(&[0xe7, 0x12, 0x30, m5 << 4, m4 << 4 | 4, op, 0, 0], |cpu| {
        cpu.cr[0] |= CR0_VECTOR;
        cpu.vr[18] = vector(a);
        cpu.vr[3] = vector(b);
        cpu.vr[1] = [u64::MAX; 2];
    })
}

#[test]
fn vfee_gives_the_first_equal_element_or_an_earlier_zero() {
    let s = *b"hello, world\0xyz";
    let l = [b'l'; 16];
    // Bytes: the first 'l' at 2, cc 2 (before the zero) with CS.
    let ran = find(0x80, 0, 3, s, l);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([2, 0], 2));
    assert!(ran.native("VFEE"));
    // No 'q': the zero at 12 with zero search (cc 0), 16 without (cc 3).
    let q = [b'q'; 16];
    let ran = find(0x80, 0, 3, s, q);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([12, 0], 0));
    let ran = find(0x80, 0, 1, s, q);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([16, 0], 3));
    // Halfwords: "ll" at byte 2 is element 1; "lo" at byte 3 starts none.
    let ran = find(0x80, 1, 0, s, *b"llllllllllllllll");
    assert_eq!(ran.cpu.vr[1], [2, 0]);
    let ran = find(0x80, 1, 0, s, *b"lolololololololo");
    assert_eq!(ran.cpu.vr[1], [16, 0]);
}

#[test]
fn vfene_gives_the_first_unequal_element_and_which_is_low() {
    let a = *b"abcdefgh\0jklmnop";
    let mut b = a;
    b[5] = b'z';
    // 'f' < 'z' at 5: cc 1.
    let ran = find(0x81, 0, 1, a, b);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([5, 0], 1));
    assert!(ran.native("VFENE"));
    let ran = find(0x81, 0, 1, b, a);
    assert_eq!(ran.cpu.psw.cc(), 2);
    // All equal: 16 and cc 3; with zero search the zero at 8, cc 0.
    let ran = find(0x81, 0, 1, a, a);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([16, 0], 3));
    let ran = find(0x81, 0, 3, a, a);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([8, 0], 0));
    // Words: the element at byte 4 differs, V2's high: cc 2.
    let ran = find(0x81, 2, 1, b, a);
    assert_eq!((ran.cpu.vr[1], ran.cpu.psw.cc()), ([4, 0], 2));
}

#[test]
fn vfee_and_vfene_agree_with_the_interpreter_for_every_size_and_flag() {
    // Bytes from a small alphabet, so elements match and zeros occur.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes = || {
        std::array::from_fn(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 3) as u8
        })
    };
    for _ in 0..20 {
        let (a, b) = (bytes(), bytes());
        for (op, name) in [(0x80, "VFEE"), (0x81, "VFENE")] {
            for m4 in 0..3 {
                for m5 in 0..4 {
                    assert!(find(op, m4, m5, a, b).native(name));
                }
            }
        }
    }
}

#[test]
fn vfee_of_a_bad_size_or_flag_or_disabled_is_the_interpreters() {
    let z = [0u8; 16];
    for (m4, m5) in [(3, 0), (0, 4), (0, 8)] {
        let ran = find(0x80, m4, m5, z, z);
        assert_eq!(ran.program(), Some((Code::SPECIFICATION, 3)));
    }
    let ran = run(&[0xe7, 0x12, 0x30, 0, 4, 0x80, 0, 0], |_| {});
    assert_eq!(ran.program().map(|p| p.0), Some(Code::DATA));
}

// docs/CHOICES.md 51d: MULTIPLY AND ADD, MULTIPLY AND SUBTRACT.

/// madbr (`op` 0x1e) or msdbr (0x1f) %f1,%f3,%f2 with f1 = `a`, f3 = `b`,
/// f2 = `c` (f1 = b * c +/- a), the AFP-register control one, FPC `fpc`,
/// on `jit`.
fn fused_on(jit: Jit, op: u8, a: f64, b: f64, c: f64, fpc: u32) -> Ran {
    run_on(jit, &[0xb3, op, 0x10, 0x32, 0, 0], |cpu| {
        cpu.cr[0] |= CR0_AFP_REGISTER;
        cpu.vr[1][0] = a.to_bits();
        cpu.vr[3][0] = b.to_bits();
        cpu.vr[2][0] = c.to_bits();
        cpu.fpc = fpc;
    })
}

fn fused(op: u8, a: f64, b: f64, c: f64, fpc: u32) -> Ran {
    fused_on(
        Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap(),
        op,
        a,
        b,
        c,
        fpc,
    )
}

const MADBR: u8 = 0x1e;
const MSDBR: u8 = 0x1f;

#[test]
fn multiply_and_add_rounds_once_natively() {
    // A host without FMA3: the next tests' case.
    if !zmmu_jit::host_has_fma() {
        return;
    }
    // (1 + 2^-30)(1 - 2^-30) = 1 - 2^-60, which alone rounds to 1: plus -1
    // it is -2^-60 exactly (0 with two roundings), no flag.
    let (b, c) = (1.0 + 2f64.powi(-30), 1.0 - 2f64.powi(-30));
    let ran = fused(MADBR, -1.0, b, c, 0);
    assert_eq!((f1(&ran), ran.cpu.fpc), (-(2f64.powi(-60)), 0));
    assert!(ran.native("MADBR"));
    let ran = fused(MSDBR, 1.0, b, c, 0);
    assert_eq!(f1(&ran), -(2f64.powi(-60)));
    assert!(ran.native("MSDBR"));
    // Inexact: the flag; an exact zero sum, +0 (round to nearest).
    let ran = fused(MADBR, 1.0, 3.0, 1.0 / 3.0, 0);
    assert_eq!(ran.cpu.fpc, INEXACT_FLAG);
    assert!(ran.native("MADBR"));
    let ran = fused(MADBR, -6.0, 2.0, 3.0, 0);
    assert_eq!(f1(&ran).to_bits(), 0);
    let ran = fused(MSDBR, -0.0, -0.0, 5.0, 0);
    assert_eq!(f1(&ran).to_bits(), 0, "-0 less -0 is +0");
}

#[test]
fn what_ieee_adds_to_a_fused_result_is_the_interpreters() {
    let big = 2f64.powi(1000);
    let cases = [
        (MADBR, 0.0, big, big, 0),                         // overflow
        (MADBR, 0.0, 2f64.powi(-600), 2f64.powi(-600), 0), // underflow
        (MADBR, 1.0, f64::INFINITY, 0.0, 0),               // invalid
        (MSDBR, f64::INFINITY, f64::INFINITY, 1.0, 0),     // inf - inf
        (MADBR, f64::NAN, 1.0, 1.0, 0),                    // a NaN
        (MADBR, 1.0, 3.0, 1.0 / 3.0, 1),                   // toward zero
        (MADBR, 1.0, 3.0, 1.0 / 3.0, INEXACT_MASK),        // inexact, trapped
    ];
    for (op, a, b, c, fpc) in cases {
        let ran = fused(op, a, b, c, fpc);
        let name = if op == MADBR { "MADBR" } else { "MSDBR" };
        assert!(!ran.native(name), "{name} {a} {b} {c} {fpc:#x}");
    }
}

#[test]
fn without_the_hosts_fused_multiply_add_madbr_is_the_interpreters() {
    let mut jit = Jit::new(zmmu_jit::DEFAULT_BUFFER).unwrap();
    jit.set_fma(false);
    let ran = fused_on(
        jit,
        MADBR,
        -1.0,
        1.0 + 2f64.powi(-30),
        1.0 - 2f64.powi(-30),
        0,
    );
    assert_eq!(f1(&ran), -(2f64.powi(-60)));
    assert!(!ran.native("MADBR"));
}

// docs/CHOICES.md 51e: TEST DATA CLASS, MULTIPLY LOGICAL (64 bits).

#[test]
fn test_data_class_selects_the_class_and_sign_natively() {
    // tcdb %f1,mask: the classes at bit 52 + 2 * class + sign.
    let classes: [(u64, u16); 12] = [
        (0, 0x800),                 // +0
        (1 << 63, 0x400),           // -0
        (1f64.to_bits(), 0x200),    // +normal
        ((-1f64).to_bits(), 0x100), // -normal
        (1, 0x80),                  // +subnormal
        (1 << 63 | 1, 0x40),        // -subnormal
        (f64::INFINITY.to_bits(), 0x20),
        (f64::NEG_INFINITY.to_bits(), 0x10),
        (0x7ff8_0000_0000_0000, 0x08), // +quiet NaN
        (0xfff8_0000_0000_0001, 0x04), // -quiet NaN
        (0x7ff0_0000_0000_0001, 0x02), // +signaling NaN
        (0xfff4_0000_0000_0000, 0x01), // -signaling NaN
    ];
    for (value, bit) in classes {
        for (mask, cc) in [(bit, 1), (0xfff & !bit, 0), (0xfff, 1)] {
            let code = [0xed, 0x10, (mask >> 8) as u8, mask as u8, 0x00, 0x11, 0, 0];
            let ran = run(&code, |cpu| {
                cpu.cr[0] |= CR0_AFP_REGISTER;
                cpu.vr[1][0] = value;
            });
            assert_eq!(ran.cpu.psw.cc(), cc, "{value:#x} under {mask:#x}");
            assert!(ran.native("TCDB"));
        }
    }
    // Without the AFP-register control: the data exception, DXC 2.
    let ran = run(&[0xed, 0x10, 0x0f, 0xff, 0x00, 0x11, 0, 0], |_| {});
    assert_eq!(ran.program(), Some((Code::DATA, 3)));
}

#[test]
fn multiply_logical_gives_the_128_bit_product_to_the_pair() {
    // mlgr %r2,%r6: r3 * r6 into r2 : r3.
    let ran = run(&[0xb9, 0x86, 0x00, 0x26, 0, 0], |cpu| {
        cpu.gpr[3] = u64::MAX;
        cpu.gpr[6] = u64::MAX;
    });
    assert_eq!((ran.cpu.gpr[2], ran.cpu.gpr[3]), (u64::MAX - 1, 1));
    assert!(ran.native("MLGR"));
    // mlg %r4,8(%r3): the doubleword 0x08090a0b0c0d0e0f times r5 = 16.
    let ran = run(&[0xe3, 0x40, 0x30, 0x08, 0x00, 0x86, 0, 0], |cpu| {
        cpu.gpr[5] = 16;
    });
    assert_eq!((ran.cpu.gpr[4], ran.cpu.gpr[5]), (0, 0x8090_a0b0_c0d0_e0f0));
    assert!(ran.native("MLG"));
    // An odd R1: the specification exception, the interpreter's.
    let ran = run(&[0xb9, 0x86, 0x00, 0x36, 0, 0], |_| {});
    assert_eq!(ran.program(), Some((Code::SPECIFICATION, 2)));
}
