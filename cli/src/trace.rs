//! Tracing a person can read (`zmmu run --trace insn,exc,mmu`): each
//! instruction in assembler syntax (zmmu-cpu's decoder,
//! [`zmmu_cpu::disasm`]) with the registers it changed, each interruption
//! with its code, TEID and old PSW, and each fill and invalidation of the
//! software TLB; filtered by address ranges (`--trace-range LO-HI`), to
//! stderr or a file (`--trace-file`).
//!
//! A traced run executes one instruction at a time in the interpreter
//! (the machine's run loop does so while its observer traces), whatever
//! the engine: the output of `--engine jit` is the interpreter's, line for
//! line.
//!
//! With several CPUs (`--smp`), each CPU has its own tracer ([`Shared`]),
//! and each line starts with the CPU's address (`cpu1 `); the CPUs write to
//! one output, a whole line at a time.
//!
//! Lines (addresses in hexadecimal):
//!
//! ```text
//! 0000000000020000  lghi %r1,5                       r1=0000000000000005
//! 0000000000020004  lg %r2,0(%r1)
//!     tlb fill primary read 0000000000000005 -> absolute 0000000000000005
//! *** program interruption: addressing exception (code 0x0005), ilc 3; old PSW 0704000180000000 000000000002000a; new PSW 0000000180000000 0000000000000400
//! ```

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use zmmu_cpu::decode::Insn;
use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::{Cpu, Psw};
use zmmu_machine::bus::DatBus;
use zmmu_machine::tlb_log::TlbEvent;

/// What `--trace` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    /// Every instruction.
    pub insn: bool,
    /// Every interruption.
    pub exc: bool,
    /// The software TLB's fills and invalidations.
    pub mmu: bool,
}

impl Kinds {
    /// Whether anything is traced.
    pub fn any(&self) -> bool {
        self.insn || self.exc || self.mmu
    }
}

/// Parses one `--trace` value: `insn`, `exc`, `mmu` or `all`, or several
/// separated by commas.
pub fn parse_kinds(text: &str) -> Result<Kinds, String> {
    let mut kinds = Kinds::default();
    for word in text.split(',') {
        match word.trim() {
            "insn" => kinds.insn = true,
            "exc" => kinds.exc = true,
            "mmu" => kinds.mmu = true,
            "all" => {
                kinds = Kinds {
                    insn: true,
                    exc: true,
                    mmu: true,
                }
            }
            other => {
                return Err(format!(
                    "`{other}`: the traces are insn, exc, mmu (or all), separated by commas"
                ))
            }
        }
    }
    Ok(kinds)
}

/// An inclusive range of addresses (`--trace-range LO-HI`, hexadecimal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The first address.
    pub lo: u64,
    /// The last address.
    pub hi: u64,
}

/// Parses `LO-HI`: two hexadecimal addresses (with or without `0x`), LO
/// not above HI.
pub fn parse_range(text: &str) -> Result<Range, String> {
    let hex = |s: &str| {
        let s = s.trim();
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        u64::from_str_radix(digits, 16).map_err(|_| format!("`{s}` is not a hexadecimal address"))
    };
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a range LO-HI"))?;
    let (lo, hi) = (hex(lo)?, hex(hi)?);
    if lo > hi {
        return Err(format!("`{text}`: the range ends before it starts"));
    }
    Ok(Range { lo, hi })
}

/// The registers an instruction can change, to show what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Registers {
    gpr: [u64; 16],
    ar: [u32; 16],
    cr: [u64; 16],
    vr: [[u64; 2]; 32],
    fpc: u32,
    prefix: u64,
}

impl Registers {
    fn of(cpu: &Cpu) -> Self {
        Self {
            gpr: cpu.gpr,
            ar: cpu.ar,
            cr: cpu.cr,
            vr: cpu.vr,
            fpc: cpu.fpc,
            prefix: cpu.prefix.value(),
        }
    }

