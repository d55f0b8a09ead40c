//! The translator inside the VM (docs/CHOICES.md 89): the in-VM runtime
//! image translates a block from guest absolute storage, through the
//! absolute window, to the very bytes the host's translator makes of the
//! same block under the same environment for the same address, and every
//! hostile request (random bytes as code, addresses outside storage, an
//! environment word or block number without meaning) is an answer, never
//! a panic or a fault of the image.
//!
//! The corpus: `data/program_blocks.txt`, the blocks the jit translated
//! for `cli/tests/programs`' sieve, sort, hash, memops, svc and keys
//! (`ZMMU_BLOCK_CORPUS`, the format of
//! `core/translator/examples/translate_corpus.rs`); another with
//! `ZMMU_VM_TRANSLATE_CORPUS=FILE`. Run with `--nocapture` to see the
//! time per guest instruction in the VM and on the host (printed, never
//! asserted).

use std::time::Instant;

use zmmu_hv_kvm::runtime::CODE_CACHE_VA;
use zmmu_hv_kvm::{
    ExitHandler, FaultAction, GuestStorage, KvmConfig, KvmError, KvmHost, KvmPaging, PageFault,
};
use zmmu_kvm::translation_env;
use zmmu_mmu::addr::AddressingMode;
use zmmu_translator::{decode_block, stubs, translate, Env, Translated};
use zmmu_vm_runtime::protocol::{STACK, STACK_TOP};
use zmmu_vm_runtime::translate::{env_word, Request, Status, MAX_BLOCK};

/// Guest storage: 16 MiB.
const STORAGE: u64 = 16 << 20;

/// The first frame the blocks are placed in, one a frame.
const FRAMES: u64 = 0x10_0000;

/// A run of the image's translation makes no fault and no host call.
struct NoExits;

impl ExitHandler for NoExits {
    fn page_fault(&mut self, _: &mut KvmPaging, f: &PageFault) -> Result<FaultAction, KvmError> {
        Err(KvmError::UnexpectedExit(format!(
            "a fault in a translation: {f}"
        )))
    }
    fn host_call(&mut self, _: &mut KvmPaging, argument: u64, _: u64) -> Result<u64, KvmError> {
        Err(KvmError::UnexpectedExit(format!(
            "a host call {argument:#x} in a translation"
        )))
    }
}

/// A VM with the image, or `None` after a SKIP line.
fn host(storage: &GuestStorage) -> Option<KvmHost> {
    match KvmHost::new(storage, KvmConfig::default()) {
        Ok(host) => Some(host),
        Err(e) if e.is_unavailable() => {
            eprintln!("SKIP: {e}");
            None
        }
        Err(e) => panic!("KVM is present but the backend failed: {e}"),
    }
}

