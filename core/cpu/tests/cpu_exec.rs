//! Execution rules of the interpreter, one architected rule per test.

mod cpu_common;

use zmmu_cpu::interrupt::{lowcore, Interruption};
use zmmu_cpu::memory::{Access, FlatMemory, Memory, System};
use zmmu_cpu::state::{mask, Cpu, Psw};
use zmmu_mmu::access::Fault;
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::addr::AddressingMode;
use zmmu_mmu::control::Facilities;
use zmmu_mmu::exception::Code;
use zmmu_mmu::exception::Exception;
use zmmu_mmu::invalidate::PendingFlush;
use zmmu_mmu::prefix::Prefix;
use zmmu_mmu::storage::Storage;

const CODE: u64 = 0x1000;
const DATA: u64 = 0x2000;

/// A CPU in 64-bit supervisor state at CODE, and 64 KiB of memory holding
/// `code` there.
fn machine(code: &[u8]) -> (Cpu, FlatMemory) {
    let mut mem = FlatMemory::new(0, 0x10000);
    mem.load(CODE, code).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    (cpu, mem)
}

fn program_exception(r: Result<(), Interruption>) -> (u16, u8) {
    match r {
        Err(Interruption::Program { exception, ilc }) => (exception.code.0, ilc),
        other => panic!("expected a program interruption, got {other:?}"),
    }
}

#[test]
fn signed_add_overflow_sets_cc3_and_interrupts_only_when_psw_bit_20_is_one() {
    // ahi %r1,1 with r1 = 0x7fffffff
    let (mut cpu, mut mem) = machine(&[0xA7, 0x1A, 0x00, 0x01]);
    cpu.gpr[1] = 0x7fff_ffff;
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1], cpu.psw.cc()), (0x8000_0000, 3));

    let (mut cpu, mut mem) = machine(&[0xA7, 0x1A, 0x00, 0x01]);
    cpu.gpr[1] = 0x7fff_ffff;
    cpu.psw.mask |= mask::FIXED_OVERFLOW;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0008, 2));
    // Completion: the result is stored and the PSW points past the AHI.
    assert_eq!((cpu.gpr[1], cpu.psw.addr), (0x8000_0000, CODE + 4));
}

#[test]
fn logical_add_sets_carry_in_cc_bit_one() {
    // alr %r1,%r2: 0xffffffff + 1 = 0 with carry -> cc 2
    let (mut cpu, mut mem) = machine(&[0x1E, 0x12]);
    cpu.gpr[1] = 0xffff_ffff;
    cpu.gpr[2] = 1;
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1], cpu.psw.cc()), (0, 2));
}

#[test]
fn divide_by_zero_is_a_fixed_point_divide_exception_and_changes_nothing() {
    // dr %r2,%r4
    let (mut cpu, mut mem) = machine(&[0x1D, 0x24]);
    cpu.gpr[2] = 5;
    cpu.gpr[3] = 7;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0009, 1));
    assert_eq!((cpu.gpr[2], cpu.gpr[3]), (5, 7));
    assert_eq!(
        cpu.psw.addr,
        CODE + 2,
        "suppression: old PSW points past the DR"
    );
}

#[test]
fn quotient_too_large_is_a_fixed_point_divide_exception() {
    // dsgr %r2,%r4 with r3 = i64::MIN, r4 = -1
    let (mut cpu, mut mem) = machine(&[0xB9, 0x0D, 0x00, 0x24]);
    cpu.gpr[3] = 1 << 63;
    cpu.gpr[4] = u64::MAX;
    assert_eq!(program_exception(cpu.step(&mut mem)).0, 0x0009);
}

#[test]
fn odd_first_register_of_a_pair_is_a_specification_exception() {
    // dr %r3,%r4
    let (mut cpu, mut mem) = machine(&[0x1D, 0x34]);
    cpu.gpr[4] = 1;
    assert_eq!(program_exception(cpu.step(&mut mem)).0, 0x0006);
}

#[test]
fn unknown_opcode_is_an_operation_exception_with_its_length() {
    let (mut cpu, mut mem) = machine(&[0xE3, 0x00, 0x00, 0x00, 0x00, 0xFF]);
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0001, 3));
}

#[test]
fn execute_ors_bits_56_to_63_of_r1_into_the_target_length() {
    // ex %r1,0(%r5) targeting mvc 0(1,%r6),0(%r7) at DATA
    let (mut cpu, mut mem) = machine(&[0x44, 0x10, 0x50, 0x00]);
    mem.load(DATA, &[0xD2, 0x00, 0x60, 0x00, 0x70, 0x00])
        .unwrap();
    mem.load(0x3000, b"abcdef").unwrap();
    cpu.gpr[1] = 3; // length code 3: four bytes
    cpu.gpr[5] = DATA;
    cpu.gpr[6] = 0x4000;
    cpu.gpr[7] = 0x3000;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(0x4000, 5).unwrap(), b"abcd\0");
    assert_eq!(cpu.psw.addr, CODE + 4, "continues after the EXECUTE");
}

/// Runs `target` (placed at DATA) under EX at CODE (`ex %r0,0(%r5)`, four
/// bytes) or EXRL at CODE (`exrl %r0,DATA`, six bytes), in `amode`, and
/// returns the CPU afterwards.
fn executed(target: &[u8], exrl: bool, amode: AddressingMode) -> Cpu {
    let execute: &[u8] = if exrl {
        // exrl %r0,DATA: RI2 = (DATA - CODE) / 2 halfwords.
        &[0xC6, 0x00, 0x00, 0x00, 0x08, 0x00]
    } else {
        &[0x44, 0x00, 0x50, 0x00]
    };
    let (mut cpu, mut mem) = machine(execute);
    mem.load(DATA, target).unwrap();
    cpu.gpr[5] = DATA;
    cpu.psw.set_amode(amode);
    cpu.step(&mut mem).unwrap();
    cpu
}

/// The length of the EXECUTE in [`executed`].
fn execute_len(exrl: bool) -> u64 {
    if exrl {
        6
    } else {
        4
    }
}

#[test]
fn branch_and_save_under_execute_links_to_the_instruction_after_the_execute() {
    for exrl in [false, true] {
        let after = CODE + execute_len(exrl);
        // bras %r14,+8 ; brasl %r14,+8 ; bas %r14,0x100 ; basr %r14,%r0 (no branch)
        let targets: [&[u8]; 4] = [
            &[0xA7, 0xE5, 0x00, 0x04],
            &[0xC0, 0xE5, 0x00, 0x00, 0x00, 0x04],
            &[0x4D, 0xE0, 0x01, 0x00],
            &[0x0D, 0xE0],
        ];
        for target in targets {
            let cpu = executed(target, exrl, AddressingMode::Bits64);
            assert_eq!(cpu.gpr[14], after, "{target:02x?} exrl={exrl}");
        }
        let cpu = executed(&[0x0D, 0xE0], exrl, AddressingMode::Bits31);
        assert_eq!(cpu.gpr[14], after | 0x8000_0000, "basr 31-bit exrl={exrl}");
    }
}

#[test]
fn branch_and_link_under_execute_in_the_24_bit_mode_stores_the_executes_ilc() {
    for exrl in [false, true] {
        // balr %r14,%r0: no branch; bits 32-33 are the ILC of the EXECUTE.
        let cpu = executed(&[0x05, 0xE0], exrl, AddressingMode::Bits24);
        let ilc = if exrl { 3u64 } else { 2 };
        let link = cpu.gpr[14] & 0xffff_ffff;
        assert_eq!(link >> 30, ilc, "exrl={exrl}");
        assert_eq!(link & 0x00ff_ffff, CODE + execute_len(exrl), "exrl={exrl}");
        // bal %r14,0x100 branches and links the same way.
        let cpu = executed(&[0x45, 0xE0, 0x01, 0x00], exrl, AddressingMode::Bits24);
        assert_eq!(cpu.gpr[14] & 0x00ff_ffff, CODE + execute_len(exrl));
        assert_eq!(cpu.psw.addr, 0x100);
    }
}

