//! `zmmu-hv-kvm`: the core's [`HostPaging`](zmmu_mmu::host::HostPaging) on
//! a real KVM virtual machine, and an access engine that runs s390x storage
//! accesses as native x86 loads and stores through it.
//!
//! ## Map guest storage and run a batch of accesses
//!
//! ```
//! use zmmu_mmu::prelude::*;
//! use zmmu_hv_kvm::{
//!     AccessWidth, BatchEngine, Context, EngineConfig, GuestStorage, KvmError, Operation,
//! };
//!
//! # fn main() -> Result<(), KvmError> {
//! // 16 MiB of s390x absolute storage, slot 0 of a new VM.
//! let storage = GuestStorage::new(16 << 20, false)?;
//! let mut engine = match BatchEngine::new(storage, EngineConfig::default()) {
//!     Ok(engine) => engine,
//!     Err(e) if e.is_unavailable() => {
//!         eprintln!("SKIP: {e}");
//!         return Ok(());
//!     }
//!     Err(e) => return Err(e),
//! };
//!
//! // A segment table at 0x1000 and a page table at 0x2000: page 5 maps
//! // frame 0x73000, page 9 is invalid.
//! let storage = engine.storage_mut();
//! storage.write_u64(AbsoluteAddress::new(0x1000), 0x2000).unwrap();
//! storage.write_u64(AbsoluteAddress::new(0x2000 + 5 * 8), 0x7_3000).unwrap();
//! storage.write_u64(AbsoluteAddress::new(0x2000 + 9 * 8), 0x400).unwrap();
//! storage.write_u64(AbsoluteAddress::new(0x7_3010), 0x1122_3344_5566_7788).unwrap();
//!
//! let context = Context {
//!     controls: Controls { cr1: Asce::new(0x1000), ..Controls::default() },
//!     space: AddressSpace::Primary,
//!     key: 0,
//! };
//! let outcomes = engine.run(
//!     &context,
//!     &[
//!         Operation::read(0x5010, AccessWidth::Double),
//!         Operation::write(0x5018, AccessWidth::Word, 0xCAFE_F00D),
//!         Operation::read(0x9000, AccessWidth::Byte),
//!     ],
//! )?;
//! assert_eq!(outcomes[0], Ok(0x1122_3344_5566_7788));
//! assert_eq!(outcomes[1], Ok(0xCAFE_F00D));
//! let Err(Fault::Program(exception)) = outcomes[2] else { panic!("page 9 is invalid") };
//! assert_eq!(exception.code, Code::PAGE_TRANSLATION);
//!
//! // The store went to absolute storage, big-endian, through the VM's MMU.
//! let mut bytes = [0; 4];
//! engine.storage().read(AbsoluteAddress::new(0x7_3018), &mut bytes).unwrap();
//! assert_eq!(bytes, [0xCA, 0xFE, 0xF0, 0x0D]);
//! # Ok(())
//! # }
//! ```
//!
//! ## Architecture
//! - **Memory** ([`memory`]): slot 0 is guest-absolute storage at
//!   guest-physical 0; slot 1, at the next 1 GiB boundary above it, holds
//!   the runtime (GDT, IDT, TSS, control block, code, stacks, operation
//!   table) and the page-table pool.
//! - **Paging** ([`paging`]): each root is a PML4 in the pool. Entries
//!   0-255 map s390x logical addresses to absolute frames as the resolver
//!   orders; entry 511 is shared by every root and maps slot 1 at
//!   [`RUNTIME_VA`](runtime::RUNTIME_VA).
//! - **Runtime** ([`runtime`]): a CPL0 dispatcher and trap stubs, a CPL3
//!   batch loop (big-endian through `MOV` + `BSWAP`, see below) and
//!   benchmark kernels, assembled with iced-x86.
//! - **Image** ([`image`]): the in-VM runtime (`zmmu-vm-runtime`, Rust
//!   built for `x86_64-unknown-none` by `build.rs`), loaded from its ELF
//!   program headers into slot 3, which entry 511 maps at
//!   [`IMAGE_VA`](image::IMAGE_VA) in every root; the host-call stub asks
//!   it first.
//! - **Run loop** ([`KvmHost`]): the vCPU stays parked in the dispatcher;
//!   a run is one `KVM_RUN` plus one per forwarded fault.
//! - **Engine** ([`BatchEngine`]): batches of operations, fault resolution
//!   by the core's shadow pager, and the software path for instruction fetches,
//!   addresses at or above 2^47 and sub-page rules.
//!
//! Big-endian accesses use a load plus `BSWAP` (or `ROL` for halfwords), not
//! `MOVBE`: MOVBE is absent from the guest CPUID on our machines even
//! though it executes at CPL3, and a CPU without it would raise `#UD`.
//!
//! ## Run loop, fault path, flush protocol
//! The vCPU parks in the CPL0 dispatcher of the runtime: a run writes its
//! entry and arguments into the control block and calls `KVM_RUN`; the
//! dispatcher applies what the tables need (below) and `IRETQ`s to the CPL3
//! batch loop, which ends with `INT3` (#BP handler: `OUT DONE`). A page fault
//! at CPL3 enters the CPL0 #PF stub, which stores CR2, the error code, RIP
//! and the operation pointer and does `OUT FAULT`; the host resolves it with
//! the core's shadow pager (map and retry, perform in software and skip, or
//! return the s390x exception and skip) and re-enters; the stub applies the
//! pending table work, `INVLPG`s CR2 and retries or resumes. No register
//! ioctl is needed on any of these paths.
//!
//! Mapping orders are written into the pool by the host at once. Changes to
//! present entries (and later writes to any table the guest wrote) are
//! also queued and repeated by the CPL0 code before translated code runs
//! again, followed by the queued `INVLPG`s or a CR3 reload: see [`paging`]
//! for why (measured in `tests/flush.rs`). Unlinked tables are quarantined
//! until the pool purges them (see [`pool`]).
//!
//! ## Portability
//! Nothing here needs PVM: the code uses the standard KVM API and plain
//! x86-64 paging (4-level, NX, 4 KiB and 2 MiB pages, no PCID, no MOVBE, no
//! 1 GiB pages). Two behaviours exist for shadow-paging hypervisors and
//! are harmless with EPT/NPT: the guest repeats table writes that change
//! present entries, and recycled tables go through a memory-slot
//! re-registration.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod engine;
pub mod error;
pub mod exec;
pub mod host;
pub mod image;
pub mod interrupt;
mod kick;
pub mod memory;
pub mod native;
pub mod paging;
pub mod pool;
pub mod runtime;
mod vcpu;
pub mod vm;

pub use engine::{
    software_access, AccessResult, AccessWidth, BatchEngine, Context, EngineConfig, EngineStats,
    Operation,
};
pub use error::KvmError;
pub use exec::ExecArea;
pub use host::{ExitHandler, FaultAction, KvmConfig, KvmHost, PageFault, Regs, RunStats};
pub use interrupt::Interrupter;
pub use memory::GuestStorage;
pub use paging::{KvmPaging, KvmRoot, PagingStats};
pub use runtime::Pattern;
