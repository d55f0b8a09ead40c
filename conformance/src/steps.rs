//! The DAT conformance vector format, version 2 (`conformance/vectors/FORMAT-v2.md`):
//! a scenario is the initial machine state of version 1 plus a sequence of
//! *steps*, each an access or an operation (IPTE, IDTE, CSP/CSPG, PTLB,
//! SSKE, RRBE, SPX, a store into a DAT table, a control-register load, and
//! the instructions that query DAT: TPROT, LRA/LRAY/LRAG, STRAG, LPTEA)
//! with the outcome the reference machine produced.
//!
//! A version-1 scenario converts losslessly into a version-2 one
//! ([`from_v1`]), so the runner handles every file as version 2. The reader
//! is as strict as version 1's: every error names the file, line and field.

use std::path::Path;

use serde_json::Value;

use crate::vector::{
    self, array, hex_value, parse_facilities, parse_keys, parse_lra, parse_mem, storage_key, Amode,
    Expect, Facility, LineError, Lra, Obj, ProbeKind, ProbeSpace, VectorError,
};

/// The form of LOAD REAL ADDRESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LraForm {
    /// LRA (B1): 24/31-bit result unless in the 64-bit addressing mode.
    Lra,
    /// LRAY (E313): as LRA, long displacement.
    Lray,
    /// LRAG (E303): always the 64-bit result.
    Lrag,
}

impl LraForm {
    /// Every form.
    pub const ALL: [LraForm; 3] = [LraForm::Lra, LraForm::Lray, LraForm::Lrag];

    /// The name used in vector files.
    pub fn name(self) -> &'static str {
        match self {
            LraForm::Lra => "lra",
            LraForm::Lray => "lray",
            LraForm::Lrag => "lrag",
        }
    }

    /// Whether R1 receives 64 bits: LRAG, or any form in the 64-bit mode.
    pub fn wide(self, amode: Amode) -> bool {
        self == LraForm::Lrag || amode == Amode::Bits64
    }
}

/// The control registers a step may load.
pub const LOADABLE_CRS: [u8; 4] = [0, 1, 7, 13];

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// An access of `size` bytes (1, 2, 4, 8 or 16; 2 for an instruction
    /// fetch) at `addr`, with this PSW.
    Access {
        /// First byte's logical address, wrapped for `amode`.
        addr: u64,
        /// PSW address-space control (or real for DAT off).
        space: ProbeSpace,
        /// Addressing mode (the access wraps at its end).
        amode: Amode,
        /// Access kind.
        access: ProbeKind,
        /// PSW key.
        key: u64,
        /// Bytes accessed.
        size: u64,
    },
    /// TEST PROTECTION of `addr` with access key `key`.
    Tprot {
        /// Logical address.
        addr: u64,
        /// PSW space.
        space: ProbeSpace,
        /// Addressing mode.
        amode: Amode,
        /// Access key (operand 2 bits 56-59).
        key: u64,
    },
    /// LOAD REAL ADDRESS of `addr` (R1 all ones before).
    Lra {
        /// The instruction.
        form: LraForm,
        /// Logical address.
        addr: u64,
        /// PSW space.
        space: ProbeSpace,
        /// Addressing mode.
        amode: Amode,
    },
    /// STORE REAL ADDRESS of `addr` (the stored doubleword is `r1`).
    Strag {
        /// Logical address.
        addr: u64,
        /// PSW space.
        space: ProbeSpace,
        /// Addressing mode.
        amode: Amode,
    },
    /// LOAD PAGE-TABLE-ENTRY ADDRESS of `addr` in the space M4 names
    /// (0 primary, 2 secondary, 3 home), 64-bit mode.
    Lptea {
        /// Logical address.
        addr: u64,
        /// The M4 field.
        m4: u64,
    },
    /// INVALIDATE PAGE TABLE ENTRY, DAT off.
    Ipte {
        /// Page-table origin (R1).
        pto: u64,
        /// Virtual address (R2), only its page index is used.
        va: u64,
        /// Additional entries (IPTE range: R3 bits 56-63), 0 for none.
        range: u64,
        /// M4 local-clearing bit.
        local: bool,
    },
    /// INVALIDATE DAT TABLE ENTRY, DAT off.
    Idte {
        /// Table designation (R1).
        r1: u64,
        /// Index, clearing-by-ASCE bit and count (R2).
        r2: u64,
        /// ASCE for clearing (R3).
        r3: u64,
        /// M4 local-clearing bit.
        local: bool,
    },
    /// COMPARE AND SWAP AND PURGE (`width` 4: CSP, 8: CSPG), DAT off.
    Csp {
        /// Operand length in bytes.
        width: u64,
        /// Real address of the operand.
        addr: u64,
        /// First operand (R1).
        compare: u64,
        /// Third operand (R1 + 1).
        replace: u64,
        /// R2 bit 63: purge the TLBs.
        purge: bool,
    },
    /// PURGE TLB.
    Ptlb,
    /// SET STORAGE KEY EXTENDED for the frame of real `addr`.
    Sske {
        /// Real address.
        addr: u64,
        /// The key byte (R1 bits 56-63).
        key: u64,
        /// The M3 field.
        m3: u64,
    },
    /// RESET REFERENCE BIT EXTENDED for the frame of real `addr`.
    Rrbe {
        /// Real address.
        addr: u64,
    },
    /// SET PREFIX with this operand word.
    Spx {
        /// The operand.
        prefix: u64,
    },
    /// A plain store (DAT off, key 0) of a doubleword at absolute `addr`:
    /// a change to a DAT table that no purge accompanies.
    Store {
        /// Absolute address (8-byte aligned).
        addr: u64,
        /// The doubleword.
        value: u64,
    },
    /// LOAD CONTROL (64-bit) of one control register.
    Lctlg {
        /// 0, 1, 7 or 13.
        cr: u8,
        /// The value.
        value: u64,
    },
}

