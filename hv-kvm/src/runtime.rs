//! The in-VM runtime: descriptor tables, the CPL0 trap stubs and dispatcher,
//! the CPL3 batch loop and the benchmark kernels, assembled with iced-x86
//! at start-up and placed in the system slot, which every root maps at
//! [`RUNTIME_VA`] (the top 2 GiB, so that absolute addresses fit in a
//! sign-extended 32-bit displacement).
//!
//! ## Protocol
//! The vCPU never leaves the runtime between runs: it parks in the CPL0
//! dispatcher after an `OUT` and continues there on the next `KVM_RUN`, so
//! no register ioctl is needed in the steady state.
//! - *Dispatcher* (CPL0): applies the pending page-table writes, the new
//!   CR3 or the pending INVLPGs from the control block, then `IRETQ`s to the
//!   CPL3 entry named in the control block with its arguments in registers
//!   (entry 0: flush only, report done).
//! - *Batch loop* (CPL3): walks a table of operations and ends with `INT3`.
//! - `#BP` (CPL0, DPL3 gate): `OUT DONE`, then back to the dispatcher;
//!   with the user page's call flag, `OUT CALL`, then back to the caller,
//!   or to the dispatcher when the host answered [`LEAVE`]; with the
//!   image's gate flag (`Shared::gate`, docs/CHOICES.md 77), no exit: the
//!   CR3 of the root the image asked for by index, from the supervisor
//!   page `off::GATE` (an index out of range or an empty entry is
//!   refused), the index recorded for the host, back to the image.
//! - `#PF` from CPL3 (CPL0): records CR2, the error code, RIP and the
//!   operation pointer (R12), `OUT FAULT`; when resumed, applies the pending
//!   writes and flushes (`OUT MORE` while the host has more chunks), `INVLPG`s CR2, and either retries the access or
//!   resumes at the address the host chose (the next operation).
//! - Any other exception, or a `#PF` at CPL0: `OUT FATAL` with the details.

use std::mem::offset_of;

use iced_x86::{BlockEncoderOptions, IcedError};

use zmmu_vm_runtime::protocol::{COMPLETED, DISPATCH, HOST};

use crate::error::KvmError;
use crate::memory::SlotMemory;

/// The virtual address of the system slot's first byte in every root.
pub const RUNTIME_VA: u64 = 0xFFFF_FFFF_8000_0000;

/// Offsets inside the system slot.
pub(crate) mod off {
    /// GDT (supervisor).
    pub const GDT: u64 = 0x0000;
    /// IDT (supervisor).
    pub const IDT: u64 = 0x1000;
    /// TSS (supervisor).
    pub const TSS: u64 = 0x2000;
    /// Control block (supervisor).
    pub const CB: u64 = 0x3000;
    /// Pending INVLPG addresses (supervisor).
    pub const INVLPG: u64 = 0x4000;
    /// Pending page-table writes, (virtual address, value) pairs
    /// (supervisor, two pages).
    pub const WRITES: u64 = 0x5000;
    /// The gate's table (supervisor, docs/CHOICES.md 77): the CR3 of each
    /// root the image may switch to, by its index in
    /// `zmmu_vm_runtime::protocol::Gate::roots` (zero: none), then
    /// [`super::gate::LOADED`].
    pub const GATE: u64 = 0x7000;
    /// Code (user, read-only, executable).
    pub const CODE: u64 = 0x8000;
    /// Benchmark kernels, [`KERNEL_SLOT`] bytes each, inside the code pages.
    pub const KERNELS: u64 = 0xC000;
    /// The batch loop's dispatch table, inside the code pages.
    pub const JUMP_TABLE: u64 = 0xF000;
    /// End of the code pages.
    pub const CODE_END: u64 = 0x10000;
    /// Kernel stack top (stack in 0x10000..0x14000, supervisor).
    pub const KSTACK_TOP: u64 = 0x14000;
    /// User stack top (stack in 0x14000..0x18000, user).
    pub const USTACK_TOP: u64 = 0x18000;
    /// User data page (kernel results).
    pub const USER_DATA: u64 = 0x18000;
    /// The kernel stack's last page again, read-only to CPL3 (with the
    /// image): the frame of a page fault the #PF stub hands to the image
    /// (docs/CHOICES.md 91), at [`KSTACK_TOP`]` - 0x1000`.
    pub const KSTACK_ALIAS: u64 = 0x1F000;
    /// Start of the operation table (user, read-write).
    pub const OPS: u64 = 0x20000;
    /// End of the operation table.
    pub const OPS_END: u64 = 0x10_0000;
    /// The execution area of translated code (user, read-write): the CPU
    /// state ([`EXEC_CPU`]), the context ([`EXEC_CTX`]) and the jump cache
    /// ([`EXEC_JUMP`]), see `exec`.
    pub const EXEC_CPU: u64 = 0x10_0000;
    /// The translator's context (`zmmu_translator::abi`), one page.
    pub const EXEC_CTX: u64 = 0x10_1000;
    /// The jump cache, up to [`EXEC_END`].
    pub const EXEC_JUMP: u64 = 0x10_2000;
    /// End of the execution area: the end of the runtime area (the jump
    /// cache, the table of published blocks and the log of the entries
    /// the image made: `zmmu_kvm`'s layout, checked there).
    pub const EXEC_END: u64 = RUNTIME_END;
    /// End of the runtime area, 2 MiB aligned; the page-table pool
    /// follows. (5 MiB of execution area: 2 MiB of jump cache, 2.5 MiB of
    /// published blocks.)
    pub const RUNTIME_END: u64 = 0x60_0000;
}

/// Fields of the user data page ([`off::USER_DATA`]), which CPL3 code
/// writes and the host reads (byte offsets).
pub(crate) mod user {
    /// A benchmark kernel's result.
    pub const RESULT: u64 = 0x00;
    /// The address of the benchmark kernel to call.
    pub const KERNEL: u64 = 0x08;
    /// Nonzero while CPL3 code asks the host for a call (`INT3` then
    /// means "call", not "done").
    pub const CALL: u64 = 0x20;
    /// The call's argument.
    pub const CALL_ARG: u64 = 0x28;
    /// The host's answer.
    pub const CALL_RESULT: u64 = 0x30;
    /// The status translated code returned with (`zmmu_translator::abi`).
    pub const STATUS: u64 = 0x38;
    /// Where the vCPU goes on after a host call answered [`GO_TO`]
    /// (`super::GO_TO`).
    pub const GO_TO_RIP: u64 = 0x40;
    /// The RAX it goes on with.
    pub const GO_TO_RAX: u64 = 0x48;
    /// The caller's R15 at a host call.
    pub const CALL_R15: u64 = 0x50;
    /// What the stub subtracts from R15 before it returns or goes on
    /// ([`crate::ExitHandler::r15_less`]).
    pub const R15_LESS: u64 = 0x58;
    /// Nonzero: the next host call goes to the host without asking the
    /// in-VM runtime image (set by [`crate::FaultAction::ResumeHost`],
    /// cleared by the stub that reads it).
    pub const HOST_NEXT: u64 = 0x60;
    /// Nonzero: a deadline's kick found the vCPU in the image; the stub
    /// takes the budget when the image returns (set by the host, cleared
    /// by the stub).
    pub const PREEMPT: u64 = 0x68;
    /// The budget the stub took so ([`PREEMPT`]), for the host
    /// ([`crate::ExitHandler::preempted_in_vm`]).
    pub const STOLEN: u64 = 0x70;
}

