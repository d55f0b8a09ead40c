//! The decoder against the opcode table's own invariants and against
//! `s390x-linux-gnu-objdump` on real compiler output.

mod cpu_common;

use cpu_common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use zmmu_cpu::decode::{decode, insn_len, Insn};
use zmmu_cpu::opcode::{key_of, Opcode, TABLE};

#[test]
fn opcode_keys_are_unique_and_match_their_extension_kind() {
    let mut keys = BTreeSet::new();
    for row in TABLE.iter() {
        assert!(keys.insert(row.key), "duplicate key {:#x}", row.key);
    }
    for row in TABLE.iter() {
        let bytes = encode_key(row.key, &[0; 6]);
        let key = key_of(
            bytes[0],
            bytes.get(1).copied().unwrap_or(0),
            bytes.get(5).copied().unwrap_or(0),
        );
        assert_eq!(key, row.key, "{:?} key does not round-trip", row.op);
        assert_eq!(decode(&bytes).unwrap().op, row.op);
    }
}

#[test]
fn instruction_length_comes_from_the_first_two_bits() {
    assert_eq!(insn_len(0x18), 2);
    assert_eq!(insn_len(0x58), 4);
    assert_eq!(insn_len(0xB9), 4);
    assert_eq!(insn_len(0xE3), 6);
}

#[test]
fn unknown_opcodes_decode_as_unknown_with_their_length() {
    let insn = decode(&[0x00, 0x00]).unwrap();
    assert_eq!(insn.op, Opcode::Unknown);
    assert_eq!(insn.len, 2);
    let insn = decode(&[0xE3, 0, 0, 0, 0, 0xFF]).unwrap();
    assert_eq!((insn.op, insn.len), (Opcode::Unknown, 6));
    assert!(decode(&[0xE3, 0, 0]).is_err());
}

#[test]
fn long_displacement_is_signed_twenty_bits() {
    // lg %r1,-8(%r2,%r15): DL = 0xff8, DH = 0xff
    let insn = decode(&[0xE3, 0x12, 0xFF, 0xF8, 0xFF, 0x04]).unwrap();
    assert_eq!(insn.op, Opcode::LG);
    assert_eq!((insn.f.r1, insn.f.x2, insn.f.b2, insn.f.d2), (1, 2, 15, -8));
}

/// Disassemble `obj` and return (bytes, mnemonic, operands) per
/// instruction.
fn objdump(args: &[&str], obj: &std::path::Path) -> Vec<Disassembled> {
    let out = run(Command::new("s390x-linux-gnu-objdump").args(args).arg(obj));
    let text = String::from_utf8_lossy(&out);
    let mut v = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 || !cols[0].trim_end().ends_with(':') {
            continue;
        }
        let bytes: Vec<u8> = cols[1]
            .split_whitespace()
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        let mut words = cols[2].split_whitespace();
        let mn = words.next().unwrap_or("").to_string();
        if bytes.is_empty() || mn.is_empty() || mn.starts_with('.') {
            continue;
        }
        let operands = cols.get(3).copied().or(words.next()).unwrap_or("");
        v.push((bytes, mn, operands.to_string()));
    }
    v
}

fn check_against_objdump(items: &[(Vec<u8>, String)]) -> Vec<String> {
    let mut errors = Vec::new();
    for (bytes, mn) in items {
        let insn: Insn = match decode(bytes) {
            Ok(i) => i,
            Err(e) => {
                errors.push(format!("{mn} {bytes:02x?}: {e:?}"));
                continue;
            }
        };
        let name = insn.op.mnemonic().to_ascii_lowercase();
        if usize::from(insn.len) != bytes.len() || !mnemonic_matches(&name, mn) {
            errors.push(format!(
                "{bytes:02x?}: objdump {mn}, decoded {name} len {}",
                insn.len
            ));
        }
    }
    errors
}

/// One disassembled instruction: its bytes, objdump's mnemonic and
/// operand text.
type Disassembled = (Vec<u8>, String, String);

