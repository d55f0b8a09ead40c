//! `zmmu run` on hand-made ELF files: hostile files are refused with a
//! precise error and never crash the tool; the exit status follows the
//! documented convention; the instruction limit and trace work.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::{kvm_usable, zmmu_waiting_for_gdb};

const ZMMU: &str = env!("CARGO_BIN_EXE_zmmu");

/// One program header.
#[derive(Clone, Copy)]
struct Phdr {
    kind: u32,
    offset: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
}

/// A big-endian ELF64 s390x executable: the header, the program headers,
/// then `payload` at file offset 0x1000.
fn elf(entry: u64, phdrs: &[Phdr]) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 2; // ELFDATA2MSB
    f[6] = 1; // EV_CURRENT
    f[16..18].copy_from_slice(&2u16.to_be_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&22u16.to_be_bytes()); // EM_S390
    f[20..24].copy_from_slice(&1u32.to_be_bytes());
    f[24..32].copy_from_slice(&entry.to_be_bytes());
    f[32..40].copy_from_slice(&64u64.to_be_bytes()); // e_phoff
    f[52..54].copy_from_slice(&64u16.to_be_bytes()); // e_ehsize
    f[54..56].copy_from_slice(&56u16.to_be_bytes()); // e_phentsize
    f[56..58].copy_from_slice(&(phdrs.len() as u16).to_be_bytes());
    for p in phdrs {
        let mut h = vec![0u8; 56];
        h[..4].copy_from_slice(&p.kind.to_be_bytes());
        h[4..8].copy_from_slice(&7u32.to_be_bytes()); // RWX
        h[8..16].copy_from_slice(&p.offset.to_be_bytes());
        h[16..24].copy_from_slice(&p.paddr.to_be_bytes()); // p_vaddr
        h[24..32].copy_from_slice(&p.paddr.to_be_bytes()); // p_paddr
        h[32..40].copy_from_slice(&p.filesz.to_be_bytes());
        h[40..48].copy_from_slice(&p.memsz.to_be_bytes());
        f.extend_from_slice(&h);
    }
    f
}

/// A runnable ELF: `code` at 0x20000 (entry) and `lowcore` bytes at 0.
fn program(code: &[u8], lowcore: &[u8]) -> Vec<u8> {
    let load = |offset: u64, paddr: u64, len: usize| Phdr {
        kind: 1,
        offset,
        paddr,
        filesz: len as u64,
        memsz: len as u64,
    };
    let mut f = elf(
        0x20000,
        &[
            load(0x1000, 0x20000, code.len()),
            load(0x2000, 0, lowcore.len()),
        ],
    );
    f.resize(0x1000, 0);
    f.extend_from_slice(code);
    f.resize(0x2000, 0);
    f.extend_from_slice(lowcore);
    f
}

/// A PSW as 16 bytes.
fn psw(mask: u64, addr: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&mask.to_be_bytes());
    b[8..].copy_from_slice(&addr.to_be_bytes());
    b
}