/// A host call's answer ([`crate::ExitHandler::host_call`]): the caller
/// of the host-call stub does not go on; the vCPU continues at the
/// address [`crate::ExitHandler::go_to`] gives, with the caller's frame
/// (its return address) dropped and RAX as given there, every other
/// register as at the call. Distinct from the translator's answers (0 go
/// on, 1 leave) and the image's `HOST`.
pub const GO_TO: u64 = 3;

/// A host call's answer ([`crate::ExitHandler::host_call`]): the run ends
/// at the call, in the exit that made it. The caller never goes on: the
/// vCPU, when it runs next, drops the call's frames and goes to the
/// dispatcher, and [`crate::KvmHost::exec`] returns
/// [`crate::ExitHandler::left_status`] as the status translated code
/// would have returned. For an answer after which the caller would only
/// return to the trampoline: the exit it would make there is saved.
pub const LEAVE: u64 = 4;

/// The virtual address of the code-cache slot in every root: the last 1 GiB
/// of the address space, next to the runtime, so that translated code and
/// runtime stubs reach each other with 32-bit displacements. Mapped user,
/// read-only, executable; the host writes it through the slot.
pub const CODE_CACHE_VA: u64 = RUNTIME_VA + (1 << 30);

/// The largest code-cache slot (it must fit the last 1 GiB, less the
/// image's 4 MiB).
pub const CODE_CACHE_MAX: u64 = (1 << 30) - (4 << 20);

/// The space reserved for one benchmark kernel.
pub(crate) const KERNEL_SLOT: u64 = 0x200;

/// Capacity of the pending INVLPG list.
pub(crate) const INVLPG_CAPACITY: usize = 512;
/// Capacity of the pending page-table write list.
pub(crate) const WRITES_CAPACITY: usize = 512;

// The supervisor pages do not overlap: a chunk of more than 256 table
// writes once ran into the gate's CR3 table (then at 0x6000), so that a
// boot with a 512-page fault-around window lost the VM ("the gate loaded
// entry ...").
const _: () = {
    assert!(cb::FRAME + cb::FRAME_LEN <= off::INVLPG - off::CB);
    assert!(off::INVLPG + 8 * INVLPG_CAPACITY as u64 <= off::WRITES);
    assert!(off::WRITES + 16 * WRITES_CAPACITY as u64 <= off::GATE);
    assert!(off::GATE + 4096 <= off::CODE);
};
/// Capacity of the operation table, in operations of 16 bytes.
pub const OPS_CAPACITY: usize = ((off::OPS_END - off::OPS) / 16) as usize;

/// Control-block fields (byte offsets in the control block).
pub(crate) mod cb {
    pub const ARG0: u64 = 0x08;
    pub const ARG1: u64 = 0x10;
    pub const ARG2: u64 = 0x18;
    pub const ARG3: u64 = 0x20;
    pub const NEW_CR3: u64 = 0x28;
    pub const N_WRITES: u64 = 0x30;
    pub const N_INVLPG: u64 = 0x38;
    pub const CR2: u64 = 0x50;
    pub const OP: u64 = 0x68;
    pub const VECTOR: u64 = 0x70;
    pub const FATAL_RIP: u64 = 0x80;
    pub const FATAL_ERR: u64 = 0x88;
    pub const FATAL_CR2: u64 = 0x90;
    pub const MORE: u64 = 0x98;
    /// Nonzero: the host call the #BP handler reported was answered
    /// [`super::LEAVE`]; the handler goes to the dispatcher.
    pub const LEAVE: u64 = 0xA0;
    /// Nonzero: table writes, INVLPGs, a CR3 or more chunks of writes are
    /// staged. The CPL0 code looks at this one field before it applies
    /// anything: on PVM each CPL0 instruction is emulated (about 1 us
    /// each, 15% of a Linux boot's samples went to the emulator), and
    /// most exits leave nothing to apply.
    pub const PENDING: u64 = 0xA8;
    /// The dispatcher's IRET frame to CPL3 ([`FRAME_LEN`] bytes): RIP, CS,
    /// RFLAGS, RSP, SS. The host writes the RIP ([`ENTRY`]) before each
    /// run; the rest, the same for every run, are written with the slot.
    pub const FRAME: u64 = 0xB0;
    pub const FRAME_LEN: u64 = 40;
    /// Where the CPL3 code starts, the frame's RIP (0: no code to run).
    pub const ENTRY: u64 = FRAME;
}

/// The gate's supervisor page ([`off::GATE`]).
pub(crate) mod gate {
    /// Entries of the CR3 table, from the page's start
    /// (`zmmu_vm_runtime::protocol::GATE_ROOTS`).
    pub const ROOTS: usize = zmmu_vm_runtime::protocol::GATE_ROOTS;
    /// The index plus one of the root the #BP handler loaded last (zero:
    /// none since the host looked), which the host takes at each exit.
    pub const LOADED: u64 = 0x800;
}

const _: () = assert!(8 * gate::ROOTS as u64 <= gate::LOADED);

/// The virtual address of field `field` of the image's shared page.
const fn image_shared(field: usize) -> i32 {
    (zmmu_vm_runtime::protocol::IMAGE_VA + zmmu_vm_runtime::protocol::SHARED + field as u64) as i64
        as i32
}

/// I/O ports the CPL0 stubs report on.
pub(crate) mod port {
    pub const DONE: u16 = 0x10;
    pub const FAULT: u16 = 0x11;
    pub const FATAL: u16 = 0x12;
    pub const MORE: u16 = 0x13;
    pub const CALL: u16 = 0x14;
}

/// GDT selectors.
pub(crate) mod sel {
    pub const KCODE: u16 = 0x08;
    pub const KDATA: u16 = 0x10;
    pub const TSS: u16 = 0x18;
    pub const UDATA: u16 = 0x2B;
    pub const UCODE: u16 = 0x33;
}

/// The frame the CPU pushes on the kernel stack for a page fault at CPL3
/// (the stack is the TSS's RSP0, [`off::KSTACK_TOP`]; Intel SDM vol. 3
/// 6.14.2: SS, RSP, RFLAGS, CS, RIP, error code), as slot offsets: the
/// host reads the error code and RIP there and writes the RIP to resume
/// at, so that the CPL0 handler, whose every instruction PVM emulates,
/// copies neither.
pub(crate) mod fault_frame {
    use super::off::KSTACK_TOP;
    pub const ERR: u64 = KSTACK_TOP - 48;
    pub const RIP: u64 = KSTACK_TOP - 40;
}