/// Disassemble one instruction per table row, each in its own 8-byte slot
/// padded with `nopr`, and return what objdump says at each slot. Vector
/// instructions (`Opcode::is_vector`: first byte E7 or E6) get `vector_fill` instead of `fill`.
fn disassemble_table(
    fill: &[u8; 6],
    vector_fill: &[u8; 6],
    tag: &str,
) -> Vec<Option<Disassembled>> {
    let dir = scratch_dir(tag);
    let bin = dir.join("all.bin");
    let mut image = Vec::new();
    for row in TABLE.iter() {
        let vector = row.op.is_vector();
        let mut slot = encode_key(row.key, if vector { vector_fill } else { fill });
        while slot.len() < 8 {
            slot.extend([0x07, 0x00]);
        }
        image.extend(slot);
    }
    std::fs::write(&bin, &image).unwrap();
    let out = run(Command::new("s390x-linux-gnu-objdump")
        .args(["-D", "-b", "binary", "-m", "s390:64-bit"])
        .arg(&bin));
    let text = String::from_utf8_lossy(&out);
    let mut at: BTreeMap<usize, Disassembled> = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let Ok(addr) = usize::from_str_radix(cols[0].trim().trim_end_matches(':'), 16) else {
            continue;
        };
        let bytes = cols[1]
            .split_whitespace()
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        let mut words = cols[2].split_whitespace();
        let mn = words.next().unwrap_or("").to_string();
        let operands = cols
            .get(3)
            .copied()
            .or(words.next())
            .unwrap_or("")
            .to_string();
        at.insert(addr, (bytes, mn, operands));
    }
    (0..TABLE.len()).map(|i| at.remove(&(i * 8))).collect()
}

/// The vector registers objdump names in `operands` (`%v17` -> 17), in
/// order.
fn vector_operands(operands: &str) -> Vec<u8> {
    operands
        .split([',', '(', ')'])
        .filter_map(|o| o.trim().strip_prefix("%v")?.parse().ok())
        .collect()
}

/// The vector registers of a decoded instruction in operand order (the
/// order of the assembler syntax).
fn decoded_vector_operands(insn: &Insn) -> Vec<u8> {
    use zmmu_cpu::format::Format::*;
    let f = &insn.f;
    match insn.op.format() {
        Vrx | VriA | VriB | VrsB | VrrF => vec![f.v1],
        Vrv | VrrA | VriE => vec![f.v1, f.v2],
        VrsA | VriC => vec![f.v1, f.v3],
        VrsC => vec![f.v3],
        VrrB | VrrC | VriD => vec![f.v1, f.v2, f.v3],
        VrrD | VrrE => vec![f.v1, f.v2, f.v3, f.v4],
        _ => vec![],
    }
}

/// BFP instructions whose M3/M4 fields the floating-point-extension
/// facility (37) adds (objdump then shows them with an "A" suffix).
const FPE_FORMS: &[&str] = &[
    "LEDBR", "LDXBR", "LEXBR", "FIEBR", "FIDBR", "FIXBR", "CEFBR", "CDFBR", "CXFBR", "CEGBR",
    "CDGBR", "CXGBR", "CFEBR", "CFDBR", "CFXBR", "CGEBR", "CGDBR", "CGXBR",
];

