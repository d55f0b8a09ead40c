//! The in-VM runtime image: `zmmu_runtime_call`, which the host-call stub
//! of `zmmu-hv-kvm` calls at CPL3 on the image's stack, `zmmu_runtime_miss`,
//! which its miss stub calls at a jump-cache miss, `zmmu_runtime_translate`,
//! which translates one block (the host runs it at
//! `zmmu_runtime_translate_run`), the heap and the panic handler.
//! Everything else is the library's (`zmmu_vm_runtime::call`); here are
//! only the addresses of the shared records, the guest store through the
//! active root with its fault recovery, the accesses through the absolute
//! window, and the TSC.
//!
//! Built for `x86_64-unknown-none` with `image.ld` by `zmmu-hv-kvm`'s
//! build script (feature `image`); never for the host.

#![no_std]
#![no_main]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::arch::asm;
use core::mem::offset_of;

use talc::cell::TalcSyncCell;
use talc::source::Claim;
use talc::{DefaultBinning, TalcCell};
use zmmu_vm_runtime::call::{self, CpuPage, Guest, Scratch};
use zmmu_vm_runtime::miss;
use zmmu_vm_runtime::protocol::{
    va, Entered, Gate, JumpEntry, Panic, Published, Shared, Site, ABSOLUTE_VA, CONTEXT_BITS,
    CONTEXT_LAST_BLOCK, COUNTS, COUNTS_END, GATE, IMAGE_VA, JUMP_WAYS, SHARED, SITES, SITE_SLOTS,
    STACK_TOP, STORABLE, STORABLE_WORDS,
};
use zmmu_vm_runtime::translate::{self, Translation, HEAP_BYTES};

/// The heap, for the translator's allocations (docs/CHOICES.md 89): Talc
/// over [`HEAP_BYTES`] of the bss. The semantics of the calls allocate
/// nothing (but a path of `rustc_apfloat` the class never takes); a block
/// is bounded (`zmmu_vm_runtime::translate`), so its translation does not
/// exhaust it. A failed allocation would be a panic, reported as below.
#[global_allocator]
static HEAP: TalcSyncCell<Claim, DefaultBinning> = {
    static mut ARENA: [u8; HEAP_BYTES] = [0; HEAP_BYTES];
    // SAFETY: the arena is the heap's alone (nothing else names it). The
    // image is single-threaded: one vCPU runs it, with interrupts off, and
    // no handler it meets (the CPL0 #PF and #BP stubs) allocates, so no
    // allocator call ever overlaps another.
    unsafe { TalcSyncCell::new(TalcCell::new(Claim::array(&raw mut ARENA))) }
};

/// The record of a translation (`zmmu_vm_runtime::translate`): the host
/// finds it by its symbol, writes the request and reads the answer and
/// the code.
#[no_mangle]
static mut ZMMU_TRANSLATION: Translation = Translation::new();

/// The room the calls keep their stores in until the instruction
/// completed (`call::Scratch`): in the bss of this vCPU's image, so that
/// no call clears it.
static mut SCRATCH: Scratch = Scratch::new();

/// The shared page.
fn shared() -> *mut Shared {
    va(SHARED) as *mut Shared
}

/// The guest as the image reaches it: plain x86 accesses at CPL3 through
/// the shadow root in CR3.
struct X86;

