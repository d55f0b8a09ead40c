//! The DAT conformance vector format (version 1, `spec/dat-vectors.md`) as
//! Rust types, with a strict reader and a writer.
//!
//! A vector file is JSON Lines: one [`Scenario`] per line. Reading never
//! panics on malformed input; every error names the file, the line and the
//! field (`vectors/x.jsonl:17: field probes[3].addr: not a 0x-prefixed
//! lowercase hex string`). Writing produces lowercase `0x` hex strings and
//! keeps the field order of the specification.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Map, Value};

/// An installed facility that a scenario's outcome depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Facility {
    /// Enhanced DAT facility 1 (facility 8): 1 MiB segment frames.
    Edat1,
    /// Enhanced DAT facility 2 (facility 78): 2 GiB region-third frames.
    Edat2,
    /// Instruction-execution protection (facility 130).
    Iep,
    /// Enhanced suppression on protection 1.
    Esop1,
    /// Enhanced suppression on protection 2 (facility 131).
    Esop2,
    /// Low-address protection.
    Lap,
}

impl Facility {
    /// Every facility, in the order of the specification.
    pub const ALL: [Facility; 6] = [
        Facility::Edat1,
        Facility::Edat2,
        Facility::Iep,
        Facility::Esop1,
        Facility::Esop2,
        Facility::Lap,
    ];

    /// The name used in vector files.
    pub fn name(self) -> &'static str {
        match self {
            Facility::Edat1 => "edat1",
            Facility::Edat2 => "edat2",
            Facility::Iep => "iep",
            Facility::Esop1 => "esop1",
            Facility::Esop2 => "esop2",
            Facility::Lap => "lap",
        }
    }

    /// The facility with this file name, if any.
    pub fn from_name(name: &str) -> Option<Facility> {
        Facility::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The address space a probe is translated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeSpace {
    /// DAT on, PSW address-space control primary (CR1).
    Primary,
    /// DAT on, secondary-space mode (CR7; instruction fetch uses CR1).
    Secondary,
    /// DAT on, home-space mode (CR13).
    Home,
    /// DAT off: the address is a real address.
    Real,
}

impl ProbeSpace {
    /// Every space, in the order of the specification.
    pub const ALL: [ProbeSpace; 4] = [
        ProbeSpace::Primary,
        ProbeSpace::Secondary,
        ProbeSpace::Home,
        ProbeSpace::Real,
    ];

    /// The name used in vector files.
    pub fn name(self) -> &'static str {
        match self {
            ProbeSpace::Primary => "primary",
            ProbeSpace::Secondary => "secondary",
            ProbeSpace::Home => "home",
            ProbeSpace::Real => "real",
        }
    }

    /// The space with this file name, if any.
    pub fn from_name(name: &str) -> Option<ProbeSpace> {
        ProbeSpace::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The kind of one-byte access a probe makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    /// Instruction fetch.
    InstructionFetch,
    /// Operand fetch.
    Read,
    /// Operand store.
    Write,
}

impl ProbeKind {
    /// Every access kind, in the order of the specification.
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::InstructionFetch,
        ProbeKind::Read,
        ProbeKind::Write,
    ];

    /// The name used in vector files.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::InstructionFetch => "fetch",
            ProbeKind::Read => "read",
            ProbeKind::Write => "write",
        }
    }

    /// The access kind with this file name, if any.
    pub fn from_name(name: &str) -> Option<ProbeKind> {
        ProbeKind::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The addressing mode of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Amode {
    /// 24-bit addressing.
    Bits24,
    /// 31-bit addressing.
    Bits31,
    /// 64-bit addressing.
    Bits64,
}

impl Amode {
    /// Every addressing mode.
    pub const ALL: [Amode; 3] = [Amode::Bits24, Amode::Bits31, Amode::Bits64];

    /// The number written in vector files (24, 31 or 64).
    pub fn bits(self) -> u64 {
        match self {
            Amode::Bits24 => 24,
            Amode::Bits31 => 31,
            Amode::Bits64 => 64,
        }
    }

    /// The addressing mode for 24, 31 or 64.
    pub fn from_bits(bits: u64) -> Option<Amode> {
        Amode::ALL.into_iter().find(|a| a.bits() == bits)
    }

    /// The largest effective address in this mode.
    pub fn max_addr(self) -> u64 {
        match self {
            Amode::Bits24 => 0xff_ffff,
            Amode::Bits31 => 0x7fff_ffff,
            Amode::Bits64 => u64::MAX,
        }
    }
}

/// The outcome of a probe as the reference machine produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expect {
    /// The access succeeded.
    Success {
        /// Real address of the byte.
        real: u64,
        /// Absolute address of the byte.
        abs: u64,
    },
    /// The access was suppressed or nullified by a program interruption.
    Exception {
        /// Program-interruption code.
        pic: u64,
        /// Translation-exception identification, where the architecture
        /// defines one (absent for 0x05 and 0x12).
        teid: Option<u64>,
    },
}

