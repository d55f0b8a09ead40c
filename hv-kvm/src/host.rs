//! [`KvmHost`]: one VM with its storage slot, its system slot (runtime and
//! page-table pool), its vCPU parked in the runtime, and the run loop that
//! connects page faults to whoever resolves them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvm_bindings::kvm_userspace_memory_region;

use x86_64::structures::idt::PageFaultErrorCode;
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::host::{
    FlushScope, HostAccess, HostAccessKind, HostFault, HostPageSize, HostPaging, HostPerms, Mapping,
};
use zmmu_mmu::storage::Storage;

use crate::error::KvmError;
use crate::image::{Image, TscLink};
use crate::interrupt::{Interrupter, Source};
use crate::kick::Kick;
use crate::memory::{GuestStorage, Region, SlotMemory};
use crate::paging::{KvmPaging, KvmRoot};
use crate::pool::SlotHandle;
use crate::runtime::{
    self, cb, fault_frame, off, va, Kernel, Pattern, Runtime, KERNEL_SLOT, WRITES_CAPACITY,
};
use crate::vcpu::{Exit, Vcpu};
use crate::vm::{Vm, CODE_SLOT, IMAGE_SLOT, STORAGE_SLOT, SYSTEM_SLOT};

/// How to build a [`KvmHost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmConfig {
    /// The size of the page-table pool in bytes (at most 1 GiB - 2 MiB; host
    /// memory is committed only as tables are used).
    pub pool_size: u64,
    /// The size of the code-cache slot in bytes (0: none; at most
    /// [`CODE_CACHE_MAX`](runtime::CODE_CACHE_MAX)), mapped executable
    /// and read-only at [`CODE_CACHE_VA`](runtime::CODE_CACHE_VA).
    pub code_cache: u64,
    /// Load the in-VM runtime image ([`crate::image`]): the host-call stub
    /// asks it first (default on; off, every host call is an exit).
    pub image: bool,
    /// With the image: the #PF stub hands page faults of CPL3 code to the
    /// image's shadow fill while `Shared::faults` is on (docs/CHOICES.md
    /// 91). Off (the default), the stubs are assembled without that path
    /// and cost not an instruction more.
    pub image_faults: bool,
}

impl Default for KvmConfig {
    fn default() -> Self {
        Self {
            pool_size: 64 << 20,
            code_cache: 0,
            image: true,
            image_faults: false,
        }
    }
}

/// A page fault taken at CPL3, as the runtime reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    /// The faulting address (CR2).
    pub address: u64,
    /// The x86 page-fault error code as the CPU pushed it (see
    /// [`PageFault::code`]).
    pub error_code: u64,
    /// The faulting instruction.
    pub rip: u64,
    /// R12 at the fault: the batch loop's operation pointer.
    pub op_pointer: u64,
}

impl PageFault {
    /// The error code's flags (Intel SDM Vol. 3A, 4.7 "Page-Fault
    /// Exceptions", Figure 4-12), every bit kept.
    pub fn code(&self) -> PageFaultErrorCode {
        PageFaultErrorCode::from_bits_retain(self.error_code)
    }

    /// The access was a store.
    pub fn is_write(&self) -> bool {
        self.code().contains(PageFaultErrorCode::CAUSED_BY_WRITE)
    }

    /// The translation was present: a protection violation, not a missing
    /// page.
    pub fn is_protection(&self) -> bool {
        self.code()
            .contains(PageFaultErrorCode::PROTECTION_VIOLATION)
    }
}

impl std::fmt::Display for PageFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "page fault at {:#x} (error code {:?}) by the instruction at {:#x}, operation at {:#x}",
            self.address,
            self.code(),
            self.rip,
            self.op_pointer
        )
    }
}

impl std::error::Error for PageFault {}

/// What the runtime does after the host handled a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Retry the faulting instruction (a mapping was installed).
    Retry,
    /// Continue at this address (the host completed or refused the operation).
    Resume(u64),
    /// [`FaultAction::Resume`] where the code there calls the host next
    /// for an access the in-VM runtime image would fault on again (an
    /// s390x exception, the software path): that call skips the image.
    ResumeHost(u64),
    /// A guest access of the in-VM runtime image that the host does not
    /// map: continue where the image said (`ImageArea::recover`), which
    /// leaves the instruction to the host.
    Recover,
}

/// Counters of the run loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Runs started (batches, kernels, flushes).
    pub runs: u64,
    /// Exits to the host of any kind (each one `KVM_RUN` return).
    pub exits: u64,
    /// Page faults forwarded.
    pub faults: u64,
    /// Extra exits to pass page-table write chunks.
    pub chunks: u64,
    /// Nanoseconds spent inside `KVM_RUN` (guest code, traps, exits).
    pub vcpu_ns: u64,
    /// Nanoseconds spent resolving faults on the host side.
    pub resolve_ns: u64,
    /// Host calls from CPL3 code.
    pub calls: u64,
    /// Nanoseconds spent in host calls on the host side.
    pub call_ns: u64,
    /// Exits by a signal (the deadline's kick, [`KvmHost::set_deadline`]).
    pub kicks: u64,
    /// ... of which made the guest code leave ([`ExitHandler::preempt`]).
    pub preemptions: u64,
    /// Runs in which the host-call stub took the budget after a kick
    /// found the vCPU in the image ([`ExitHandler::preempted_in_vm`]).
    pub taken_after_image: u64,
}