/// `REP MOVSB` of `len` bytes from `src` to `dst`, one of them a
/// lower-half s390x logical address, after recording where a fault the
/// host does not resolve resumes (`Shared::recover`): at `2:`, which
/// answers `false`. `call::host_call` checks that the guest bytes lie in
/// one page, so a fault comes before any byte is copied, and a retried
/// one goes on where it stopped.
///
/// # Safety
/// The side that is not the guest address must be valid for `len` bytes
/// (read for `src`, written for `dst`).
unsafe fn copy(dst: u64, src: u64, len: usize) -> bool {
    let recover = (va(SHARED) + offset_of!(Shared, recover) as u64) as *mut u64;
    let failed: u64;
    // SAFETY: `recover` is the shared page's field, mapped user
    // read-write; the guest side is a lower-half s390x logical address,
    // which only ever maps guest storage, and a fault there is resolved by
    // the host or resumes at `2:` (the #PF stub and `zmmu_kvm::exits`);
    // the other side is the caller's.
    unsafe {
        asm!(
            "lea {tmp}, [rip + 2f]",
            "mov [{recover}], {tmp}",
            "rep movsb",
            "xor {failed:e}, {failed:e}",
            "jmp 3f",
            "2:",
            "mov {failed:e}, 1",
            "3:",
            recover = in(reg) recover,
            tmp = out(reg) _,
            failed = out(reg) failed,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            inout("rcx") len => _,
            options(nostack),
        );
    }
    failed == 0
}

impl Guest for X86 {
    fn load(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        // SAFETY: `buf` is valid for writes of its length.
        unsafe { copy(buf.as_mut_ptr() as u64, addr, buf.len()) }
    }

    fn store(&mut self, addr: u64, data: &[u8]) -> bool {
        // SAFETY: `data` is valid for reads of its length.
        unsafe { copy(addr, data.as_ptr() as u64, data.len()) }
    }

    fn compare_swap(&mut self, addr: u64, len: usize, old: u128, new: u128) -> Option<u128> {
        // s390x operands are big-endian, x86's little-endian.
        let (old, new) = match len {
            4 => (
                u128::from((old as u32).swap_bytes()),
                u128::from((new as u32).swap_bytes()),
            ),
            8 => (
                u128::from((old as u64).swap_bytes()),
                u128::from((new as u64).swap_bytes()),
            ),
            _ => (old.swap_bytes(), new.swap_bytes()),
        };
        let recover = (va(SHARED) + offset_of!(Shared, recover) as u64) as *mut u64;
        let (failed, lo): (u64, u64);
        let mut hi = 0u64;
        // SAFETY: as for `copy`: `recover` is the shared page's field; the
        // operand is a lower-half s390x logical address (aligned on `len`,
        // `call::host_call` checks), which only ever maps guest storage,
        // and a fault there (before anything is stored: the compare and
        // exchange needs write permission either way) is resolved by the
        // host and retried, or resumes at `2:`. RBX, which the compiler
        // keeps, holds the new value's low half only across the compare
        // and exchange and is restored on both paths.
        unsafe {
            match len {
                4 => asm!(
                    "lea {tmp}, [rip + 2f]",
                    "mov [{recover}], {tmp}",
                    "lock cmpxchg [{addr}], {new:e}",
                    "xor {failed:e}, {failed:e}",
                    "jmp 3f",
                    "2:",
                    "mov {failed:e}, 1",
                    "3:",
                    recover = in(reg) recover,
                    addr = in(reg) addr,
                    new = in(reg) new as u64,
                    tmp = out(reg) _,
                    failed = out(reg) failed,
                    inout("rax") old as u64 => lo,
                    options(nostack),
                ),
                8 => asm!(
                    "lea {tmp}, [rip + 2f]",
                    "mov [{recover}], {tmp}",
                    "lock cmpxchg [{addr}], {new}",
                    "xor {failed:e}, {failed:e}",
                    "jmp 3f",
                    "2:",
                    "mov {failed:e}, 1",
                    "3:",
                    recover = in(reg) recover,
                    addr = in(reg) addr,
                    new = in(reg) new as u64,
                    tmp = out(reg) _,
                    failed = out(reg) failed,
                    inout("rax") old as u64 => lo,
                    options(nostack),
                ),
                _ => asm!(
                    "lea {tmp}, [rip + 2f]",
                    "mov [{recover}], {tmp}",
                    "xchg rbx, {new_lo}",
                    "lock cmpxchg16b xmmword ptr [{addr}]",
                    "xchg rbx, {new_lo}",
                    "xor {failed:e}, {failed:e}",
                    "jmp 3f",
                    "2:",
                    "xchg rbx, {new_lo}",
                    "mov {failed:e}, 1",
                    "3:",
                    recover = in(reg) recover,
                    addr = in(reg) addr,
                    new_lo = inout(reg) new as u64 => _,
                    tmp = out(reg) _,
                    failed = out(reg) failed,
                    inout("rax") old as u64 => lo,
                    inout("rdx") (old >> 64) as u64 => hi,
                    in("rcx") (new >> 64) as u64,
                    options(nostack),
                ),
            }
        }
        let found = u128::from(hi) << 64 | u128::from(lo);
        (failed == 0).then_some(match len {
            4 => u128::from((found as u32).swap_bytes()),
            8 => u128::from((found as u64).swap_bytes()),
            _ => found.swap_bytes(),
        })
    }

