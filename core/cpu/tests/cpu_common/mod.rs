//! Helpers shared by the `cpu_*` integration tests: locating the s390x cross
//! tools and running them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use zmmu_cpu::decode::insn_len;
use zmmu_cpu::opcode::{ext_kind, split_key, ExtKind};

/// True if `tool` can be run (`tool --version` succeeds).
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Print a visible skip line and return false if any tool is missing.
pub fn require(tools: &[&str]) -> bool {
    for t in tools {
        if !have(t) {
            println!("SKIP: {t} not installed");
            eprintln!("SKIP: {t} not installed");
            return false;
        }
    }
    true
}

/// A fresh scratch directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zmmu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Run a command, panicking with its stderr if it fails; return stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The C corpus used to check the decoder and the table's coverage.
pub fn corpus_dir() -> PathBuf {
    let beside_this_file = std::path::Path::new(file!())
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("cpu_corpus"));
    match beside_this_file {
        Some(p) if p.is_absolute() && p.is_dir() => p,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cpu_corpus"),
    }
}

/// The C files of the corpus (not the driver), sorted.
pub fn corpus_sources() -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    sources
}

/// `s390x-linux-gnu-gcc` set to compile freestanding code for `arch` at
/// `-O2`, without vector registers or builtins; the caller adds the rest.
pub fn cross_gcc(arch: &str) -> Command {
    let mut gcc = cross_gcc_vx(arch);
    gcc.arg("-mno-vx");
    gcc
}

/// As [`cross_gcc`], but with the vector registers (GCC's default from
/// `-march=z13` on).
pub fn cross_gcc_vx(arch: &str) -> Command {
    let mut gcc = Command::new("s390x-linux-gnu-gcc");
    gcc.args([
        "-O2",
        &format!("-march={arch}"),
        "-ffreestanding",
        "-fno-builtin",
    ]);
    gcc
}

/// Condition-code suffixes of the extended mnemonics (PoP appendix B).
pub const COND_SUFFIXES: &[&str] = &[
    "o", "h", "p", "nle", "l", "m", "nhe", "lh", "ne", "nz", "e", "z", "nlh", "he", "nl", "nm",
    "le", "nh", "np", "no",
];

/// Does the disassembler's mnemonic `dis` name the table instruction `name`
/// (lower case)? Accepts extended mnemonics: condition suffixes, the
/// relative-branch `j` forms and the zero-flag RISBG forms.
pub fn mnemonic_matches(name: &str, dis: &str) -> bool {
    if dis == name {
        return true;
    }
    let strip = |s: &str, prefix: &str, suffix: &str| -> bool {
        s.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .is_some_and(|c| c.is_empty() || COND_SUFFIXES.contains(&c))
    };
    let base_forms: &[(&str, &[(&str, &str)])] = &[
        ("brc", &[("j", ""), ("jnop", ""), ("brc", "")]),
        ("brcl", &[("jg", ""), ("jgnop", ""), ("brcl", "")]),
        ("bcr", &[("b", "r"), ("nopr", ""), ("bcr", "")]),
        ("bc", &[("b", ""), ("nop", ""), ("bc", "")]),
        ("bras", &[("jas", "")]),
        ("brasl", &[("jasl", "")]),
        ("brct", &[("jct", "")]),
        ("brctg", &[("jctg", "")]),
        ("brcth", &[("jcth", "")]),
        ("brxh", &[("jxh", "")]),
        ("brxle", &[("jxle", "")]),
        ("brxhg", &[("jxhg", "")]),
        ("brxlg", &[("jxleg", "")]),
        ("risbg", &[("risbgz", "")]),
        ("risbgn", &[("risbgnz", "")]),
        ("risbhg", &[("risbhgz", "")]),
        ("risblg", &[("risblgz", "")]),
        ("tmlh", &[("tmh", "")]),
        ("tmll", &[("tml", "")]),
        // The byte-reversed element forms with index 0 (VSTEBRG, VSTEBRF)
        // and the left-aligned word (VLLEBRZ 6, 3).
        ("vstebrg", &[("stdrv", "")]),
        ("vstebrf", &[("sterv", "")]),
        ("vllebrz", &[("lerv", ""), ("ldrv", "")]),
        // The conversions with M3 2 are the vector-enhancements facility
        // 2's 32-bit ones, with their own names.
        ("vclgd", &[("vclfp", "")]),
        ("vcdlg", &[("vcfpl", "")]),
        ("vcgd", &[("vcsfp", "")]),
        ("vcdg", &[("vcfps", "")]),
    ];
    for (base, forms) in base_forms {
        if *base == name {
            if forms.iter().any(|(p, s)| strip(dis, p, s)) {
                return true;
            }
            if dis.starts_with("nop") || dis == "j" || dis == "jg" {
                return true;
            }
        }
    }
    // Conditional forms: LOCR -> locrne, CIJ -> cijnh, CGIT -> cgite, ...
    if strip(dis, name, "") {
        return true;
    }
    vector_form_matches(name, dis) || float_form_matches(name, dis)
}