/// The callback that decides what a page fault means.
pub type FaultHandler<'a> =
    dyn FnMut(&mut KvmPaging, &PageFault) -> Result<FaultAction, KvmError> + 'a;

/// What the host does on the exits of a run that CPL3 code causes: page
/// faults and host calls (the runtime's `host_call` stub).
pub trait ExitHandler {
    /// A page fault at CPL3: what to do next.
    fn page_fault(
        &mut self,
        paging: &mut KvmPaging,
        fault: &PageFault,
    ) -> Result<FaultAction, KvmError>;

    /// A host call with `argument`, the caller's R15 being `r15`: the
    /// answer the stub returns, or [`runtime::GO_TO`]: the caller does
    /// not go on, the vCPU continues where [`ExitHandler::go_to`] says.
    fn host_call(
        &mut self,
        paging: &mut KvmPaging,
        argument: u64,
        r15: u64,
    ) -> Result<u64, KvmError>;

    /// The vCPU loaded `root` through the gate (docs/CHOICES.md 77): called
    /// at the next exit that ends the run or is handled (a fault, a host
    /// call), before it is handled, with the paging's active and loaded
    /// root already `root` since the exit after the load, to take the rest
    /// of the new state (the address space, the PSW bits) into the host's
    /// mirror.
    fn switched(&mut self, paging: &mut KvmPaging, root: KvmRoot) -> Result<(), KvmError> {
        let _ = (paging, root);
        Ok(())
    }

    /// At every exit, before anything else looks at the tables: the shadow
    /// fills the in-VM image made since the last exit (docs/CHOICES.md
    /// 91), taken into the host's records. Nothing by default (no image
    /// fills unless the handler turned them on).
    fn take_fills(&mut self, paging: &mut KvmPaging) {
        let _ = paging;
    }

    /// Before the vCPU runs again after a fault or a host call: the host
    /// publishes what the image reads (the gate's roots, which the
    /// handling may have changed).
    fn resuming(&mut self, paging: &mut KvmPaging) {
        let _ = paging;
    }

    /// After a host call: what the stub subtracts from R15 before the
    /// caller goes on (whatever the answer).
    fn r15_less(&self) -> u64 {
        0
    }

    /// After a host call answered [`runtime::GO_TO`]: the address the vCPU
    /// continues at and the RAX it continues with (the caller's return
    /// address dropped, every other register as at the call).
    fn go_to(&self) -> (u64, u64) {
        (0, 0)
    }

    /// The deadline ([`KvmHost::set_deadline`]) passed while the vCPU ran
    /// at `regs`: change them so that the code leaves at its next safe
    /// point and say `true`, or say `false` (the vCPU is somewhere that
    /// cannot be redirected; the next kick asks again).
    fn preempt(&mut self, regs: &mut Regs) -> bool {
        let _ = regs;
        false
    }

    /// At the end of a run: the budget the host-call stub took after a
    /// kick found the vCPU in the in-VM runtime image (R15 then, set to
    /// 0, as [`ExitHandler::preempt`] does in translated code).
    fn preempted_in_vm(&mut self, r15: u64) {
        let _ = r15;
    }

    /// After a host call answered [`runtime::LEAVE`]: the status
    /// [`KvmHost::exec`] returns for the run that ended there.
    fn left_status(&self) -> u64 {
        0
    }

    /// After a host call: the run's deadline as the call left it. One
    /// earlier than the run's ([`KvmHost::set_deadline`]) replaces it and
    /// the kick is re-armed for it (an instruction made a timer come due
    /// sooner); the default keeps the run's.
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

/// The vCPU's general registers (for [`ExitHandler::preempt`]).
pub type Regs = kvm_bindings::kvm_regs;

/// How long after a kick that could not make the code leave (or a
/// deadline that passed outside `KVM_RUN`) the vCPU is kicked again: long
/// enough that it runs guest code in between.
const KICK_AGAIN: Duration = Duration::from_micros(100);

/// The exits of runs that make no host calls: faults go to a closure.
struct Faults<'a, 'b>(&'a mut FaultHandler<'b>);

impl ExitHandler for Faults<'_, '_> {
    fn page_fault(
        &mut self,
        paging: &mut KvmPaging,
        fault: &PageFault,
    ) -> Result<FaultAction, KvmError> {
        (self.0)(paging, fault)
    }