/// The result of LOAD REAL ADDRESS (64-bit form) for a probe's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lra {
    /// Condition code, 0..3.
    pub cc: u64,
    /// Contents of R1 after the instruction.
    pub r1: u64,
}

/// One access made in a scenario, with its recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Probe {
    /// Logical (effective) address, already wrapped for `amode`.
    pub addr: u64,
    /// Address space, or real for DAT off.
    pub space: ProbeSpace,
    /// Addressing mode.
    pub amode: Amode,
    /// Access kind.
    pub access: ProbeKind,
    /// PSW key, 0..15.
    pub key: u64,
    /// The outcome.
    pub expect: Expect,
    /// LOAD REAL ADDRESS result, from references that implement it
    /// architecturally.
    pub lra: Option<Lra>,
    /// Storage key (ISKE bits 56-63) of the accessed frame after the probe.
    pub key_after: Option<u64>,
}

/// A complete machine state for translation plus the probes made in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// Name, unique within the file.
    pub name: String,
    /// Installed facilities the outcome depends on, in file order.
    pub facilities: Vec<Facility>,
    /// Size of absolute storage in bytes.
    pub storage_size: u64,
    /// Prefix register (8 KiB aligned).
    pub prefix: u64,
    /// Control register 0.
    pub cr0: u64,
    /// Primary ASCE.
    pub cr1: u64,
    /// Secondary ASCE.
    pub cr7: u64,
    /// Home ASCE.
    pub cr13: u64,
    /// Absolute address and bytes stored there; all other storage is zero.
    pub mem: Vec<(u64, Vec<u8>)>,
    /// Absolute address of a 4 KiB frame and its storage key (ISKE layout);
    /// unlisted frames have key 0.
    pub keys: Vec<(u64, u64)>,
    /// Probes, performed in order.
    pub probes: Vec<Probe>,
}

/// Where a vector-file error was found and what it is.
#[derive(Debug)]
pub struct VectorError {
    /// The file (or other source) name.
    pub source: String,
    /// One-based line number; 0 when the error concerns the whole file.
    pub line: usize,
    /// The field path (`probes[3].addr`), when the error is in one field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if self.line != 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for VectorError {}

/// An error inside one line, before the file and line are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The field path, when the error is in one field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl LineError {
    pub(crate) fn field(path: &str, message: impl Into<String>) -> LineError {
        LineError {
            field: Some(path.to_string()),
            message: message.into(),
        }
    }