#[test]
fn relative_operands_under_execute_are_relative_to_the_target() {
    for exrl in [false, true] {
        // larl %r1,+0x10 (RI2 = 8 halfwords)
        let cpu = executed(
            &[0xC0, 0x10, 0x00, 0x00, 0x00, 0x08],
            exrl,
            AddressingMode::Bits64,
        );
        assert_eq!(cpu.gpr[1], DATA + 0x10, "larl exrl={exrl}");
        // bras %r14,+8 branches relative to the target
        let cpu = executed(&[0xA7, 0xE5, 0x00, 0x04], exrl, AddressingMode::Bits64);
        assert_eq!(cpu.psw.addr, DATA + 8, "bras exrl={exrl}");
        // brc 15,+8 likewise; a relative branch not taken continues after the EXECUTE
        let cpu = executed(&[0xA7, 0xF4, 0x00, 0x04], exrl, AddressingMode::Bits64);
        assert_eq!(cpu.psw.addr, DATA + 8, "brc exrl={exrl}");
        let cpu = executed(&[0xA7, 0x04, 0x00, 0x04], exrl, AddressingMode::Bits64);
        assert_eq!(cpu.psw.addr, CODE + execute_len(exrl), "brc 0 exrl={exrl}");
    }
}

#[test]
fn relative_long_loads_under_execute_address_relative_to_the_target() {
    for exrl in [false, true] {
        // lgrl %r1,+0x10 reads the doubleword at DATA + 0x10
        let (mut cpu, mut mem) = machine(if exrl {
            &[0xC6, 0x00, 0x00, 0x00, 0x08, 0x00]
        } else {
            &[0x44, 0x00, 0x50, 0x00]
        });
        mem.load(DATA, &[0xC4, 0x18, 0x00, 0x00, 0x00, 0x08])
            .unwrap();
        mem.load(DATA + 0x10, &0x1122_3344_5566_7788u64.to_be_bytes())
            .unwrap();
        cpu.gpr[5] = DATA;
        cpu.step(&mut mem).unwrap();
        assert_eq!(cpu.gpr[1], 0x1122_3344_5566_7788, "exrl={exrl}");
        assert_eq!(cpu.psw.addr, CODE + execute_len(exrl));
    }
}

#[test]
fn execute_of_execute_is_an_execute_exception() {
    // ex %r0,0(%r5) targeting another ex
    let (mut cpu, mut mem) = machine(&[0x44, 0x00, 0x50, 0x00]);
    mem.load(DATA, &[0x44, 0x00, 0x50, 0x00]).unwrap();
    cpu.gpr[5] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0003, 2));
}

#[test]
fn program_interruption_swaps_psws_through_the_lowcore() {
    let (mut cpu, mut mem) = machine(&[0x1D, 0x24]); // dr %r2,%r4 by zero
    let new_psw = [0u64.to_be_bytes(), 0x5000u64.to_be_bytes()].concat();
    mem.load(lowcore::PGM_NEW_PSW, &new_psw).unwrap();
    let intr = cpu.step(&mut mem).unwrap_err();
    cpu.deliver(&mut mem, intr).unwrap();
    assert_eq!(
        cpu.psw,
        Psw {
            mask: 0,
            addr: 0x5000
        }
    );
    let old = mem.slice(lowcore::PGM_OLD_PSW, 16).unwrap();
    assert_eq!(&old[8..], &(CODE + 2).to_be_bytes());
    assert_eq!(mem.slice(lowcore::PGM_ILC, 4).unwrap(), &[0, 2, 0, 9]);
}

#[test]
fn lowcore_accesses_are_prefixed() {
    let (mut cpu, mut mem) = machine(&[0x0A, 0x07]); // svc 7
    cpu.prefix = Prefix::new(0x8000);
    let intr = cpu.step(&mut mem).unwrap_err();
    assert_eq!(intr, Interruption::Supervisor { code: 7, ilc: 1 });
    cpu.deliver(&mut mem, intr).unwrap();
    assert_eq!(mem.slice(0x8000 + lowcore::SVC_CODE, 2).unwrap(), &[0, 7]);
    assert_eq!(mem.slice(lowcore::SVC_CODE, 2).unwrap(), &[0, 0]);
    let old = mem.slice(0x8000 + lowcore::SVC_OLD_PSW, 16).unwrap();
    assert_eq!(&old[8..], &(CODE + 2).to_be_bytes());
}

/// A memory that reports a page-translation exception for one page.
struct Faulting(FlatMemory, u64);

impl Memory for Faulting {
    fn read(&mut self, a: &Access<'_>, addr: u64, buf: &mut [u8]) -> Result<(), Exception> {
        self.check(a, addr, buf.len() as u64)?;
        self.0.read(a, addr, buf)
    }
    fn write(&mut self, a: &Access<'_>, addr: u64, data: &[u8]) -> Result<(), Exception> {
        self.check(a, addr, data.len() as u64)?;
        self.0.write(a, addr, data)
    }
    fn check(&mut self, a: &Access<'_>, addr: u64, len: u64) -> Result<(), Exception> {
        let last = addr + len.max(1) - 1;
        if addr >> 12 == self.1 >> 12 || last >> 12 == self.1 >> 12 {
            return Err(Exception::new(Code::PAGE_TRANSLATION));
        }
        self.0.check(a, addr, len)
    }
    fn translate(&mut self, a: &Access<'_>, addr: u64) -> Result<AbsoluteAddress, Exception> {
        self.check(a, addr, 1)?;
        self.0.translate(a, addr)
    }
    fn facilities(&self) -> Facilities {
        self.0.facilities()
    }
    fn storage(&mut self) -> &mut dyn Storage {
        self.0.storage()
    }
    fn invalidate(&mut self, flush: PendingFlush) {
        self.0.invalidate(flush);
    }
    fn fault(&mut self, fault: Fault) -> Exception {
        self.0.fault(fault)
    }
}

impl System for Faulting {}

#[test]
fn translation_exceptions_nullify_the_instruction() {
    // l %r1,0(%r2) with the operand on a missing page
    let (mut cpu, mem) = machine(&[0x58, 0x10, 0x20, 0x00]);
    let mut bus = Faulting(mem, 0x7000);
    cpu.gpr[2] = 0x7000;
    assert_eq!(program_exception(cpu.step(&mut bus)), (0x0011, 2));
    assert_eq!(cpu.psw.addr, CODE, "nullification: old PSW points at the L");
}

#[test]
fn a_two_byte_instruction_in_the_last_halfword_of_storage_runs() {
    // bcr 0,0 in the last two bytes of a storage that ends inside its page:
    // only the instruction's own bytes are fetched.
    let mut mem = FlatMemory::new(0, CODE as usize + 2);
    mem.load(CODE, &[0x07, 0x00]).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw = Psw {
        mask: mask::EA | mask::BA,
        addr: CODE,
    };
    assert_eq!(cpu.step(&mut mem), Ok(()));
    assert_eq!(cpu.psw.addr, CODE + 2);
}

#[test]
fn an_instruction_crossing_into_an_invalid_page_is_nullified_with_its_length() {
    // l %r1,0(%r2) whose last halfword lies on the missing page: the
    // page-translation exception comes with ILC 2 (the instruction's length
    // was known from its first halfword).
    let (mut cpu, mut mem) = machine(&[]);
    mem.load(0x6ffe, &[0x58, 0x10]).unwrap();
    cpu.psw.addr = 0x6ffe;
    let mut bus = Faulting(mem, 0x7000);
    assert_eq!(program_exception(cpu.step(&mut bus)), (0x0011, 2));
    assert_eq!(cpu.psw.addr, 0x6ffe);
}

