//! The `kvm` backend: every access as a real x86 load or store in a KVM VM
//! (`zmmu-hv-kvm`), through host page tables that the core's shadow pager
//! fills on each page fault, made twice so that the second access is served
//! by the VM's MMU from the mapping the first one installed.

use zmmu_hv_kvm::{GuestStorage, KvmConfig, KvmError, KvmHost};
use zmmu_mmu::access::{Fault, Request};
use zmmu_mmu::addr::AbsoluteAddress;
use zmmu_mmu::control::Controls;
use zmmu_mmu::host::HostPageSize;
use zmmu_mmu::invalidate::Invalidation;
use zmmu_mmu::shadow::{self, EngineError};
use zmmu_mmu::storage::Storage;

use super::{Backend, BackendError, Observed};
use crate::execute::{self, Translator};
use crate::machine;
use crate::steps::Scenario;

/// Runs each access in a KVM VM, twice. Scenarios of the same storage size
/// share one VM: between them storage and keys are cleared and every
/// shadow mapping is purged (as PTLB does), so each starts from its own
/// initial state.
#[derive(Debug)]
pub struct KvmBackend {
    config: shadow::Config,
    vm: Option<InVm>,
}

impl KvmBackend {
    /// The backend, if KVM is usable here (the error says what is missing).
    pub fn new() -> Result<Self, KvmError> {
        zmmu_hv_kvm::vm::available()?;
        // No speculative reference bits: vectors compare keys after each probe.
        let config = shadow::Config {
            largest: HostPageSize::Size2M,
            ..shadow::Config::default()
        };
        Ok(Self { config, vm: None })
    }
}

fn backend_error(error: impl std::fmt::Display) -> BackendError {
    BackendError::Backend(error.to_string())
}

#[derive(Debug)]
struct InVm {
    storage: GuestStorage,
    engine: shadow::Engine<KvmHost>,
}

impl Translator for InVm {
    type Storage = GuestStorage;

    fn storage(&mut self) -> &mut GuestStorage {
        &mut self.storage
    }

    fn access(
        &mut self,
        controls: &Controls,
        request: Request,
    ) -> Result<Result<(u64, u64), Fault>, BackendError> {
        match self.engine.access(&mut self.storage, controls, request) {
            Ok(served) => Ok(Ok((served.real.value(), served.absolute.value()))),
            Err(EngineError::Fault(fault)) => Ok(Err(fault)),
            Err(EngineError::Host(error)) => Err(backend_error(error)),
            Err(EngineError::Inconsistent(address)) => {
                Err(match self.engine.host_mut().take_error() {
                    Some(error) => backend_error(error),
                    None => BackendError::Backend(format!(
                        "the VM's MMU disagrees with the pager at {address:?}"
                    )),
                })
            }
        }
    }

    fn invalidate(&mut self, invalidation: &Invalidation) {
        self.engine.invalidate(invalidation);
    }

    fn controls_changed(&mut self, old: &Controls, new: &Controls) {
        self.engine.controls_changed(old, new);
    }

    fn caches(&self) -> bool {
        true
    }
}

impl Backend for KvmBackend {
    fn name(&self) -> &'static str {
        "kvm"
    }

    fn run(&mut self, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
        // Validates the scenario exactly as the other backends do.
        let reference = machine::storage(scenario)?;
        let size = scenario.storage_size.max(1);
        let in_vm = match self.vm.take() {
            Some(mut vm) if vm.storage.size() == size => {
                vm.storage.reset();
                vm.engine.invalidate(&Invalidation::All);
                vm
            }
            _ => {
                let storage = GuestStorage::new(size, false).map_err(backend_error)?;
                let host = KvmHost::new(&storage, KvmConfig::default()).map_err(backend_error)?;
                InVm {
                    storage,
                    engine: shadow::Engine::new(host, self.config),
                }
            }
        };
        let in_vm = self.vm.insert(in_vm);
        for (address, bytes) in &scenario.mem {
            in_vm.storage.write(AbsoluteAddress::new(*address), bytes);
        }
        for (address, _) in &scenario.keys {
            let at = AbsoluteAddress::new(*address);
            if let Some(key) = reference.key(at) {
                in_vm.storage.set_key(at, key);
            }
        }
        execute::run(in_vm, scenario)
    }
}