impl Op {
    /// The name of the step in vector files.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Access { .. } => "access",
            Op::Tprot { .. } => "tprot",
            Op::Lra { .. } => "lra",
            Op::Strag { .. } => "strag",
            Op::Lptea { .. } => "lptea",
            Op::Ipte { .. } => "ipte",
            Op::Idte { .. } => "idte",
            Op::Csp { .. } => "csp",
            Op::Ptlb => "ptlb",
            Op::Sske { .. } => "sske",
            Op::Rrbe { .. } => "rrbe",
            Op::Spx { .. } => "spx",
            Op::Store { .. } => "store",
            Op::Lctlg { .. } => "lctlg",
        }
    }

    /// Whether the step is an access (as opposed to an operation).
    pub fn is_access(&self) -> bool {
        matches!(self, Op::Access { .. })
    }
}

/// The outcome of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An access succeeded.
    Access {
        /// Real address of the first byte.
        real: u64,
        /// Absolute address of the first byte.
        abs: u64,
        /// Real and absolute address of the last byte, for an access that
        /// crosses a page boundary (compared where recorded).
        last: Option<(u64, u64)>,
    },
    /// An operation completed.
    Done {
        /// Condition code, where the instruction sets one.
        cc: Option<u64>,
        /// The register (or stored doubleword) the instruction produced.
        r1: Option<u64>,
    },
    /// A program interruption.
    Exception {
        /// Program-interruption code.
        pic: u64,
        /// TEID, where defined.
        teid: Option<u64>,
        /// Whether the old PSW pointed at the instruction (nullification)
        /// rather than past it (suppression, termination or completion).
        nullified: Option<bool>,
    },
}

/// One step with its recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    /// What is done.
    pub op: Op,
    /// What the reference did.
    pub expect: Outcome,
    /// Other outcomes the architecture allows here, each also observed on
    /// the reference: a stale translation until a purge, as the same access
    /// before the unpurged table change and after the purge that ends it.
    pub alt: Vec<Outcome>,
    /// LRAG in the access's space after it (version-1 probes).
    pub lra: Option<Lra>,
    /// The storage key of the frame the access (or SSKE, RRBE) names,
    /// after the step.
    pub key_after: Option<u64>,
}