#[test]
fn mvc_checks_both_operands_before_storing_across_a_page_boundary() {
    // mvc 0xffc(8,%r2),0(%r3): destination crosses into the missing page
    let (mut cpu, mut mem) = machine(&[0xD2, 0x07, 0x2F, 0xFC, 0x30, 0x00]);
    mem.load(0x3000, &[1; 8]).unwrap();
    let mut bus = Faulting(mem, 0x7000);
    cpu.gpr[2] = 0x6000;
    cpu.gpr[3] = 0x3000;
    assert_eq!(program_exception(cpu.step(&mut bus)).0, 0x0011);
    assert_eq!(bus.0.slice(0x6ffc, 4).unwrap(), &[0; 4], "nothing stored");
}

#[test]
fn operands_wrap_at_the_top_of_24_bit_storage() {
    // l %r1,0(%r2) at 0xfffffe in the 24-bit mode reads 0xfffffe, 0xffffff, 0, 1
    let mut mem = FlatMemory::new(0, 0x100_0000);
    mem.load(0x1000, &[0x58, 0x10, 0x20, 0x00]).unwrap();
    mem.load(0xff_fffe, &[0xAA, 0xBB]).unwrap();
    mem.load(0, &[0xCC, 0xDD]).unwrap();
    let mut cpu = Cpu::new();
    cpu.psw.addr = 0x1000;
    cpu.gpr[2] = 0xff_fffe;
    assert_eq!(cpu.psw.amode(), AddressingMode::Bits24);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[1], 0xAABB_CCDD);
}

#[test]
fn load_address_wraps_to_31_bits_and_keeps_bits_0_to_31() {
    // la %r1,1(%r2) in the 31-bit mode with r2 = 0x7fffffff
    let (mut cpu, mut mem) = machine(&[0x41, 0x10, 0x20, 0x01]);
    cpu.psw.set_amode(AddressingMode::Bits31);
    cpu.gpr[1] = 0x1234_5678_ffff_ffff;
    cpu.gpr[2] = 0x7fff_ffff;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[1], 0x1234_5678_0000_0000);
}

#[test]
fn privileged_instructions_in_the_problem_state_are_privileged_operation_exceptions() {
    // lctlg %c0,%c0,0(%r2)
    let (mut cpu, mut mem) = machine(&[0xEB, 0x00, 0x20, 0x00, 0x00, 0x2F]);
    cpu.psw.mask |= mask::PROBLEM;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0002, 3));
}

#[test]
fn lctlg_and_stctg_move_control_registers_r1_through_r3() {
    // lctlg %c14,%c1,0(%r2); stctg %c14,%c1,64(%r2)
    let code = [
        0xEB, 0xE1, 0x20, 0x00, 0x00, 0x2F, 0xEB, 0xE1, 0x20, 0x40, 0x00, 0x25,
    ];
    let (mut cpu, mut mem) = machine(&code);
    let vals: Vec<u8> = (1..=4u64)
        .flat_map(|v| (v * 0x1111).to_be_bytes())
        .collect();
    mem.load(DATA, &vals).unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(
        (cpu.cr[14], cpu.cr[15], cpu.cr[0], cpu.cr[1]),
        (0x1111, 0x2222, 0x3333, 0x4444)
    );
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(DATA + 64, 32).unwrap(), &vals[..]);
}

#[test]
fn lpswe_loads_a_valid_psw() {
    // lpswe 0(%r2)
    let (mut cpu, mut mem) = machine(&[0xB2, 0xB2, 0x20, 0x00]);
    let psw = [
        (mask::EA | mask::BA | mask::PROBLEM).to_be_bytes(),
        0x4000u64.to_be_bytes(),
    ]
    .concat();
    mem.load(DATA, &psw).unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    let expected = Psw {
        mask: mask::EA | mask::BA | mask::PROBLEM,
        addr: 0x4000,
    };
    assert_eq!(cpu.psw, expected);
}

#[test]
fn an_invalid_psw_is_loaded_then_recognized_early_with_ilc_0() {
    // lpswe 0(%r2) of a PSW with EA but not BA
    let (mut cpu, mut mem) = machine(&[0xB2, 0xB2, 0x20, 0x00]);
    let bad = [mask::EA.to_be_bytes(), 0x4000u64.to_be_bytes()].concat();
    mem.load(DATA, &bad).unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 0));
    assert_eq!(
        cpu.psw,
        Psw {
            mask: mask::EA,
            addr: 0x4000
        },
        "the old PSW is the invalid one"
    );
}

#[test]
fn stfle_sets_r0_to_the_doublewords_needed_minus_one() {
    // stfle 0(%r2)
    let (mut cpu, mut mem) = machine(&[0xB2, 0xB0, 0x20, 0x00]);
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    // Room for one doubleword of three (facility 129 is in the third):
    // cc 3 and R0 = 2.
    assert_eq!((cpu.gpr[0] & 0xff, cpu.psw.cc()), (2, 3));
    let dw = u64::from_be_bytes(mem.slice(DATA, 8).unwrap().try_into().unwrap());
    assert_ne!(dw & (1 << (63 - 2)), 0, "z/Architecture active (bit 2)");

    cpu.psw.addr = CODE;
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[0] & 0xff, cpu.psw.cc()), (2, 0));
    let dw = u64::from_be_bytes(mem.slice(DATA + 16, 8).unwrap().try_into().unwrap());
    assert_ne!(
        dw & (1 << (63 - (129 - 128))),
        0,
        "vector facility (bit 129)"
    );
}

#[test]
fn spx_sets_the_prefix_and_stpx_stores_it() {
    // spx 0(%r2); stpx 4(%r2)
    let (mut cpu, mut mem) = machine(&[0xB2, 0x10, 0x20, 0x00, 0xB2, 0x11, 0x20, 0x04]);
    mem.load(DATA, &0x0000_8345u32.to_be_bytes()).unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.prefix, Prefix::new(0x8000));
    assert_eq!(
        mem.slice(DATA + 4, 4).unwrap(),
        &0x0000_8000u32.to_be_bytes()
    );
}

#[test]
fn spx_of_a_prefix_area_outside_storage_is_an_addressing_exception() {
    // spx 0(%r2) naming 0x10000-0x11fff, past the 64 KiB of storage
    let (mut cpu, mut mem) = machine(&[0xB2, 0x10, 0x20, 0x00]);
    mem.load(DATA, &0x0001_0000u32.to_be_bytes()).unwrap();
    cpu.gpr[2] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0005, 2));
    assert_eq!(cpu.prefix, Prefix::new(0), "the prefix is unchanged");
}

#[test]
fn stosm_and_stnsm_store_the_old_system_mask_then_change_it() {
    // stosm 0(%r2),0x03; stnsm 1(%r2),0xfe
    let (mut cpu, mut mem) = machine(&[0xAD, 0x03, 0x20, 0x00, 0xAC, 0xFE, 0x20, 0x01]);
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.mask >> 56, 0x03);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.mask >> 56, 0x02);
    assert_eq!(mem.slice(DATA, 2).unwrap(), &[0x00, 0x03]);
}

#[test]
fn test_only_rotate_then_or_sets_cc_and_leaves_r1() {
    // rosbg %r1,%r2,128+0,63,0: T bit set
    let (mut cpu, mut mem) = machine(&[0xEC, 0x12, 0x80, 0x3F, 0x00, 0x56]);
    cpu.gpr[1] = 0;
    cpu.gpr[2] = 4;
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.gpr[1], cpu.psw.cc()), (0, 1));
}