    fn host_call(&mut self, _: &mut KvmPaging, argument: u64, _: u64) -> Result<u64, KvmError> {
        Err(KvmError::UnexpectedExit(format!(
            "host call {argument:#x} from code that makes none"
        )))
    }
}

/// A KVM VM ready to run accesses: the storage slot, tables, runtime and
/// vCPU. It implements the core's [`HostPaging`] (delegating to its
/// [`KvmPaging`]) and [`HostAccess`] (one access run in the VM), so the
/// core's `shadow::Engine` can drive it directly.
#[derive(Debug)]
pub struct KvmHost {
    // Field order is drop order: the vCPU and VM file descriptors close
    // before the memory they map is unmapped; the interrupters lose the
    // vCPU's kvm_run before it is unmapped.
    interrupts: Source,
    vcpu: Vcpu,
    _vm: Vm,
    paging: KvmPaging,
    storage: Option<Arc<Region>>,
    storage_region: kvm_userspace_memory_region,
    code: Option<SlotMemory>,
    runtime: Runtime,
    error: Option<KvmError>,
    boot_root: KvmRoot,
    kernels: Vec<Kernel>,
    staged: VecDeque<(u64, u64)>,
    staged_tail: (Vec<u64>, Option<u64>),
    stats: RunStats,
    /// When the runs of [`KvmHost::exec`] must leave, and the timer
    /// that kicks the vCPU then (made on first use).
    deadline: Option<Instant>,
    kick: Option<Kick>,
}

impl KvmHost {
    /// Creates the VM: `storage` at guest-physical 0 (shared: it stays
    /// mapped while the VM lives), the system slot above it (at the next
    /// 1 GiB boundary), the runtime installed and the vCPU parked in the
    /// dispatcher.
    pub fn new(storage: &GuestStorage, config: KvmConfig) -> Result<Self, KvmError> {
        let region = Vm::region(STORAGE_SLOT, 0, storage.memory());
        let mut host = Self::build(region, storage.size(), config)?;
        host.storage = Some(storage.shared());
        Ok(host)
    }

    /// Creates the VM over guest storage that the caller owns: `len` bytes
    /// (a multiple of 4 KiB) at the page-aligned host address `base`.
    ///
    /// # Safety
    /// The memory must stay mapped and owned by the caller while the VM can
    /// run: until [`KvmHost::remap_storage`] names other memory, or the host
    /// is dropped. (KVM only touches it inside `KVM_RUN`.)
    pub unsafe fn with_storage_at(
        base: *mut u8,
        len: u64,
        config: KvmConfig,
    ) -> Result<Self, KvmError> {
        Self::build(Self::storage_region(base, len)?, len, config)
    }

    /// The storage slot over `len` bytes at `base`, checked for KVM.
    fn storage_region(base: *mut u8, len: u64) -> Result<kvm_userspace_memory_region, KvmError> {
        if base as u64 % 4096 != 0 || len % 4096 != 0 || len == 0 {
            return Err(KvmError::Config(format!(
                "guest storage of {len:#x} bytes at host address {base:p}: \
                 KVM needs whole pages at a page-aligned address"
            )));
        }
        Ok(kvm_userspace_memory_region {
            slot: STORAGE_SLOT,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: len,
            userspace_addr: base as u64,
        })
    }

    /// Points the storage slot at `len` bytes at `base` (the same length as
    /// before), if that is not where it points already: answers whether
    /// it moved (then what was read from the old storage, translated code
    /// above all, is the caller's to drop).
    ///
    /// # Safety
    /// As for [`KvmHost::with_storage_at`].
    pub unsafe fn remap_storage(&mut self, base: *mut u8, len: u64) -> Result<bool, KvmError> {
        if self.storage_region.userspace_addr == base as u64
            && self.storage_region.memory_size == len
        {
            return Ok(false);
        }
        if len != self.storage_region.memory_size {
            return Err(KvmError::Config(format!(
                "guest storage changed size from {:#x} to {len:#x}",
                self.storage_region.memory_size
            )));
        }
        let region = Self::storage_region(base, len)?;
        // KVM moves no slot to other host memory (EINVAL): the slot is
        // deleted (size 0), then made again over the new memory.
        self._vm.add_slot(kvm_userspace_memory_region {
            memory_size: 0,
            ..self.storage_region
        })?;
        self._vm.add_slot(region)?;
        self.storage_region = region;
        self.storage = None;
        Ok(true)
    }

    fn build(
        storage: kvm_userspace_memory_region,
        storage_size: u64,
        config: KvmConfig,
    ) -> Result<Self, KvmError> {
        if config.pool_size < (1 << 20) || config.pool_size > (1 << 30) - off::RUNTIME_END {
            return Err(KvmError::Config(format!(
                "pool size {:#x} out of range",
                config.pool_size
            )));
        }
        let vm = Vm::new()?;
        let system_gpa = storage.memory_size.next_multiple_of(1 << 30);
        let code_gpa = system_gpa + (1 << 30);
        let code = match config.code_cache {
            0 => None,
            size => Some(SlotMemory::new(size, false, "code cache")?),
        };
        let image = match config.image {
            true => Some((
                Image::load(crate::exec::ExecArea::CPU)?,
                code_gpa + (1 << 30),
            )),
            false => None,
        };
        let runtime = Runtime::assemble(image.as_ref().map(|(i, _)| runtime::ImageEntries {
            call: i.entry(),
            miss: i.miss_entry(),
            fault: config.image_faults.then(|| i.fault_entry()),
            stack_top: i.stack_top(),
        }))?;
        let system = runtime.install(off::RUNTIME_END + config.pool_size)?;
        let kernels = Pattern::ALL
            .iter()
            .flat_map(|&p| [false, true].map(move |w| (p, w)))
            .map(|(p, w)| runtime::kernel(p, w))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, k) in kernels.iter().enumerate() {
            if k.code.len() as u64 > KERNEL_SLOT {
                return Err(KvmError::Assemble(format!(
                    "benchmark kernel {i} ({:?}, write {}) is {} bytes, its slot {KERNEL_SLOT}",
                    k.pattern,
                    k.write,
                    k.code.len()
                )));
            }
            system
                .write(off::KERNELS + i as u64 * KERNEL_SLOT, &k.code)
                .ok_or(KvmError::PoolExhausted)?;
        }
        vm.add_slot(storage)?;
        let region = Vm::region(SYSTEM_SLOT, system_gpa, &system);
        vm.add_slot(region)?;
        if let Some(code) = &code {
            vm.add_slot(Vm::region(CODE_SLOT, code_gpa, code))?;
        }
        if let Some((image, gpa)) = &image {
            vm.add_slot(Vm::region(IMAGE_SLOT, *gpa, image.memory()))?;
        }
        let slot = SlotHandle {
            vm: vm.fd.clone(),
            region,
            _memory: system.keep_alive(),
        };
        let mut paging = KvmPaging::new(
            system,
            system_gpa,
            storage_size,
            Some(slot),
            code.as_ref().map(|c| (code_gpa, c.len())),
            image,
        )?;
        let boot_root = paging.create_root()?;
        let mut vcpu = Vcpu::new(&vm)?;
        vcpu.reset(boot_root.cr3(), runtime.dispatch)?;
        // SAFETY: the byte is in the vCPU's kvm_run, which outlives the
        // source (dropped first, field order).
        let interrupts = unsafe { Source::new(vcpu.immediate_exit()) }?;
        paging.set_loaded(Some(boot_root));
        Ok(Self {
            interrupts,
            vcpu,
            _vm: vm,
            paging,
            storage: None,
            storage_region: storage,
            code,
            runtime,
            error: None,
            boot_root,
            kernels,
            staged: VecDeque::new(),
            staged_tail: (Vec::new(), None),
            stats: RunStats::default(),
            deadline: None,
            kick: None,
        })
    }

