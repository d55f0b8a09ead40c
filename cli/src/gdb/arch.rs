//! The s390x register file as `gdb-multiarch` (`set architecture
//! s390:64-bit`) reads it: gdb's s390x target description (features
//! `org.gnu.gdb.s390.core`, `.acr`, `.fpr`, `.vx`, as in gdb's
//! `features/s390x-core64.xml`, `s390-acr.xml`, `s390-fpr.xml`,
//! `s390-vx.xml`) and QEMU's control-register feature
//! (`org.gnu.gdb.s390.cr`). The `g` packet holds the registers in the
//! order of the description, each big-endian as in storage.

use gdbstub::arch::{Arch, Registers};
use zmmu_cpu::state::{Cpu, Psw};

/// The architecture, for gdbstub.
#[derive(Debug)]
pub enum S390x {}

impl Arch for S390x {
    type Usize = u64;
    type Registers = S390xRegisters;
    type BreakpointKind = usize;
    type RegId = ();

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// The target description: the register order of [`S390xRegisters`].
pub const TARGET_XML: &str = concat!(
    r#"<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">"#,
    "<architecture>s390:64-bit</architecture>",
    r#"<feature name="org.gnu.gdb.s390.core">"#,
    r#"<reg name="pswm" bitsize="64" type="uint64" group="psw"/>"#,
    r#"<reg name="pswa" bitsize="64" type="code_ptr" group="psw"/>"#,
    r#"<reg name="r0" bitsize="64" type="uint64" group="general"/><reg name="r1" bitsize="64" type="uint64" group="general"/><reg name="r2" bitsize="64" type="uint64" group="general"/><reg name="r3" bitsize="64" type="uint64" group="general"/>"#,
    r#"<reg name="r4" bitsize="64" type="uint64" group="general"/><reg name="r5" bitsize="64" type="uint64" group="general"/><reg name="r6" bitsize="64" type="uint64" group="general"/><reg name="r7" bitsize="64" type="uint64" group="general"/>"#,
    r#"<reg name="r8" bitsize="64" type="uint64" group="general"/><reg name="r9" bitsize="64" type="uint64" group="general"/><reg name="r10" bitsize="64" type="uint64" group="general"/><reg name="r11" bitsize="64" type="uint64" group="general"/>"#,
    r#"<reg name="r12" bitsize="64" type="uint64" group="general"/><reg name="r13" bitsize="64" type="uint64" group="general"/><reg name="r14" bitsize="64" type="uint64" group="general"/><reg name="r15" bitsize="64" type="data_ptr" group="general"/>"#,
    "</feature>",
    r#"<feature name="org.gnu.gdb.s390.acr">"#,
    r#"<reg name="acr0" bitsize="32" type="uint32" group="access"/><reg name="acr1" bitsize="32" type="uint32" group="access"/><reg name="acr2" bitsize="32" type="uint32" group="access"/><reg name="acr3" bitsize="32" type="uint32" group="access"/>"#,
    r#"<reg name="acr4" bitsize="32" type="uint32" group="access"/><reg name="acr5" bitsize="32" type="uint32" group="access"/><reg name="acr6" bitsize="32" type="uint32" group="access"/><reg name="acr7" bitsize="32" type="uint32" group="access"/>"#,
    r#"<reg name="acr8" bitsize="32" type="uint32" group="access"/><reg name="acr9" bitsize="32" type="uint32" group="access"/><reg name="acr10" bitsize="32" type="uint32" group="access"/><reg name="acr11" bitsize="32" type="uint32" group="access"/>"#,
    r#"<reg name="acr12" bitsize="32" type="uint32" group="access"/><reg name="acr13" bitsize="32" type="uint32" group="access"/><reg name="acr14" bitsize="32" type="uint32" group="access"/><reg name="acr15" bitsize="32" type="uint32" group="access"/>"#,
    "</feature>",
    r#"<feature name="org.gnu.gdb.s390.fpr">"#,
    r#"<reg name="fpc" bitsize="32" type="uint32" group="float"/>"#,
    r#"<reg name="f0" bitsize="64" type="ieee_double" group="float"/><reg name="f1" bitsize="64" type="ieee_double" group="float"/><reg name="f2" bitsize="64" type="ieee_double" group="float"/><reg name="f3" bitsize="64" type="ieee_double" group="float"/>"#,
    r#"<reg name="f4" bitsize="64" type="ieee_double" group="float"/><reg name="f5" bitsize="64" type="ieee_double" group="float"/><reg name="f6" bitsize="64" type="ieee_double" group="float"/><reg name="f7" bitsize="64" type="ieee_double" group="float"/>"#,
    r#"<reg name="f8" bitsize="64" type="ieee_double" group="float"/><reg name="f9" bitsize="64" type="ieee_double" group="float"/><reg name="f10" bitsize="64" type="ieee_double" group="float"/><reg name="f11" bitsize="64" type="ieee_double" group="float"/>"#,
    r#"<reg name="f12" bitsize="64" type="ieee_double" group="float"/><reg name="f13" bitsize="64" type="ieee_double" group="float"/><reg name="f14" bitsize="64" type="ieee_double" group="float"/><reg name="f15" bitsize="64" type="ieee_double" group="float"/>"#,
    "</feature>",
    r#"<feature name="org.gnu.gdb.s390.vx">"#,
    r#"<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>"#,
    r#"<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>"#,
    r#"<union id="vec128"><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>"#,
    r#"<reg name="v0l" bitsize="64" type="uint64"/><reg name="v1l" bitsize="64" type="uint64"/><reg name="v2l" bitsize="64" type="uint64"/><reg name="v3l" bitsize="64" type="uint64"/>"#,
    r#"<reg name="v4l" bitsize="64" type="uint64"/><reg name="v5l" bitsize="64" type="uint64"/><reg name="v6l" bitsize="64" type="uint64"/><reg name="v7l" bitsize="64" type="uint64"/>"#,
    r#"<reg name="v8l" bitsize="64" type="uint64"/><reg name="v9l" bitsize="64" type="uint64"/><reg name="v10l" bitsize="64" type="uint64"/><reg name="v11l" bitsize="64" type="uint64"/>"#,
    r#"<reg name="v12l" bitsize="64" type="uint64"/><reg name="v13l" bitsize="64" type="uint64"/><reg name="v14l" bitsize="64" type="uint64"/><reg name="v15l" bitsize="64" type="uint64"/>"#,
    r#"<reg name="v16" bitsize="128" type="vec128"/><reg name="v17" bitsize="128" type="vec128"/><reg name="v18" bitsize="128" type="vec128"/><reg name="v19" bitsize="128" type="vec128"/>"#,
    r#"<reg name="v20" bitsize="128" type="vec128"/><reg name="v21" bitsize="128" type="vec128"/><reg name="v22" bitsize="128" type="vec128"/><reg name="v23" bitsize="128" type="vec128"/>"#,
    r#"<reg name="v24" bitsize="128" type="vec128"/><reg name="v25" bitsize="128" type="vec128"/><reg name="v26" bitsize="128" type="vec128"/><reg name="v27" bitsize="128" type="vec128"/>"#,
    r#"<reg name="v28" bitsize="128" type="vec128"/><reg name="v29" bitsize="128" type="vec128"/><reg name="v30" bitsize="128" type="vec128"/><reg name="v31" bitsize="128" type="vec128"/>"#,
    "</feature>",
    r#"<feature name="org.gnu.gdb.s390.cr">"#,
    r#"<reg name="cr0" bitsize="64" type="uint64" group="control"/><reg name="cr1" bitsize="64" type="uint64" group="control"/><reg name="cr2" bitsize="64" type="uint64" group="control"/><reg name="cr3" bitsize="64" type="uint64" group="control"/>"#,
    r#"<reg name="cr4" bitsize="64" type="uint64" group="control"/><reg name="cr5" bitsize="64" type="uint64" group="control"/><reg name="cr6" bitsize="64" type="uint64" group="control"/><reg name="cr7" bitsize="64" type="uint64" group="control"/>"#,
    r#"<reg name="cr8" bitsize="64" type="uint64" group="control"/><reg name="cr9" bitsize="64" type="uint64" group="control"/><reg name="cr10" bitsize="64" type="uint64" group="control"/><reg name="cr11" bitsize="64" type="uint64" group="control"/>"#,
    r#"<reg name="cr12" bitsize="64" type="uint64" group="control"/><reg name="cr13" bitsize="64" type="uint64" group="control"/><reg name="cr14" bitsize="64" type="uint64" group="control"/><reg name="cr15" bitsize="64" type="uint64" group="control"/>"#,
    "</feature>",
    "</target>",
);

/// The registers gdb reads and writes, in [`TARGET_XML`]'s order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S390xRegisters {
    /// PSW bits 0-63.
    pub pswm: u64,
    /// PSW bits 64-127, the instruction address.
    pub pswa: u64,
    /// General registers.
    pub r: [u64; 16],
    /// Access registers.
    pub acr: [u32; 16],
    /// The floating-point-control register.
    pub fpc: u32,
    /// Vector registers 0-31 (floating-point register n is bits 0-63 of
    /// vector register n; gdb's `v0l`-`v15l` are bits 64-127).
    pub v: [[u64; 2]; 32],
    /// Control registers.
    pub cr: [u64; 16],
}