/// The virtual address of a system-slot offset.
#[inline]
pub const fn va(offset: u64) -> u64 {
    RUNTIME_VA + offset
}

/// An absolute operand address as iced's sign-extended 32-bit displacement.
#[inline]
const fn abs32(offset: u64) -> i32 {
    va(offset) as i64 as i32
}

/// The control-block field `field` as an absolute displacement.
#[inline]
const fn cbf(field: u64) -> i32 {
    abs32(off::CB + field)
}

/// A benchmark access pattern over a power-of-two working set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Consecutive doublewords.
    Sequential,
    /// One doubleword every 4 KiB + 64 bytes (a new page and cache line each time).
    Strided,
    /// Doublewords chosen by a 64-bit LCG.
    Random,
}

impl Pattern {
    /// Every pattern.
    pub const ALL: [Pattern; 3] = [Pattern::Sequential, Pattern::Strided, Pattern::Random];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sequential => "seq",
            Self::Strided => "stride",
            Self::Random => "random",
        }
    }
}

/// The stride of [`Pattern::Strided`].
pub const STRIDE: u64 = 4096 + 64;

/// The multiplier and increment of the random pattern's LCG (Knuth's MMIX).
pub const LCG: (u64, u64) = (6364136223846793005, 1442695040888963407);

/// A kernel: `fn(base, mask, count, seed) -> u64` (System V), position
/// independent, with no stack use, so that the very same bytes run natively
/// and inside the VM.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The pattern.
    pub pattern: Pattern,
    /// Whether it stores (otherwise it loads and sums).
    pub write: bool,
    /// The machine code.
    pub code: Vec<u8>,
}

/// How many accesses one kernel iteration makes (the loop is unrolled so
/// that the native limit is the memory system's, not the loop's).
pub const KERNEL_UNROLL: u64 = 4;

/// The offset mask a kernel applies: `size - 1` with the low bits cleared
/// that keep every offset 8-aligned (32-aligned for the sequential
/// pattern, whose four accesses per iteration share one offset).
pub const fn kernel_mask(pattern: Pattern, size: u64) -> u64 {
    match pattern {
        Pattern::Sequential => (size - 1) & !31,
        _ => (size - 1) & !7,
    }
}

/// Assembles the benchmark kernel for a pattern and direction:
/// `count / 4` iterations of four 8-byte big-endian loads (`MOV` +
/// `BSWAP`, summed) or stores (`BSWAP` + `MOV` of the iteration counter)
/// at `base + offset`. The offset starts at `seed & mask`, where `mask` is
/// [`kernel_mask`], and advances by 8 ([`Pattern::Sequential`], 32 per
/// iteration), by [`STRIDE`] ([`Pattern::Strided`]), or to
/// `(lcg >> 16) & mask` with `lcg = lcg * LCG.0 + LCG.1` seeded with
/// `seed` ([`Pattern::Random`]), after every access.
pub fn kernel(pattern: Pattern, write: bool) -> Result<Kernel, KvmError> {
    assemble_kernel(pattern, write)
        .map(|code| Kernel {
            pattern,
            write,
            code,
        })
        .map_err(|e| KvmError::Assemble(e.to_string()))
}

fn assemble_kernel(pattern: Pattern, write: bool) -> Result<Vec<u8>, IcedError> {
    use iced_x86::code_asm::*;
    // rdi = base, rsi = mask (size - 1), rdx = count, rcx = seed; rax = sum;
    // r8 = offset; r9 = scratch; r10/r11 = LCG constants.
    let mut a = iced_x86::code_asm::CodeAssembler::new(64)?;
    let mut top = a.create_label();
    let mut done = a.create_label();
    a.xor(eax, eax)?;
    a.and(
        rsi,
        if pattern == Pattern::Sequential {
            -32
        } else {
            -8
        },
    )?;
    a.mov(r8, rcx)?;
    a.and(r8, rsi)?;
    a.mov(r10, LCG.0)?;
    a.mov(r11, LCG.1)?;
    a.shr(rdx, 2)?;
    a.jz(done)?;
    a.set_label(&mut top)?;
    for k in 0..KERNEL_UNROLL as i32 {
        let displacement = if pattern == Pattern::Sequential {
            8 * k
        } else {
            0
        };
        if write {
            a.mov(r9, rdx)?;
            a.bswap(r9)?;
            a.mov(qword_ptr(rdi + r8 + displacement), r9)?;
        } else {
            a.mov(r9, qword_ptr(rdi + r8 + displacement))?;
            a.bswap(r9)?;
            a.add(rax, r9)?;
        }
        match pattern {
            Pattern::Sequential => {}
            Pattern::Strided => {
                a.add(r8, STRIDE as i32)?;
                a.and(r8, rsi)?;
            }
            Pattern::Random => {
                a.imul_2(rcx, r10)?;
                a.add(rcx, r11)?;
                a.mov(r8, rcx)?;
                a.shr(r8, 16)?;
                a.and(r8, rsi)?;
            }
        }
    }
    if pattern == Pattern::Sequential {
        a.add(r8, 32)?;
        a.and(r8, rsi)?;
    }
    a.dec(rdx)?;
    a.jnz(top)?;
    a.set_label(&mut done)?;
    a.ret()?;
    a.assemble(0)
}

/// The assembled runtime and the addresses of its entry points.
#[derive(Clone, Debug)]
pub(crate) struct Runtime {
    /// Code bytes for `off::CODE`.
    pub code: Vec<u8>,
    /// The CPL0 dispatcher (initial RIP).
    pub dispatch: u64,
    /// The CPL3 batch loop.
    pub batch: u64,
    /// Where a host-completed operation resumes: the next operation.
    pub skip: u64,
    /// The end of a batch or kernel run (`INT3`).
    pub end: u64,
    /// Calls the kernel whose address is in the second word of the user data
    /// page with the System V arguments, stores RAX in the first word, ends.
    pub call_kernel: u64,
    /// The CPL3 host call (`fn(_, argument) -> answer`, System V).
    pub host_call: u64,
    /// The CPL3 miss call of translated code's dispatcher, with an image
    /// (see `build`).
    pub miss_call: Option<u64>,
    /// The CPL3 entry into translated code (see `exec`).
    pub exec_entry: u64,
    /// The host-call stub's code where R15 is its caller's (the budget
    /// of translated code): all of it but the call of the image and the
    /// stretch from R15's store for the host to the trap's return address
    /// and the instruction there.
    pub host_call_budget: [core::ops::Range<u64>; 2],
    /// The range of the batch loop's code, to tell its faults apart.
    pub batch_code: core::ops::Range<u64>,
    /// The dispatch table: 16 handlers indexed by `write << 2 | log2(width)`,
    /// 8 for a write probe (a locked OR of zero: stores without changing
    /// the byte), the rest skip.
    pub jump_table: [u64; 16],
    /// The handlers of vectors 0-31.
    pub vectors: [u64; 32],
}