    /// Whether `storage` is the storage this VM maps at guest-physical 0.
    pub fn maps(&self, storage: &GuestStorage) -> bool {
        self.storage
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &storage.shared()))
    }

    /// The code-cache slot (host side: the host writes translated code
    /// here; the guest sees it at [`CODE_CACHE_VA`](runtime::CODE_CACHE_VA)).
    pub fn code_cache(&self) -> Option<&SlotMemory> {
        self.code.as_ref()
    }

    /// The virtual address of the CPL3 host-call stub, System V
    /// `fn(_, argument) -> answer`: each call is one exit, answered by
    /// [`ExitHandler::host_call`].
    pub fn host_call_stub(&self) -> u64 {
        self.runtime.host_call
    }

    /// Where in the host-call stub R15 is its caller's: a kick there may
    /// take the budget as in translated code ([`ExitHandler::preempt`]).
    pub fn host_call_budget(&self) -> [std::ops::Range<u64>; 2] {
        self.runtime.host_call_budget.clone()
    }

    /// The virtual address of the CPL3 miss stub, with an image: `rax` =
    /// the code of the block the image resolved the jump-cache miss at
    /// address `rax` to, or zero (`zmmu_vm_runtime::miss`), given the
    /// dispatcher's `rsi` (bits), `rdx` (jump cache), `rcx` (slot offset)
    /// and `edi` (generation); every other register kept.
    pub fn miss_call_stub(&self) -> Option<u64> {
        self.runtime.miss_call
    }

    /// The execution area of translated code.
    pub fn exec_area(&self) -> crate::exec::ExecArea<'_> {
        self.paging.exec_area()
    }

    /// Runs translated code at CPL3 through the active root: calls
    /// `trampoline(cpu, context, block)` (System V, virtual addresses in
    /// the VM) and returns what it returns, passing page faults and host
    /// calls to `exits` on the way.
    pub fn exec(
        &mut self,
        trampoline: u64,
        [cpu, context, block]: [u64; 3],
        exits: &mut dyn ExitHandler,
    ) -> Result<u64, KvmError> {
        self.run_with(
            self.runtime.exec_entry,
            [cpu, context, block, trampoline],
            exits,
        )?;
        Ok(self.user_load(runtime::user::STATUS))
    }

    /// The backend failure that the last [`HostAccess::probe`] could not
    /// report through its signature, if any.
    pub fn take_error(&mut self) -> Option<KvmError> {
        self.error.take()
    }

    /// The page tables ([`HostPaging`]).
    pub fn paging(&self) -> &KvmPaging {
        &self.paging
    }

    /// The page tables, mutable.
    pub fn paging_mut(&mut self) -> &mut KvmPaging {
        &mut self.paging
    }

    /// The run-loop counters.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// The root the vCPU uses when nothing else is active (never released).
    pub fn boot_root(&self) -> KvmRoot {
        self.boot_root
    }

    /// The assembled benchmark kernels, to run the same bytes natively.
    pub fn kernels(&self) -> &[Kernel] {
        &self.kernels
    }

    fn cb_store(&self, field: u64, value: u64) {
        self.slot_store(off::CB + field, value);
    }

    fn cb_load(&self, field: u64) -> u64 {
        self.slot_load(off::CB + field)
    }

    /// The doubleword at system-slot offset `at`.
    fn slot_load(&self, at: u64) -> u64 {
        self.paging.memory().load_u64(at).unwrap_or(0)
    }

    fn slot_store(&self, at: u64, value: u64) {
        let _ = self.paging.memory().store_u64(at, value);
    }

    fn user_store(&self, field: u64, value: u64) {
        let _ = self
            .paging
            .memory()
            .store_u64(off::USER_DATA + field, value);
    }

    fn user_load(&self, field: u64) -> u64 {
        self.paging
            .memory()
            .load_u64(off::USER_DATA + field)
            .unwrap_or(0)
    }

    /// Moves what the tables need done into the control block: the first
    /// chunk of writes now, the rest on `OUT MORE`; the INVLPGs and CR3 go
    /// with the last chunk.
    fn stage_pending(&mut self) {
        let (pending, cr3) = self.paging.take_pending();
        self.staged.extend(pending.writes);
        self.staged_tail.0.extend(pending.invlpg);
        if cr3.is_some() {
            self.staged_tail = (Vec::new(), cr3);
        }
        self.next_chunk();
    }

    fn next_chunk(&mut self) {
        let n = self.staged.len().min(WRITES_CAPACITY);
        let memory = self.paging.memory();
        for (i, (address, value)) in self.staged.drain(..n).enumerate() {
            let at = off::WRITES + 16 * i as u64;
            let _ = memory.store_u64(at, address);
            let _ = memory.store_u64(at + 8, value);
        }
        self.cb_store(cb::N_WRITES, n as u64);
        let writes = n > 0;
        let last = self.staged.is_empty();
        self.cb_store(cb::MORE, u64::from(!last));
        if last {
            let (invlpg, cr3) = std::mem::take(&mut self.staged_tail);
            let memory = self.paging.memory();
            let mut n = 0;
            let mut cr3 = cr3;
            if invlpg.len() > runtime::INVLPG_CAPACITY {
                cr3 = cr3.or(self.paging.active().map(KvmRoot::cr3));
            } else {
                for (i, address) in invlpg.iter().enumerate() {
                    let _ = memory.store_u64(off::INVLPG + 8 * i as u64, *address);
                }
                n = invlpg.len() as u64;
            }
            self.cb_store(cb::N_INVLPG, if cr3.is_some() { 0 } else { n });
            self.cb_store(cb::NEW_CR3, cr3.unwrap_or(0));
            let pending = writes || n > 0 || cr3.is_some();
            self.cb_store(cb::PENDING, u64::from(pending));
        } else {
            self.cb_store(cb::N_INVLPG, 0);
            self.cb_store(cb::NEW_CR3, 0);
            self.cb_store(cb::PENDING, 1);
        }
    }

    /// Runs the CPL3 code at `entry` with up to four arguments until it
    /// ends, passing every page fault to `on_fault`. `entry` 0 applies the
    /// pending table changes only.
    pub(crate) fn run(
        &mut self,
        entry: u64,
        args: [u64; 4],
        on_fault: &mut FaultHandler<'_>,
    ) -> Result<(), KvmError> {
        self.run_with(entry, args, &mut Faults(on_fault))
    }

    /// Runs the CPL3 code at `entry` with up to four arguments (System V
    /// registers) until it ends, passing its page faults and host calls
    /// to `exits`.
    pub fn run_with(
        &mut self,
        entry: u64,
        args: [u64; 4],
        exits: &mut dyn ExitHandler,
    ) -> Result<(), KvmError> {
        if let Some(deadline) = self.deadline {
            self.kick_at(deadline)?;
        }
        self.interrupts.runs_here();
        let ran = self.run_until_done(entry, args, exits);
        // What the host-call stub took after a kick, and a kick's request
        // it did not meet (none may reach the next run).
        let stolen = self.user_load(runtime::user::STOLEN);
        self.user_store(runtime::user::STOLEN, 0);
        self.user_store(runtime::user::PREEMPT, 0);
        if stolen != 0 {
            self.stats.taken_after_image += 1;
            exits.preempted_in_vm(stolen);
        }
        let disarmed = self.kick.as_mut().map_or(Ok(()), Kick::disarm);
        ran.and(disarmed)
    }

    /// A handle with which another thread makes the current or next run
    /// of [`KvmHost::exec`] leave at its next safe point, as a deadline
    /// that passed does ([`ExitHandler::preempt`]).
    pub fn interrupter(&self) -> Interrupter {
        self.interrupts.interrupter()
    }

    /// Arms the kick for `deadline`.
    fn kick_at(&mut self, deadline: Instant) -> Result<(), KvmError> {
        let delay = deadline.saturating_duration_since(Instant::now());
        let kick = match &mut self.kick {
            Some(kick) => kick,
            None => self.kick.insert(Kick::new()?),
        };
        kick.arm(delay)
    }

    /// Makes the runs of [`KvmHost::exec`] leave once `deadline` passes
    /// (through [`ExitHandler::preempt`]); `None`: no deadline.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// [`KvmHost::run_with`] without the deadline's timer.
    fn run_until_done(
        &mut self,
        entry: u64,
        args: [u64; 4],
        exits: &mut dyn ExitHandler,
    ) -> Result<(), KvmError> {
        if self.paging.active().is_none() {
            self.paging.activate(self.boot_root)?;
        }
        self.cb_store(cb::ENTRY, entry);
        for (field, value) in [cb::ARG0, cb::ARG1, cb::ARG2, cb::ARG3]
            .into_iter()
            .zip(args)
        {
            self.cb_store(field, value);
        }
        self.stage_pending();
        self.stats.runs += 1;
        // A root the gate loaded that the handler has not taken yet.
        let mut switched = None;
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                let kick = match &mut self.kick {
                    Some(kick) => kick,
                    None => self.kick.insert(Kick::new()?),
                };
                kick.arm(KICK_AGAIN)?;
            }
            self.paging.publish_active();
            let started = std::time::Instant::now();
            let exit = self.vcpu.run();
            self.stats.vcpu_ns += started.elapsed().as_nanos() as u64;
            self.stats.exits += 1;
            // The root the vCPU loaded through the gate, before anything
            // looks at the tables; the rest of the state when the image is
            // done with it (a kick may find the vCPU in the image).
            match self.paging.follow_gate() {
                Ok(root) => switched = root.or(switched),
                Err(e) => {
                    self.recover()?;
                    return Err(e);
                }
            }
            // The image's shadow fills, into the pager's records before
            // anything looks at the tables (docs/CHOICES.md 91).
            exits.take_fills(&mut self.paging);
            let handled = matches!(exit, Ok(Exit::Done | Exit::Fault | Exit::Call));
            if let Some(root) = switched.filter(|_| handled) {
                switched = None;
                if let Err(e) = exits.switched(&mut self.paging, root) {
                    self.recover()?;
                    return Err(e);
                }
            }
            match exit? {
                Exit::Done => {
                    self.paging.cr3_consumed();
                    return Ok(());
                }
                Exit::More => {
                    self.stats.chunks += 1;
                    self.next_chunk();
                }
                Exit::Fault => {
                    self.stats.faults += 1;
                    self.paging.cr3_consumed();
                    let fault = PageFault {
                        address: self.cb_load(cb::CR2),
                        error_code: self.slot_load(fault_frame::ERR),
                        rip: self.slot_load(fault_frame::RIP),
                        op_pointer: self.cb_load(cb::OP),
                    };
                    let started = std::time::Instant::now();
                    let resume = exits
                        .page_fault(&mut self.paging, &fault)
                        .and_then(|decided| self.resume_after(decided, &fault));
                    self.stats.resolve_ns += started.elapsed().as_nanos() as u64;
                    match resume {
                        Ok(None) => {}
                        Ok(Some(rip)) => self.slot_store(fault_frame::RIP, rip),
                        Err(e) => {
                            // Leave the vCPU in a sane place: end this run.
                            self.slot_store(fault_frame::RIP, self.runtime.end);
                            self.stage_pending();
                            let _ = self.finish_aborted();
                            return Err(e);
                        }
                    }
                    exits.resuming(&mut self.paging);
                    self.stage_pending();
                }
                Exit::Call => {
                    self.stats.calls += 1;
                    let argument = self.user_load(runtime::user::CALL_ARG);
                    let r15 = self.user_load(runtime::user::CALL_R15);
                    let started = std::time::Instant::now();
                    let answer = exits.host_call(&mut self.paging, argument, r15);
                    self.stats.call_ns += started.elapsed().as_nanos() as u64;
                    let answer = match answer {
                        Ok(answer) => answer,
                        Err(e) => {
                            self.recover()?;
                            return Err(e);
                        }
                    };
                    if answer == runtime::LEAVE {
                        // The run ends here; the vCPU goes to the
                        // dispatcher when it runs next (the changes the
                        // call made to the tables are staged then).
                        self.user_store(runtime::user::STATUS, exits.left_status());
                        self.user_store(runtime::user::CALL, 0);
                        self.cb_store(cb::LEAVE, 1);
                        return Ok(());
                    }
                    if answer == runtime::GO_TO {
                        let (rip, rax) = exits.go_to();
                        self.user_store(runtime::user::GO_TO_RIP, rip);
                        self.user_store(runtime::user::GO_TO_RAX, rax);
                    }
                    self.user_store(runtime::user::R15_LESS, exits.r15_less());
                    self.user_store(runtime::user::CALL_RESULT, answer);
                    self.user_store(runtime::user::CALL, 0);
                    if let Some(sooner) = exits
                        .deadline()
                        .filter(|&d| self.deadline.is_some_and(|old| d < old))
                    {
                        self.deadline = Some(sooner);
                        self.kick_at(sooner)?;
                    }
                    exits.resuming(&mut self.paging);
                    self.stage_pending();
                }
                Exit::Interrupted => {
                    self.stats.kicks += 1;
                    if self.interrupts.take() {
                        self.deadline = Some(Instant::now());
                    }
                    if self.deadline.is_some_and(|d| Instant::now() >= d) {
                        let mut regs = self.vcpu.regs()?;
                        if exits.preempt(&mut regs) {
                            self.vcpu.set_regs(&regs)?;
                            self.stats.preemptions += 1;
                            self.deadline = None;
                            if let Some(kick) = &mut self.kick {
                                kick.disarm()?;
                            }
                        } else {
                            // Somewhere R15 is not the budget (the image,
                            // a CPL0 handler): the host-call stub takes it
                            // when the image returns next, unless the kick
                            // again, later, finds it first.
                            self.user_store(runtime::user::PREEMPT, 1);
                        }
                    }
                }
                Exit::Fatal => {
                    let panic = self
                        .paging
                        .image()
                        .filter(|image| image.contains(self.cb_load(cb::FATAL_RIP)))
                        .and_then(|image| image.area().take_panic());
                    if let Some(at) = panic {
                        self.recover()?;
                        return Err(KvmError::RuntimePanic(at));
                    }
                    let error = KvmError::GuestException {
                        vector: self.cb_load(cb::VECTOR) as u8,
                        rip: self.cb_load(cb::FATAL_RIP),
                        error_code: self.cb_load(cb::FATAL_ERR),
                        cr2: self.cb_load(cb::FATAL_CR2),
                    };
                    self.recover()?;
                    return Err(error);
                }
            }
        }
    }

    /// Where the vCPU goes after the host decided about `fault`: `None`
    /// retries the access, else it resumes at the address; an access of
    /// the image resumes at the recovery point the image recorded, which
    /// must lie in its code.
    fn resume_after(
        &self,
        decided: FaultAction,
        fault: &PageFault,
    ) -> Result<Option<u64>, KvmError> {
        match decided {
            FaultAction::Retry => Ok(None),
            FaultAction::Resume(rip) => Ok(Some(rip)),
            FaultAction::ResumeHost(rip) => {
                self.user_store(runtime::user::HOST_NEXT, 1);
                Ok(Some(rip))
            }
            FaultAction::Recover => self
                .paging
                .image()
                .filter(|image| image.contains(fault.rip))
                .map(|image| image.area().recover())
                .filter(|&rip| self.paging.image().is_some_and(|i| i.contains(rip)))
                .map(Some)
                .ok_or_else(|| {
                    KvmError::UnexpectedExit(format!("no recovery point for the fault {fault}"))
                }),
        }
    }

    /// Runs an aborted run to its end, so the vCPU parks in the dispatcher.
    fn finish_aborted(&mut self) -> Result<(), KvmError> {
        for _ in 0..16 {
            let exit = self.vcpu.run();
            // The host's mirror follows the gate (the next run's CR3).
            if self.paging.follow_gate().is_err() {
                break;
            }
            match exit? {
                Exit::Done => return Ok(()),
                Exit::More => self.next_chunk(),
                // An interrupter's request is moot: this run ends anyway.
                Exit::Interrupted => {
                    self.interrupts.take();
                }
                Exit::Fault | Exit::Fatal | Exit::Call => break,
            }
        }
        self.recover()
    }

    /// Puts the vCPU back into the dispatcher with the boot root after a
    /// run went wrong.
    fn recover(&mut self) -> Result<(), KvmError> {
        self.vcpu
            .reset(self.boot_root.cr3(), self.runtime.dispatch)?;
        self.cb_store(cb::LEAVE, 0);
        self.user_store(runtime::user::HOST_NEXT, 0);
        self.paging.forget_gate();
        if let Some(image) = self.paging.image() {
            image.area().clear_gate();
        }
        self.paging.set_loaded(Some(self.boot_root));
        self.paging.cr3_consumed();
        self.staged.clear();
        self.staged_tail = (Vec::new(), None);
        Ok(())
    }

    /// Applies pending table changes and flushes in the guest now (they are
    /// otherwise applied at the start of the next run).
    pub fn apply_pending(&mut self) -> Result<(), KvmError> {
        self.run(0, [0; 4], &mut |_, _| Ok(FaultAction::Retry))
    }

    /// The batch loop's entry, its skip label and the range of its code.
    pub(crate) fn batch_entry(&self) -> (u64, u64, core::ops::Range<u64>) {
        (
            self.runtime.batch,
            self.runtime.skip,
            self.runtime.batch_code.clone(),
        )
    }

    /// Where an aborted run resumes (the end of the run).
    pub(crate) fn end_label(&self) -> u64 {
        self.runtime.end
    }

    /// The operation table, in the system slot.
    pub(crate) fn ops_table(&self) -> &SlotMemory {
        self.paging.memory()
    }

    /// Runs kernel `index` (see [`KvmHost::kernels`]) in the VM with the
    /// System V arguments; returns its result.
    pub(crate) fn run_kernel(
        &mut self,
        index: usize,
        args: [u64; 4],
        on_fault: &mut FaultHandler<'_>,
    ) -> Result<u64, KvmError> {
        if index >= self.kernels.len() {
            return Err(KvmError::Config(format!("no kernel {index}")));
        }
        let kernel = va(off::KERNELS + index as u64 * KERNEL_SLOT);
        // The dispatcher passes four arguments; the kernel's address rides
        // in the user data page.
        self.user_store(runtime::user::KERNEL, kernel);
        self.run(self.runtime.call_kernel, args, on_fault)?;
        Ok(self.user_load(runtime::user::RESULT))
    }
}