    fn read_absolute(&self, addr: u64, buf: &mut [u8]) {
        // SAFETY: the window maps absolute storage below
        // `Shared::absolute_size` at ABSOLUTE_VA, user, and the caller
        // checked that the bytes lie there; `buf` is the image's own. The
        // host changes guest storage only while this vCPU is out of the VM.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (ABSOLUTE_VA + addr) as *const u8,
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
    }

    fn store_absolute(&mut self, addr: u64, data: &[u8]) {
        // SAFETY: as for `read_absolute`: the window maps the frame user
        // read-write, and the caller checked that it is one the host
        // listed storable, below `Shared::absolute_size`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                (ABSOLUTE_VA + addr) as *mut u8,
                data.len(),
            );
        }
    }

    fn take_transient(&mut self) -> bool {
        let at = (va(SHARED) + offset_of!(Shared, transient) as u64) as *mut u64;
        // SAFETY: the shared page's field, mapped user read-write, aligned;
        // the host writes it only while this vCPU waits on a fault of the
        // image's access (volatile: that write is not the call's).
        unsafe {
            let marked = core::ptr::read_volatile(at) != 0;
            core::ptr::write_volatile(at, 0);
            marked
        }
    }

    fn gate(&mut self, index: u64) -> bool {
        let field = |f: usize| (va(SHARED) + f as u64) as *mut u64;
        let loaded: u64;
        // SAFETY: the shared page's field, mapped user read-write, aligned.
        // INT3 traps to the CPL0 #BP handler, which with `Shared::gate`
        // set bounds-checks the index in RCX, loads the CR3 the host wrote
        // for it in the runtime's supervisor table (or refuses), answers in
        // RAX, clears the flag and returns here; it changes RCX and RAX
        // only, and the asm block is a compiler barrier for the flag (no
        // `nomem`). Every mapping the image uses lies in the upper half
        // every root shares.
        unsafe {
            core::ptr::write_volatile(field(offset_of!(Shared, gate)), 1);
            asm!("int3", inout("rcx") index => _, out("rax") loaded, options(nostack));
            if loaded == 1 {
                // The root in CR3 now, for the shadow fills (`fill`).
                core::ptr::write_volatile(field(offset_of!(Shared, active_root)), index + 1);
            }
        }
        loaded == 1
    }

    fn load_table(&self, at: u64) -> u64 {
        // SAFETY: `fill` gives an 8-byte aligned address in the pool,
        // which the runtime maps user read-write at `Shared::pool_va`; the
        // host writes the tables only while this vCPU is out of the VM.
        unsafe { core::ptr::read_volatile(at as *const u64) }
    }

    fn store_table(&mut self, at: u64, entry: u64) {
        // SAFETY: as for `load_table`. The entry is one `fill` made for a
        // frame of guest storage in a table of the active root, where it
        // found none present; the host takes it into its records at its
        // next exit (`Shared::fills`).
        unsafe { core::ptr::write_volatile(at as *mut u64, entry) }
    }

    fn tsc(&mut self) -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: LFENCE waits for earlier loads (a clock read after a
        // value another CPU stored after its own read is not earlier than
        // that read, as the host's `host_tsc`); RDTSC reads the time-stamp
        // counter (CR4.TSD is clear: it runs at CPL3). Neither changes
        // anything else.
        unsafe { asm!("lfence", "rdtsc", out("eax") lo, out("edx") hi, options(nostack)) };
        u64::from(hi) << 32 | u64::from(lo)
    }
}