impl S390xRegisters {
    /// The registers of `cpu`.
    pub fn of(cpu: &Cpu) -> Self {
        Self {
            pswm: cpu.psw.mask,
            pswa: cpu.psw.addr,
            r: cpu.gpr,
            acr: cpu.ar,
            fpc: cpu.fpc,
            v: cpu.vr,
            cr: cpu.cr,
        }
    }

    /// Sets `cpu`'s registers to these.
    pub fn store(&self, cpu: &mut Cpu) {
        cpu.psw = Psw {
            mask: self.pswm,
            addr: self.pswa,
        };
        cpu.gpr = self.r;
        cpu.ar = self.acr;
        cpu.fpc = self.fpc;
        cpu.vr = self.v;
        cpu.cr = self.cr;
    }

    /// The register file as big-endian words in description order.
    fn words(&self) -> impl Iterator<Item = Word> + '_ {
        let psw = [Word::D(self.pswm), Word::D(self.pswa)];
        psw.into_iter()
            .chain(self.r.iter().map(|&r| Word::D(r)))
            .chain(self.acr.iter().map(|&a| Word::W(a)))
            .chain([Word::W(self.fpc)])
            .chain(self.v[..16].iter().map(|v| Word::D(v[0])))
            .chain(self.v[..16].iter().map(|v| Word::D(v[1])))
            .chain(self.v[16..].iter().map(|v| Word::Q(v[0], v[1])))
            .chain(self.cr.iter().map(|&c| Word::D(c)))
    }
}

