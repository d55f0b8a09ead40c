//! The cost of one host call completed by the image's logic
//! (`call::host_call`) on the host, for the instructions a Linux boot
//! completes most in the VM (`--stats`: MVCLE, STOSM, EXRL, CDSG, STPT
//! ...): 1M calls each (ten batches), printed in ns per call. Not a test: nothing is
//! asserted about time (`cargo bench -p zmmu-vm-runtime`).

use std::hint::black_box;
use std::time::Instant;

use zmmu_cpu::state::{mask, offset};
use zmmu_vm_runtime::call::{host_call, CpuPage, Guest, Scratch};
use zmmu_vm_runtime::protocol::{
    site_slots, ClockPage, Shared, Site, COMPLETED, SITE_SLOTS, STORABLE_WORDS, VERSION,
};

/// A guest whose loads give the low byte of each address (or an EXECUTE's
/// target at its address) and whose stores and swaps land nowhere.
struct Sink {
    /// The instruction a load at its address gives.
    text: Option<(u64, [u8; 6])>,
    tsc: u64,
}

impl Guest for Sink {
    fn load(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (addr as usize + i) as u8;
        }
        if let Some((_, insn)) = self.text.filter(|&(at, _)| at == addr) {
            let n = buf.len().min(6);
            buf[..n].copy_from_slice(&insn[..n]);
        }
        true
    }
    fn store(&mut self, _: u64, data: &[u8]) -> bool {
        black_box(data);
        true
    }
    fn compare_swap(&mut self, _: u64, _: usize, old: u128, _: u128) -> Option<u128> {
        Some(old)
    }
    fn read_absolute(&self, _: u64, buf: &mut [u8]) {
        buf.fill(0);
    }
    fn store_absolute(&mut self, _: u64, data: &[u8]) {
        black_box(data);
    }
    fn tsc(&mut self) -> u64 {
        self.tsc += 1;
        self.tsc
    }
    fn take_transient(&mut self) -> bool {
        false
    }
    fn gate(&mut self, _: u64) -> bool {
        false
    }
    fn load_table(&self, _: u64) -> u64 {
        unreachable!("no shadow fills in a host call")
    }
    fn store_table(&mut self, _: u64, _: u64) {
        unreachable!("no shadow fills in a host call")
    }
}

/// The tables of one call: block 3's instruction 1, `bytes` at 0x1000
/// under a 64-bit supervisor PSW, registers `gprs`, a running clock.
struct Call {
    shared: Shared,
    sites: Vec<Site>,
    counts: Vec<u64>,
    frames: Vec<u64>,
    page: Box<CpuPage>,
    scratch: Box<Scratch>,
}

const WHICH: u64 = 3 << 8 | 1;

fn setup(bytes: &[u8], gprs: Registers) -> Call {
    let mut sites = vec![Site::default(); SITE_SLOTS];
    let slot = site_slots(WHICH).next().unwrap();
    sites[slot] = Site::new(WHICH, 0x1000, bytes);
    let mut page = Box::new([0u64; 512]);
    page[offset::PSW_MASK / 8] = mask::EA | mask::BA;
    page[offset::PSW_ADDR / 8] = 0x1000;
    for &(r, value) in gprs {
        page[(offset::GPR + 8 * r) / 8] = value;
    }
    let shared = Shared {
        version: VERSION,
        clock: ClockPage {
            valid: 1,
            epoch: 0x5000_0000,
            ns: 1000,
            mult: 1,
            ..ClockPage::default()
        },
        mask_floor: u64::MAX,
        ..Shared::default()
    };
    Call {
        shared,
        sites,
        counts: vec![0; zmmu_cpu::opcode::COUNT],
        frames: vec![0; STORABLE_WORDS],
        page,
        scratch: Box::default(),
    }
}

/// Registers set before each call: (register, value).
type Registers = &'static [(usize, u64)];

/// Calls timed in a batch, and batches.
const BATCH: u32 = 100_000;
const BATCHES: u32 = 10;

/// Times `BATCHES` batches of `BATCH` calls of the site of `c`, each
/// restoring the registers `gprs` first (MVCLE counts its lengths down):
/// the mean and the fastest batch's ns per call (the machine is shared).
fn time(name: &str, mut c: Call, mut g: Sink, gprs: Registers) {
    let (mut total, mut best) = (0.0, f64::MAX);
    for _ in 0..BATCHES {
        let start = Instant::now();
        for _ in 0..BATCH {
            for &(r, value) in gprs {
                c.page[(offset::GPR + 8 * r) / 8] = value;
            }
            let answer = host_call(
                WHICH,
                &mut c.shared,
                &mut c.sites,
                &mut c.counts,
                &c.frames,
                &mut c.page,
                None,
                &mut g,
                &mut c.scratch,
            );
            assert_eq!(answer, COMPLETED, "{name} completes");
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(BATCH);
        total += ns;
        best = best.min(ns);
    }
    let mean = total / f64::from(BATCHES);
    println!("{name:<24} {mean:8.1} ns/call (fastest batch {best:6.1})");
}

fn main() {
    let sink = || Sink { text: None, tsc: 0 };
    let cases: [(&str, &[u8], Registers); 6] = [
        ("epsw 6,7", &[0xb9, 0x8d, 0x00, 0x67], &[]),
        ("stckf 0(2)", &[0xb2, 0x7c, 0x20, 0x00], &[(2, 0x2000)]),
        ("stpt 0(2)", &[0xb2, 0x09, 0x20, 0x00], &[(2, 0x2000)]),
        (
            "stosm 0x100(2),3",
            &[0xad, 0x03, 0x21, 0x00],
            &[(2, 0x2000)],
        ),
        (
            "mvcle 4,6,0 (16 bytes)",
            &[0xa8, 0x46, 0x00, 0x00],
            &[(4, 0x2000), (5, 16), (6, 0x3000), (7, 16)],
        ),
        (
            "cdsg 0,14,0(2)",
            &[0xeb, 0x0e, 0x20, 0x00, 0x00, 0x3e],
            &[(2, 0x2000)],
        ),
    ];
    for (name, bytes, gprs) in cases {
        time(name, setup(bytes, gprs), sink(), gprs);
    }
    // exrl 0,+0x100 of mvc 0(16,2),0x100(2)
    let exrl = setup(&[0xc6, 0x00, 0x00, 0x00, 0x00, 0x80], &[(2, 0x2000)]);
    let target = Sink {
        text: Some((0x1100, [0xd2, 0x0f, 0x20, 0x00, 0x21, 0x00])),
        tsc: 0,
    };
    time("exrl of mvc (16 bytes)", exrl, target, &[]);
}