/// Host call `which` (the translator's block << 8 | index), System V: the
/// answer is `protocol::COMPLETED`, `protocol::DISPATCH` (an SVC
/// delivered: `Shared::go_to`) or `protocol::HOST`.
#[no_mangle]
pub extern "sysv64" fn zmmu_runtime_call(which: u64) -> u64 {
    // SAFETY: the loader maps the shared page, the site table, the
    // counters and the table of storable frames at these addresses, user
    // read-write, and only this vCPU runs here (the host does not touch
    // them while it runs); the CPU page is the execution area's, whose
    // address the loader wrote, as is the context's (a user page of the
    // execution area), or zero; the gate page is mapped user. `SCRATCH`
    // is this image's, whose one vCPU runs one call at a time: nothing
    // else refers to it while the call runs.
    let (shared, sites, counts, storable, page, context, scratch) = unsafe {
        let shared = &mut *shared();
        let sites = core::slice::from_raw_parts_mut(va(SITES) as *mut Site, SITE_SLOTS);
        let counts = core::slice::from_raw_parts_mut(
            va(COUNTS) as *mut u64,
            ((COUNTS_END - COUNTS) / 8) as usize,
        );
        let storable = core::slice::from_raw_parts(va(STORABLE) as *const u64, STORABLE_WORDS);
        let page = &mut *(shared.cpu as *mut CpuPage);
        let context = match (shared.context, shared.dispatch) {
            (0, _) | (_, 0) => None,
            (at, _) => Some(call::Context {
                gate: &*(va(GATE) as *const Gate),
                bits: &mut *((at + CONTEXT_BITS) as *mut u64),
                last_block: &mut *((at + CONTEXT_LAST_BLOCK) as *mut u64),
            }),
        };
        let scratch = &mut *core::ptr::addr_of_mut!(SCRATCH);
        (shared, sites, counts, storable, page, context, scratch)
    };
    call::host_call(
        which, shared, sites, counts, storable, page, context, &mut X86, scratch,
    )
}

/// A jump-cache miss of the dispatcher at PSW address `addr` under the
/// context's bits `bits` and generation `generation`, the jump cache at
/// `jump` whose slot at byte `probed` it looked at last, System V: the
/// code address of the block the chain goes on at, or zero when the host
/// must look (`zmmu_vm_runtime::miss::resolve`; an LPSWE in the prefix
/// area switches the root through the gate, `zmmu_vm_runtime::gate`).
#[no_mangle]
pub extern "sysv64" fn zmmu_runtime_miss(
    addr: u64,
    bits: u64,
    jump: u64,
    probed: u64,
    generation: u64,
) -> u64 {
    let probed = probed / size_of::<JumpEntry>() as u64;
    let first = probed & !(JUMP_WAYS as u64 - 1);
    // SAFETY: as for `zmmu_runtime_call`: the shared page, the gate page,
    // the table of storable frames and the CPU page are mapped user
    // read-write and only this vCPU runs here. The host wrote the
    // published table's address and size, the log's address and the
    // context's (user pages of the execution area, which it does not
    // touch while the vCPU runs), or zeros; the dispatcher gave its jump
    // cache and a slot it probed, whose aligned group lies in it.
    let (shared, page, table, gate, frames, context_bits, jump) = unsafe {
        let shared = &mut *shared();
        let page = &mut *(shared.cpu as *mut CpuPage);
        let table: &[Published] = match shared.published {
            0 => &[],
            at => {
                core::slice::from_raw_parts(at as *const Published, shared.published_slots as usize)
            }
        };
        let gate = &*(va(GATE) as *const Gate);
        let frames = core::slice::from_raw_parts(va(STORABLE) as *const u64, STORABLE_WORDS);
        let context_bits = match shared.context {
            0 => None,
            at => Some(&mut *((at + CONTEXT_BITS) as *mut u64)),
        };
        let jump = match shared.entered {
            0 => None,
            log => Some((
                core::slice::from_raw_parts_mut(
                    (jump as *mut JumpEntry).add(first as usize),
                    JUMP_WAYS,
                ),
                &mut *(log as *mut Entered),
            )),
        };
        (shared, page, table, gate, frames, context_bits, jump)
    };
    let miss = miss::Miss {
        addr,
        bits,
        generation: generation as u32,
        probed,
    };
    let switch = context_bits.map(|context_bits| miss::Switch {
        gate,
        frames,
        context_bits,
    });
    miss::resolve(miss, shared, page, table, switch, jump, &mut X86)
}