#[test]
fn mvc_one_byte_ahead_propagates_the_first_byte() {
    // mvc 1(7,%r2),0(%r2)
    let (mut cpu, mut mem) = machine(&[0xD2, 0x06, 0x20, 0x01, 0x20, 0x00]);
    mem.load(DATA, b"xabcdefg").unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(DATA, 8).unwrap(), b"xxxxxxxx");
}

#[test]
fn mvcrl_one_byte_behind_propagates_the_last_byte() {
    // mvcrl 0(%r2),1(%r2) with GR0 = 6: seven bytes, rightmost first
    let (mut cpu, mut mem) = machine(&[0xE5, 0x0A, 0x20, 0x00, 0x20, 0x01]);
    mem.load(DATA, b"abcdefgx").unwrap();
    cpu.gpr[0] = 6;
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(DATA, 8).unwrap(), b"xxxxxxxx");
}

#[test]
fn mvcrl_moves_gr0_bits_56_to_63_plus_one_bytes() {
    // mvcrl 0(%r2),0(%r3) with GR0 = 0x...0102: three bytes (bits 0-55 of
    // GR0 play no part in the length)
    let (mut cpu, mut mem) = machine(&[0xE5, 0x0A, 0x20, 0x00, 0x30, 0x00]);
    mem.load(DATA + 0x100, b"abcdef").unwrap();
    cpu.gpr[0] = 0x0102;
    cpu.gpr[2] = DATA;
    cpu.gpr[3] = DATA + 0x100;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(DATA, 4).unwrap(), b"abc\0");
}

#[test]
fn mvcrl_checks_both_operands_before_storing_across_a_page_boundary() {
    // mvcrl 0xffc(%r2),0(%r3), eight bytes: the destination's right part is
    // on the missing page, so nothing is stored, not even the left part
    let (mut cpu, mem) = machine(&[0xE5, 0x0A, 0x2F, 0xFC, 0x30, 0x00]);
    let mut bus = Faulting(mem, 0x7000);
    bus.0.load(0x3000, &[1; 8]).unwrap();
    cpu.gpr[0] = 7;
    cpu.gpr[2] = 0x6000;
    cpu.gpr[3] = 0x3000;
    assert_eq!(program_exception(cpu.step(&mut bus)), (0x0011, 3));
    assert_eq!(bus.0.slice(0x6ffc, 4).unwrap(), &[0; 4], "nothing stored");
}

#[test]
fn mvcl_with_destructive_overlap_sets_cc3_and_moves_nothing() {
    // mvcl %r2,%r4: destination one byte above the source
    let (mut cpu, mut mem) = machine(&[0x0E, 0x24]);
    mem.load(DATA, b"abcd").unwrap();
    cpu.gpr[2] = DATA + 1;
    cpu.gpr[3] = 3;
    cpu.gpr[4] = DATA;
    cpu.gpr[5] = 3;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.cc(), 3);
    assert_eq!(mem.slice(DATA, 4).unwrap(), b"abcd");
}

#[test]
fn mvcl_pads_and_updates_its_registers() {
    let (mut cpu, mut mem) = machine(&[0x0E, 0x24]);
    mem.load(DATA, b"ab").unwrap();
    cpu.gpr[2] = 0x3000;
    cpu.gpr[3] = 4;
    cpu.gpr[4] = DATA;
    cpu.gpr[5] = (u64::from(b'.') << 24) | 2;
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(0x3000, 4).unwrap(), b"ab..");
    assert_eq!(
        (
            cpu.gpr[2],
            cpu.gpr[3] & 0xff_ffff,
            cpu.gpr[4],
            cpu.gpr[5] & 0xff_ffff
        ),
        (0x3004, 0, DATA + 2, 0)
    );
    assert_eq!(cpu.psw.cc(), 2, "first operand longer");
}

#[test]
fn odd_instruction_address_is_a_specification_exception() {
    let (mut cpu, mut mem) = machine(&[0x07, 0x00]);
    cpu.psw.addr = CODE + 1;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 0));
}

#[test]
fn compare_and_branch_does_not_change_the_condition_code() {
    // crj %r1,%r2,8,+6 (branch if equal)
    let (mut cpu, mut mem) = machine(&[0xEC, 0x12, 0x00, 0x03, 0x80, 0x76]);
    cpu.psw.set_cc(3);
    cpu.step(&mut mem).unwrap();
    assert_eq!((cpu.psw.addr, cpu.psw.cc()), (CODE + 6, 3));
}

#[test]
fn compare_and_trap_raises_a_data_exception_with_dxc_ff() {
    // cit %r1,0,8 (trap if equal)
    let (mut cpu, mut mem) = machine(&[0xEC, 0x10, 0x00, 0x00, 0x80, 0x72]);
    let intr = cpu.step(&mut mem).unwrap_err();
    assert_eq!(program_exception(Err(intr)).0, 0x0007);
    cpu.deliver(&mut mem, intr).unwrap();
    assert_eq!(mem.slice(lowcore::DXC, 1).unwrap(), &[0xff]);
}

/// xorshift for the robustness test.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn arbitrary_instruction_bytes_and_state_never_panic() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut mem = FlatMemory::new(0, 0x4000);
    for _ in 0..100_000 {
        let mut cpu = Cpu::new();
        for g in cpu.gpr.iter_mut() {
            *g = match next(&mut seed) % 3 {
                0 => next(&mut seed) % 0x4000,
                1 => next(&mut seed),
                _ => next(&mut seed) % 16,
            };
        }
        cpu.psw.mask =
            next(&mut seed) & (mask::EA | mask::BA | mask::PROBLEM | mask::FIXED_OVERFLOW);
        cpu.psw.addr = (next(&mut seed) % 0x3ff0) & !1;
        for _ in 0..6 {
            let at = (next(&mut seed) % 0x4000) as usize;
            mem.bytes_mut()[at] = next(&mut seed) as u8;
        }
        let at = cpu.psw.addr as usize;
        let code: [u8; 6] = next(&mut seed).to_be_bytes()[..6].try_into().unwrap();
        mem.bytes_mut()[at..at + 6].copy_from_slice(&code);
        for _ in 0..8 {
            if let Err(intr) = cpu.step(&mut mem) {
                // Delivery must not panic either (the new PSW is whatever
                // the random storage holds).
                let _ = cpu.deliver(&mut mem, intr);
            }
        }
    }
}

/// Instructions in the decoder's table that the interpreter does not
/// execute (they raise an operation exception): decimal, hexadecimal
/// floating point and conversion instructions, transactional execution,
/// the program-call/linkage-stack family, and others no compiler emits for
/// freestanding C.
const NOT_INTERPRETED: &[&str] = &[
    "BSM", "BASSM", "CVD", "CVB", "TRACE", "BAKR", "PALB", "EREG", "ESTA", "TAR", "CPYA", "CUSE",
    "PPA", "ETND", "TEND", "TRAP4", "EREGG", "ECTG", "LPD", "LPDG", "ED", "EDMK", "PKU", "UNPKU",
    "CVBY", "CVBG", "CVDY", "CVDG", "LASP", "MVCSK", "MVCDK", "PKA", "UNPKA", "TRACG", "MVCLU",
    "CLCLU", "LMD", "SRP", "MVO", "PACK", "UNPK", "ZAP", "CP", "AP", "SP", "MP", "DP", "PR", "UPT",
    "PTFF", "TRAP2", "MVCK",
];

/// Instructions the interpreter hands to [`System::system_instruction`]
/// (the machine); [`FlatMemory`] has no machine and answers with an
/// operation exception.
const MACHINE: &[&str] = &[
    "DIAG", "SIGP", "SERVC", "STSI", "CSCH", "HSCH", "MSCH", "SSCH", "STSCH", "TSCH", "TPI", "SAL",
    "RSCH", "STCRW", "RCHP", "SCHM", "CHSC", "XSCH",
];