const DISABLED_WAIT: u64 = 0x0002_0001_8000_0000;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn zmmu(args: &[&str], file: &PathBuf) -> Output {
    Command::new(ZMMU)
        .arg("run")
        .args(args)
        .arg(file)
        .output()
        .expect("zmmu runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn exit_status_is_the_disabled_wait_psw_address_modulo_256() {
    // LPSWE 0xF00 with a disabled-wait PSW at 0xF00 whose address is 0x1ab.
    let mut lowcore = vec![0u8; 0xf10];
    lowcore[0xf00..].copy_from_slice(&psw(DISABLED_WAIT, 0x1ab));
    let file = write("wait.elf", &program(&[0xb2, 0xb2, 0x0f, 0x00], &lowcore));
    let out = zmmu(&[], &file);
    assert_eq!(out.status.code(), Some(0xab), "{}", stderr(&out));
    assert!(stderr(&out).contains("disabled wait, PSW 0002000180000000 00000000000001ab"));
}

#[test]
fn unknown_opcode_raises_the_operation_exception_through_the_lowcore() {
    // Opcode 0x00 is unassigned. The program-new PSW is a disabled wait at
    // 0x77: reaching it shows the interruption went through the lowcore.
    let mut lowcore = vec![0u8; 0x1e0];
    lowcore[0x1d0..0x1e0].copy_from_slice(&psw(DISABLED_WAIT, 0x77));
    let file = write("unknown.elf", &program(&[0x00, 0x00], &lowcore));
    let out = zmmu(&["--trace", "exc"], &file);
    assert_eq!(out.status.code(), Some(0x77), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "*** program interruption: operation exception (code 0x0001), ilc 1; \
             old PSW 0000000180000000 0000000000020002; new PSW 0002000180000000 0000000000000077"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn instruction_limit_stops_an_endless_loop_with_status_124() {
    // J * (BRC 15,0).
    let file = write("loop.elf", &program(&[0xa7, 0xf4, 0x00, 0x00], &[0]));
    let out = zmmu(&["--max-insns", "1000"], &file);
    assert_eq!(out.status.code(), Some(124));
    let err = stderr(&out);
    assert!(
        err.contains("instruction limit reached at 0000000000020000"),
        "{err}"
    );
    assert!(err.contains("1000 instructions"), "{err}");
}

#[test]
fn trace_shows_each_instruction_in_assembler_syntax_with_the_registers_it_changed() {
    // LGHI 1,5 ; CHI 1,5 ; LPSWE 0xF00 (disabled wait, address 0).
    let mut lowcore = vec![0u8; 0xf10];
    lowcore[0xf00..].copy_from_slice(&psw(DISABLED_WAIT, 0));
    let code = [
        0xa7, 0x19, 0x00, 0x05, 0xa7, 0x1e, 0x00, 0x05, 0xb2, 0xb2, 0x0f, 0x00,
    ];
    let file = write("trace.elf", &program(&code, &lowcore));
    let out = zmmu(&["--trace", "insn"], &file);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<String> = stderr(&out)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        &lines[..3],
        [
            "0000000000020000 lghi %r1,5 r1=0000000000000005",
            "0000000000020004 chi %r1,5",
            "0000000000020008 lpswe 3840",
        ],
        "{lines:?}"
    );
}

#[test]
fn trace_range_and_trace_file_select_what_is_written_where() {
    // LGHI 1,5 ; LGHI 2,6 ; LPSWE 0xF00: only the second is in the range.
    let mut lowcore = vec![0u8; 0xf10];
    lowcore[0xf00..].copy_from_slice(&psw(DISABLED_WAIT, 0));
    let code = [
        0xa7, 0x19, 0x00, 0x05, 0xa7, 0x29, 0x00, 0x06, 0xb2, 0xb2, 0x0f, 0x00,
    ];
    let file = write("range.elf", &program(&code, &lowcore));
    let trace = std::env::temp_dir().join(format!("zmmu-trace-{}.txt", std::process::id()));
    let out = zmmu(
        &[
            "--trace",
            "insn,exc",
            "--trace-range",
            "20004-20007",
            "--trace-file",
            trace.to_str().unwrap(),
        ],
        &file,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&trace).unwrap();
    let _ = std::fs::remove_file(&trace);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("0000000000020004  lghi %r2,6"), "{text}");
    assert!(!stderr(&out).contains("lghi"), "{}", stderr(&out));
}

#[test]
fn bad_trace_options_are_refused_by_name() {
    let file = write("badtrace.elf", &program(&[0x00, 0x00], &[0]));
    let out = zmmu(&["--trace", "everything"], &file);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("insn, exc, mmu"), "{}", stderr(&out));
    let out = zmmu(&["--trace", "insn", "--trace-range", "9-1"], &file);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_program_check_loop_check_stops_with_status_126() {
    // The program-new PSW is all zeros: 24-bit mode at address 0, where the
    // zeroed lowcore holds opcode 0x00 again, forever.
    let file = write("pgmloop.elf", &program(&[0x00, 0x00], &[0]));
    let out = zmmu(&["--max-insns", "100000"], &file);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(stderr(&out).contains("check-stop: program-interruption loop"));
}

#[test]
fn a_file_that_is_not_elf_is_refused_with_status_3() {
    let file = write("text.elf", b"#!/bin/sh\necho not a program\n");
    let out = zmmu(&[], &file);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("not an ELF file nor a kernel image"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_little_endian_elf_is_not_an_s390x_executable() {
    let mut f = program(&[0, 0], &[0]);
    f[5] = 1; // ELFDATA2LSB
    let out = zmmu(&[], &write("le.elf", &f));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("not an s390x executable"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_segment_outside_storage_is_refused_by_number() {
    let mut f = elf(
        0x20000,
        &[Phdr {
            kind: 1,
            offset: 0,
            paddr: 0xFFFF_FFFF_FFFF_F000,
            filesz: 0,
            memsz: 0x2000,
        }],
    );
    f.resize(0x100, 0);
    let out = zmmu(&["--memory", "1M"], &write("outside.elf", &f));
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("segment 0:"), "{err}");
    assert!(
        err.contains("do not fit in 0x100000 bytes of storage"),
        "{err}"
    );
}

#[test]
fn a_segment_whose_bytes_are_outside_the_file_is_refused_by_number() {
    let f = elf(
        0x20000,
        &[
            Phdr {
                kind: 4, // PT_NOTE: not loaded, not checked
                offset: 1 << 40,
                paddr: 0,
                filesz: 1 << 40,
                memsz: 1 << 40,
            },
            Phdr {
                kind: 1,
                offset: 0x10_0000,
                paddr: 0x20000,
                filesz: 0x100,
                memsz: 0x100,
            },
        ],
    );
    let out = zmmu(&[], &write("short.elf", &f));
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("segment 1: file bytes outside the file"),
        "{err}"
    );
}

#[test]
fn every_truncation_of_a_program_is_refused_or_run_never_a_crash() {
    let mut lowcore = vec![0u8; 0xf10];
    lowcore[0xf00..].copy_from_slice(&psw(DISABLED_WAIT, 0));
    let whole = program(&[0xb2, 0xb2, 0x0f, 0x00], &lowcore);
    for len in (0..whole.len()).step_by(97).chain([whole.len() - 1]) {
        let out = zmmu(&["--max-insns", "100"], &write("cut.elf", &whole[..len]));
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 3 | 124 | 126)),
            "truncated to {len}: {code:?} {}",
            stderr(&out)
        );
    }
}

