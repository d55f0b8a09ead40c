//! The access engine: batches of s390x accesses run as x86 loads and stores
//! at CPL3 in the VM, page faults resolved by the core's shadow pager
//! ([`ShadowPager`]), and the accesses no host mapping can express
//! (instruction fetches, addresses at or above 2^47, sub-page rules)
//! performed by the core in software.

use zmmu_mmu::access::{AccessKind, Fault, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress};
use zmmu_mmu::control::{AddressSpace, Controls};
use zmmu_mmu::host::{HostPageSize, HostPaging, HostPerms, LOWER_HALF_END};
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::range::{self, Walked};
use zmmu_mmu::shadow::{self, Resolution, RootTag, ShadowError, ShadowPager};
use zmmu_mmu::storage::Storage;

use crate::error::KvmError;
use crate::host::{op_va, FaultAction, KvmConfig, KvmHost, PageFault};
use crate::memory::GuestStorage;
use crate::paging::{KvmPaging, KvmRoot};
use crate::runtime::{off, Pattern, OPS_CAPACITY};

/// The state accesses are made in: control registers and facilities, the
/// address space and the access key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// CR0, CR1, CR7, CR13, prefix and facilities.
    pub controls: Controls,
    /// The address space (PSW ASC, or real with DAT off).
    pub space: AddressSpace,
    /// The access key (PSW key).
    pub key: u8,
}

/// How to build a [`BatchEngine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// The VM.
    pub kvm: KvmConfig,
    /// The shadow pager (fault-around, large pages, root cache).
    pub shadow: shadow::Config,
}

impl Default for EngineConfig {
    fn default() -> Self {
        // The guest CPUID has no 1 GiB pages on every host (not on ours):
        // 2 MiB is the largest page the backend makes natively.
        Self {
            kvm: KvmConfig::default(),
            shadow: shadow::Config {
                largest: HostPageSize::Size2M,
                ..Default::default()
            },
        }
    }
}

/// The width of an access in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessWidth {
    /// 1 byte.
    Byte,
    /// 2 bytes.
    Half,
    /// 4 bytes.
    Word,
    /// 8 bytes.
    Double,
}

impl AccessWidth {
    /// The width in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Byte => 1,
            Self::Half => 2,
            Self::Word => 4,
            Self::Double => 8,
        }
    }

    pub(crate) const fn log2(self) -> u64 {
        match self {
            Self::Byte => 0,
            Self::Half => 1,
            Self::Word => 2,
            Self::Double => 3,
        }
    }

    /// The value bits of this width.
    pub const fn mask(self) -> u64 {
        match self {
            Self::Double => u64::MAX,
            w => (1 << (8 * w.bytes())) - 1,
        }
    }
}

/// One access: a big-endian load or store of `width` bytes at a logical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The logical address (already wrapped for the addressing mode).
    pub address: LogicalAddress,
    /// Read, write or instruction fetch (fetches always take the software path).
    pub kind: AccessKind,
    /// The width.
    pub width: AccessWidth,
    /// The value to store (writes; its low `width` bytes), ignored otherwise.
    pub value: u64,
}

impl Operation {
    /// A load.
    pub fn read(address: u64, width: AccessWidth) -> Self {
        Self {
            address: LogicalAddress::new(address),
            kind: AccessKind::Read,
            width,
            value: 0,
        }
    }

    /// A store.
    pub fn write(address: u64, width: AccessWidth, value: u64) -> Self {
        Self {
            address: LogicalAddress::new(address),
            kind: AccessKind::Write,
            width,
            value,
        }
    }

    /// An instruction fetch (performed by the core in software).
    pub fn fetch(address: u64, width: AccessWidth) -> Self {
        Self {
            address: LogicalAddress::new(address),
            kind: AccessKind::InstructionFetch,
            width,
            value: 0,
        }
    }

    /// Whether it can run in the VM: a load or store entirely below 2^47.
    fn in_hardware(&self) -> bool {
        self.kind != AccessKind::InstructionFetch
            && self
                .address
                .value()
                .checked_add(self.width.bytes())
                .is_some_and(|end| end <= LOWER_HALF_END)
    }
}