/// Instructions installed only with a facility the memory offers (PFMF:
/// enhanced DAT 1, facility 8), which [`FlatMemory`] does not: an
/// operation exception there.
const NOT_OFFERED: &[&str] = &["PFMF"];

#[test]
fn every_table_instruction_is_interpreted_except_the_listed_ones() {
    use zmmu_cpu::opcode::TABLE;
    let mut unimplemented = Vec::new();
    // EXECUTE's target (here whatever is at address 0) decides its outcome.
    for row in TABLE
        .iter()
        .filter(|r| !matches!(r.op.mnemonic(), "EX" | "EXRL"))
    {
        // All fields zero (registers 0, displacement 0), supervisor state.
        let code = cpu_common::encode_key(row.key, &[0; 6]);
        let (mut cpu, mut mem) = machine(&code);
        cpu.cr[0] |= 1 << 26; // secondary-space control, for SAC
        cpu.psw.mask |= mask::DAT;
        if let Err(Interruption::Program { exception, .. }) = cpu.step(&mut mem) {
            if exception.code == Code::OPERATION {
                unimplemented.push(row.op.mnemonic());
            }
        }
    }
    let expected: Vec<&str> = TABLE
        .iter()
        .map(|r| r.op.mnemonic())
        .filter(|m| NOT_INTERPRETED.contains(m) || MACHINE.contains(m) || NOT_OFFERED.contains(m))
        .filter(|m| !matches!(*m, "EX" | "EXRL"))
        .collect();
    assert_eq!(unimplemented, expected);
    let interpreted = TABLE.len() - NOT_INTERPRETED.len() - MACHINE.len();
    println!(
        "{} instructions decoded, {interpreted} interpreted, {} handed to the machine",
        TABLE.len(),
        MACHINE.len()
    );
}

#[test]
fn bal_in_the_24_bit_mode_links_ilc_cc_program_mask_and_address() {
    // bal %r14,0(%r5)
    let (mut cpu, mut mem) = machine(&[0x45, 0xE0, 0x50, 0x00]);
    cpu.psw.set_amode(AddressingMode::Bits24);
    cpu.psw.mask |= (2 << 44) | (0xA << 40);
    cpu.gpr[5] = 0x3000;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[14] as u32, 0xAA00_1004);
    assert_eq!(cpu.psw.addr, 0x3000);
}

#[test]
fn sac_sets_the_address_space_control_and_needs_dat_on() {
    // sac 256: secondary-space mode
    let (mut cpu, mut mem) = machine(&[0xB2, 0x19, 0x01, 0x00]);
    cpu.cr[0] |= 1 << 26;
    assert_eq!(program_exception(cpu.step(&mut mem)).0, 0x0013, "DAT off");

    let (mut cpu, mut mem) = machine(&[0xB2, 0x19, 0x01, 0x00]);
    cpu.cr[0] |= 1 << 26;
    cpu.psw.mask |= mask::DAT;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.asc(), 2);
}

#[test]
fn ipk_inserts_the_psw_key_into_bits_56_to_59_of_r2() {
    let (mut cpu, mut mem) = machine(&[0xB2, 0x0B, 0x00, 0x00]);
    cpu.psw.mask |= 9 << 52;
    cpu.gpr[2] = 0xffff;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[2], 0xff90);
}

#[test]
fn spka_in_the_problem_state_needs_the_key_in_the_psw_key_mask() {
    // spka 0x30: key 3
    let (mut cpu, mut mem) = machine(&[0xB2, 0x0A, 0x00, 0x30]);
    cpu.psw.mask |= mask::PROBLEM;
    assert_eq!(program_exception(cpu.step(&mut mem)).0, 0x0002);

    let (mut cpu, mut mem) = machine(&[0xB2, 0x0A, 0x00, 0x30]);
    cpu.psw.mask |= mask::PROBLEM;
    cpu.cr[3] = (0x8000 >> 3) << 16;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.key(), 3);
}

#[test]
fn svc_executed_by_execute_reports_the_ilc_of_execute() {
    // ex %r0,0(%r5) targeting svc 5
    let (mut cpu, mut mem) = machine(&[0x44, 0x00, 0x50, 0x00]);
    mem.load(DATA, &[0x0A, 0x05]).unwrap();
    cpu.gpr[5] = DATA;
    assert_eq!(
        cpu.step(&mut mem),
        Err(Interruption::Supervisor { code: 5, ilc: 2 })
    );
    assert_eq!(cpu.psw.addr, CODE + 4);
}

#[test]
fn store_clock_values_increase() {
    // stck 0(%r2); stck 8(%r2)
    let (mut cpu, mut mem) = machine(&[0xB2, 0x05, 0x20, 0x00, 0xB2, 0x05, 0x20, 0x08]);
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    cpu.step(&mut mem).unwrap();
    let t = |i: u64| u64::from_be_bytes(mem.slice(DATA + i, 8).unwrap().try_into().unwrap());
    assert!(t(8) > t(0));
}

#[test]
fn sam24_where_the_next_address_needs_more_bits_is_a_specification_exception() {
    let mut mem = FlatMemory::new(0x100_0000, 0x1000);
    mem.load(0x100_0000, &[0x01, 0x0C]).unwrap();
    let mut cpu = Cpu::user(0x100_0000);
    assert_eq!(program_exception(cpu.step(&mut mem)).0, 0x0006);
    assert_eq!(cpu.psw.amode(), AddressingMode::Bits64);
}

#[test]
fn lpsw_converts_the_esa390_short_psw() {
    // lpsw 0(%r2) with a short PSW: bit 12 one, 31-bit, address 0x4000
    let (mut cpu, mut mem) = machine(&[0x82, 0x00, 0x20, 0x00]);
    mem.load(DATA, &0x0008_0000_8000_4000u64.to_be_bytes())
        .unwrap();
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(
        cpu.psw,
        Psw {
            mask: mask::BA,
            addr: 0x4000
        }
    );
}

#[test]
fn mvcl_is_interrupted_after_a_cpu_determined_amount_and_resumed() {
    // mvcl %r2,%r4 of 10000 bytes
    let (mut cpu, mut mem) = machine(&[0x0E, 0x24]);
    mem.load(0x4000, &[7; 10000]).unwrap();
    cpu.gpr[2] = 0x8000;
    cpu.gpr[3] = 10000;
    cpu.gpr[4] = 0x4000;
    cpu.gpr[5] = 10000;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.addr, CODE, "the PSW still designates the MVCL");
    assert!(
        cpu.gpr[3] > 0 && cpu.gpr[3] < 10000,
        "lengths count the progress"
    );
    while cpu.psw.addr == CODE {
        cpu.step(&mut mem).unwrap();
    }
    assert_eq!(mem.slice(0x8000, 10000).unwrap(), &[7; 10000][..]);
    assert_eq!((cpu.gpr[3], cpu.gpr[5], cpu.psw.cc()), (0, 0, 0));
}

#[test]
fn clcl_stops_at_the_first_unequal_byte() {
    // clcl %r2,%r4: "abcX" against "abcd"
    let (mut cpu, mut mem) = machine(&[0x0F, 0x24]);
    mem.load(0x3000, b"abcX").unwrap();
    mem.load(0x3100, b"abcd").unwrap();
    cpu.gpr[2] = 0x3000;
    cpu.gpr[3] = 4;
    cpu.gpr[4] = 0x3100;
    cpu.gpr[5] = 4;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.cc(), 1, "'X' < 'd'");
    assert_eq!(
        (cpu.gpr[2], cpu.gpr[3], cpu.gpr[4], cpu.gpr[5]),
        (0x3003, 1, 0x3103, 1)
    );
}