/// The rate in kHz at which the TSC ticks for KVM's vCPUs: the host's
/// own unless a VM scales it (`KVM_GET_TSC_KHZ` of a new vCPU).
pub fn tsc_khz() -> Result<u32, KvmError> {
    Vcpu::new(&Vm::new()?)?.tsc_khz()
}

impl KvmHost {
    /// How the TSC that code in the VM reads follows the host's: its rate
    /// (`KVM_GET_TSC_KHZ`) and its offset from the host's TSC, as KVM
    /// keeps them (exact: a measured offset would be off by up to half a
    /// `KVM_RUN` round trip, tens of microseconds here).
    pub fn tsc_link(&self) -> Result<TscLink, KvmError> {
        Ok(TscLink {
            offset: self.vcpu.tsc_offset()?,
            khz: self.vcpu.tsc_khz()?,
        })
    }

    /// Runs `ops` through the active root as they are, without resolving
    /// anything: an operation that faults is skipped and answers its page
    /// fault. Operations at or above 2^47 and instruction fetches are
    /// refused with a `BadMapping` error. (What tests and the flush
    /// measurements use; the [`BatchEngine`](crate::BatchEngine) resolves faults.)
    pub fn run_raw(
        &mut self,
        ops: &[crate::Operation],
    ) -> Result<Vec<Result<u64, PageFault>>, KvmError> {
        use zmmu_mmu::access::AccessKind;
        if ops.len() > runtime::OPS_CAPACITY {
            return Err(KvmError::Config(format!(
                "{} operations in one raw run, the operation table holds {}",
                ops.len(),
                runtime::OPS_CAPACITY
            )));
        }
        let table = self.paging.memory();
        for (i, op) in ops.iter().enumerate() {
            let end = op.address.value().checked_add(op.width.bytes());
            if op.kind == AccessKind::InstructionFetch
                || end.is_none_or(|end| end > zmmu_mmu::host::LOWER_HALF_END)
            {
                return Err(KvmError::BadMapping(format!("{op:?} cannot run in the VM")));
            }
            let control = (u64::from(op.kind == AccessKind::Write) << 2) | op.width.log2();
            let _ = table.store_u64(
                off::OPS + 16 * i as u64,
                op.address.value() | (control << 56),
            );
            let _ = table.store_u64(off::OPS + 16 * i as u64 + 8, op.value & op.width.mask());
        }
        let skip = self.runtime.skip;
        let mut faults: Vec<Option<PageFault>> = vec![None; ops.len()];
        let first = op_va(0);
        self.run(
            self.runtime.batch,
            [op_va(0), op_va(ops.len()), 0, 0],
            &mut |_, fault| {
                let index = (fault.op_pointer.wrapping_sub(first) / 16) as usize;
                if let Some(slot) = faults.get_mut(index) {
                    *slot = Some(*fault);
                }
                Ok(FaultAction::Resume(skip))
            },
        )?;
        Ok(ops
            .iter()
            .enumerate()
            .map(|(i, op)| match faults[i] {
                Some(fault) => Err(fault),
                None => Ok(self
                    .paging
                    .memory()
                    .load_u64(off::OPS + 16 * i as u64 + 8)
                    .unwrap_or(0)
                    & op.width.mask()),
            })
            .collect())
    }
}