    /// ` r1=... f0=... cc=...` for what differs from `before`.
    fn changes(&self, before: &Self, cc: (u8, u8), out: &mut String) {
        let pairs = |name: &str, new: &[u64], old: &[u64], out: &mut String| {
            for (i, (n, o)) in new.iter().zip(old).enumerate() {
                if n != o {
                    let _ = write!(out, " {name}{i}={n:016x}");
                }
            }
        };
        pairs("r", &self.gpr, &before.gpr, out);
        for (i, (n, o)) in self.ar.iter().zip(&before.ar).enumerate() {
            if n != o {
                let _ = write!(out, " a{i}={n:08x}");
            }
        }
        pairs("c", &self.cr, &before.cr, out);
        for (i, (n, o)) in self.vr.iter().zip(&before.vr).enumerate() {
            if n[1] != o[1] || i >= 16 {
                if n != o {
                    let _ = write!(out, " v{i}={:016x}{:016x}", n[0], n[1]);
                }
            } else if n[0] != o[0] {
                let _ = write!(out, " f{i}={:016x}", n[0]);
            }
        }
        if self.fpc != before.fpc {
            let _ = write!(out, " fpc={:08x}", self.fpc);
        }
        if self.prefix != before.prefix {
            let _ = write!(out, " prefix={:08x}", self.prefix);
        }
        if cc.0 != cc.1 {
            let _ = write!(out, " cc={}", cc.1);
        }
    }
}

/// An instruction line waiting for the state after the instruction.
#[derive(Debug)]
struct Pending {
    line: String,
    before: Registers,
    cc_before: u8,
    /// The condition code after it, when an interruption replaced the PSW.
    cc_after: Option<u8>,
}

/// The tracer: what to trace, where, and what waits to be written.
pub struct Tracer {
    out: Box<dyn Write>,
    kinds: Kinds,
    ranges: Vec<Range>,
    insn: Option<Pending>,
    after: Vec<String>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("kinds", &self.kinds)
            .field("ranges", &self.ranges)
            .finish()
    }
}

impl Tracer {
    /// A tracer of `kinds` writing to `out`, showing only addresses inside
    /// one of `ranges` (every address when empty).
    pub fn new(out: Box<dyn Write>, kinds: Kinds, ranges: Vec<Range>) -> Self {
        Self {
            out,
            kinds,
            ranges,
            insn: None,
            after: Vec::new(),
        }
    }

    /// Whether the TLB must log its events for this tracer.
    pub fn wants_tlb_log(&self) -> bool {
        self.kinds.mmu
    }

    fn shown(&self, address: u64) -> bool {
        self.ranges.is_empty() || self.ranges.iter().any(|r| (r.lo..=r.hi).contains(&address))
    }

    /// Before `insn` executes at the PSW address.
    pub fn instruction(&mut self, cpu: &Cpu, insn: &Insn) {
        if !self.kinds.insn || !self.shown(cpu.psw.addr) {
            return;
        }
        let at = cpu.psw.addr;
        self.insn = Some(Pending {
            line: format!("{at:016x}  {}", insn.disasm(at)),
            before: Registers::of(cpu),
            cc_before: cpu.psw.cc(),
            cc_after: None,
        });
    }

    /// After `interruption` was delivered; `old` is the old PSW.
    pub fn interruption(&mut self, cpu: &Cpu, interruption: &Interruption, old: &Psw) {
        if let Some(pending) = &mut self.insn {
            pending.cc_after.get_or_insert(old.cc());
        }
        if !self.kinds.exc || !self.shown(old.addr) {
            return;
        }
        let what = match interruption {
            Interruption::Program { exception, ilc } => {
                format!("program interruption: {exception}, ilc {ilc}")
            }
            Interruption::Supervisor { code, ilc } => {
                format!("supervisor-call interruption: code {code:#06x}, ilc {ilc}")
            }
            Interruption::External {
                code, parameter, ..
            } => format!("external interruption: code {code:#06x}, parameter {parameter:#010x}"),
            Interruption::Restart => "restart interruption".to_string(),
            Interruption::Io {
                subchannel_id,
                parameter,
                word,
            } => format!(
                "I/O interruption: subsystem id {subchannel_id:#010x}, parameter {parameter:#010x}, word {word:#010x}"
            ),
        };
        self.after.push(format!(
            "*** {what}; old PSW {:016x} {:016x}; new PSW {:016x} {:016x}",
            old.mask, old.addr, cpu.psw.mask, cpu.psw.addr
        ));
    }

    /// At an instruction boundary: writes the last instruction with the
    /// registers it changed, the TLB's events and the interruptions
    /// delivered since.
    pub fn boundary(&mut self, cpu: &Cpu, bus: &mut DatBus) {
        if let Some(pending) = self.insn.take() {
            let mut line = format!("{:<56}", pending.line);
            let cc = (pending.cc_before, pending.cc_after.unwrap_or(cpu.psw.cc()));
            Registers::of(cpu).changes(&pending.before, cc, &mut line);
            let _ = writeln!(self.out, "{}", line.trim_end());
        }
        if let Some(log) = &mut bus.tlb_log {
            let events = std::mem::take(log);
            for event in events {
                self.tlb_event(&event);
            }
        }
        for line in std::mem::take(&mut self.after) {
            let _ = writeln!(self.out, "{line}");
        }
    }