#[test]
fn lctl_loads_bits_32_to_63_and_keeps_the_high_halves() {
    // lctl %c1,%c1,0(%r2)
    let (mut cpu, mut mem) = machine(&[0xB7, 0x11, 0x20, 0x00]);
    mem.load(DATA, &0x1234_5678u32.to_be_bytes()).unwrap();
    cpu.cr[1] = 0xaaaa_bbbb_0000_0000;
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.cr[1], 0xaaaa_bbbb_1234_5678);
}

#[test]
fn epsw_extracts_both_halves_of_the_psw_mask() {
    // epsw %r1,%r2
    let (mut cpu, mut mem) = machine(&[0xB9, 0x8D, 0x00, 0x12]);
    cpu.psw.set_cc(2);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[1] as u32, (cpu.psw.mask >> 32) as u32);
    assert_eq!(cpu.gpr[2] as u32, cpu.psw.mask as u32);
}

#[test]
fn stura_and_lura_access_real_storage_with_prefixing() {
    // stura %r1,%r2 ; lura %r3,%r2 with r2 = real 0x100 and prefix 0x8000
    let (mut cpu, mut mem) = machine(&[0xB2, 0x46, 0x00, 0x12, 0xB2, 0x4B, 0x00, 0x32]);
    cpu.prefix = Prefix::new(0x8000);
    cpu.gpr[1] = 0xdead_beef;
    cpu.gpr[2] = 0x100;
    cpu.step(&mut mem).unwrap();
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(0x8100, 4).unwrap(), &0xdead_beefu32.to_be_bytes());
    assert_eq!(cpu.gpr[3], 0xdead_beef);
}

/// MVCS 0(%r1,%r2),0(%r3),%r4 at CODE, in a supervisor-state CPU with DAT
/// on and secondary-space control (CR0 bit 37) set; the flat memory does
/// not translate, so both spaces are the same storage.
fn mvcs(len: u64) -> (Cpu, FlatMemory) {
    let (mut cpu, mut mem) = machine(&[0xDB, 0x14, 0x20, 0x00, 0x30, 0x00]);
    cpu.psw.mask |= mask::DAT;
    cpu.cr[0] |= 1 << 26;
    cpu.gpr[1] = len;
    cpu.gpr[2] = 0x4000;
    cpu.gpr[3] = DATA;
    mem.load(DATA, &[0x5A; 0x200]).unwrap();
    (cpu, mem)
}

#[test]
fn mvcs_moves_the_true_length_with_cc0_up_to_256_bytes() {
    let (mut cpu, mut mem) = mvcs(10);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.cc(), 0);
    assert_eq!(
        mem.slice(0x4000, 11).unwrap(),
        &[[0x5A; 10].as_slice(), &[0]].concat()
    );
}

#[test]
fn mvcs_above_256_bytes_moves_256_with_cc3() {
    let (mut cpu, mut mem) = mvcs(0x1_0000_0101);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.cc(), 3);
    assert_eq!(mem.slice(0x4000, 256).unwrap(), &[0x5A; 256]);
    assert_eq!(mem.slice(0x4100, 1).unwrap(), &[0]);
}

#[test]
fn mvcs_with_dat_off_or_without_secondary_space_control_is_a_special_operation() {
    let (mut cpu, mut mem) = mvcs(10);
    cpu.psw.mask &= !mask::DAT;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0013, 3));

    let (mut cpu, mut mem) = mvcs(10);
    cpu.cr[0] &= !(1 << 26);
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0013, 3));
    assert_eq!(mem.slice(0x4000, 1).unwrap(), &[0], "nothing moved");
}

#[test]
fn mvcs_in_the_access_register_or_home_space_mode_is_a_special_operation() {
    for asc in [1u64, 3] {
        let (mut cpu, mut mem) = mvcs(10);
        cpu.psw.mask |= asc << 46;
        assert_eq!(program_exception(cpu.step(&mut mem)).0, 0x0013, "asc {asc}");
    }
}

#[test]
fn mvcp_in_the_problem_state_needs_the_r3_key_in_the_psw_key_mask() {
    // mvcp 0(%r1,%r2),0(%r3),%r4 with key 6 in R4, in the problem state
    // with `key_mask` in the PSW-key mask (CR3 bits 32-47)
    let mvcp = |key_mask: u64| {
        let (mut cpu, mut mem) = mvcs(10);
        mem.load(CODE, &[0xDA, 0x14, 0x20, 0x00, 0x30, 0x00])
            .unwrap();
        cpu.psw.mask |= mask::PROBLEM;
        cpu.gpr[4] = 0x60;
        cpu.cr[3] = key_mask << 16;
        (cpu, mem)
    };
    let (mut cpu, mut mem) = mvcp(0x8000 >> 5);
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0002, 3));

    let (mut cpu, mut mem) = mvcp(0x8000 >> 6);
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(0x4000, 10).unwrap(), &[0x5A; 10]);
}

#[test]
fn fprs_other_than_0_2_4_6_without_the_afp_register_control_are_a_data_exception_with_dxc_1() {
    let cases: [(&str, &[u8]); 5] = [
        ("ld %f8,0(%r2)", &[0x68, 0x80, 0x20, 0x00]),
        ("std %f1,0(%r2)", &[0x60, 0x10, 0x20, 0x00]),
        ("ldr %f0,%f9", &[0x28, 0x09]),
        ("lgdr %r1,%f3", &[0xB3, 0xCD, 0x00, 0x13]),
        ("ldgr %f10,%r1", &[0xB3, 0xC1, 0x00, 0xA1]),
    ];
    for (insn, code) in cases {
        let (mut cpu, mut mem) = machine(code);
        cpu.gpr[2] = DATA;
        let intr = cpu.step(&mut mem).unwrap_err();
        let ilc = (code.len() / 2) as u8;
        assert_eq!(program_exception(Err(intr)), (0x0007, ilc), "{insn}");
        assert_eq!(cpu.psw.addr, CODE + code.len() as u64, "{insn}: suppressed");
        cpu.deliver(&mut mem, intr).unwrap();
        assert_eq!(mem.slice(lowcore::DXC, 1).unwrap(), &[1], "{insn}");

        let (mut cpu, mut mem) = machine(code);
        cpu.gpr[2] = DATA;
        cpu.cr[0] |= 1 << (63 - 45);
        cpu.step(&mut mem).unwrap();
    }
}

#[test]
fn fprs_0_2_4_6_are_available_without_the_afp_register_control() {
    // ldgr %f6,%r1 ; std %f6,0(%r2)
    let (mut cpu, mut mem) = machine(&[0xB3, 0xC1, 0x00, 0x61, 0x60, 0x60, 0x20, 0x00]);
    cpu.gpr[1] = 0x0123_4567_89AB_CDEF;
    cpu.gpr[2] = DATA;
    cpu.step(&mut mem).unwrap();
    cpu.step(&mut mem).unwrap();
    assert_eq!(
        mem.slice(DATA, 8).unwrap(),
        &0x0123_4567_89AB_CDEFu64.to_be_bytes()
    );
}

#[test]
fn lam_and_stam_move_access_registers_r1_through_r3_wrapping_at_15() {
    // stam %a14,%a1,0(%r2); lam %a0,%a3,0(%r2)
    let (mut cpu, mut mem) = machine(&[0x9B, 0xE1, 0x20, 0x00, 0x9A, 0x03, 0x20, 0x00]);
    cpu.gpr[2] = DATA;
    cpu.ar = [0; 16];
    cpu.ar[14] = 14;
    cpu.ar[15] = 15;
    cpu.ar[0] = 100;
    cpu.ar[1] = 101;
    cpu.step(&mut mem).unwrap();
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.ar[..4], [14, 15, 100, 101]);
}

#[test]
fn lam_needs_a_word_boundary() {
    // lam %a0,%a1,2(%r2)
    let (mut cpu, mut mem) = machine(&[0x9A, 0x01, 0x20, 0x02]);
    cpu.gpr[2] = DATA;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 2));
}