    pub(crate) fn at(self, source: &str, line: usize) -> VectorError {
        VectorError {
            source: source.to_string(),
            line,
            field: self.field,
            message: self.message,
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field {field}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for LineError {}

/// Reads every scenario of a vector file.
pub fn read_file(path: &Path) -> Result<Vec<Scenario>, VectorError> {
    let source = path.display().to_string();
    parse_str(&source, &read_text(path)?)
}

/// The text of a vector file; an error names the file.
pub(crate) fn read_text(path: &Path) -> Result<String, VectorError> {
    std::fs::read_to_string(path).map_err(|e| VectorError {
        source: path.display().to_string(),
        line: 0,
        field: None,
        message: e.to_string(),
    })
}

/// Parses the text of a vector file; `source` names it in errors.
pub fn parse_str(source: &str, text: &str) -> Result<Vec<Scenario>, VectorError> {
    parse_lines(source, text, parse_line, |s| &s.name)
}

/// Parses every line with `parse`; scenario names (`name`) must be unique.
pub(crate) fn parse_lines<T>(
    source: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<T, LineError>,
    name: impl Fn(&T) -> &str,
) -> Result<Vec<T>, VectorError> {
    let mut scenarios: Vec<T> = Vec::new();
    let mut names = std::collections::HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let scenario = parse(line).map_err(|e| e.at(source, line_no))?;
        if let Some(first) = names.insert(name(&scenario).to_string(), line_no) {
            return Err(LineError::field(
                "name",
                format!("duplicate scenario name (first on line {first})"),
            )
            .at(source, line_no));
        }
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

/// Parses one line of a vector file into a scenario.
pub fn parse_line(line: &str) -> Result<Scenario, LineError> {
    parse_value(&json_line(line)?)
}

/// One line of a vector file as JSON (any version).
pub(crate) fn json_line(line: &str) -> Result<Value, LineError> {
    if line.trim().is_empty() {
        return Err(LineError {
            field: None,
            message: "empty line".to_string(),
        });
    }
    serde_json::from_str(line).map_err(|e| LineError {
        field: None,
        message: format!("not valid JSON: {e}"),
    })
}

/// A version-1 scenario from a line's JSON value.
pub(crate) fn parse_value(value: &Value) -> Result<Scenario, LineError> {
    let obj = Obj::new(value, "")?;
    obj.only(&[
        "name",
        "facilities",
        "storage_size",
        "prefix",
        "cr0",
        "cr1",
        "cr7",
        "cr13",
        "mem",
        "keys",
        "probes",
    ])?;
    let name = obj.string("name")?;
    if name.is_empty() {
        return Err(LineError::field("name", "empty name"));
    }
    let facilities = match obj.optional("facilities") {
        None => Vec::new(),
        Some(v) => parse_facilities(v)?,
    };
    let prefix = obj.hex("prefix")?;
    if prefix & 0x1fff != 0 {
        return Err(LineError::field("prefix", "not 8 KiB aligned"));
    }
    Ok(Scenario {
        name: name.to_string(),
        facilities,
        storage_size: obj.hex("storage_size")?,
        prefix,
        cr0: obj.hex("cr0")?,
        cr1: obj.hex("cr1")?,
        cr7: obj.hex("cr7")?,
        cr13: obj.hex("cr13")?,
        mem: parse_mem(obj.required("mem")?)?,
        keys: parse_keys(obj.required("keys")?)?,
        probes: parse_probes(obj.required("probes")?)?,
    })
}

pub(crate) fn parse_facilities(value: &Value) -> Result<Vec<Facility>, LineError> {
    let items = array(value, "facilities")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("facilities[{i}]");
        let name = item
            .as_str()
            .ok_or_else(|| LineError::field(&path, "not a string"))?;
        let facility = Facility::from_name(name)
            .ok_or_else(|| LineError::field(&path, format!("unknown facility {name:?}")))?;
        if out.contains(&facility) {
            return Err(LineError::field(
                &path,
                format!("duplicate facility {name:?}"),
            ));
        }
        out.push(facility);
    }
    Ok(out)
}

pub(crate) fn parse_mem(value: &Value) -> Result<Vec<(u64, Vec<u8>)>, LineError> {
    let items = array(value, "mem")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let [addr, bytes] = pair(item, &format!("mem[{i}]"))?;
        let addr_path = format!("mem[{i}][0]");
        let bytes_path = format!("mem[{i}][1]");
        let addr = hex_value(addr, &addr_path)?;
        let bytes = hex_bytes(bytes, &bytes_path)?;
        if addr.checked_add(bytes.len() as u64 - 1).is_none() {
            return Err(LineError::field(&bytes_path, "extends beyond 2^64"));
        }
        out.push((addr, bytes));
    }
    Ok(out)
}

pub(crate) fn parse_keys(value: &Value) -> Result<Vec<(u64, u64)>, LineError> {
    let items = array(value, "keys")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let [addr, key] = pair(item, &format!("keys[{i}]"))?;
        let addr = hex_value(addr, &format!("keys[{i}][0]"))?;
        let key = storage_key(key, &format!("keys[{i}][1]"))?;
        out.push((addr, key));
    }
    Ok(out)
}

fn parse_probes(value: &Value) -> Result<Vec<Probe>, LineError> {
    let items = array(value, "probes")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(parse_probe(item, &format!("probes[{i}]"))?);
    }
    Ok(out)
}