/// The virtual address of operation `i` in the table.
pub(crate) fn op_va(i: usize) -> u64 {
    va(off::OPS + 16 * i as u64)
}

impl HostPaging for KvmHost {
    type Root = KvmRoot;
    type Error = KvmError;

    fn create_root(&mut self) -> Result<KvmRoot, KvmError> {
        self.paging.create_root()
    }

    fn release_root(&mut self, root: KvmRoot) {
        if root != self.boot_root {
            self.paging.release_root(root);
        }
    }

    fn map(&mut self, root: KvmRoot, mapping: Mapping) -> Result<(), KvmError> {
        self.paging.map(root, mapping)
    }

    fn protect(
        &mut self,
        root: KvmRoot,
        logical: LogicalAddress,
        size: HostPageSize,
        perms: HostPerms,
    ) {
        self.paging.protect(root, logical, size, perms)
    }

    fn unmap(&mut self, root: KvmRoot, logical: LogicalAddress, size: HostPageSize) {
        self.paging.unmap(root, logical, size)
    }

    fn clear(&mut self, root: KvmRoot) {
        self.paging.clear(root)
    }

    fn flush(&mut self, root: KvmRoot, scope: FlushScope) {
        self.paging.flush(root, scope)
    }

    fn activate(&mut self, root: KvmRoot) -> Result<(), KvmError> {
        self.paging.activate(root)
    }