#[test]
fn cksm_adds_words_with_end_around_carry_and_pads_the_last_one() {
    // cksm %r1,%r2 over ff ff ff ff 00 00 00 02 01 (9 bytes)
    let (mut cpu, mut mem) = machine(&[0xB2, 0x41, 0x00, 0x12]);
    mem.load(DATA, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 1])
        .unwrap();
    cpu.gpr[1] = 0xAAAA_AAAA_0000_0001;
    cpu.gpr[2] = DATA;
    cpu.gpr[3] = 9;
    cpu.step(&mut mem).unwrap();
    // 1 + ffffffff = 1_00000000 -> 1; + 2 = 3; + 01000000 = 01000003.
    assert_eq!(cpu.gpr[1], 0xAAAA_AAAA_0100_0003);
    assert_eq!((cpu.gpr[2], cpu.gpr[3], cpu.psw.cc()), (DATA + 9, 0, 0));
}

#[test]
fn csst_swaps_and_stores_only_when_the_compare_is_equal() {
    // csst 0(%r2),8(%r2),%r4 with fc 1 (64-bit), sc 2 (a word)
    let code = [0xC8, 0x42, 0x20, 0x00, 0x20, 0x08];
    let list = DATA + 0x100;
    let mut params = [0u8; 32];
    params[..8].copy_from_slice(&0x1111_2222_3333_4444u64.to_be_bytes());
    params[16..20].copy_from_slice(&0x5566_7788u32.to_be_bytes());
    for (old, cc) in [(7u64, 0), (8, 1)] {
        let (mut cpu, mut mem) = machine(&code);
        mem.load(DATA, &7u64.to_be_bytes()).unwrap();
        mem.load(list, &params).unwrap();
        cpu.gpr[0] = 0x0201;
        cpu.gpr[1] = list + 5; // bits 60-63 ignored
        cpu.gpr[2] = DATA;
        cpu.gpr[4] = old;
        cpu.step(&mut mem).unwrap();
        let first = u64::from_be_bytes(mem.slice(DATA, 8).unwrap().try_into().unwrap());
        let second = u32::from_be_bytes(mem.slice(DATA + 8, 4).unwrap().try_into().unwrap());
        assert_eq!(cpu.psw.cc(), cc);
        if cc == 0 {
            assert_eq!((first, second), (0x1111_2222_3333_4444, 0x5566_7788));
        } else {
            assert_eq!((first, second, cpu.gpr[4]), (7, 0, 7));
        }
    }
}

#[test]
fn csst_refuses_reserved_codes_and_misaligned_operands() {
    let code = [0xC8, 0x42, 0x20, 0x00, 0x20, 0x08];
    for (r0, r2) in [
        (3u64, DATA),
        (0x0500, DATA),
        (0x0001, DATA + 4),
        (0x0300, DATA + 4),
    ] {
        let (mut cpu, mut mem) = machine(&code);
        cpu.gpr[0] = r0;
        cpu.gpr[1] = DATA + 0x100;
        cpu.gpr[2] = r2;
        cpu.gpr[4] = 0;
        assert_eq!(
            program_exception(cpu.step(&mut mem)),
            (0x0006, 3),
            "r0 {r0:#x}"
        );
    }
}

#[test]
fn monitor_call_interrupts_only_for_a_class_enabled_in_cr8() {
    // mc 0x123(%r2),5
    let (mut cpu, mut mem) = machine(&[0xAF, 0x05, 0x21, 0x23]);
    cpu.gpr[2] = 0x1000;
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.psw.addr, CODE + 4);

    let (mut cpu, mut mem) = machine(&[0xAF, 0x05, 0x21, 0x23]);
    cpu.gpr[2] = 0x1000;
    cpu.cr[8] = 0x8000 >> 5;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0040, 2));
    assert_eq!(cpu.psw.addr, CODE + 4, "the MONITOR CALL completes");
    let class = u16::from_be_bytes(
        mem.slice(lowcore::MONITOR_CLASS, 2)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let code = u64::from_be_bytes(
        mem.slice(lowcore::MONITOR_CODE, 8)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    assert_eq!((class, code), (5, 0x1123));
}

#[test]
fn monitor_call_class_field_must_have_zero_high_bits() {
    let (mut cpu, mut mem) = machine(&[0xAF, 0x15, 0x00, 0x00]);
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0006, 2));
}

#[test]
fn stfl_stores_despite_low_address_protection() {
    // stfl 0
    let (mut cpu, mut mem) = machine(&[0xB2, 0xB1, 0x00, 0x00]);
    cpu.cr[0] |= 1 << (63 - 35);
    cpu.step(&mut mem).unwrap();
    let word = u32::from_be_bytes(mem.slice(lowcore::STFL, 4).unwrap().try_into().unwrap());
    assert_eq!(word >> 24, 0xFD, "facilities 0-5 and 7");
}

#[test]
fn short_floating_point_loads_and_stores_move_the_left_word_only() {
    // le %f1,0(%r2); ler %f3,%f1; ste %f3,4(%r2)
    let code = [0x78, 0x10, 0x20, 0x00, 0x38, 0x31, 0x70, 0x30, 0x20, 0x04];
    let (mut cpu, mut mem) = machine(&code);
    mem.load(DATA, &0x4049_0FDBu32.to_be_bytes()).unwrap();
    cpu.gpr[2] = DATA;
    cpu.cr[0] |= zmmu_cpu::state::CR0_AFP_REGISTER;
    cpu.set_fpr(1, 0x1111_1111_2222_2222);
    cpu.set_fpr(3, 0x3333_3333_4444_4444);
    for _ in 0..3 {
        cpu.step(&mut mem).unwrap();
    }
    assert_eq!(cpu.fpr(1), 0x4049_0FDB_2222_2222);
    assert_eq!(cpu.fpr(3), 0x4049_0FDB_4444_4444);
    assert_eq!(
        mem.slice(DATA + 4, 4).unwrap(),
        &0x4049_0FDBu32.to_be_bytes()
    );
}

#[test]
fn ecag_reports_no_cache_information() {
    // ecag %r1,%r0,0
    let (mut cpu, mut mem) = machine(&[0xEB, 0x10, 0x00, 0x00, 0x00, 0x4C]);
    cpu.step(&mut mem).unwrap();
    assert_eq!(cpu.gpr[1], u64::MAX);
}

/// The instructions of the message-security assist (facilities 17, 57,
/// 76, 77, 146), each with register fields it accepts: R1 = 2, R2 = 4,
/// R3 = 6 (RRE forms ignore bits 16-23, so the same encoding serves).
const MSA: [(&str, [u8; 4]); 12] = [
    ("km", [0xB9, 0x2E, 0x60, 0x24]),
    ("kmc", [0xB9, 0x2F, 0x60, 0x24]),
    ("kimd", [0xB9, 0x3E, 0x60, 0x24]),
    ("klmd", [0xB9, 0x3F, 0x60, 0x24]),
    ("kmac", [0xB9, 0x1E, 0x60, 0x24]),
    ("pckmo", [0xB9, 0x28, 0x60, 0x24]),
    ("kmf", [0xB9, 0x2A, 0x60, 0x24]),
    ("kmo", [0xB9, 0x2B, 0x60, 0x24]),
    ("pcc", [0xB9, 0x2C, 0x60, 0x24]),
    ("kmctr", [0xB9, 0x2D, 0x60, 0x24]),
    ("prno", [0xB9, 0x3C, 0x60, 0x24]),
    ("kma", [0xB9, 0x29, 0x60, 0x24]),
];

/// A CPU about to run `code` with function code `gr0` and the parameter
/// block at `block`.
fn msa_machine(code: [u8; 4], gr0: u64, block: u64) -> (Cpu, FlatMemory) {
    let (mut cpu, mut mem) = machine(&code);
    // Outside storage (an addressing test): nothing to fill.
    let _ = mem.load(block, &[0xEE; 16]);
    cpu.gpr[0] = gr0;
    cpu.gpr[1] = block;
    (cpu, mem)
}