/// The extended mnemonics of vector floating-point instructions: the
/// format (sb, db, xb; s, d, b for the conversions and lengthenings), a
/// `w` for the single-element forms, an `s` for the cc-setting compares,
/// and the names of some controls: VFA -> vfadb, wfasb; VFCE -> vfcedbs,
/// vfkedb (signaling); VFPSO -> vflcdb, vflndb, vflpdb; VFLL -> vflls,
/// vldeb; VFLR -> vflrd, vledb; VCDG -> vcdgb.
fn float_form_matches(name: &str, dis: &str) -> bool {
    let stems: &[&str] = match name {
        "vfpso" => &["vfpso", "vflc", "vfln", "vflp"],
        "vfce" => &["vfce", "vfke"],
        "vfch" => &["vfch", "vfkh"],
        "vfche" => &["vfche", "vfkhe"],
        "vfll" => &["vfll", "vlde"],
        "vflr" => &["vflr", "vled"],
        n if n.starts_with("vf") || n.starts_with("wf") || n.starts_with("vc") => &[name],
        _ => return false,
    };
    stems.iter().any(|stem| {
        let single = format!("w{}", &stem[1..]);
        [*stem, single.as_str()].iter().any(|s| {
            dis.strip_prefix(s).is_some_and(|rest| {
                let rest = rest
                    .strip_suffix('s')
                    .filter(|r| !r.is_empty())
                    .unwrap_or(rest);
                ["sb", "db", "xb", "b", "s", "d"].contains(&rest)
            })
        })
    })
}

/// The extended mnemonics of vector instructions (the element size and
/// flags in the mnemonic): VA -> vab .. vaq, VML -> vmlhw, VFAE ->
/// vfaezbs, VSTRC -> vstrczfs, VLLEZ -> vllezlf, VGBM -> vzero / vone.
fn vector_form_matches(name: &str, dis: &str) -> bool {
    if name == "vgbm" && (dis == "vzero" || dis == "vone") {
        return true;
    }
    let Some(rest) = dis.strip_prefix(name).filter(|_| name.starts_with('v')) else {
        return false;
    };
    let rest = rest.strip_prefix('z').unwrap_or(rest);
    let rest = rest.strip_suffix('s').unwrap_or(rest);
    ["b", "h", "f", "g", "q", "hw", "lf"].contains(&rest)
}

pub mod elf;

/// Bytes of an instruction with the opcode of `key` (first byte `b0`), all
/// other fields filled from `fill`.
pub fn encode_key(key: u16, fill: &[u8; 6]) -> Vec<u8> {
    let (b0, ext) = split_key(key);
    let mut b = *fill;
    b[0] = b0;
    match ext_kind(b0) {
        ExtKind::None => {}
        ExtKind::Byte1 => b[1] = ext,
        ExtKind::Nibble => b[1] = (b[1] & 0xf0) | ext,
        ExtKind::Byte5 => b[5] = ext,
    }
    b[..insn_len(b0)].to_vec()
}