    fn stored(&self, root: KvmRoot, logical: LogicalAddress, size: HostPageSize) -> bool {
        self.paging.stored(root, logical, size)
    }
}

impl HostAccess for KvmHost {
    /// Runs one access in the VM at CPL3 through the active root: a byte
    /// load, or a locked OR of zero for a store (a store that leaves the
    /// byte as it was). The absolute address is read back from the tables
    /// the CPU just used. A backend failure is kept for
    /// [`KvmHost::take_error`] and reported as a fault of nothing mapped.
    fn probe(
        &mut self,
        logical: LogicalAddress,
        kind: HostAccessKind,
    ) -> Result<AbsoluteAddress, HostFault> {
        let control: u64 = match kind {
            HostAccessKind::Read => 0,
            HostAccessKind::Write => 8,
        };
        let not_mapped = HostFault {
            address: logical,
            kind,
            present: false,
        };
        if logical.value() >= zmmu_mmu::host::LOWER_HALF_END {
            return Err(not_mapped);
        }
        let table = self.paging.memory();
        let _ = table.store_u64(off::OPS, logical.value() | (control << 56));
        let _ = table.store_u64(off::OPS + 8, 0);
        let skip = self.runtime.skip;
        let mut fault: Option<HostFault> = None;
        let ran = self.run(
            self.runtime.batch,
            [op_va(0), op_va(1), 0, 0],
            &mut |_, f| {
                fault = Some(HostFault {
                    address: LogicalAddress::new(f.address),
                    kind,
                    present: f.is_protection(),
                });
                Ok(FaultAction::Resume(skip))
            },
        );
        if let Err(error) = ran {
            self.error = Some(error);
            return Err(not_mapped);
        }
        if let Some(fault) = fault {
            return Err(fault);
        }
        let root = self.paging.active().ok_or(not_mapped)?;
        self.paging
            .translate(root, logical)
            .map(|(absolute, _)| absolute)
            .ok_or(not_mapped)
    }
}