/// The outcome of one operation: the value loaded (or stored), or the
/// s390x exception with the access not performed.
pub type AccessResult = Result<u64, Fault>;

/// Counters of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Operations run in the VM (including those that faulted).
    pub hardware: u64,
    /// Operations performed in software (fetches, high addresses, sub-page rules).
    pub software: u64,
    /// Operations that raised an exception.
    pub exceptions: u64,
}

/// Runs s390x accesses in a KVM VM.
#[derive(Debug)]
pub struct BatchEngine {
    host: KvmHost,
    storage: GuestStorage,
    pager: ShadowPager<KvmPaging>,
    controls: Option<Controls>,
    stats: EngineStats,
}

impl BatchEngine {
    /// An engine over `storage` with a new VM.
    pub fn new(storage: GuestStorage, config: EngineConfig) -> Result<Self, KvmError> {
        let host = KvmHost::new(&storage, config.kvm)?;
        Ok(Self {
            host,
            storage,
            pager: ShadowPager::new(config.shadow),
            controls: None,
            stats: EngineStats::default(),
        })
    }

    /// The VM.
    pub fn host(&self) -> &KvmHost {
        &self.host
    }

    /// The VM, mutable.
    pub fn host_mut(&mut self) -> &mut KvmHost {
        &mut self.host
    }

    /// The shadow pager (counters, configuration).
    pub fn pager(&self) -> &ShadowPager<KvmPaging> {
        &self.pager
    }

    /// Guest-absolute storage.
    pub fn storage(&self) -> &GuestStorage {
        &self.storage
    }

    /// Guest-absolute storage, mutable. Changing DAT tables, keys or the
    /// prefix behind the engine's back must be followed by the matching
    /// [`BatchEngine::invalidate`], as on a real CPU.
    pub fn storage_mut(&mut self) -> &mut GuestStorage {
        &mut self.storage
    }

    /// The counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Drops the cached translations that `invalidation` names.
    pub fn invalidate(&mut self, invalidation: &Invalidation) {
        self.pager.invalidate(self.host.paging_mut(), invalidation);
    }

    /// Tells the pager about new control registers (done by [`BatchEngine::run`]
    /// when the context's controls differ from the last ones).
    pub fn set_controls(&mut self, controls: &Controls) {
        if let Some(old) = self.controls.replace(*controls) {
            if old != *controls {
                self.pager
                    .controls_changed(self.host.paging_mut(), &old, controls);
            }
        }
    }

    /// The root for operand accesses in `context`, activated.
    fn activate(
        &mut self,
        context: &Context,
    ) -> Result<Result<(RootTag, KvmRoot), Fault>, KvmError> {
        let request = Request {
            address: LogicalAddress::new(0),
            space: context.space,
            kind: AccessKind::Read,
            key: context.key,
        };
        let tag = match RootTag::for_request(&context.controls, &request) {
            Ok(tag) => tag,
            Err(fault) => return Ok(Err(fault)),
        };
        Ok(Ok((tag, self.pager.activate(self.host.paging_mut(), tag)?)))
    }

    /// The absolute address and permissions the host tables give `logical`
    /// in `context` now (what the CPU would use), if mapped.
    pub fn host_translation(
        &mut self,
        context: &Context,
        logical: LogicalAddress,
    ) -> Result<Option<(AbsoluteAddress, HostPerms)>, KvmError> {
        self.set_controls(&context.controls);
        let Ok((_, root)) = self.activate(context)? else {
            return Ok(None);
        };
        Ok(self.host.paging().translate(root, logical))
    }