/// A scenario of format version 2.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// Name, unique within the file.
    pub name: String,
    /// Facilities the outcomes depend on.
    pub facilities: Vec<Facility>,
    /// Size of absolute storage.
    pub storage_size: u64,
    /// Initial prefix.
    pub prefix: u64,
    /// Initial CR0.
    pub cr0: u64,
    /// Initial primary ASCE.
    pub cr1: u64,
    /// Initial secondary ASCE.
    pub cr7: u64,
    /// Initial home ASCE.
    pub cr13: u64,
    /// Absolute storage contents.
    pub mem: Vec<(u64, Vec<u8>)>,
    /// Storage keys.
    pub keys: Vec<(u64, u64)>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The format version the scenario was read from (1 or 2).
    pub version: u8,
}

impl Scenario {
    /// The number of access steps (probes).
    pub fn probes(&self) -> usize {
        self.steps.iter().filter(|s| s.op.is_access()).count()
    }
}

impl From<Expect> for Outcome {
    fn from(e: Expect) -> Outcome {
        match e {
            Expect::Success { real, abs } => Outcome::Access {
                real,
                abs,
                last: None,
            },
            Expect::Exception { pic, teid } => Outcome::Exception {
                pic,
                teid,
                nullified: None,
            },
        }
    }
}

/// A version-1 scenario as version 2: each probe becomes a one-byte access
/// step (an instruction fetch stays one "byte", its first).
pub fn from_v1(s: vector::Scenario) -> Scenario {
    Scenario {
        name: s.name,
        facilities: s.facilities,
        storage_size: s.storage_size,
        prefix: s.prefix,
        cr0: s.cr0,
        cr1: s.cr1,
        cr7: s.cr7,
        cr13: s.cr13,
        mem: s.mem,
        keys: s.keys,
        steps: s
            .probes
            .into_iter()
            .map(|p| Step {
                op: Op::Access {
                    addr: p.addr,
                    space: p.space,
                    amode: p.amode,
                    access: p.access,
                    key: p.key,
                    size: 1,
                },
                expect: p.expect.into(),
                alt: Vec::new(),
                lra: p.lra,
                key_after: p.key_after,
            })
            .collect(),
        version: 1,
    }
}

/// Reads a vector file of either version (a file may mix lines of both).
pub fn read_file(path: &Path) -> Result<Vec<Scenario>, VectorError> {
    parse_str(&path.display().to_string(), &vector::read_text(path)?)
}

/// Parses the text of a vector file of either version.
pub fn parse_str(source: &str, text: &str) -> Result<Vec<Scenario>, VectorError> {
    vector::parse_lines(source, text, parse_line, |s| &s.name)
}

/// Parses one line of either version: a line with `"version": 2` is
/// version 2, a line without `version` is version 1.
pub fn parse_line(line: &str) -> Result<Scenario, LineError> {
    let value = vector::json_line(line)?;
    let obj = Obj::new(&value, "")?;
    match obj.optional("version") {
        None => vector::parse_value(&value).map(from_v1),
        Some(v) if v.as_u64() == Some(2) => parse_v2(&obj),
        Some(_) => Err(LineError::field(
            "version",
            "not 2 (version 1 has no version field)",
        )),
    }
}