    fn tlb_event(&mut self, event: &TlbEvent) {
        let line = match *event {
            TlbEvent::Fill {
                address,
                space,
                kind,
                absolute,
            } => {
                if !self.shown(address) {
                    return;
                }
                format!("    tlb fill {space:?} {kind} {address:016x} -> absolute {absolute:016x}")
            }
            TlbEvent::Invalidate(invalidation) => format!("    tlb invalidate {invalidation:?}"),
            TlbEvent::Controls => {
                "    tlb controls changed (CR0/CR1/CR7/CR13/prefix): entries of old ASCEs dropped"
                    .to_string()
            }
        };
        let _ = writeln!(self.out, "{line}");
    }

    /// Writes what is still waiting and flushes the output.
    pub fn finish(&mut self, cpu: &Cpu, bus: &mut DatBus) {
        self.boundary(cpu, bus);
        let _ = self.out.flush();
    }
}

/// The trace of a run of several CPUs: one output, what each CPU's
/// tracer shows.
#[derive(Clone)]
pub struct Shared {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    kinds: Kinds,
    ranges: Vec<Range>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("kinds", &self.kinds)
            .field("ranges", &self.ranges)
            .finish()
    }
}

impl Shared {
    /// A trace of `kinds` inside `ranges` to `out`, for several CPUs.
    pub fn new(out: Box<dyn Write + Send>, kinds: Kinds, ranges: Vec<Range>) -> Self {
        Self {
            out: Arc::new(Mutex::new(out)),
            kinds,
            ranges,
        }
    }

    /// The tracer of the CPU with address `address`.
    pub fn tracer(&self, address: u16) -> Tracer {
        let lines = Tagged {
            tag: format!("cpu{address} ").into_bytes(),
            line: Vec::new(),
            out: Arc::clone(&self.out),
        };
        Tracer::new(Box::new(lines), self.kinds, self.ranges.clone())
    }
}

/// One CPU's lines: each tagged, and written whole to the shared output.
struct Tagged {
    tag: Vec<u8>,
    line: Vec<u8>,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Write for Tagged {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..=end]);
            rest = &rest[end + 1..];
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            out.write_all(&self.tag)?;
            out.write_all(&self.line)?;
            self.line.clear();
        }
        self.line.extend_from_slice(rest);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_and_combined_with_commas() {
        let k = parse_kinds("insn,mmu").unwrap();
        assert!(k.insn && k.mmu && !k.exc);
        assert!(parse_kinds("all").unwrap().exc);
        assert!(parse_kinds("insns").unwrap_err().contains("insn, exc, mmu"));
    }

    #[test]
    fn ranges_are_hexadecimal_and_ordered() {
        assert_eq!(
            parse_range("0x20000-2ffff").unwrap(),
            Range {
                lo: 0x20000,
                hi: 0x2ffff
            }
        );
        assert!(parse_range("300-200").is_err());
        assert!(parse_range("300").is_err());
        assert!(parse_range("zz-300").is_err());
    }

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_cpu_writes_whole_lines_tagged_with_its_address() {
        let sink = Sink::default();
        let shared = Shared::new(Box::new(sink.clone()), Kinds::default(), Vec::new());
        let (mut one, mut two) = (shared.tracer(1).out, shared.tracer(2).out);
        one.write_all(b"first half ").unwrap();
        two.write_all(b"a line\nand half").unwrap();
        one.write_all(b"second half\n").unwrap();
        two.write_all(b" more\n").unwrap();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "cpu2 a line\ncpu1 first half second half\ncpu2 and half more\n"
        );
    }

    #[test]
    fn changed_registers_are_listed_and_others_not() {
        let before = Registers::of(&Cpu::new());
        let mut cpu = Cpu::new();
        cpu.gpr[3] = 0x1234;
        cpu.vr[2][0] = 0x4000_0000_0000_0000;
        cpu.vr[20][1] = 1;
        let mut out = String::new();
        Registers::of(&cpu).changes(&before, (0, 2), &mut out);
        assert_eq!(
            out,
            " r3=0000000000001234 f2=4000000000000000 v20=00000000000000000000000000000001 cc=2"
        );
    }
}