    /// Runs `ops` in order in `context` and returns one outcome each. An
    /// exception does not stop the batch: later operations still run.
    pub fn run(
        &mut self,
        context: &Context,
        ops: &[Operation],
    ) -> Result<Vec<AccessResult>, KvmError> {
        self.set_controls(&context.controls);
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut i = 0;
        let root = self.activate(context)?.ok();
        while i < ops.len() {
            let Some((_, root)) = root.filter(|_| ops[i].in_hardware()) else {
                let outcome = software_access(&mut self.storage, context, &ops[i]);
                self.count(&outcome, false);
                outcomes.push(outcome);
                i += 1;
                continue;
            };
            let mut end = i;
            while end < ops.len() && end - i < OPS_CAPACITY && ops[end].in_hardware() {
                end += 1;
            }
            self.run_hardware(context, root, &ops[i..end], &mut outcomes)?;
            i = end;
        }
        Ok(outcomes)
    }

    fn count(&mut self, outcome: &AccessResult, hardware: bool) {
        if hardware {
            self.stats.hardware += 1;
        } else {
            self.stats.software += 1;
        }
        if outcome.is_err() {
            self.stats.exceptions += 1;
        }
    }

    fn run_hardware(
        &mut self,
        context: &Context,
        root: KvmRoot,
        ops: &[Operation],
        outcomes: &mut Vec<AccessResult>,
    ) -> Result<(), KvmError> {
        self.host.paging_mut().activate(root)?;
        let table = self.host.ops_table();
        for (i, op) in ops.iter().enumerate() {
            let control = (u64::from(op.kind == AccessKind::Write) << 2) | op.width.log2();
            let at = off::OPS + 16 * i as u64;
            let _ = table.store_u64(at, op.address.value() | (control << 56));
            let _ = table.store_u64(at + 8, op.value & op.width.mask());
        }
        let (entry, skip, code) = self.host.batch_entry();
        let mut completed: Vec<Option<(AccessResult, bool)>> = vec![None; ops.len()];
        let mut last: Option<(usize, u64)> = None;
        let pager = &mut self.pager;
        let storage = &mut self.storage;
        let mut on_fault = |paging: &mut KvmPaging, fault: &PageFault| {
            let index = fault_op(fault, &code, ops.len()).ok_or_else(|| {
                KvmError::UnexpectedExit(format!("page fault outside an operation: {fault:?}"))
            })?;
            let op = &ops[index];
            let page = fault.address & !0xFFF;
            let first = op.address.value();
            let address = if page == first & !0xFFF {
                first
            } else if page == (first + op.width.bytes() - 1) & !0xFFF {
                page
            } else {
                return Err(KvmError::UnexpectedExit(format!(
                    "fault at {:#x} for {op:?}",
                    fault.address
                )));
            };
            let again = last == Some((index, page));
            last = Some((index, page));
            let request = Request {
                address: LogicalAddress::new(address),
                space: context.space,
                kind: op.kind,
                key: context.key,
            };
            let resolved = if again {
                // The mapping did not take: let the host do it (never loop).
                Err(ShadowError::Unmappable(request.address))
            } else {
                pager.resolve_fault(paging, storage, &context.controls, request)
            };
            Ok(match resolved {
                Ok(Resolution::Mapped(_)) => FaultAction::Retry,
                Ok(Resolution::Software(_)) | Err(ShadowError::Unmappable(_)) => {
                    completed[index] = Some((software_access(storage, context, op), false));
                    FaultAction::Resume(skip)
                }
                Err(ShadowError::Fault(fault)) => {
                    completed[index] = Some((Err(fault), true));
                    FaultAction::Resume(skip)
                }
                Err(ShadowError::Host(error)) => return Err(error),
            })
        };
        self.host
            .run(entry, [op_va(0), op_va(ops.len()), 0, 0], &mut on_fault)?;
        for (i, op) in ops.iter().enumerate() {
            let loaded = self
                .host
                .ops_table()
                .load_u64(off::OPS + 16 * i as u64 + 8)
                .unwrap_or(0);
            let (outcome, hardware) = match completed[i].take() {
                Some(done) => done,
                None if op.kind == AccessKind::Write => (Ok(op.value & op.width.mask()), true),
                None => (Ok(loaded & op.width.mask()), true),
            };
            self.count(&outcome, hardware);
            outcomes.push(outcome);
        }
        Ok(())
    }