fn parse_probe(value: &Value, path: &str) -> Result<Probe, LineError> {
    let obj = Obj::new(value, path)?;
    obj.only(&[
        "addr",
        "space",
        "amode",
        "access",
        "key",
        "expect",
        "lra",
        "key_after",
    ])?;
    let space_name = obj.string("space")?;
    let space = ProbeSpace::from_name(space_name).ok_or_else(|| {
        LineError::field(
            &obj.path("space"),
            format!("unknown space {space_name:?} (primary, secondary, home, real)"),
        )
    })?;
    let access_name = obj.string("access")?;
    let access = ProbeKind::from_name(access_name).ok_or_else(|| {
        LineError::field(
            &obj.path("access"),
            format!("unknown access {access_name:?} (fetch, read, write)"),
        )
    })?;
    let amode_bits = obj.integer("amode")?;
    let amode = Amode::from_bits(amode_bits)
        .ok_or_else(|| LineError::field(&obj.path("amode"), "not 24, 31 or 64"))?;
    let addr = obj.hex("addr")?;
    if addr > amode.max_addr() {
        return Err(LineError::field(
            &obj.path("addr"),
            format!("not wrapped for {}-bit addressing", amode.bits()),
        ));
    }
    let key = obj.integer("key")?;
    if key > 15 {
        return Err(LineError::field(&obj.path("key"), "PSW key above 15"));
    }
    let expect = parse_expect(obj.required("expect")?, &obj.path("expect"))?;
    let lra = match obj.optional("lra") {
        None => None,
        Some(v) => Some(parse_lra(v, &obj.path("lra"))?),
    };
    let key_after = match obj.optional("key_after") {
        None => None,
        Some(v) => Some(storage_key(v, &obj.path("key_after"))?),
    };
    Ok(Probe {
        addr,
        space,
        amode,
        access,
        key,
        expect,
        lra,
        key_after,
    })
}

pub(crate) fn parse_expect(value: &Value, path: &str) -> Result<Expect, LineError> {
    let obj = Obj::new(value, path)?;
    if obj.optional("pic").is_some() {
        obj.only(&["pic", "teid"])?;
        let pic = obj.hex("pic")?;
        if pic == 0 || pic > 0xffff {
            return Err(LineError::field(
                &obj.path("pic"),
                "not a program-interruption code (1..0xffff)",
            ));
        }
        let teid = match obj.optional("teid") {
            None => None,
            Some(v) => Some(hex_value(v, &obj.path("teid"))?),
        };
        Ok(Expect::Exception { pic, teid })
    } else if obj.optional("real").is_some() || obj.optional("abs").is_some() {
        obj.only(&["real", "abs"])?;
        Ok(Expect::Success {
            real: obj.hex("real")?,
            abs: obj.hex("abs")?,
        })
    } else {
        Err(LineError::field(
            path,
            "neither {\"real\", \"abs\"} nor {\"pic\", \"teid\"}",
        ))
    }
}

pub(crate) fn parse_lra(value: &Value, path: &str) -> Result<Lra, LineError> {
    let obj = Obj::new(value, path)?;
    obj.only(&["cc", "r1"])?;
    let cc = obj.integer("cc")?;
    if cc > 3 {
        return Err(LineError::field(&obj.path("cc"), "condition code above 3"));
    }
    Ok(Lra {
        cc,
        r1: obj.hex("r1")?,
    })
}

/// A JSON object being read, with the path of the object for errors.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(value: &'a Value, path: &'a str) -> Result<Obj<'a>, LineError> {
        match value.as_object() {
            Some(map) => Ok(Obj { map, path }),
            None if path.is_empty() => Err(LineError {
                field: None,
                message: "not a JSON object".to_string(),
            }),
            None => Err(LineError::field(path, "not a JSON object")),
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), LineError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(LineError::field(&self.path(k), "unknown field")),
            None => Ok(()),
        }
    }

    pub(crate) fn optional(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub(crate) fn required(&self, key: &str) -> Result<&'a Value, LineError> {
        self.map
            .get(key)
            .ok_or_else(|| LineError::field(&self.path(key), "missing"))
    }

    pub(crate) fn string(&self, key: &str) -> Result<&'a str, LineError> {
        self.required(key)?
            .as_str()
            .ok_or_else(|| LineError::field(&self.path(key), "not a string"))
    }

    pub(crate) fn hex(&self, key: &str) -> Result<u64, LineError> {
        hex_value(self.required(key)?, &self.path(key))
    }

    pub(crate) fn integer(&self, key: &str) -> Result<u64, LineError> {
        self.required(key)?
            .as_u64()
            .ok_or_else(|| LineError::field(&self.path(key), "not a non-negative integer"))
    }
}