#[test]
fn memory_size_rejects_nonsense() {
    let file = write("any.elf", b"x");
    for bad in ["0", "12Q", "1K", "100G"] {
        let out = zmmu(&["--memory", bad], &file);
        assert_eq!(out.status.code(), Some(2), "--memory {bad}");
    }
}

/// LPSWE 0xF00 with a disabled-wait PSW at 0xF00 whose address is `status`.
fn wait_program(status: u64) -> Vec<u8> {
    let mut lowcore = vec![0u8; 0xf10];
    lowcore[0xf00..].copy_from_slice(&psw(DISABLED_WAIT, status));
    program(&[0xb2, 0xb2, 0x0f, 0x00], &lowcore)
}

#[test]
fn the_largest_storage_starts_on_a_small_host_because_it_is_reserved_lazily() {
    // 64 GiB of guest storage on a host with less: only touched pages cost.
    let file = write("lazy.elf", &wait_program(0x2a));
    let out = zmmu(&["--memory", "64G"], &file);
    assert_eq!(out.status.code(), Some(0x2a), "{}", stderr(&out));
}

#[test]
fn a_drive_zmmu_cannot_open_is_refused_with_a_reason() {
    let file = write("drive.elf", &wait_program(0x2a));
    let image = write("drive.img", &[0; 4096]);
    let image = image.to_str().unwrap();
    let dir = env!("CARGO_TARGET_TMPDIR");
    for (args, why) in [
        (
            vec!["--drive", "/nonexistent/disk.img"],
            "/nonexistent/disk.img",
        ),
        (vec!["--drive", dir], "a directory"),
        (
            vec!["--drive", "file=x.img,format=qcow2"],
            "raw images only",
        ),
        (vec!["--drive", "readonly=on"], "no file=FILE"),
    ] {
        let out = zmmu(&args, &file);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    let read_only = format!("file={image},readonly=on");
    for args in [
        &["--drive", &read_only][..],
        &["--drive", image, "--smp", "2"],
    ] {
        let out = zmmu(args, &file);
        assert_eq!(out.status.code(), Some(0x2a), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn machine_options_that_zmmu_cannot_honour_are_refused_with_a_reason() {
    let file = write("opts.elf", &wait_program(0x2a));
    for (args, why) in [
        (&["--smp", "2,sockets=2"][..], "no CPU topology"),
        (&["--smp", "cpus=1,books=2"][..], "no CPU topology"),
        (&["--smp", "2,foo=1"][..], "N[,maxcpus=M]"),
        (&["--smp", "0"][..], "not a CPU count"),
        (&["--cpu", "max,gs=on"][..], "guarded-storage"),
        (&["--cpu", "max,ctop=on"][..], "feature `ctop`"),
        (
            &["--device", "virtio-blk-ccw"][..],
            "virtio-net-ccw and diag288",
        ),
        (&["--uuid", "1234"][..], "not a UUID"),
    ] {
        let out = zmmu(args, &file);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    for (args, why) in [
        (&["--smp", "2", "--core-ids", "0,0"][..], "given twice"),
        (
            &["--smp", "2", "--maxcpus", "1"][..],
            "do not fit maxcpus=1",
        ),
        (
            &["--smp", "2", "--core-ids", "0,5", "--maxcpus", "4"][..],
            "not below maxcpus=4",
        ),
    ] {
        let out = zmmu(args, &file);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(stderr(&out).contains(why), "{args:?}: {}", stderr(&out));
    }
    // QEMU's `cpus=N` is N.
    let out = zmmu(&["--smp", "cpus=1,maxcpus=2"], &file);
    assert_eq!(out.status.code(), Some(0x2a), "{}", stderr(&out));
    let long = "x".repeat(896);
    let out = zmmu(&["--append", &long], &file);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("parm area"), "{}", stderr(&out));
}

/// A raw gdb remote-protocol client.
struct Gdb {
    stream: std::net::TcpStream,
}

impl Gdb {
    /// Connects to a `zmmu run --gdb 127.0.0.1:0 --wait-for-gdb` child.
    fn attach(child: &mut std::process::Child) -> Self {
        use std::io::BufRead;
        let mut line = String::new();
        let stderr = child.stderr.as_mut().expect("piped");
        std::io::BufReader::new(stderr)
            .read_line(&mut line)
            .expect("zmmu says where it listens");
        let address = line.trim().rsplit(' ').next().expect("an address");
        let stream = std::net::TcpStream::connect(address).expect("the stub accepts");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        Self { stream }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends `$body#cc` and returns the reply's body (acks skipped).
    fn ask(&mut self, body: &str) -> String {
        let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        self.send_raw(format!("${body}#{sum:02x}").as_bytes());
        self.reply()
    }

    /// The next packet's body, run-length decoded (`X*n`: X repeated
    /// n - 29 more times).
    fn reply(&mut self) -> String {
        let mut body = Vec::new();
        while self.byte() != b'$' {}
        loop {
            match self.byte() {
                b'#' => break,
                b'*' => {
                    let count = self.byte().saturating_sub(29);
                    let last = *body.last().expect("a byte to repeat");
                    body.extend(std::iter::repeat_n(last, usize::from(count)));
                }
                b => body.push(b),
            }
        }
        self.byte();
        self.byte();
        String::from_utf8_lossy(&body).into_owned()
    }

    fn byte(&mut self) -> u8 {
        use std::io::Read;
        let mut b = [0u8];
        self.stream.read_exact(&mut b).expect("the stub answers");
        b[0]
    }
}

#[test]
fn bad_gdb_packets_get_protocol_errors_and_the_guest_runs_on() {
    bad_gdb_packets_session("gdbloop.elf", &[]);
}

/// The same with two CPUs (CPU 1 stays stopped): each CPU a thread, the
/// Ctrl-C stops both, and the guest runs on after bad input.
#[test]
fn bad_gdb_packets_get_protocol_errors_and_the_guest_of_two_cpus_runs_on() {
    bad_gdb_packets_session("gdbloop2.elf", &["--smp", "2"]);
}

/// Both on the kvm engine: a Ctrl-C reaches a guest that runs in the VM
/// (with two CPUs, the configuration's kick interrupts each vCPU).
#[test]
fn bad_gdb_packets_get_protocol_errors_and_the_guest_runs_on_in_kvm() {
    if !kvm_usable() {
        return;
    }
    bad_gdb_packets_session("gdbloopkvm.elf", &["--engine", "kvm"]);
    bad_gdb_packets_session("gdbloopkvm2.elf", &["--engine", "kvm", "--smp", "2"]);
}

fn bad_gdb_packets_session(name: &str, more: &[&str]) {
    // J * at 0x20000: the guest loops until --max-insns, a second or so
    // on the jit (which runs the loop at about 1e9 instructions a
    // second): long enough that the Ctrl-C below reaches a guest still
    // running, short enough for the end of the test.
    let file = write(name, &program(&[0xa7, 0xf4, 0x00, 0x00], &[0]));
    let args = [["--max-insns", "1000000000"].as_slice(), more].concat();
    let mut child = zmmu_waiting_for_gdb(&args, &file);
    let mut gdb = Gdb::attach(&mut child);
    // A wrong checksum and an overlong packet are NAKed.
    gdb.send_raw(b"$g#00");
    assert_eq!(gdb.byte(), b'-');
    let mut long = b"$m0,".to_vec();
    long.extend(std::iter::repeat_n(b'1', 20000));
    long.extend(b"#00");
    gdb.send_raw(&long);
    assert_eq!(gdb.byte(), b'-');
    assert!(gdb.ask("qSupported:swbreak+").contains("PacketSize="));
    // Storage outside the machine, and a huge length, are errors or short
    // reads, never a crash.
    assert!(gdb.ask("mffffffffffffff00,10").starts_with('E'));
    assert!(gdb.ask("M7ffffff0,4:00000000").starts_with('E'));
    assert_eq!(gdb.ask("m7fffff0,ffffffffffffffff"), "E01");
    assert_eq!(
        gdb.ask("m7fffff0,20"),
        "0".repeat(32),
        "a short read at the end"
    );
    // Malformed commands and a short register packet.
    for bad in ["mzz,yy", "Z0,zz", "Gdeadbeef", "vCont;q", "p9999", "\u{7f}"] {
        let answer = gdb.ask(bad);
        assert!(
            answer.is_empty() || answer.starts_with('E'),
            "`{bad}` -> `{answer}`"
        );
    }
    // The session still works: a breakpoint on the loop stops it, a
    // Ctrl-C interrupts a continue.
    assert_eq!(gdb.ask("Z0,20000,2"), "OK");
    assert!(gdb.ask("c").starts_with("T05"));
    assert_eq!(gdb.ask("z0,20000,2"), "OK");
    gdb.send_raw(b"$c#63");
    gdb.send_raw(&[3]);
    let stopped = gdb.reply();
    assert!(stopped == "S02" || stopped.starts_with("T02"), "{stopped}");
    let regs = gdb.ask("g");
    assert_eq!(&regs[16..32], "0000000000020000", "pswa");
    // Detached, the guest runs on to the instruction limit.
    assert_eq!(gdb.ask("D"), "OK");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
}

/// Under gdb the kvm engine runs what the interpreter stored into code
/// while a breakpoint was set: its blocks of that code go when gdb
/// resumes (`gdb::Translator::forget`), else the VM would run the block
/// it translated before the store.
#[test]
fn code_patched_under_a_breakpoint_is_what_the_kvm_engine_runs_afterwards() {
    if !kvm_usable() {
        return;
    }
    // lghi 2,0 ; lghi 4,2 ; larl 3,L ; L: aghi 1,1 ; brct 2,L (2^32
    // rounds) ; mvhhi 2(3),256 (the aghi now adds 256) ; lghi 2,16 ;
    // brct 4,L ; larl 5,PSW ; stg 1,8(5) ; lpswe 0(5): a disabled wait at
    // R1, whose low byte is the exit status.
    let mut code = vec![
        0xa7, 0x29, 0x00, 0x00, 0xa7, 0x49, 0x00, 0x02, 0xc0, 0x30, 0x00, 0x00, 0x00, 0x03, 0xa7,
        0x1b, 0x00, 0x01, 0xa7, 0x26, 0xff, 0xfe, 0xe5, 0x44, 0x30, 0x02, 0x01, 0x00, 0xa7, 0x29,
        0x00, 0x10, 0xa7, 0x46, 0xff, 0xf7, 0xc0, 0x50, 0x00, 0x00, 0x00, 0x6e, 0xe3, 0x10, 0x50,
        0x08, 0x00, 0x24, 0xb2, 0xb2, 0x50, 0x00,
    ];
    code.resize(0x100, 0);
    code.extend_from_slice(&psw(DISABLED_WAIT, 0));
    let file = write("gdbpatch.elf", &program(&code, &[0]));
    let mut child =
        zmmu_waiting_for_gdb(&["--engine", "kvm", "--max-insns", "100000000000"], &file);
    let mut gdb = Gdb::attach(&mut child);
    assert!(gdb.ask("qSupported:swbreak+").contains("PacketSize="));
    // The first loop runs in the VM until a Ctrl-C finds it 1000 rounds
    // on (R1, from 0).
    let r1 = |regs: &str| u64::from_str_radix(&regs[48..64], 16).expect("R1");
    let regs = loop {
        gdb.send_raw(b"$c#63");
        gdb.send_raw(&[3]);
        let stopped = gdb.reply();
        assert!(stopped == "S02" || stopped.starts_with("T02"), "{stopped}");
        let regs = gdb.ask("g");
        if r1(&regs) >= 1000 {
            break regs;
        }
    };
    // R2 := 1 ends the loop; the interpreter makes the patching store
    // before the breakpoint after it.
    let regs = format!("{}{:016x}{}", &regs[..64], 1, &regs[80..]);
    assert_eq!(gdb.ask(&format!("G{regs}")), "OK");
    assert_eq!(gdb.ask("Z0,2001c,4"), "OK");
    assert!(gdb.ask("c").starts_with("T05"));
    let r1 = r1(&gdb.ask("g"));
    assert_eq!(gdb.ask("z0,2001c,4"), "OK");
    assert_eq!(gdb.ask("D"), "OK");
    let out = child.wait_with_output().unwrap();
    // 16 rounds of the patched AGHI add 16 × 256 (the old one, 16).
    let expected = (r1 + 16 * 256) & 0xff;
    assert_eq!(out.status.code(), Some(expected as i32), "{}", stderr(&out));
}

/// gdb's `kill` (the `k` packet, which has no reply) ends the run with status 0, as
/// QEMU's gdb stub exits, whatever the guest was doing.
#[test]
fn gdb_kill_ends_the_run_with_status_0() {
    let file = write("gdbkill.elf", &program(&[0xa7, 0xf4, 0x00, 0x00], &[0]));
    let mut child = zmmu_waiting_for_gdb(&["--max-insns", "3000000"], &file);
    let mut gdb = Gdb::attach(&mut child);
    assert!(gdb.ask("qSupported:swbreak+").contains("PacketSize="));
    gdb.send_raw(b"$k#6b");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("ended by gdb"), "{}", stderr(&out));
}

#[test]
fn a_disabled_wait_ends_the_run_when_the_other_cpus_are_stopped() {
    // CPU 1 and 2 stay stopped (nothing starts them): CPU 0's disabled
    // wait leaves no CPU running, as QEMU ends the run then.
    let file = write("smp-wait.elf", &wait_program(0x2a));
    let jit = cfg!(target_arch = "x86_64").then_some("jit");
    let kvm = kvm_usable().then_some("kvm");
    for engine in ["interp"].into_iter().chain(jit).chain(kvm) {
        let smp = ["--smp", "3", "--core-ids", "2,0,7", "--maxcpus", "8"];
        let out = zmmu(&[&["--engine", engine][..], &smp].concat(), &file);
        assert_eq!(out.status.code(), Some(0x2a), "{engine}: {}", stderr(&out));
    }
}

/// Whether process `pid` has a handler for `signal` (its `SigCgt` mask in
/// /proc): a signal sent before then would end it by default.
fn catches(pid: u32, signal: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

#[test]
fn with_stats_sigusr1_prints_the_counters_so_far_and_sigterm_prints_them_and_ends_the_run() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    // J * at 0x20000: the guest loops until the (unreachable) limit.
    let file = write("statsloop.elf", &program(&[0xa7, 0xf4, 0x00, 0x00], &[0]));
    let mut engines = vec![("interp", None), ("jit", Some("stats: native "))];
    if kvm_usable() {
        engines.push(("kvm", Some("stats: kvm:")));
    }
    for (engine, engine_line) in engines {
        let mut child = Command::new(ZMMU)
            .args(["run", "--stats", "--engine", engine])
            .args(["--max-insns", "1000000000000000000"])
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("zmmu runs");
        let pid = child.id();
        while !catches(pid, libc::SIGUSR1) {
            assert!(child.try_wait().unwrap().is_none(), "{engine}: ended early");
            std::thread::yield_now();
        }
        let mut lines = BufReader::new(child.stderr.take().unwrap())
            .lines()
            .map_while(Result::ok);
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
        let first = lines.next().unwrap_or_default();
        assert!(
            first.starts_with("stats: instructions "),
            "{engine}: {first}"
        );
        if let Some(prefix) = engine_line {
            let next = lines.next().unwrap_or_default();
            assert!(next.starts_with(prefix), "{engine}: {next}");
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{engine}: SIGUSR1 ended the run"
        );
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        let rest: Vec<String> = lines.collect();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{engine}: {rest:?}");
        assert!(
            rest.iter().any(|l| l.starts_with("stats: instructions ")),
            "{engine}: {rest:?}"
        );
    }
}