/// Vectors that push an error code.
/// Emits a call of the in-VM runtime image's `entry` (System V) on its
/// own stack (`image.stack_top`): the registers in `saved` are
/// pushed on the caller's stack and popped after it (the image keeps the
/// callee-saved ones; RBX holds the caller's stack pointer meanwhile, so
/// it must be in `saved`), and `arguments` moves the arguments into
/// place once the stack is switched. RAX is the image's answer. While
/// the image runs, its page faults go to the host (`Shared::faults` is
/// zero).
fn call_image(
    a: &mut iced_x86::code_asm::CodeAssembler,
    saved: &[iced_x86::code_asm::AsmRegister64],
    image: &ImageEntries,
    entry: u64,
    arguments: impl FnOnce(&mut iced_x86::code_asm::CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    use iced_x86::code_asm::*;
    for &r in saved {
        a.push(r)?;
    }
    a.mov(rbx, rsp)?;
    a.mov(rsp, image.stack_top)?;
    // A page fault of the image's own accesses is the host's, not the
    // image's fault entry (docs/CHOICES.md 91), which would run on this
    // stack: `Shared::faults` is zero while the image runs.
    use zmmu_vm_runtime::protocol::Shared;
    let faults = qword_ptr(image_shared(offset_of!(Shared, faults)));
    if image.fault.is_some() {
        a.push(faults)?;
        a.mov(faults, 0)?;
        a.sub(rsp, 8)?;
    }
    arguments(a)?;
    a.mov(rax, entry)?;
    a.call(rax)?;
    if image.fault.is_some() {
        a.add(rsp, 8)?;
        a.pop(faults)?;
    }
    a.mov(rsp, rbx)?;
    for &r in saved.iter().rev() {
        a.pop(r)?;
    }
    Ok(())
}

/// The in-VM runtime image's entries the runtime's stubs call, System V,
/// on the image's stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ImageEntries {
    /// A host call: `fn(which) -> answer`.
    pub call: u64,
    /// A jump-cache miss: `fn(address, bits, jump, offset, generation) -> code`.
    pub miss: u64,
    /// A page fault of translated code: `fn() -> answer`
    /// (docs/CHOICES.md 91); `None`: the stubs are assembled without the
    /// path to it.
    pub fault: Option<u64>,
    /// The top of the image's stack.
    pub stack_top: u64,
}

/// `Shared::gate`'s value when the image's fault stub forwards a page
/// fault to the host through the #BP handler (1 asks for a root).
const FORWARD: i32 = 2;

/// The offsets from [`off::KSTACK_TOP`] of what the #PF stub leaves on the
/// kernel stack for the image's fault stub (read through
/// [`off::KSTACK_ALIAS`]): the CPU's frame (SS, RSP, RFLAGS, CS, RIP, the
/// error code), then RAX and CR2 pushed by the stub.
mod kstack {
    pub const RSP: u64 = 16;
    pub const RFLAGS: u64 = 24;
    pub const RIP: u64 = 40;
    pub const ERR: u64 = 48;
    pub const RAX: u64 = 56;
    pub const CR2: u64 = 64;
}

const fn has_error_code(vector: u32) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

impl Runtime {
    /// Assembles the runtime; its host-call stub calls the in-VM runtime
    /// image first, if there is one: `image` is its entry, its miss entry
    /// and its stack top.
    pub fn assemble(image: Option<ImageEntries>) -> Result<Self, KvmError> {
        Self::build(image).map_err(|e| KvmError::Assemble(e.to_string()))
    }