pub(crate) fn array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, LineError> {
    value
        .as_array()
        .ok_or_else(|| LineError::field(path, "not an array"))
}

pub(crate) fn pair<'a>(value: &'a Value, path: &str) -> Result<[&'a Value; 2], LineError> {
    match value.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok([a, b]),
        _ => Err(LineError::field(path, "not a two-element array")),
    }
}

pub(crate) fn storage_key(value: &Value, path: &str) -> Result<u64, LineError> {
    let key = value
        .as_u64()
        .ok_or_else(|| LineError::field(path, "not a non-negative integer"))?;
    if key > 0xfe || key & 1 != 0 {
        return Err(LineError::field(
            path,
            "not a storage key (ACC<<4 | F<<3 | R<<2 | C<<1)",
        ));
    }
    Ok(key)
}

/// The digits of a `0x`-prefixed lowercase hex string, if it is one.
fn hex_digits<'a>(value: &'a Value, path: &str) -> Result<&'a str, LineError> {
    const WHAT: &str = "not a 0x-prefixed lowercase hex string";
    let digits = value
        .as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .ok_or_else(|| LineError::field(path, WHAT))?;
    if digits.is_empty()
        || !digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(LineError::field(path, WHAT));
    }
    Ok(digits)
}

pub(crate) fn hex_value(value: &Value, path: &str) -> Result<u64, LineError> {
    let digits = hex_digits(value, path)?;
    let significant = digits.trim_start_matches('0');
    if significant.len() > 16 {
        return Err(LineError::field(path, "hex value does not fit in 64 bits"));
    }
    if significant.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(significant, 16)
        .map_err(|_| LineError::field(path, "hex value does not fit in 64 bits"))
}