fn parse_v2(obj: &Obj<'_>) -> Result<Scenario, LineError> {
    obj.only(&[
        "version",
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
        "steps",
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
    let items = array(obj.required("steps")?, "steps")?;
    let steps = items
        .iter()
        .enumerate()
        .map(|(i, v)| parse_step(v, &format!("steps[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
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
        steps,
        version: 2,
    })
}

fn space_of(obj: &Obj<'_>) -> Result<ProbeSpace, LineError> {
    let name = obj.string("space")?;
    ProbeSpace::from_name(name).ok_or_else(|| {
        LineError::field(
            &obj.path("space"),
            format!("unknown space {name:?} (primary, secondary, home, real)"),
        )
    })
}

fn amode_of(obj: &Obj<'_>) -> Result<Amode, LineError> {
    Amode::from_bits(obj.integer("amode")?)
        .ok_or_else(|| LineError::field(&obj.path("amode"), "not 24, 31 or 64"))
}

/// The address field, checked to be wrapped for `amode`.
fn addr_of(obj: &Obj<'_>, amode: Amode) -> Result<u64, LineError> {
    let addr = obj.hex("addr")?;
    if addr > amode.max_addr() {
        return Err(LineError::field(
            &obj.path("addr"),
            format!("not wrapped for {}-bit addressing", amode.bits()),
        ));
    }
    Ok(addr)
}

fn bounded(obj: &Obj<'_>, key: &str, max: u64) -> Result<u64, LineError> {
    let v = obj.integer(key)?;
    if v > max {
        return Err(LineError::field(&obj.path(key), format!("above {max}")));
    }
    Ok(v)
}

fn flag(obj: &Obj<'_>, key: &str) -> Result<bool, LineError> {
    obj.required(key)?
        .as_bool()
        .ok_or_else(|| LineError::field(&obj.path(key), "not true or false"))
}

/// Every field an operation has besides `op`, `expect`, `alt` and
/// `key_after`.
fn op_fields(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "access" => &["addr", "space", "amode", "access", "key", "size", "lra"],
        "tprot" => &["addr", "space", "amode", "key"],
        "lra" => &["form", "addr", "space", "amode"],
        "strag" => &["addr", "space", "amode"],
        "lptea" => &["addr", "m4"],
        "ipte" => &["pto", "va", "range", "local"],
        "idte" => &["r1", "r2", "r3", "local"],
        "csp" => &["width", "addr", "compare", "replace", "purge"],
        "ptlb" => &[],
        "sske" => &["addr", "key", "m3"],
        "rrbe" => &["addr"],
        "spx" => &["prefix"],
        "store" => &["addr", "value"],
        "lctlg" => &["cr", "value"],
        _ => return None,
    })
}

fn parse_step(value: &Value, path: &str) -> Result<Step, LineError> {
    let obj = Obj::new(value, path)?;
    let name = obj.string("op")?;
    let fields = op_fields(name)
        .ok_or_else(|| LineError::field(&obj.path("op"), format!("unknown operation {name:?}")))?;
    let mut allowed = vec!["op", "expect", "alt", "key_after"];
    allowed.extend_from_slice(fields);
    obj.only(&allowed)?;
    let op = parse_op(&obj, name)?;
    let access = op.is_access();
    let expect = parse_outcome(obj.required("expect")?, &obj.path("expect"), access)?;
    let alt = match obj.optional("alt") {
        None => Vec::new(),
        Some(v) => array(v, &obj.path("alt"))?
            .iter()
            .enumerate()
            .map(|(i, v)| parse_outcome(v, &format!("{}[{i}]", obj.path("alt")), access))
            .collect::<Result<_, _>>()?,
    };
    let lra = match obj.optional("lra") {
        None => None,
        Some(v) => Some(parse_lra(v, &obj.path("lra"))?),
    };
    let key_after = match obj.optional("key_after") {
        None => None,
        Some(v) => Some(storage_key(v, &obj.path("key_after"))?),
    };
    Ok(Step {
        op,
        expect,
        alt,
        lra,
        key_after,
    })
}

fn parse_op(obj: &Obj<'_>, name: &str) -> Result<Op, LineError> {
    Ok(match name {
        "access" => {
            let amode = amode_of(obj)?;
            let access_name = obj.string("access")?;
            let access = ProbeKind::from_name(access_name).ok_or_else(|| {
                LineError::field(
                    &obj.path("access"),
                    format!("unknown access {access_name:?} (fetch, read, write)"),
                )
            })?;
            let size = obj.integer("size")?;
            let sizes: &[u64] = if access == ProbeKind::InstructionFetch {
                &[1, 2]
            } else {
                &[1, 2, 4, 8, 16]
            };
            if !sizes.contains(&size) {
                return Err(LineError::field(
                    &obj.path("size"),
                    format!("not one of {sizes:?} for {}", access.name()),
                ));
            }
            Op::Access {
                addr: addr_of(obj, amode)?,
                space: space_of(obj)?,
                amode,
                access,
                key: bounded(obj, "key", 15)?,
                size,
            }
        }
        "tprot" => {
            let amode = amode_of(obj)?;
            Op::Tprot {
                addr: addr_of(obj, amode)?,
                space: space_of(obj)?,
                amode,
                key: bounded(obj, "key", 15)?,
            }
        }
        "lra" => {
            let amode = amode_of(obj)?;
            let form_name = obj.string("form")?;
            let form = LraForm::ALL
                .into_iter()
                .find(|f| f.name() == form_name)
                .ok_or_else(|| {
                    LineError::field(&obj.path("form"), "not \"lra\", \"lray\" or \"lrag\"")
                })?;
            Op::Lra {
                form,
                addr: addr_of(obj, amode)?,
                space: space_of(obj)?,
                amode,
            }
        }
        "strag" => {
            let amode = amode_of(obj)?;
            Op::Strag {
                addr: addr_of(obj, amode)?,
                space: space_of(obj)?,
                amode,
            }
        }
        "lptea" => Op::Lptea {
            addr: obj.hex("addr")?,
            m4: bounded(obj, "m4", 15)?,
        },
        "ipte" => Op::Ipte {
            pto: obj.hex("pto")?,
            va: obj.hex("va")?,
            range: bounded(obj, "range", 255)?,
            local: flag(obj, "local")?,
        },
        "idte" => Op::Idte {
            r1: obj.hex("r1")?,
            r2: obj.hex("r2")?,
            r3: obj.hex("r3")?,
            local: flag(obj, "local")?,
        },
        "csp" => {
            let width = obj.integer("width")?;
            if width != 4 && width != 8 {
                return Err(LineError::field(&obj.path("width"), "not 4 or 8"));
            }
            Op::Csp {
                width,
                addr: obj.hex("addr")?,
                compare: obj.hex("compare")?,
                replace: obj.hex("replace")?,
                purge: flag(obj, "purge")?,
            }
        }
        "ptlb" => Op::Ptlb,
        "sske" => Op::Sske {
            addr: obj.hex("addr")?,
            key: bounded(obj, "key", 0xff)?,
            m3: bounded(obj, "m3", 15)?,
        },
        "rrbe" => Op::Rrbe {
            addr: obj.hex("addr")?,
        },
        "spx" => Op::Spx {
            prefix: obj.hex("prefix")?,
        },
        "store" => {
            let addr = obj.hex("addr")?;
            if addr & 7 != 0 || addr > u64::MAX - 7 {
                return Err(LineError::field(
                    &obj.path("addr"),
                    "not doubleword aligned",
                ));
            }
            Op::Store {
                addr,
                value: obj.hex("value")?,
            }
        }
        "lctlg" => {
            let cr = obj.integer("cr")?;
            let cr = LOADABLE_CRS
                .into_iter()
                .find(|&c| u64::from(c) == cr)
                .ok_or_else(|| LineError::field(&obj.path("cr"), "not 0, 1, 7 or 13"))?;
            Op::Lctlg {
                cr,
                value: obj.hex("value")?,
            }
        }
        _ => unreachable!("op_fields accepted {name}"),
    })
}

/// An outcome: `{"pic", "teid"?, "nullified"?}`, or for an access
/// `{"real", "abs", "last_real"?, "last_abs"?}`, or for an operation
/// `{"cc"?, "r1"?}`.
fn parse_outcome(value: &Value, path: &str, access: bool) -> Result<Outcome, LineError> {
    let obj = Obj::new(value, path)?;
    if obj.optional("pic").is_some() {
        obj.only(&["pic", "teid", "nullified"])?;
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
        let nullified = match obj.optional("nullified") {
            None => None,
            Some(_) => Some(flag(&obj, "nullified")?),
        };
        return Ok(Outcome::Exception {
            pic,
            teid,
            nullified,
        });
    }
    if access {
        obj.only(&["real", "abs", "last_real", "last_abs"])?;
        let last = match (obj.optional("last_real"), obj.optional("last_abs")) {
            (None, None) => None,
            _ => Some((obj.hex("last_real")?, obj.hex("last_abs")?)),
        };
        return Ok(Outcome::Access {
            real: obj.hex("real")?,
            abs: obj.hex("abs")?,
            last,
        });
    }
    obj.only(&["cc", "r1"])?;
    let cc = match obj.optional("cc") {
        None => None,
        Some(_) => Some(bounded(&obj, "cc", 3)?),
    };
    let r1 = match obj.optional("r1") {
        None => None,
        Some(v) => Some(hex_value(v, &obj.path("r1"))?),
    };
    Ok(Outcome::Done { cc, r1 })
}

/// An outcome as it appears in vector files.
pub fn format_outcome(o: &Outcome) -> String {
    match *o {
        Outcome::Access { real, abs, last } => {
            let mut s = format!("{{\"real\":\"{real:#x}\",\"abs\":\"{abs:#x}\"");
            if let Some((r, a)) = last {
                s.push_str(&format!(
                    ",\"last_real\":\"{r:#x}\",\"last_abs\":\"{a:#x}\""
                ));
            }
            s + "}"
        }
        Outcome::Done { cc, r1 } => {
            let mut parts = Vec::new();
            if let Some(cc) = cc {
                parts.push(format!("\"cc\":{cc}"));
            }
            if let Some(r1) = r1 {
                parts.push(format!("\"r1\":\"{r1:#x}\""));
            }
            format!("{{{}}}", parts.join(","))
        }
        Outcome::Exception {
            pic,
            teid,
            nullified,
        } => {
            let mut s = format!("{{\"pic\":\"{pic:#x}\"");
            if let Some(t) = teid {
                s.push_str(&format!(",\"teid\":\"{t:#x}\""));
            }
            if let Some(n) = nullified {
                s.push_str(&format!(",\"nullified\":{n}"));
            }
            s + "}"
        }
    }
}

/// The fields of an operation, without braces.
pub fn format_op(op: &Op) -> String {
    let psw = |addr: u64, space: ProbeSpace, amode: Amode| {
        format!(
            "\"addr\":\"{addr:#x}\",\"space\":\"{}\",\"amode\":{}",
            space.name(),
            amode.bits()
        )
    };
    let fields = match *op {
        Op::Access {
            addr,
            space,
            amode,
            access,
            key,
            size,
        } => format!(
            ",{},\"access\":\"{}\",\"key\":{key},\"size\":{size}",
            psw(addr, space, amode),
            access.name()
        ),
        Op::Tprot {
            addr,
            space,
            amode,
            key,
        } => format!(",{},\"key\":{key}", psw(addr, space, amode)),
        Op::Lra {
            form,
            addr,
            space,
            amode,
        } => format!(",\"form\":\"{}\",{}", form.name(), psw(addr, space, amode)),
        Op::Strag { addr, space, amode } => format!(",{}", psw(addr, space, amode)),
        Op::Lptea { addr, m4 } => format!(",\"addr\":\"{addr:#x}\",\"m4\":{m4}"),
        Op::Ipte {
            pto,
            va,
            range,
            local,
        } => format!(
            ",\"pto\":\"{pto:#x}\",\"va\":\"{va:#x}\",\"range\":{range},\"local\":{local}"
        ),
        Op::Idte { r1, r2, r3, local } => format!(
            ",\"r1\":\"{r1:#x}\",\"r2\":\"{r2:#x}\",\"r3\":\"{r3:#x}\",\"local\":{local}"
        ),
        Op::Csp {
            width,
            addr,
            compare,
            replace,
            purge,
        } => format!(
            ",\"width\":{width},\"addr\":\"{addr:#x}\",\"compare\":\"{compare:#x}\",\"replace\":\"{replace:#x}\",\"purge\":{purge}"
        ),
        Op::Ptlb => String::new(),
        Op::Sske { addr, key, m3 } => format!(",\"addr\":\"{addr:#x}\",\"key\":{key},\"m3\":{m3}"),
        Op::Rrbe { addr } => format!(",\"addr\":\"{addr:#x}\""),
        Op::Spx { prefix } => format!(",\"prefix\":\"{prefix:#x}\""),
        Op::Store { addr, value } => format!(",\"addr\":\"{addr:#x}\",\"value\":\"{value:#x}\""),
        Op::Lctlg { cr, value } => format!(",\"cr\":{cr},\"value\":\"{value:#x}\""),
    };
    format!("\"op\":\"{}\"{fields}", op.name())
}

fn format_step(s: &Step) -> String {
    let mut out = format!("{{{}", format_op(&s.op));
    if let Some(lra) = s.lra {
        out.push_str(&format!(
            ",\"lra\":{{\"cc\":{},\"r1\":\"{:#x}\"}}",
            lra.cc, lra.r1
        ));
    }
    out.push_str(&format!(",\"expect\":{}", format_outcome(&s.expect)));
    if !s.alt.is_empty() {
        let alt: Vec<String> = s.alt.iter().map(format_outcome).collect();
        out.push_str(&format!(",\"alt\":[{}]", alt.join(",")));
    }
    if let Some(key) = s.key_after {
        out.push_str(&format!(",\"key_after\":{key}"));
    }
    out + "}"
}

/// Formats a scenario as one line of a version-2 vector file.
pub fn format_scenario(s: &Scenario) -> String {
    let head = vector::format_state(
        &s.name,
        &s.facilities,
        [s.storage_size, s.prefix, s.cr0, s.cr1, s.cr7, s.cr13],
        &s.mem,
        &s.keys,
    );
    let steps: Vec<String> = s.steps.iter().map(format_step).collect();
    format!("{{\"version\":2,{head},\"steps\":[{}]}}", steps.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Scenario {
        let access = |addr, size, expect, alt| Step {
            op: Op::Access {
                addr,
                space: ProbeSpace::Primary,
                amode: Amode::Bits64,
                access: ProbeKind::Write,
                key: 3,
                size,
            },
            expect,
            alt,
            lra: None,
            key_after: Some(0x36),
        };
        let done = |op, cc, r1| Step {
            op,
            expect: Outcome::Done { cc, r1 },
            alt: Vec::new(),
            lra: None,
            key_after: None,
        };
        let hit = Outcome::Access {
            real: 0x80_1ffc,
            abs: 0x80_1ffc,
            last: Some((0x90_0003, 0x90_0003)),
        };
        let miss = Outcome::Exception {
            pic: 0x11,
            teid: Some(0x2400),
            nullified: Some(true),
        };
        Scenario {
            name: "v2".into(),
            facilities: vec![Facility::Edat1],
            storage_size: 0x200_0000,
            prefix: 0x4000,
            cr0: 0xe0,
            cr1: 0x40_0003,
            cr7: 0x40_0003,
            cr13: 0x40_0003,
            mem: vec![(0x40_0000, vec![0, 0, 0, 0, 0, 0x40, 0x10, 0x00])],
            keys: vec![(0x80_1000, 0x30)],
            steps: vec![
                access(0x1ffc, 8, hit, Vec::new()),
                done(
                    Op::Store {
                        addr: 0x40_1008,
                        value: 0x400,
                    },
                    None,
                    None,
                ),
                access(0x1ffc, 8, miss, vec![hit]),
                done(Op::Ptlb, None, None),
                done(
                    Op::Lra {
                        form: LraForm::Lray,
                        addr: 0x7fff_f000,
                        space: ProbeSpace::Home,
                        amode: Amode::Bits31,
                    },
                    Some(2),
                    Some(0xffff_ffff_0040_1ff8),
                ),
                done(
                    Op::Ipte {
                        pto: 0x40_1000,
                        va: 0x2000,
                        range: 3,
                        local: true,
                    },
                    None,
                    None,
                ),
                done(
                    Op::Idte {
                        r1: 0x40_0000,
                        r2: 0x800,
                        r3: 0x40_0003,
                        local: false,
                    },
                    None,
                    None,
                ),
                done(
                    Op::Csp {
                        width: 8,
                        addr: 0x40_1008,
                        compare: 0x400,
                        replace: 0x80_1000,
                        purge: true,
                    },
                    Some(0),
                    None,
                ),
                done(
                    Op::Sske {
                        addr: 0x80_1000,
                        key: 0x36,
                        m3: 8,
                    },
                    None,
                    None,
                ),
                done(Op::Rrbe { addr: 0x80_1000 }, Some(1), None),
                done(Op::Spx { prefix: 0x200_0000 }, None, None),
                done(Op::Lctlg { cr: 13, value: 1 }, None, None),
                done(
                    Op::Tprot {
                        addr: 0,
                        space: ProbeSpace::Real,
                        amode: Amode::Bits24,
                        key: 9,
                    },
                    Some(1),
                    None,
                ),
                done(
                    Op::Strag {
                        addr: 0x1000,
                        space: ProbeSpace::Primary,
                        amode: Amode::Bits64,
                    },
                    None,
                    Some(0x80_1000),
                ),
                done(
                    Op::Lptea {
                        addr: 0x1000,
                        m4: 2,
                    },
                    Some(0),
                    Some(0x40_1008),
                ),
            ],
            version: 2,
        }
    }

    #[test]
    fn round_trip_of_every_operation() {
        let s = sample();
        let line = format_scenario(&s);
        assert!(line.starts_with("{\"version\":2,\"name\":\"v2\""), "{line}");
        assert_eq!(parse_line(&line), Ok(s));
    }

    #[test]
    fn version_1_lines_become_one_byte_accesses() {
        let v1 = r#"{"name":"s","storage_size":"0x100000","prefix":"0x0","cr0":"0x0","cr1":"0x0","cr7":"0x0","cr13":"0x0","mem":[],"keys":[],"probes":[{"addr":"0x3000","space":"real","amode":64,"access":"read","key":0,"expect":{"pic":"0x5"}}]}"#;
        let s = parse_line(v1).expect("v1");
        assert_eq!(s.version, 1);
        assert_eq!(s.probes(), 1);
        assert!(matches!(s.steps[0].op, Op::Access { size: 1, .. }));
        assert_eq!(
            s.steps[0].expect,
            Outcome::Exception {
                pic: 5,
                teid: None,
                nullified: None
            }
        );
    }

    fn field_error(from: &str, to: &str) -> Option<String> {
        let line = format_scenario(&sample());
        assert!(line.contains(from), "{from} not in {line}");
        parse_line(&line.replacen(from, to, 1)).expect_err(to).field
    }

    #[test]
    fn rejects_bad_steps_naming_the_field() {
        let cases = [
            ("\"size\":8", "\"size\":3", "steps[0].size"),
            ("\"op\":\"ptlb\"", "\"op\":\"ptlbx\"", "steps[3].op"),
            ("\"range\":3", "\"range\":256", "steps[5].range"),
            ("\"local\":true", "\"local\":1", "steps[5].local"),
            ("\"width\":8", "\"width\":2", "steps[7].width"),
            ("\"cr\":13", "\"cr\":2", "steps[11].cr"),
            ("\"form\":\"lray\"", "\"form\":\"lrb\"", "steps[4].form"),
            ("\"cc\":2", "\"cc\":4", "steps[4].expect.cc"),
            (
                "\"nullified\":true",
                "\"nullified\":\"y\"",
                "steps[2].expect.nullified",
            ),
            (
                "\"last_abs\":\"0x900003\"",
                "\"x\":\"0x1\"",
                "steps[0].expect.x",
            ),
            (
                "\"addr\":\"0x401008\",\"value\"",
                "\"addr\":\"0x401009\",\"value\"",
                "steps[1].addr",
            ),
            ("\"version\":2", "\"version\":3", "version"),
            ("\"m3\":8", "\"m3\":8,\"m4\":0", "steps[8].m4"),
        ];
        for (from, to, field) in cases {
            assert_eq!(field_error(from, to).as_deref(), Some(field), "{to}");
        }
    }

    #[test]
    fn an_operation_outcome_is_not_an_access_outcome() {
        assert_eq!(
            field_error("{\"cc\":0}", "{\"real\":\"0x0\",\"abs\":\"0x0\"}").as_deref(),
            Some("steps[7].expect.abs")
        );
    }
}