/// One register's value, by width.
#[derive(Clone, Copy)]
enum Word {
    W(u32),
    D(u64),
    Q(u64, u64),
}

/// The size of the `g` packet's data in bytes.
pub const G_PACKET_BYTES: usize = 16 + 16 * 8 + 16 * 4 + 4 + 16 * 8 + 16 * 8 + 16 * 16 + 16 * 8;

impl Registers for S390xRegisters {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.pswa
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for word in self.words() {
            let mut put = |bytes: &[u8]| bytes.iter().for_each(|&b| write_byte(Some(b)));
            match word {
                Word::W(w) => put(&w.to_be_bytes()),
                Word::D(d) => put(&d.to_be_bytes()),
                Word::Q(hi, lo) => {
                    put(&hi.to_be_bytes());
                    put(&lo.to_be_bytes());
                }
            }
        }
    }

    /// A `G` packet must hold every register: a short or long one is
    /// refused as a whole, nothing changed.
    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != G_PACKET_BYTES {
            return Err(());
        }
        let mut at = 0;
        let mut take = |n: usize| {
            let mut word = [0u8; 8];
            word[8 - n..].copy_from_slice(&bytes[at..at + n]);
            at += n;
            u64::from_be_bytes(word)
        };
        self.pswm = take(8);
        self.pswa = take(8);
        self.r.iter_mut().for_each(|r| *r = take(8));
        self.acr.iter_mut().for_each(|a| *a = take(4) as u32);
        self.fpc = take(4) as u32;
        self.v[..16].iter_mut().for_each(|v| v[0] = take(8));
        self.v[..16].iter_mut().for_each(|v| v[1] = take(8));
        self.v[16..]
            .iter_mut()
            .for_each(|v| *v = [take(8), take(8)]);
        self.cr.iter_mut().for_each(|c| *c = take(8));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_g_packet_holds_every_register_of_the_description_big_endian() {
        let mut cpu = Cpu::new();
        cpu.psw = Psw {
            mask: 0x0704_0001_8000_0000,
            addr: 0x2_0000,
        };
        cpu.gpr[15] = 0x1122_3344_5566_7788;
        cpu.vr[31] = [1, 2];
        let regs = S390xRegisters::of(&cpu);
        let mut bytes = Vec::new();
        regs.gdb_serialize(|b| bytes.push(b.unwrap()));
        assert_eq!(bytes.len(), G_PACKET_BYTES);
        assert_eq!(bytes[..8], 0x0704_0001_8000_0000u64.to_be_bytes());
        assert_eq!(
            bytes[16 + 15 * 8..16 + 16 * 8],
            0x1122_3344_5566_7788u64.to_be_bytes()
        );
        let mut back = S390xRegisters::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, regs);
        assert_eq!(back.gdb_deserialize(&bytes[1..]), Err(()));
    }

    #[test]
    fn the_description_names_as_many_registers_as_the_g_packet_holds() {
        let bits: usize = TARGET_XML
            .split("bitsize=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(bits / 8, G_PACKET_BYTES);
        assert_eq!(
            TARGET_XML.matches("<reg ").count(),
            2 + 16 + 16 + 1 + 16 + 32 + 16
        );
    }
}