#[test]
fn every_table_entry_disassembles_to_its_mnemonic_and_length() {
    if !require(&["s390x-linux-gnu-objdump"]) {
        return;
    }
    // Fields filled with a pattern first; objdump refuses some encodings with
    // nonzero reserved fields, so those are retried with zero fields. Vector
    // instructions get registers 1, 2, 3 and 0 with all four RXB bits set
    // (17, 18, 19, 16) and zero masks, and their vector operands are checked
    // too: that is the RXB extension and every field position.
    let fill = [0, 0x12, 0x34, 0x56, 0x70, 0];
    // Reserved vector fields must be zero for objdump: fewer registers
    // until it disassembles.
    let vector_fills = [
        [0, 0x12, 0x34, 0x00, 0x0F, 0],
        [0, 0x12, 0x30, 0x00, 0x0F, 0],
        [0, 0x12, 0x00, 0x00, 0x0F, 0],
        [0, 0x10, 0x00, 0x00, 0x0F, 0],
    ];
    let vector_tables: Vec<_> = vector_fills
        .iter()
        .enumerate()
        .map(|(k, v)| disassemble_table(&fill, v, &format!("decode-table-v{k}")))
        .collect();
    let patterned = &vector_tables[0];
    let zeroed = disassemble_table(&[0; 6], &[0; 6], "decode-table-z");
    let mut errors = Vec::new();
    let mut unknown_to_objdump = Vec::new();
    let mut vector_checked = 0;
    for (i, row) in TABLE.iter().enumerate() {
        let pick =
            |v: &Vec<Option<Disassembled>>| v[i].clone().filter(|(_, mn, _)| !mn.starts_with('.'));
        if row.op.is_vector() {
            match vector_tables.iter().find_map(pick) {
                Some((bytes, mn, operands)) => {
                    errors.extend(check_against_objdump(&[(bytes.clone(), mn.clone())]));
                    let insn = decode(&bytes).unwrap();
                    let (want, got) = (vector_operands(&operands), decoded_vector_operands(&insn));
                    if want != got {
                        errors.push(format!(
                            "{bytes:02x?}: objdump {mn} {operands}: vector registers {want:?}, decoded {got:?}"
                        ));
                    }
                    vector_checked += 1;
                }
                None => unknown_to_objdump.push(row.op.mnemonic()),
            }
            continue;
        }
        // With nonzero M3 or M4 objdump names these the floating-point-
        // extension facility's forms (LEDBRA, CEFBRA, ...), which zmmu does
        // not offer: they are checked with zero fields.
        let (first, second) = if FPE_FORMS.contains(&row.op.mnemonic()) {
            (&zeroed, patterned)
        } else {
            (patterned, &zeroed)
        };
        match pick(first).or_else(|| pick(second)) {
            Some((bytes, mn, _)) => errors.extend(check_against_objdump(&[(bytes, mn)])),
            None => unknown_to_objdump.push(row.op.mnemonic()),
        }
    }
    println!("not disassembled by objdump: {unknown_to_objdump:?}");
    println!("vector instructions with their operands checked: {vector_checked}");
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert!(unknown_to_objdump.len() <= 4, "{unknown_to_objdump:?}");
}

#[test]
fn decoder_agrees_with_objdump_on_gcc_output_and_knows_every_mnemonic() {
    if !require(&["s390x-linux-gnu-gcc", "s390x-linux-gnu-objdump"]) {
        return;
    }
    let dir = scratch_dir("decode-gcc");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (arch, vx) in [("z196", false), ("z13", false), ("z13", true)] {
        for src in corpus_sources() {
            let obj = dir.join(format!(
                "{}-{arch}{}.o",
                src.file_stem().unwrap().to_string_lossy(),
                if vx { "-vx" } else { "" }
            ));
            let mut gcc = if vx {
                cross_gcc_vx(arch)
            } else {
                cross_gcc(arch)
            };
            run(gcc.arg("-c").arg(&src).arg("-o").arg(&obj));
            let items: Vec<_> = objdump(&["-d"], &obj)
                .into_iter()
                .map(|(bytes, mn, _)| (bytes, mn))
                .collect();
            let errors = check_against_objdump(&items);
            assert!(
                errors.is_empty(),
                "{}:\n{}",
                obj.display(),
                errors.join("\n")
            );
            for (bytes, _) in &items {
                let op = decode(bytes).unwrap().op;
                *seen.entry(op.mnemonic().to_string()).or_default() += 1;
            }
        }
    }
    let names: BTreeSet<_> = seen.keys().cloned().collect();
    println!(
        "{} distinct instructions in the corpus: {:?}",
        names.len(),
        names
    );
    assert!(!names.contains("UNKNOWN"));
}

/// Operands as comparable tokens: registers as written, numbers by value
/// (objdump writes immediates in decimal where zmmu writes logical ones in
/// hexadecimal), a branch target's `<symbol+offset>` dropped.
fn operand_tokens(text: &str) -> Vec<String> {
    let text = text.split(['<', '#']).next().unwrap_or("");
    text.split([',', '(', ')'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let value = match t.strip_prefix("0x") {
                Some(hex) => i128::from_str_radix(hex, 16).ok(),
                None => t.parse::<i128>().ok(),
            };
            value.map_or_else(|| t.to_string(), |v| v.to_string())
        })
        .collect()
}