#[test]
fn msa_query_stores_a_status_word_naming_only_the_query_function_and_sets_cc0() {
    for (name, code) in MSA {
        let (mut cpu, mut mem) = msa_machine(code, 0, DATA);
        cpu.psw.set_cc(3);
        cpu.step(&mut mem).unwrap();
        let mut expected = [0u8; 16];
        expected[0] = 0x80;
        assert_eq!(mem.slice(DATA, 16).unwrap(), &expected, "{name}");
        assert_eq!((cpu.psw.cc(), cpu.psw.addr), (0, CODE + 4), "{name}");
    }
}

#[test]
fn msa_query_parameter_block_address_follows_the_addressing_mode() {
    // 24-bit mode: GR1's bits 0-39 are ignored.
    let (mut cpu, mut mem) = msa_machine(MSA[0].1, 0, 0xAB00_0000 | DATA);
    cpu.psw.mask &= !(mask::EA | mask::BA);
    cpu.step(&mut mem).unwrap();
    assert_eq!(mem.slice(DATA, 1).unwrap(), &[0x80]);
}

#[test]
fn msa_function_not_installed_is_a_specification_exception_and_stores_nothing() {
    // Every code but the query function (0), 127 (unassigned) included;
    // the modifier bit does not change the code.
    for (name, code) in MSA {
        for function in [1, 3, 114, 127] {
            let (mut cpu, mut mem) = msa_machine(code, function, DATA);
            assert_eq!(
                program_exception(cpu.step(&mut mem)),
                (0x0006, 2),
                "{name} {function}"
            );
            assert_eq!(mem.slice(DATA, 1).unwrap(), &[0xEE], "{name}");
        }
    }
}

#[test]
fn msa_register_fields_must_be_even_and_not_zero_where_the_instruction_has_the_operand() {
    // (instruction, field: 1 = R1, 2 = R2, 3 = R3) of each operand the PoP
    // requires to be an even-odd pair other than register 0.
    let checked: &[(&str, &[u8])] = &[
        ("km", &[1, 2]),
        ("kmc", &[1, 2]),
        ("kmf", &[1, 2]),
        ("kmo", &[1, 2]),
        ("prno", &[1, 2]),
        ("kmctr", &[1, 2, 3]),
        ("kma", &[1, 2, 3]),
        ("kimd", &[2]),
        ("klmd", &[2]),
        ("kmac", &[2]),
        ("pcc", &[]),
        ("pckmo", &[]),
    ];
    for (name, code) in MSA {
        let fields = checked.iter().find(|(n, _)| *n == name).unwrap().1;
        for field in 1..=3u8 {
            for bad in [0u8, 3] {
                let mut code = code;
                match field {
                    1 => code[3] = bad << 4 | (code[3] & 0xF),
                    2 => code[3] = (code[3] & 0xF0) | bad,
                    _ => code[2] = bad << 4,
                }
                let (mut cpu, mut mem) = msa_machine(code, 0, DATA);
                let r = cpu.step(&mut mem);
                if fields.contains(&field) {
                    assert_eq!(program_exception(r), (0x0006, 2), "{name} R{field}={bad}");
                } else {
                    assert!(r.is_ok(), "{name} ignores R{field}");
                }
            }
        }
    }
}

#[test]
fn kma_third_operand_must_differ_from_the_first_and_second() {
    // kma %r2,%r4,%r2 and kma %r2,%r4,%r4
    for r3 in [2u8, 4] {
        let (mut cpu, mut mem) = msa_machine([0xB9, 0x29, r3 << 4, 0x24], 0, DATA);
        assert_eq!(
            program_exception(cpu.step(&mut mem)),
            (0x0006, 2),
            "R3 = {r3}"
        );
    }
}

#[test]
fn msa_modifier_bit_is_a_specification_exception_only_where_reserved() {
    for (name, code) in MSA {
        let (mut cpu, mut mem) = msa_machine(code, 0x80, DATA);
        let r = cpu.step(&mut mem);
        if ["kimd", "klmd", "kmac", "pcc", "pckmo"].contains(&name) {
            assert_eq!(program_exception(r), (0x0006, 2), "{name}");
        } else {
            // The ciphers' decipher modifier: the query ignores it.
            assert!(r.is_ok(), "{name}");
            assert_eq!(mem.slice(DATA, 1).unwrap(), &[0x80], "{name}");
        }
    }
}

#[test]
fn msa_query_parameter_block_outside_storage_is_an_addressing_exception() {
    for (name, code) in MSA {
        // The last 8 bytes of storage and 8 past it: nothing is stored.
        let (mut cpu, mut mem) = msa_machine(code, 0, 0x10000 - 8);
        mem.load(0x10000 - 8, &[0xEE; 8]).unwrap();
        assert_eq!(program_exception(cpu.step(&mut mem)), (0x0005, 2), "{name}");
        assert_eq!(mem.slice(0x10000 - 8, 8).unwrap(), &[0xEE; 8], "{name}");
        let (mut cpu, mut mem) = msa_machine(code, 0, u64::MAX);
        assert_eq!(program_exception(cpu.step(&mut mem)), (0x0005, 2), "{name}");
    }
}

#[test]
fn pckmo_is_privileged() {
    let (mut cpu, mut mem) = msa_machine(MSA[5].1, 0, DATA);
    cpu.psw.mask |= mask::PROBLEM;
    assert_eq!(program_exception(cpu.step(&mut mem)), (0x0002, 2));
}

#[test]
fn load_and_zero_rightmost_byte_loads_the_operand_with_its_last_byte_zero() {
    // lzrf %r1,0(%r2) (E33B): bits 32-63 only; llzrgf %r1,0(%r2) (E33A):
    // the word zero-extended; lzrg %r1,0(%r2) (E32A): the doubleword.
    let data = 0x8182_8384_8586_8788u64.to_be_bytes();
    for (op, want) in [
        (0x3B, 0xAAAA_AAAA_8182_8300),
        (0x3A, 0x0000_0000_8182_8300),
        (0x2A, 0x8182_8384_8586_8700),
    ] {
        let (mut cpu, mut mem) = machine(&[0xE3, 0x10, 0x20, 0x00, 0x00, op]);
        mem.load(DATA, &data).unwrap();
        cpu.gpr[1] = 0xAAAA_AAAA_AAAA_AAAA;
        cpu.gpr[2] = DATA;
        cpu.psw.set_cc(2);
        cpu.step(&mut mem).unwrap();
        assert_eq!(cpu.gpr[1], want, "E3..{op:02X}");
        assert_eq!(cpu.psw.cc(), 2, "the condition code is unchanged");
    }
}

#[test]
fn load_high_on_condition_moves_bits_0_to_31_only_when_m3_selects_the_cc() {
    // locfhr %r1,%r2,M3 (B9E0, RRF-c: M3 in bits 16-19).
    let locfhr = |m3: u8| [0xB9, 0xE0, m3 << 4, 0x12];
    for (cc, m3, moved) in [(0, 8, true), (1, 8, false), (3, 1, true), (2, 0xD, false)] {
        let (mut cpu, mut mem) = machine(&locfhr(m3));
        cpu.gpr[1] = 0x1111_1111_2222_2222;
        cpu.gpr[2] = 0x3333_3333_4444_4444;
        cpu.psw.set_cc(cc);
        cpu.step(&mut mem).unwrap();
        let want = if moved {
            0x3333_3333_2222_2222
        } else {
            0x1111_1111_2222_2222
        };
        assert_eq!(cpu.gpr[1], want, "cc {cc} M3 {m3:x}");
    }
}
