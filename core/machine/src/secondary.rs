//! The other CPUs of a configuration: what each is made from, taken from
//! the first CPU's machine and sent to its own thread.

use alloc::boxed::Box;

/// What another CPU of a machine is made from, taken from the first CPU's
/// machine and sent to the new CPU's thread: the same storage (shared),
/// facilities, SCLP view and CPU model.
#[derive(Debug)]
pub struct Seed {
    storage: crate::main_storage::MainStorage,
    facilities: zmmu_mmu::control::Facilities,
    sclp: crate::sclp::SclpConfig,
    config: crate::config::Config,
    vector_facility: bool,
    mie3_facility: bool,
    vxeh_facility: bool,
    vxeh2_facility: bool,
}

impl Seed {
    /// What `first`'s other CPUs are made from.
    pub fn of(first: &crate::Machine) -> Self {
        Self {
            storage: first.bus.storage.share(),
            facilities: first.bus.facilities,
            sclp: first.services.sclp.config.clone(),
            config: first.config.clone(),
            vector_facility: first.cpu.vector_facility,
            mie3_facility: first.cpu.mie3_facility,
            vxeh_facility: first.cpu.vxeh_facility,
            vxeh2_facility: first.cpu.vxeh2_facility,
        }
    }

    /// The CPU with address `address`: its own TLB, registers (after
    /// initial CPU reset) and `clock` (reading the same TOD clock), in the
    /// stopped state, as QEMU starts every CPU but the first. The SCLP's
    /// pending requests, the channel subsystem, the watchdog and the IPL
    /// state stay the first CPU's.
    pub fn cpu(
        self,
        address: u16,
        clock: zmmu_cpu::clock::Clock<Box<dyn zmmu_cpu::clock::TimeSource>>,
    ) -> crate::Machine {
        let mut cpu = zmmu_cpu::state::Cpu::new();
        cpu.cpu_addr = address;
        cpu.vector_facility = self.vector_facility;
        cpu.mie3_facility = self.mie3_facility;
        cpu.vxeh_facility = self.vxeh_facility;
        cpu.vxeh2_facility = self.vxeh2_facility;
        let mut services = crate::board::Services {
            state: crate::board::CpuState::Stopped,
            clock,
            ..Default::default()
        };
        services.sclp.config = self.sclp;
        let mut bus = crate::bus::DatBus::over(self.storage);
        bus.facilities = self.facilities;
        crate::Machine {
            cpu,
            bus,
            services,
            config: self.config,
            member: None,
        }
    }
}