    fn build(image: Option<ImageEntries>) -> Result<Self, IcedError> {
        use iced_x86::code_asm::*;
        let base = va(off::CODE);
        let mut a = iced_x86::code_asm::CodeAssembler::new(64)?;

        // ---- CPL0: apply pending writes, CR3, INVLPGs. Clobbers rax, rcx, rdx, rsi.
        let mut apply = a.create_label();
        a.set_label(&mut apply)?;
        {
            let mut no_writes = a.create_label();
            let mut write_loop = a.create_label();
            let mut no_cr3 = a.create_label();
            let mut invlpg_loop = a.create_label();
            let mut out = a.create_label();
            a.mov(rcx, qword_ptr(cbf(cb::N_WRITES)))?;
            a.test(rcx, rcx)?;
            a.jz(no_writes)?;
            a.mov(rdx, va(off::WRITES))?;
            a.set_label(&mut write_loop)?;
            a.mov(rsi, qword_ptr(rdx))?;
            a.mov(rax, qword_ptr(rdx + 8))?;
            a.mov(qword_ptr(rsi), rax)?;
            a.add(rdx, 16)?;
            a.dec(rcx)?;
            a.jnz(write_loop)?;
            a.mov(qword_ptr(cbf(cb::N_WRITES)), 0)?;
            a.set_label(&mut no_writes)?;
            a.mov(rax, qword_ptr(cbf(cb::NEW_CR3)))?;
            a.test(rax, rax)?;
            a.jz(no_cr3)?;
            a.mov(cr3, rax)?;
            a.mov(qword_ptr(cbf(cb::NEW_CR3)), 0)?;
            a.mov(qword_ptr(cbf(cb::N_INVLPG)), 0)?;
            a.ret()?;
            a.set_label(&mut no_cr3)?;
            a.mov(rcx, qword_ptr(cbf(cb::N_INVLPG)))?;
            a.test(rcx, rcx)?;
            a.jz(out)?;
            a.mov(rdx, va(off::INVLPG))?;
            a.set_label(&mut invlpg_loop)?;
            a.mov(rax, qword_ptr(rdx))?;
            a.invlpg(byte_ptr(rax))?;
            a.add(rdx, 8)?;
            a.dec(rcx)?;
            a.jnz(invlpg_loop)?;
            a.mov(qword_ptr(cbf(cb::N_INVLPG)), 0)?;
            a.set_label(&mut out)?;
            a.ret()?;
        }

        // ---- CPL0: apply everything pending, asking the host for more
        // chunks; called only where `cb::PENDING` is set (`apply_pending`).
        // Preserves every register, so that the handlers that call it
        // save none of their own.
        let mut apply_all = a.create_label();
        a.set_label(&mut apply_all)?;
        {
            let mut again = a.create_label();
            let mut out = a.create_label();
            a.push(rax)?;
            a.push(rcx)?;
            a.push(rdx)?;
            a.push(rsi)?;
            a.set_label(&mut again)?;
            a.call(apply)?;
            a.cmp(qword_ptr(cbf(cb::MORE)), 0)?;
            a.je(out)?;
            a.out(port::MORE as u32, al)?;
            a.jmp(again)?;
            a.set_label(&mut out)?;
            a.mov(qword_ptr(cbf(cb::PENDING)), 0)?;
            a.pop(rsi)?;
            a.pop(rdx)?;
            a.pop(rcx)?;
            a.pop(rax)?;
            a.ret()?;
        }
        // Two instructions where nothing is pending.
        let apply_pending = |a: &mut CodeAssembler| -> Result<(), IcedError> {
            let mut none = a.create_label();
            a.cmp(qword_ptr(cbf(cb::PENDING)), 0)?;
            a.je(none)?;
            a.call(apply_all)?;
            // The caller's next instruction takes the label.
            a.set_label(&mut none)
        };

        // ---- CPL0 dispatcher.
        let mut dispatch = a.create_label();
        a.set_label(&mut dispatch)?;
        {
            let mut go = a.create_label();
            a.mov(rsp, va(off::KSTACK_TOP))?;
            apply_pending(&mut a)?;
            a.cmp(qword_ptr(cbf(cb::ENTRY)), 0)?;
            a.jne(go)?;
            a.out(port::DONE as u32, al)?;
            a.jmp(dispatch)?;
            // The frame the slot holds (`Runtime::install`).
            a.set_label(&mut go)?;
            a.mov(rsp, va(off::CB + cb::FRAME))?;
            a.mov(rdi, qword_ptr(cbf(cb::ARG0)))?;
            a.mov(rsi, qword_ptr(cbf(cb::ARG1)))?;
            a.mov(rdx, qword_ptr(cbf(cb::ARG2)))?;
            a.mov(rcx, qword_ptr(cbf(cb::ARG3)))?;
            a.iretq()?;
        }

        // The #PF stub's path to the host, and the image's fault stub
        // (docs/CHOICES.md 91).
        let mut host_fault = a.create_label();
        let mut fault_stub = a.create_label();
        use zmmu_vm_runtime::protocol::{FaultRecord, Shared};
        let fault_field = |field: usize| qword_ptr(image_shared(offset_of!(Shared, fault) + field));

        // ---- #BP from CPL3: a host call (the user page's CALL is set) or
        // the end of the run.
        let mut breakpoint = a.create_label();
        a.set_label(&mut breakpoint)?;
        if image.is_some() {
            // The image asks for root RCX (docs/CHOICES.md 77):
            // bounds-checked, its CR3 from the supervisor table (zero: the
            // host names none there), the index recorded for the host; the
            // answer in RAX (1: loaded). Registers, not the shared page: each
            // CPL0 instruction costs about 1 us on PVM.
            let mut not_gate = a.create_label();
            let mut refused = a.create_label();
            let mut forward = a.create_label();
            let gate_flag = qword_ptr(image_shared(offset_of!(Shared, gate)));
            a.cmp(gate_flag, 0)?;
            a.je(not_gate)?;
            let faults = image.is_some_and(|entries| entries.fault.is_some());
            if faults {
                a.cmp(gate_flag, FORWARD)?;
                a.je(forward)?;
            }
            a.mov(gate_flag, 0)?;
            a.cmp(rcx, gate::ROOTS as i32)?;
            a.jae(refused)?;
            a.mov(rax, qword_ptr(rcx * 8 + abs32(off::GATE)))?;
            a.test(rax, rax)?;
            a.jz(refused)?;
            a.mov(cr3, rax)?;
            a.inc(rcx)?;
            a.mov(qword_ptr(abs32(off::GATE + gate::LOADED)), rcx)?;
            a.mov(eax, 1)?;
            a.iretq()?;
            a.set_label(&mut refused)?;
            a.xor(eax, eax)?;
            a.iretq()?;
            // The image's fault stub forwards a page fault to the host
            // (docs/CHOICES.md 91), every register as at the fault but
            // RSP, RIP and RFLAGS, which it left in `Shared::fault`: the
            // INT3's frame becomes the fault's (the same place on the
            // kernel stack, the error code below it), and the #PF stub's
            // path to the host goes on with RAX saved and CR2 in RAX.
            if faults {
                a.set_label(&mut forward)?;
                a.mov(gate_flag, 0)?;
                a.push(fault_field(offset_of!(FaultRecord, err)))?;
                a.push(rax)?;
                for (field, at) in [
                    (offset_of!(FaultRecord, rip), 16),
                    (offset_of!(FaultRecord, rflags), 32),
                    (offset_of!(FaultRecord, rsp), 40),
                ] {
                    a.mov(rax, fault_field(field))?;
                    a.mov(qword_ptr(rsp + at), rax)?;
                }
                a.mov(rax, fault_field(offset_of!(FaultRecord, cr2)))?;
                a.jmp(host_fault)?;
            }
            a.set_label(&mut not_gate)?;
        }
        {
            let mut call = a.create_label();
            a.cmp(qword_ptr(abs32(off::USER_DATA + user::CALL)), 0)?;
            a.jne(call)?;
            a.out(port::DONE as u32, al)?;
            a.jmp(dispatch)?;
            // The host answers in the user page and may have changed the
            // tables: apply them, then return after the INT3.
            a.set_label(&mut call)?;
            a.out(port::CALL as u32, al)?;
            apply_pending(&mut a)?;
            let mut leave = a.create_label();
            a.cmp(qword_ptr(cbf(cb::LEAVE)), 0)?;
            a.jne(leave)?;
            a.iretq()?;
            // Answered LEAVE: the run ended at the call; this is the next
            // run, which starts at the dispatcher (the stack reset there).
            a.set_label(&mut leave)?;
            a.mov(qword_ptr(cbf(cb::LEAVE)), 0)?;
            a.jmp(dispatch)?;
        }

        // ---- Fatal exception stubs.
        let mut fatal = a.create_label();
        let mut vectors = Vec::with_capacity(32);
        for vector in 0..32u32 {
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            a.mov(qword_ptr(cbf(cb::VECTOR)), vector as i32)?;
            if has_error_code(vector) {
                a.pop(qword_ptr(cbf(cb::FATAL_ERR)))?;
            } else {
                a.mov(qword_ptr(cbf(cb::FATAL_ERR)), 0)?;
            }
            a.jmp(fatal)?;
            vectors.push(l);
        }
        a.set_label(&mut fatal)?;
        a.mov(rax, qword_ptr(rsp))?;
        a.mov(qword_ptr(cbf(cb::FATAL_RIP)), rax)?;
        a.mov(rax, cr2)?;
        a.mov(qword_ptr(cbf(cb::FATAL_CR2)), rax)?;
        a.out(port::FATAL as u32, al)?;
        a.jmp(dispatch)?;

        // ---- #PF: forward CPL3 faults to the host.
        let mut page_fault = a.create_label();
        a.set_label(&mut page_fault)?;
        {
            let mut from_user = a.create_label();
            a.test(byte_ptr(rsp + 16), 3)?;
            a.jnz(from_user)?;
            a.jmp(vectors[14])?;
            // The host reads the error code and RIP in the frame
            // (`fault_frame`) and writes there the RIP to go on at.
            a.set_label(&mut from_user)?;
            a.push(rax)?;
            if let Some(entries) = image.filter(|entries| entries.fault.is_some()) {
                // Handed to the image (docs/CHOICES.md 91): RAX and CR2
                // pushed below the CPU's frame, where the image's fault
                // stub reads them through `off::KSTACK_ALIAS`, and a frame
                // to that stub on the image's stack, interrupts off.
                let mut to_host = a.create_label();
                a.cmp(qword_ptr(image_shared(offset_of!(Shared, faults))), 0)?;
                a.je(to_host)?;
                a.mov(rax, cr2)?;
                a.push(rax)?;
                a.push(i32::from(sel::UDATA))?;
                a.push(entries.stack_top as i32)?;
                a.push(2)?;
                a.push(i32::from(sel::UCODE))?;
                a.lea(rax, ptr(fault_stub))?;
                a.push(rax)?;
                a.iretq()?;
                a.set_label(&mut to_host)?;
            }
            a.mov(rax, cr2)?;
            a.set_label(&mut host_fault)?;
            a.mov(qword_ptr(cbf(cb::CR2)), rax)?;
            a.mov(qword_ptr(cbf(cb::OP)), r12)?;
            a.out(port::FAULT as u32, al)?;
            apply_pending(&mut a)?;
            // RAX is still CR2 (`apply_all` preserves it).
            a.invlpg(byte_ptr(rax))?;
            a.pop(rax)?;
            a.add(rsp, 8)?;
            a.iretq()?;
        }

        // ---- CPL3 batch loop: rdi = first op, rsi = end. r12 = op, r13 = end,
        // r14 = dispatch table, rbx = address.
        let mut batch = a.create_label();
        let mut next = a.create_label();
        let mut skip = a.create_label();
        let mut end = a.create_label();
        let mut handlers: Vec<CodeLabel> = Vec::with_capacity(8);
        a.set_label(&mut batch)?;
        a.mov(r12, rdi)?;
        a.mov(r13, rsi)?;
        a.mov(r14, va(off::JUMP_TABLE))?;
        a.set_label(&mut next)?;
        a.cmp(r12, r13)?;
        a.jae(end)?;
        a.mov(rax, qword_ptr(r12))?;
        a.mov(rbx, rax)?;
        a.shr(rax, 56)?;
        a.and(eax, 15)?;
        a.shl(rbx, 8)?;
        a.shr(rbx, 8)?;
        a.jmp(qword_ptr(r14 + rax * 8))?;
        for handler in 0..8u32 {
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            let write = handler & 4 != 0;
            match (write, handler & 3) {
                (false, 0) => {
                    a.movzx(eax, byte_ptr(rbx))?;
                }
                (false, 1) => {
                    a.movzx(eax, word_ptr(rbx))?;
                    a.rol(ax, 8)?;
                }
                (false, 2) => {
                    a.mov(eax, dword_ptr(rbx))?;
                    a.bswap(eax)?;
                }
                (false, _) => {
                    a.mov(rax, qword_ptr(rbx))?;
                    a.bswap(rax)?;
                }
                (true, 0) => {
                    a.mov(al, byte_ptr(r12 + 8))?;
                    a.mov(byte_ptr(rbx), al)?;
                }
                (true, 1) => {
                    a.mov(ax, word_ptr(r12 + 8))?;
                    a.rol(ax, 8)?;
                    a.mov(word_ptr(rbx), ax)?;
                }
                (true, 2) => {
                    a.mov(eax, dword_ptr(r12 + 8))?;
                    a.bswap(eax)?;
                    a.mov(dword_ptr(rbx), eax)?;
                }
                (true, _) => {
                    a.mov(rax, qword_ptr(r12 + 8))?;
                    a.bswap(rax)?;
                    a.mov(qword_ptr(rbx), rax)?;
                }
            }
            if !write {
                a.mov(qword_ptr(r12 + 8), rax)?;
            }
            a.add(r12, 16)?;
            a.jmp(next)?;
            handlers.push(l);
        }
        let mut probe_write = a.create_label();
        a.set_label(&mut probe_write)?;
        a.lock().or(byte_ptr(rbx), 0)?;
        a.add(r12, 16)?;
        a.jmp(next)?;
        handlers.push(probe_write);
        a.set_label(&mut skip)?;
        a.add(r12, 16)?;
        a.jmp(next)?;
        a.set_label(&mut end)?;
        a.int3()?;
        a.jmp(end)?;

        // ---- CPL3 kernel call: the kernel's address is in the user page.
        let mut call_kernel = a.create_label();
        a.set_label(&mut call_kernel)?;
        a.mov(r9, va(off::USER_DATA))?;
        a.mov(r8, qword_ptr(r9 + user::KERNEL as i32))?;
        a.call(r8)?;
        a.mov(r9, va(off::USER_DATA))?;
        a.mov(qword_ptr(r9 + user::RESULT as i32), rax)?;
        a.jmp(end)?;

        // ---- CPL3 host call, System V: `fn(rdi, rsi) -> rax` with rsi the
        // argument (the translator's helper, `abi::CTX_HELPER`). The in-VM
        // runtime image, if loaded, is asked first, on its own stack
        // (`fn(which) -> answer`, System V): it completes the
        // instruction, or delivers an SVC or a program interruption and
        // answers `DISPATCH` (R15 given back `Shared::refund`), or
        // answers `HOST` (not asked when the host said,
        // at a fault, that it would answer so: `user::HOST_NEXT`). Then the argument and the call
        // flag go to the user page, `INT3` traps to the #BP handler, which
        // asks the host (with the caller's R15, which it may lessen); the
        // answer is in the page.
        let mut host_call = a.create_label();
        a.set_label(&mut host_call)?;
        // From here, the stub's trap: R15 is stored for the host.
        let mut trap = a.create_label();
        if let Some(entries) = &image {
            // Like the exit, the image changes only RAX and R11 of the
            // caller's registers.
            let saved = [rbx, rdi, rsi, rdx, rcx, r8, r9, r10];
            let mut host_next = a.create_label();
            a.cmp(qword_ptr(abs32(off::USER_DATA + user::HOST_NEXT)), 0)?;
            a.jne(host_next)?;
            call_image(&mut a, &saved, entries, entries.call, |a| a.mov(rdi, rsi))?;
            // A program interruption delivered (docs/CHOICES.md 82): the
            // block's instructions after the one it ended go back to the
            // budget (zero after any other answer).
            use zmmu_vm_runtime::protocol::Shared;
            a.add(
                r15,
                qword_ptr(image_shared(std::mem::offset_of!(Shared, refund))),
            )?;
            // A kick found the vCPU in the image: the budget goes now, as
            // it would have in translated code.
            let mut no_kick = a.create_label();
            a.cmp(qword_ptr(abs32(off::USER_DATA + user::PREEMPT)), 0)?;
            a.je(no_kick)?;
            a.mov(qword_ptr(abs32(off::USER_DATA + user::PREEMPT)), 0)?;
            a.add(qword_ptr(abs32(off::USER_DATA + user::STOLEN)), r15)?;
            a.xor(r15d, r15d)?;
            a.set_label(&mut no_kick)?;
            a.cmp(rax, HOST as i32)?;
            a.je(trap)?;
            // An SVC delivered (docs/CHOICES.md 80): the caller's frame
            // dropped, the dispatcher at the new PSW's address under the
            // context's new bits, as after the host's `GO_TO` there.
            let mut completed = a.create_label();
            a.cmp(rax, DISPATCH as i32)?;
            a.jne(completed)?;
            a.add(rsp, 8)?;
            a.mov(
                rax,
                qword_ptr(image_shared(std::mem::offset_of!(Shared, go_to))),
            )?;
            a.jmp(qword_ptr(image_shared(std::mem::offset_of!(
                Shared, dispatch
            ))))?;
            a.set_label(&mut completed)?;
            a.ret()?;
            a.set_label(&mut host_next)?;
            a.mov(qword_ptr(abs32(off::USER_DATA + user::HOST_NEXT)), 0)?;
            a.set_label(&mut trap)?;
        }
        let mut returned = a.create_label();
        a.mov(r11, va(off::USER_DATA))?;
        a.mov(qword_ptr(r11 + user::CALL_ARG as i32), rsi)?;
        a.mov(qword_ptr(r11 + user::CALL_R15 as i32), r15)?;
        a.mov(qword_ptr(r11 + user::CALL as i32), 1)?;
        a.int3()?;
        let mut answer = a.create_label();
        a.sub(r15, qword_ptr(r11 + user::R15_LESS as i32))?;
        // Not at the trap's return address: a kick may find the vCPU there
        // with the #BP not yet delivered, the host's call (and its R15)
        // still to come.
        a.set_label(&mut returned)?;
        a.mov(rax, qword_ptr(r11 + user::CALL_RESULT as i32))?;
        a.cmp(rax, GO_TO as i32)?;
        a.jne(answer)?;
        a.add(rsp, 8)?;
        a.mov(rax, qword_ptr(r11 + user::GO_TO_RAX as i32))?;
        a.jmp(qword_ptr(r11 + user::GO_TO_RIP as i32))?;
        a.set_label(&mut answer)?;
        a.ret()?;

        // ---- CPL3 miss call of the translator's dispatcher (with an
        // image): rax = the PSW address, rsi = the context's bits, rdx =
        // the jump cache, rcx = the byte offset of the slot it looked at
        // last, edi = the context's generation. The image's miss entry
        // (`fn(address, bits, jump, offset, generation) -> code`, System
        // V) runs on its own stack; rax is the code to go on at, or zero.
        // Every other register is as at the call: the image keeps the
        // callee-saved ones, the stub the others (the guest registers the
        // blocks cache in r8-r11).
        let mut miss_call = None;
        if let Some(entries) = &image {
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            use zmmu_vm_runtime::protocol::Shared;
            let saved = [rbx, rdi, rsi, rdx, rcx, r8, r9, r10, r11];
            // The budget for the instructions the image completes (an
            // LPSWE, docs/CHOICES.md 77), which it charges after.
            a.mov(
                qword_ptr(image_shared(std::mem::offset_of!(Shared, budget))),
                r15,
            )?;
            call_image(&mut a, &saved, entries, entries.miss, |a| {
                a.mov(r8d, edi)?;
                a.mov(rdi, rax)
            })?;
            a.sub(
                r15,
                qword_ptr(image_shared(std::mem::offset_of!(Shared, charged))),
            )?;
            // After a switch to an address with no published block: the
            // dispatcher again, at that address under the new bits.
            let mut resolved = a.create_label();
            let redispatch = image_shared(std::mem::offset_of!(Shared, redispatch));
            a.cmp(qword_ptr(redispatch), 0)?;
            a.je(resolved)?;
            a.mov(qword_ptr(redispatch), 0)?;
            a.add(rsp, 8)?;
            a.jmp(qword_ptr(image_shared(std::mem::offset_of!(
                Shared, dispatch
            ))))?;
            a.set_label(&mut resolved)?;
            a.ret()?;
            miss_call = Some(l);
        }

        // ---- CPL3 fault stub (with an image, docs/CHOICES.md 91): a page
        // fault of CPL3 code the #PF stub handed over, on the image's
        // stack, every register but RAX (on the kernel stack) as at the
        // fault. The fault goes to `Shared::fault` (read through the
        // kernel stack's alias), the image's fault entry runs with
        // `Shared::faults` cleared (a fault in it goes to the host), then
        // either the faulting instruction runs again with RAX, RFLAGS,
        // RSP as at the fault, or INT3 with `Shared::gate` = FORWARD hands
        // the fault to the #BP handler, which makes it the host's.
        if let Some(fault) = image.and_then(|entries| entries.fault) {
            a.set_label(&mut fault_stub)?;
            let shared_field = |field: usize| qword_ptr(image_shared(field));
            let faults = offset_of!(Shared, faults);
            let saved = [rbx, rcx, rdx, rsi, rdi, r8, r9, r10, r11];
            for r in saved {
                a.push(r)?;
            }
            a.mov(rbx, shared_field(faults))?;
            a.push(rbx)?;
            a.mov(shared_field(faults), 0)?;
            for (below_top, field) in [
                (kstack::CR2, offset_of!(FaultRecord, cr2)),
                (kstack::RAX, offset_of!(FaultRecord, rax)),
                (kstack::ERR, offset_of!(FaultRecord, err)),
                (kstack::RIP, offset_of!(FaultRecord, rip)),
                (kstack::RSP, offset_of!(FaultRecord, rsp)),
                (kstack::RFLAGS, offset_of!(FaultRecord, rflags)),
            ] {
                a.mov(
                    rcx,
                    qword_ptr(abs32(off::KSTACK_ALIAS + 0x1000 - below_top)),
                )?;
                a.mov(fault_field(field), rcx)?;
            }
            a.mov(rcx, fault)?;
            a.call(rcx)?;
            a.pop(rbx)?;
            a.mov(shared_field(faults), rbx)?;
            for r in saved.iter().rev() {
                a.pop(*r)?;
            }
            let mut forward = a.create_label();
            a.cmp(rax, COMPLETED as i32)?;
            a.jne(forward)?;
            a.push(fault_field(offset_of!(FaultRecord, rflags)))?;
            a.mov(rax, fault_field(offset_of!(FaultRecord, rax)))?;
            a.popfq()?;
            a.mov(rsp, fault_field(offset_of!(FaultRecord, rsp)))?;
            a.jmp(fault_field(offset_of!(FaultRecord, rip)))?;
            a.set_label(&mut forward)?;
            a.mov(rax, fault_field(offset_of!(FaultRecord, rax)))?;
            a.mov(shared_field(offset_of!(Shared, gate)), FORWARD)?;
            a.int3()?;
            a.ud2()?;
        }

        // ---- CPL3 entry into translated code: rdi = CPU, rsi = context,
        // rdx = block, rcx = the translator's trampoline; the status it
        // returns goes to the user page, then the run ends.
        let mut exec_entry = a.create_label();
        a.set_label(&mut exec_entry)?;
        a.mov(r11, va(off::USER_DATA))?;
        a.mov(qword_ptr(r11 + user::CALL as i32), 0)?;
        a.call(rcx)?;
        a.mov(r11, va(off::USER_DATA))?;
        a.mov(qword_ptr(r11 + user::STATUS as i32), rax)?;
        a.mov(qword_ptr(r11 + user::CALL as i32), 0)?;
        a.jmp(end)?;

        let result =
            a.assemble_options(base, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
        let ip = |l: &CodeLabel| result.label_ip(l);
        let mut jump_table = [ip(&skip)?; 16];
        for (slot, l) in jump_table.iter_mut().zip(&handlers) {
            *slot = ip(l)?;
        }
        let mut vector_ips = [0; 32];
        for (slot, l) in vector_ips.iter_mut().zip(&vectors) {
            *slot = ip(l)?;
        }
        vector_ips[3] = ip(&breakpoint)?;
        vector_ips[14] = ip(&page_fault)?;
        Ok(Self {
            dispatch: ip(&dispatch)?,
            batch: ip(&batch)?,
            skip: ip(&skip)?,
            end: ip(&end)?,
            call_kernel: ip(&call_kernel)?,
            host_call: ip(&host_call)?,
            miss_call: miss_call.as_ref().map(ip).transpose()?,
            exec_entry: ip(&exec_entry)?,
            host_call_budget: [
                ip(&host_call)?..if image.is_some() {
                    ip(&trap)?
                } else {
                    ip(&host_call)?
                },
                // To the stub's last instruction, `ret` (one byte).
                ip(&returned)?..ip(&answer)? + 1,
            ],
            batch_code: ip(&batch)?..ip(&end)?,
            jump_table,
            vectors: vector_ips,
            code: result.inner.code_buffer,
        })
    }

    /// The system slot of `len` bytes (the runtime area, then the pool),
    /// with the GDT, IDT, TSS, code and dispatch table written into it.
    /// The slot is new, so every other byte of it is zero (a fresh
    /// anonymous mapping, [`SlotMemory::new`]) without a pass over its
    /// 4 MiB: such a pass faulted in a thousand host pages at each start
    /// that nothing else touches (the operation table, the EXECUTE area).
    pub fn install(&self, len: u64) -> Result<SlotMemory, KvmError> {
        let fail = || KvmError::Config("system slot too small for the runtime".into());
        if self.code.len() as u64 > off::KERNELS - off::CODE {
            return Err(KvmError::Assemble(format!(
                "runtime code is {} bytes, too large",
                self.code.len()
            )));
        }
        let slot = SlotMemory::new(len, false, "runtime and page-table pool")?;
        // GDT: null, kernel code 64, kernel data, TSS (16 bytes), user data, user code 64.
        let tss = va(off::TSS);
        let tss_limit = 103u64;
        let gdt = [
            0,
            0x00AF_9B00_0000_FFFF,
            0x00CF_9300_0000_FFFF,
            tss_limit | ((tss & 0xFF_FFFF) << 16) | (0x89 << 40) | (((tss >> 24) & 0xFF) << 56),
            tss >> 32,
            0x00CF_F300_0000_FFFF,
            0x00AF_FB00_0000_FFFF,
        ];
        for (i, d) in gdt.iter().enumerate() {
            slot.store_u64(off::GDT + 8 * i as u64, *d)
                .ok_or_else(fail)?;
        }
        // TSS: RSP0, and the I/O map base beyond the limit (no I/O at CPL3).
        slot.write(off::TSS + 4, &va(off::KSTACK_TOP).to_le_bytes())
            .ok_or_else(fail)?;
        slot.write(off::TSS + 0x66, &104u16.to_le_bytes())
            .ok_or_else(fail)?;
        // IDT: interrupt gates (IF cleared), DPL 0 except #BP (DPL 3 for INT3).
        for (v, &handler) in self.vectors.iter().enumerate() {
            let dpl3 = v == 3;
            let attr: u64 = if dpl3 { 0xEE } else { 0x8E };
            let lo = (handler & 0xFFFF)
                | (u64::from(sel::KCODE) << 16)
                | (attr << 40)
                | (((handler >> 16) & 0xFFFF) << 48);
            slot.store_u64(off::IDT + 16 * v as u64, lo)
                .ok_or_else(fail)?;
            slot.store_u64(off::IDT + 16 * v as u64 + 8, handler >> 32)
                .ok_or_else(fail)?;
        }
        // The dispatcher's IRET frame but its RIP: user code and stack
        // selectors, RFLAGS with IF=0 and IOPL=0, the user stack.
        let frame = [sel::UCODE.into(), 2, va(off::USTACK_TOP), sel::UDATA.into()];
        for (at, value) in (8..cb::FRAME_LEN).step_by(8).zip(frame) {
            slot.store_u64(off::CB + cb::FRAME + at, value)
                .ok_or_else(fail)?;
        }
        slot.write(off::CODE, &self.code).ok_or_else(fail)?;
        for (i, &h) in self.jump_table.iter().enumerate() {
            slot.store_u64(off::JUMP_TABLE + 8 * i as u64, h)
                .ok_or_else(fail)?;
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatcher's first entry reads the control block (no table
    /// writes or INVLPGs pending), the user page (no host call asked) and
    /// the operation table as zeros: a new system slot holds zero wherever
    /// the runtime wrote nothing, with no pass of its own over the slot.
    #[test]
    fn a_new_system_slot_is_zero_where_the_runtime_wrote_nothing() {
        let runtime = Runtime::assemble(None).unwrap();
        let len = off::RUNTIME_END + (1 << 20);
        let slot = runtime.install(len).unwrap();
        let frame = off::CB + cb::FRAME;
        let written = [
            off::GDT..off::CB,
            frame..frame + cb::FRAME_LEN,
            off::CODE..off::CODE_END,
        ];
        let nonzero: Vec<u64> = (0..len)
            .step_by(8)
            .filter(|at| !written.iter().any(|range| range.contains(at)))
            .filter(|&at| slot.load_u64(at) != Some(0))
            .collect();
        assert_eq!(nonzero, [] as [u64; 0]);
    }
}