    /// Runs a benchmark kernel in the VM: `count` 8-byte accesses of
    /// `pattern` over the `size` bytes (a power of two) at `base`, resolving
    /// faults on the way. Returns the kernel's checksum, or the exception
    /// that stopped it.
    #[allow(clippy::too_many_arguments)]
    pub fn run_pattern(
        &mut self,
        context: &Context,
        pattern: Pattern,
        write: bool,
        base: LogicalAddress,
        size: u64,
        count: u64,
        seed: u64,
    ) -> Result<Result<u64, Fault>, KvmError> {
        if !size.is_power_of_two() || size < 32 || base.value() % size != 0 {
            return Err(KvmError::Config(format!(
                "pattern size {size:#x} at {base:?}: need an aligned power of two"
            )));
        }
        if base
            .value()
            .checked_add(size)
            .is_none_or(|end| end > LOWER_HALF_END)
        {
            return Err(KvmError::Config("pattern outside the lower half".into()));
        }
        self.set_controls(&context.controls);
        let index =
            Pattern::ALL.iter().position(|&p| p == pattern).unwrap_or(0) * 2 + usize::from(write);
        let (_, root) = match self.activate(context)? {
            Ok(active) => active,
            Err(fault) => return Ok(Err(fault)),
        };
        self.host.paging_mut().activate(root)?;
        let end = self.host.end_label();
        let mut stopped: Option<Fault> = None;
        let pager = &mut self.pager;
        let storage = &mut self.storage;
        let mut on_fault = |paging: &mut KvmPaging, fault: &PageFault| {
            let kind = if fault.is_write() {
                AccessKind::Write
            } else {
                AccessKind::Read
            };
            let request = Request {
                address: LogicalAddress::new(fault.address),
                space: context.space,
                kind,
                key: context.key,
            };
            match pager.resolve_fault(paging, storage, &context.controls, request) {
                Ok(Resolution::Mapped(_)) => Ok(FaultAction::Retry),
                Ok(Resolution::Software(_)) | Err(ShadowError::Unmappable(_)) => {
                    Err(KvmError::BadMapping(format!(
                        "kernel access at {:#x} can only be performed in software",
                        fault.address
                    )))
                }
                Err(ShadowError::Fault(fault)) => {
                    stopped = Some(fault);
                    Ok(FaultAction::Resume(end))
                }
                Err(ShadowError::Host(error)) => Err(error),
            }
        };
        let sum =
            self.host
                .run_kernel(index, [base.value(), size - 1, count, seed], &mut on_fault)?;
        Ok(match stopped {
            Some(fault) => Err(fault),
            None => Ok(sum),
        })
    }
}

/// The operation a batch-loop fault belongs to.
fn fault_op(fault: &PageFault, code: &core::ops::Range<u64>, n: usize) -> Option<usize> {
    if !code.contains(&fault.rip) {
        return None;
    }
    let offset = fault.op_pointer.checked_sub(op_va(0))?;
    let index = usize::try_from(offset / 16).ok()?;
    (offset % 16 == 0 && index < n).then_some(index)
}

/// Performs `op` in software through zmmu-mmu's one access path
/// ([`range`]): every page of a crossing access checked before anything is
/// recorded or stored.
pub fn software_access<S: Storage + ?Sized>(
    storage: &mut S,
    context: &Context,
    op: &Operation,
) -> AccessResult {
    let width = op.width.bytes() as usize;
    let mut walked = Walked {
        storage,
        controls: &context.controls,
        space: context.space,
        key: context.key,
    };
    let address = op.address.value();
    let value = (op.value & op.width.mask()).to_be_bytes();
    let mut bytes = [0u8; 8];
    match op.kind {
        AccessKind::Write => range::write(&mut walked, address, &value[8 - width..])?,
        kind => range::read(&mut walked, kind, address, &mut bytes[8 - width..])?,
    }
    Ok(match op.kind {
        AccessKind::Write => op.value & op.width.mask(),
        _ => u64::from_be_bytes(bytes),
    })
}