pub(crate) fn hex_bytes(value: &Value, path: &str) -> Result<Vec<u8>, LineError> {
    let digits = hex_digits(value, path)?.as_bytes();
    if digits.len() % 2 != 0 {
        return Err(LineError::field(
            path,
            "odd number of hex digits in a byte string",
        ));
    }
    Ok(digits
        .chunks_exact(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect())
}

/// The value of one lowercase hex digit already checked by [`hex_digits`].
fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

/// Formats a scenario as one line of a vector file (without the newline).
pub fn format_scenario(s: &Scenario) -> String {
    let head = format_state(
        &s.name,
        &s.facilities,
        [s.storage_size, s.prefix, s.cr0, s.cr1, s.cr7, s.cr13],
        &s.mem,
        &s.keys,
    );
    let probes: Vec<String> = s.probes.iter().map(format_probe).collect();
    format!("{{{head},\"probes\":[{}]}}", probes.join(","))
}

/// The machine-state fields every version shares, in the order of the
/// specification, without braces: name, facilities, storage size, prefix,
/// CR0, CR1, CR7, CR13 (`regs`), mem and keys.
pub(crate) fn format_state(
    name: &str,
    facilities: &[Facility],
    regs: [u64; 6],
    mem: &[(u64, Vec<u8>)],
    keys: &[(u64, u64)],
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(&format!("\"name\":{}", Value::String(name.to_string())));
    if !facilities.is_empty() {
        let names: Vec<String> = facilities
            .iter()
            .map(|f| format!("\"{}\"", f.name()))
            .collect();
        out.push_str(&format!(",\"facilities\":[{}]", names.join(",")));
    }
    let [size, prefix, cr0, cr1, cr7, cr13] = regs;
    out.push_str(&format!(
        ",\"storage_size\":\"{size:#x}\",\"prefix\":\"{prefix:#x}\",\"cr0\":\"{cr0:#x}\",\"cr1\":\"{cr1:#x}\",\"cr7\":\"{cr7:#x}\",\"cr13\":\"{cr13:#x}\""
    ));
    let mem: Vec<String> = mem
        .iter()
        .map(|(addr, bytes)| {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("[\"{addr:#x}\",\"0x{hex}\"]")
        })
        .collect();
    out.push_str(&format!(",\"mem\":[{}]", mem.join(",")));
    let keys: Vec<String> = keys
        .iter()
        .map(|(addr, key)| format!("[\"{addr:#x}\",{key}]"))
        .collect();
    out.push_str(&format!(",\"keys\":[{}]", keys.join(",")));
    out
}

pub(crate) fn format_probe(p: &Probe) -> String {
    let expect = match p.expect {
        Expect::Success { real, abs } => format!("{{\"real\":\"{real:#x}\",\"abs\":\"{abs:#x}\"}}"),
        Expect::Exception { pic, teid: None } => format!("{{\"pic\":\"{pic:#x}\"}}"),
        Expect::Exception {
            pic,
            teid: Some(teid),
        } => format!("{{\"pic\":\"{pic:#x}\",\"teid\":\"{teid:#x}\"}}"),
    };
    let mut out = format!(
        "{{\"addr\":\"{:#x}\",\"space\":\"{}\",\"amode\":{},\"access\":\"{}\",\"key\":{},\"expect\":{}",
        p.addr,
        p.space.name(),
        p.amode.bits(),
        p.access.name(),
        p.key,
        expect
    );
    if let Some(lra) = p.lra {
        out.push_str(&format!(
            ",\"lra\":{{\"cc\":{},\"r1\":\"{:#x}\"}}",
            lra.cc, lra.r1
        ));
    }
    if let Some(key) = p.key_after {
        out.push_str(&format!(",\"key_after\":{key}"));
    }
    out.push('}');
    out
}

/// Writes a scenario as one line (with its newline) of a vector file.
pub fn write_scenario(w: &mut impl Write, s: &Scenario) -> io::Result<()> {
    writeln!(w, "{}", format_scenario(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Scenario {
        Scenario {
            name: "s\"1".to_string(),
            facilities: vec![Facility::Edat1, Facility::Lap],
            storage_size: 0x100_0000,
            prefix: 0x2000,
            cr0: 0xe0,
            cr1: 0x40_0007,
            cr7: 0,
            cr13: 0x20,
            mem: vec![(0x40_0000, vec![0x00, 0xab, 0xff])],
            keys: vec![(0x40_0000, 0x16)],
            probes: vec![
                Probe {
                    addr: 0x1234,
                    space: ProbeSpace::Primary,
                    amode: Amode::Bits64,
                    access: ProbeKind::Write,
                    key: 1,
                    expect: Expect::Success {
                        real: 0x50_1234,
                        abs: 0x50_1234,
                    },
                    lra: Some(Lra {
                        cc: 0,
                        r1: 0x50_1234,
                    }),
                    key_after: Some(0x16),
                },
                Probe {
                    addr: 0xff_ffff,
                    space: ProbeSpace::Home,
                    amode: Amode::Bits24,
                    access: ProbeKind::InstructionFetch,
                    key: 0,
                    expect: Expect::Exception {
                        pic: 0x11,
                        teid: Some(0xff_f803),
                    },
                    lra: None,
                    key_after: None,
                },
                Probe {
                    addr: 0,
                    space: ProbeSpace::Real,
                    amode: Amode::Bits31,
                    access: ProbeKind::Read,
                    key: 15,
                    expect: Expect::Exception {
                        pic: 0x5,
                        teid: None,
                    },
                    lra: None,
                    key_after: None,
                },
            ],
        }
    }

    fn line_with(from: &str, to: &str) -> String {
        let line = format_scenario(&sample());
        assert!(line.contains(from), "{from} not in {line}");
        line.replacen(from, to, 1)
    }

    fn error_of(line: &str) -> String {
        parse_str(
            "v.jsonl",
            &format!("{}\n{line}\n", format_scenario(&sample())).replacen("s\\\"1", "first", 1),
        )
        .expect_err("must fail")
        .to_string()
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let line = format_scenario(&s);
        assert_eq!(parse_line(&line), Ok(s));
    }

    #[test]
    fn writes_lowercase_hex_in_spec_order() {
        let line = format_scenario(&sample());
        assert!(line.starts_with("{\"name\":\"s\\\"1\",\"facilities\":[\"edat1\",\"lap\"],\"storage_size\":\"0x1000000\""));
        assert!(line.contains("\"mem\":[[\"0x400000\",\"0x00abff\"]]"));
        assert!(line.contains("\"expect\":{\"pic\":\"0x5\"}"));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn file_reader_reports_file_line_and_field() {
        let bad = line_with("\"addr\":\"0x1234\"", "\"addr\":\"0x1234Z\"");
        assert_eq!(
            error_of(&bad),
            "v.jsonl:2: field probes[0].addr: not a 0x-prefixed lowercase hex string"
        );
    }

    #[test]
    fn rejects_malformed_hex() {
        for bad in [
            "\"0X10\"",
            "\"10\"",
            "\"0x\"",
            "\"0xAB\"",
            "16",
            "\"0x10000000000000000\"",
        ] {
            let line = line_with("\"prefix\":\"0x2000\"", &format!("\"prefix\":{bad}"));
            let err = parse_line(&line).expect_err(bad);
            assert_eq!(err.field.as_deref(), Some("prefix"), "{bad}");
        }
        let ok = line_with(
            "\"prefix\":\"0x2000\"",
            "\"prefix\":\"0x0000000000000000002000\"",
        );
        assert_eq!(parse_line(&ok).map(|s| s.prefix), Ok(0x2000));
    }

    #[test]
    fn rejects_bad_fields() {
        let cases = [
            (
                line_with("\"space\":\"home\"", "\"space\":\"ar\""),
                "probes[1].space",
            ),
            (line_with("\"amode\":24", "\"amode\":32"), "probes[1].amode"),
            (
                line_with("\"addr\":\"0xffffff\"", "\"addr\":\"0x1ffffff\""),
                "probes[1].addr",
            ),
            (line_with("\"key\":15", "\"key\":16"), "probes[2].key"),
            (
                line_with("\"key_after\":22", "\"key_after\":23"),
                "probes[0].key_after",
            ),
            (line_with("\"cc\":0", "\"cc\":4"), "probes[0].lra.cc"),
            (
                line_with("\"pic\":\"0x5\"", "\"pic\":\"0x0\""),
                "probes[2].expect.pic",
            ),
            (line_with("{\"pic\":\"0x5\"}", "{}"), "probes[2].expect"),
            (
                line_with("\"teid\":\"0xfff803\"", "\"abs\":\"0x1\""),
                "probes[1].expect.abs",
            ),
            (
                line_with("\"real\":\"0x501234\",", ""),
                "probes[0].expect.real",
            ),
            (line_with("\"lap\"", "\"edat3\""), "facilities[1]"),
            (line_with("\"lap\"", "\"edat1\""), "facilities[1]"),
            (line_with("\"0x00abff\"", "\"0x0abff\""), "mem[0][1]"),
            (line_with("[\"0x400000\",22]", "[\"0x400000\"]"), "keys[0]"),
            (
                line_with("\"prefix\":\"0x2000\"", "\"prefix\":\"0x1000\""),
                "prefix",
            ),
            (line_with("\"cr7\":\"0x0\",", ""), "cr7"),
            (line_with("\"cr7\"", "\"cr8\""), "cr8"),
            (line_with("\"probes\":[", "\"probes\":[1,"), "probes[0]"),
            (line_with("\"name\":\"s\\\"1\"", "\"name\":\"\""), "name"),
        ];
        for (line, field) in cases {
            let err = parse_line(&line).expect_err(field);
            assert_eq!(err.field.as_deref(), Some(field), "{err}");
        }
    }

    #[test]
    fn rejects_non_objects_and_bad_json() {
        for line in ["", "   ", "[1]", "{", "null", "{\"name\":\"x\"} trailing"] {
            assert!(parse_line(line).is_err(), "{line:?}");
        }
        let err = parse_str("f", "[1]\n")
            .expect_err("not an object")
            .to_string();
        assert_eq!(err, "f:1: not a JSON object");
    }

    #[test]
    fn rejects_duplicate_names_and_empty_lines() {
        let line = format_scenario(&sample());
        let err = parse_str("f", &format!("{line}\n{line}\n")).expect_err("dup");
        assert_eq!((err.line, err.field.as_deref()), (2, Some("name")));
        let err = parse_str("f", &format!("{line}\n\n")).expect_err("empty");
        assert_eq!(err.line, 2);
        assert_eq!(parse_str("f", "").map(|v| v.len()).ok(), Some(0));
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = read_file(Path::new("/nonexistent/x.jsonl")).expect_err("missing");
        assert!(
            err.to_string().starts_with("/nonexistent/x.jsonl: "),
            "{err}"
        );
    }
}