/// zmmu's disassembly of each (bytes, objdump's mnemonic, objdump's
/// operands, address) whose mnemonic objdump also uses (it writes
/// extended mnemonics, `j`, `jne`, ..., for some): how many were compared
/// and where the operands differ.
fn operand_differences(
    items: impl Iterator<Item = (Vec<u8>, String, String, u64)>,
) -> (usize, Vec<String>) {
    let (mut compared, mut errors) = (0, Vec::new());
    for (bytes, mn, operands, at) in items {
        let Ok(insn) = decode(&bytes) else {
            continue;
        };
        let ours = insn.disasm(at).to_string();
        let (name, text) = ours.split_once(' ').unwrap_or((&ours, ""));
        if name != mn {
            continue;
        }
        compared += 1;
        if operand_tokens(text) != operand_tokens(&operands) {
            errors.push(format!(
                "{bytes:02x?}: objdump `{mn} {operands}`, zmmu `{ours}`"
            ));
        }
    }
    (compared, errors)
}

fn assert_operands_agree(compared: usize, at_least: usize, mut errors: Vec<String>) {
    errors.sort();
    errors.dedup();
    println!("instructions compared: {compared}");
    assert!(compared >= at_least, "only {compared} compared");
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn disassembly_shows_the_operands_objdump_shows_on_gcc_output() {
    if !require(&["s390x-linux-gnu-gcc", "s390x-linux-gnu-objdump"]) {
        return;
    }
    let dir = scratch_dir("disasm-gcc");
    let mut compared = 0;
    let mut errors = Vec::new();
    for (arch, vx) in [("z196", false), ("z13", true)] {
        for src in corpus_sources() {
            let obj = dir.join(format!(
                "{}-{arch}.o",
                src.file_stem().unwrap().to_string_lossy()
            ));
            let mut gcc = if vx {
                cross_gcc_vx(arch)
            } else {
                cross_gcc(arch)
            };
            run(gcc.arg("-c").arg(&src).arg("-o").arg(&obj));
            let items = objdump(&["-d"], &obj)
                .into_iter()
                .filter_map(|(bytes, mn, ops)| {
                    // Relative operands depend on the address, unrelocated
                    // here (unit tests in zmmu_cpu::disasm check them).
                    use zmmu_cpu::format::Format::*;
                    let relative = matches!(
                        decode(&bytes).ok()?.op.format(),
                        RiB | RiC | RilB | RilC | RieB | RieC | RieE | Rsi
                    );
                    (!relative).then_some((bytes, mn, ops, 0))
                });
            let (n, differences) = operand_differences(items);
            compared += n;
            errors.extend(differences);
        }
    }
    assert_operands_agree(compared, 1000, errors);
}

#[test]
fn every_table_entry_shows_the_operands_objdump_shows() {
    if !require(&["s390x-linux-gnu-objdump"]) {
        return;
    }
    let tables = [
        disassemble_table(
            &[0, 0x12, 0x34, 0x56, 0x70, 0],
            &[0, 0x12, 0x34, 0x00, 0x0F, 0],
            "disasm-table-p",
        ),
        disassemble_table(&[0; 6], &[0; 6], "disasm-table-z"),
    ];
    let (mut compared, mut errors) = (0, Vec::new());
    for table in tables {
        let items = table.into_iter().enumerate().filter_map(|(i, slot)| {
            let (bytes, mn, operands) = slot?;
            Some((bytes, mn, operands, 8 * i as u64))
        });
        let (n, differences) = operand_differences(items);
        compared += n;
        errors.extend(differences);
    }
    assert_operands_agree(compared, 600, errors);
}

#[test]
fn a_block_ends_after_its_first_branch() {
    use zmmu_cpu::decode::decode_block;
    // lghi %r1,1 ; agr %r1,%r1 ; brc 8,+8 ; lhi %r2,0
    let code = [
        0xA7, 0x19, 0x00, 0x01, 0xB9, 0x08, 0x00, 0x11, 0xA7, 0x84, 0x00, 0x04, 0xA7, 0x28, 0x00,
        0x00,
    ];
    let block: Vec<(usize, Opcode)> = decode_block(&code).map(|(at, i)| (at, i.op)).collect();
    assert_eq!(
        block,
        [(0, Opcode::LGHI), (4, Opcode::AGR), (8, Opcode::BRC)]
    );
}

#[test]
fn a_block_stops_at_the_end_of_the_bytes() {
    use zmmu_cpu::decode::decode_block;
    // lghi %r1,1 followed by half an instruction
    let block: Vec<_> = decode_block(&[0xA7, 0x19, 0x00, 0x01, 0xE3]).collect();
    assert_eq!(block.len(), 1);
}