/// A block of the corpus: its PSW address, addressing mode and bytes.
fn parse(line: &str) -> Option<(u64, AddressingMode, Vec<u8>)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let [at, amode, _, _, _, _, _, _, hex] = f[..] else {
        return None;
    };
    let amode = AddressingMode::from_bits(amode.parse().ok()?)?;
    let bytes = (0..hex.len() / 2)
        .map(|k| u8::from_str_radix(hex.get(2 * k..2 * k + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((u64::from_str_radix(at, 16).ok()?, amode, bytes))
}

fn corpus() -> Vec<(u64, AddressingMode, Vec<u8>)> {
    let text = match std::env::var_os("ZMMU_VM_TRANSLATE_CORPUS") {
        Some(path) => std::fs::read_to_string(path).expect("a readable corpus"),
        None => include_str!("data/program_blocks.txt").to_string(),
    };
    text.lines().filter_map(parse).collect()
}

/// The VM, its image and the code's address and stubs, for one test.
struct Vm {
    host: KvmHost,
    storage: GuestStorage,
    ip: u64,
    stubs: zmmu_translator::Stubs,
}

impl Vm {
    fn new() -> Option<Self> {
        let storage = GuestStorage::new(STORAGE, false).expect("host memory");
        let host = host(&storage)?;
        let (shared, stubs) = stubs(CODE_CACHE_VA).unwrap();
        Some(Self {
            host,
            storage,
            ip: CODE_CACHE_VA + shared.len() as u64,
            stubs,
        })
    }

    /// Writes `bytes` at absolute `at`.
    fn place(&self, at: u64, bytes: &[u8]) {
        self.storage.memory().write(at, bytes).unwrap();
    }

    /// The request for the block at PSW address `addr`, absolute
    /// `absolute`, under `env`.
    fn request(&self, addr: u64, absolute: u64, env: &Env, id: u64) -> Request {
        Request {
            addr,
            absolute,
            env: env_word(env),
            ip: self.ip,
            id,
            stubs: [self.stubs.enter as u64, self.stubs.dispatch, self.stubs.ret],
        }
    }

    /// The image's answer to `request`, run in the VM.
    fn in_vm(&mut self, request: &Request) -> Result<Translated, u64> {
        let image = self.host.paging().image().expect("the image");
        image.request_translation(request);
        let entry = image.translate_entry();
        self.host
            .run_with(entry, [0; 4], &mut NoExits)
            .expect("the image answers");
        self.host.paging().image().unwrap().translation()
    }

    /// The host translator's result for the block at PSW address `addr`
    /// whose bytes are at absolute `absolute`, as the kvm engine makes
    /// it: the block decoded from its page, translated by `translate`.
    fn on_host(&self, addr: u64, absolute: u64, env: &Env, id: u32) -> Result<Translated, u64> {
        let mut page = [0u8; 4096];
        self.storage
            .memory()
            .read(absolute & !0xfff, &mut page)
            .ok_or(Status::Outside as u64)?;
        let offset = (absolute & 0xfff) as usize;
        let block = decode_block(&page[offset..], addr, env.amode, MAX_BLOCK);
        if block.is_empty() {
            return Err(Status::Empty as u64);
        }
        translate(&block, env, self.ip, id, &self.stubs, &[]).map_err(|_| Status::Refused as u64)
    }
}

#[test]
fn the_image_translates_each_block_to_the_hosts_code() {
    let Some(mut vm) = Vm::new() else { return };
    let blocks = corpus();
    assert!(!blocks.is_empty());
    let frames = (STORAGE - FRAMES) >> 12;
    let (mut insns, mut ticks, mut host_ns) = (0u64, 0u64, 0u128);
    for (round, chunk) in blocks.chunks(frames as usize).enumerate() {
        for (i, (addr, _, bytes)) in chunk.iter().enumerate() {
            let at = FRAMES + ((i as u64) << 12) + (addr & 0xfff);
            vm.place(at & !0xfff, &[0; 4096]);
            let room = (0x1000 - (addr & 0xfff)) as usize;
            vm.place(at, &bytes[..bytes.len().min(room)]);
        }
        for (i, &(addr, amode, _)) in chunk.iter().enumerate() {
            let absolute = FRAMES + ((i as u64) << 12) + (addr & 0xfff);
            let id = (round * frames as usize + i) as u32;
            // The kvm engine's environments: the PSW key, the host MMU
            // or the helper (the access-register mode).
            let env = translation_env(amode, (id % 16) as u8, id % 7 == 0);
            let started = Instant::now();
            let host = vm.on_host(addr, absolute, &env, id);
            host_ns += started.elapsed().as_nanos();
            let image = vm.in_vm(&vm.request(addr, absolute, &env, u64::from(id)));
            assert_eq!(image, host, "block {id} at {addr:#x} under {env:?}");
            if let Ok(code) = image {
                insns += code.native.len() as u64;
                ticks += vm.host.paging().image().unwrap().translation_ticks();
            }
        }
    }
    let khz = vm.host.tsc_link().unwrap().khz;
    let vm_ns = ticks as f64 * 1e6 / f64::from(khz);
    eprintln!(
        "{} blocks, {insns} instructions translated: {:.0} ns per guest instruction in the VM, {:.0} on the host; {} bytes of the image's stack used",
        blocks.len(),
        vm_ns / insns as f64,
        host_ns as f64 / insns as f64,
        vm.host.paging().image().unwrap().stack_used(),
    );
    let used = vm.host.paging().image().unwrap().stack_used();
    assert!(2 * used <= STACK_TOP - STACK, "{used} bytes of stack");
}

#[test]
fn a_changed_environment_makes_other_code() {
    // The comparison above sees the environment: the same block under
    // another key, memory access or addressing mode is other code.
    let Some(mut vm) = Vm::new() else { return };
    // lg %r3,8(%r1) ; stg %r3,16(%r1) ; br %r14
    let block = [
        0xe3, 0x30, 0x10, 0x08, 0x00, 0x04, 0xe3, 0x30, 0x10, 0x10, 0x00, 0x24, 0x07, 0xfe,
    ];
    vm.place(FRAMES + 0x100, &block);
    let env = translation_env(AddressingMode::Bits64, 0, false);
    let image = vm.in_vm(&vm.request(0x4100, FRAMES + 0x100, &env, 1));
    assert_eq!(image, vm.on_host(0x4100, FRAMES + 0x100, &env, 1));
    let others = [
        translation_env(AddressingMode::Bits31, 0, false),
        translation_env(AddressingMode::Bits64, 0, true),
        Env { movbe: true, ..env },
    ];
    for other in others {
        let host = vm.on_host(0x4100, FRAMES + 0x100, &other, 1);
        assert!(host.is_ok());
        assert_ne!(image, host, "{other:?}");
    }
}

/// A 64-bit linear congruential generator (Knuth's MMIX).
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 16
}

#[test]
fn hostile_requests_are_answers() {
    let Some(mut vm) = Vm::new() else { return };
    let env = translation_env(AddressingMode::Bits64, 0, false);
    // Random bytes as code, at random offsets of 64 frames: the image
    // answers as the host's translator does (or the code is too large
    // for its buffer), and the VM goes on.
    let mut seed = 0x5eed;
    for frame in 0..64u64 {
        let page: Vec<u8> = (0..4096).map(|_| lcg(&mut seed) as u8).collect();
        let base = FRAMES + (frame << 12);
        vm.place(base, &page);
        for _ in 0..8 {
            let absolute = base + (lcg(&mut seed) & 0xffe);
            let addr = lcg(&mut seed) & !1;
            let env = translation_env(AddressingMode::Bits64, (frame % 16) as u8, frame % 5 == 0);
            let image = vm.in_vm(&vm.request(addr, absolute, &env, frame));
            let host = vm.on_host(addr, absolute, &env, frame as u32);
            if image != Err(Status::TooLarge as u64) {
                assert_eq!(image, host, "{addr:#x} from {absolute:#x}");
            }
        }
    }
    // Addresses outside storage, an environment word and a block number
    // without meaning.
    let outside = [STORAGE, STORAGE + 0xffe, 1 << 40, u64::MAX - 1, 1 << 63];
    for absolute in outside {
        let image = vm.in_vm(&vm.request(0x1000, absolute, &env, 1));
        assert_eq!(image, Err(Status::Outside as u64), "{absolute:#x}");
    }
    let request = vm.request(0x1000, FRAMES, &env, 1);
    for (env, id) in [(0, 1), (u64::MAX, 1), (request.env, 1 << 32)] {
        let image = vm.in_vm(&Request { env, id, ..request });
        assert_eq!(image, Err(Status::BadRequest as u64));
    }
    // The heaviest block the heap's test measured (`vm-runtime/tests/
    // heap.rs`): 64 STMGs of 8 registers each.
    let stmg = [0xeb, 0x3f, 0xf0, 0x18, 0x00, 0x24].repeat(64);
    vm.place(FRAMES + 0x400, &stmg);
    let image = vm.in_vm(&vm.request(0x3400, FRAMES + 0x400, &env, 3));
    assert!(image.as_ref().is_ok_and(|code| code.native.len() == 64));
    assert_eq!(image, vm.on_host(0x3400, FRAMES + 0x400, &env, 3));
    // The translations used at most half of the image's stack (124 KiB,
    // an unmapped guard page below it).
    let image = vm.host.paging().image().unwrap();
    let (used, stack) = (image.stack_used(), STACK_TOP - STACK);
    eprintln!("the image's stack: {used} of {stack} bytes used");
    assert!(used > 0 && 2 * used <= stack, "{used} of {stack} bytes");
    // After all that, a block still translates.
    let block = [0xb9, 0x08, 0x00, 0x12, 0x07, 0xfe];
    vm.place(FRAMES + 0x40, &block);
    let image = vm.in_vm(&vm.request(0x2040, FRAMES + 0x40, &env, 2));
    assert!(image.is_ok());
    assert_eq!(image, vm.on_host(0x2040, FRAMES + 0x40, &env, 2));
}