/// A page fault of translated code that the runtime's fault stub handed
/// to the image (`Shared::fault`), System V: `protocol::COMPLETED` when
/// the image mapped the page (the instruction runs again), else
/// `protocol::HOST` (the stub forwards the fault to the host; nothing
/// changed): `zmmu_vm_runtime::fill`.
#[no_mangle]
pub extern "sysv64" fn zmmu_runtime_fault() -> u64 {
    // SAFETY: as for `zmmu_runtime_call`: the shared page, the gate page,
    // the table of storable frames and the CPU page are mapped user
    // read-write and only this vCPU runs here.
    let (shared, gate, frames, page) = unsafe {
        let shared = &mut *shared();
        let gate = &*(va(GATE) as *const Gate);
        let frames = core::slice::from_raw_parts(va(STORABLE) as *const u64, STORABLE_WORDS);
        let page = &*(shared.cpu as *const CpuPage);
        (shared, gate, frames, page)
    };
    zmmu_vm_runtime::fill::resolve(shared, gate, frames, page, &mut X86)
}

/// Translates the block the host asks for in [`ZMMU_TRANSLATION`]
/// (`zmmu_vm_runtime::translate`), System V: the answer's status.
#[no_mangle]
pub extern "sysv64" fn zmmu_runtime_translate() -> u64 {
    // SAFETY: the record is this image's, whose one vCPU runs one entry
    // at a time, and the host touches it only while the vCPU is out of
    // the VM: nothing else refers to it while this runs. The shared page
    // is mapped user read-write.
    let (record, shared) = unsafe { (&mut *core::ptr::addr_of_mut!(ZMMU_TRANSLATION), &*shared()) };
    let started = X86.tsc();
    record.answer = translate::translate(
        &record.request,
        &X86,
        shared.absolute_size,
        &mut record.code,
    );
    record.answer.ticks = X86.tsc().wrapping_sub(started);
    record.answer.status
}

// The host's run entry of a translation: `zmmu_runtime_translate` on the
// image's stack, then `INT3` without the call flag, which ends the run
// (`OUT DONE`).
core::arch::global_asm!(
    ".globl zmmu_runtime_translate_run",
    "zmmu_runtime_translate_run:",
    "movabs rsp, {top}",
    "call {translate}",
    "int3",
    "ud2",
    top = const IMAGE_VA.wrapping_add(STACK_TOP),
    translate = sym zmmu_runtime_translate,
);

/// A panic is reported through the exit protocol: its location goes to
/// the shared page and `UD2` raises #UD, which the CPL0 stub reports as a
/// fatal exit (`OUT FATAL`); the host reads the location and puts the vCPU
/// back into the dispatcher. It never returns here.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if let Some(at) = info.location() {
        let record = Panic {
            file: at.file().as_ptr() as u64,
            file_len: at.file().len() as u64,
            line: u64::from(at.line()).max(1),
            column: u64::from(at.column()),
        };
        // SAFETY: the shared page is mapped user read-write.
        unsafe { core::ptr::addr_of_mut!((*shared()).panic).write_volatile(record) };
    }
    loop {
        // SAFETY: UD2 only raises #UD.
        unsafe { asm!("ud2", options(nomem, nostack)) };
    }
}
