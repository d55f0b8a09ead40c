//! Encoding a block's instructions in one pass (iced-x86's `Encoder`),
//! instead of iced's `BlockEncoder`, which builds an object per
//! instruction and re-encodes the whole block on every pass of its branch
//! optimisation (most of a block's translation time, docs/PERFORMANCE.md
//! "Translator, fifth step").
//!
//! Every instruction that is not a relative branch is encoded once, at
//! any address: the translator emits no RIP-relative operand, so its bytes
//! do not depend on where it lands. The relative branches (`jmp`, `jcc`,
//! `call` to a label or to an absolute host address) are written by hand
//! once the layout is known: first laid out with 32-bit displacements;
//! a branch to a label whose displacement fits in 8 bits in that layout
//! gets the short form (shortening branches only brings the others'
//! ends and targets closer, so it still fits once all are placed); the
//! rest keep 32 bits. A block this cannot encode (another kind of
//! relative branch, an absolute target beyond ±2 GiB) goes to
//! `BlockEncoder` as before.

use alloc::vec::Vec;

use iced_x86::{Code, Encoder, IcedError, Instruction, OpKind};

/// A block's machine code and where each instruction starts in it.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The code, for host address `ip`.
    pub(crate) code: Vec<u8>,
    /// Per instruction, its offset in `code` (and one more: the end).
    pub(crate) offsets: Vec<u32>,
}

/// What one instruction becomes.
#[derive(Clone, Copy, Debug)]
enum Item {
    /// Bytes `start..end` of the plain encoding.
    Plain { start: u32, end: u32 },
    /// A relative branch: its kind and target (a label's instruction
    /// index, or a host address), and whether it is short.
    Branch {
        kind: Kind,
        target: Target,
        short: bool,
    },
}

/// A relative branch's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Jmp,
    Call,
    /// A conditional jump with x86 condition `cc` (0-15).
    Jcc(u8),
}

#[derive(Clone, Copy, Debug)]
enum Target {
    /// The instruction with this index.
    Label(u32),
    /// A host address outside the block.
    Address(u64),
}

impl Kind {
    /// Its length with a 32-bit displacement.
    fn near_len(self) -> u32 {
        match self {
            Kind::Jmp | Kind::Call => 5,
            Kind::Jcc(_) => 6,
        }
    }

    /// The kind of a relative branch `code`, or `None` for one this
    /// encoder does not write (`loop`, `jrcxz`, `xbegin`, ...).
    fn of(code: Code) -> Option<Kind> {
        let near_jcc = Code::Jo_rel16 as u32..=Code::Jg_rel32_64 as u32;
        let short_jcc = Code::Jo_rel8_16 as u32..=Code::Jg_rel8_64 as u32;
        let c = code as u32;
        if code == Code::Jmp_rel32_64 || code == Code::Jmp_rel8_64 {
            Some(Kind::Jmp)
        } else if code == Code::Call_rel32_64 {
            Some(Kind::Call)
        } else if near_jcc.contains(&c) {
            // Three per condition (16-, 32-, 64-bit), in x86's order.
            Some(Kind::Jcc(((c - near_jcc.start()) / 3) as u8))
        } else if short_jcc.contains(&c) {
            Some(Kind::Jcc(((c - short_jcc.start()) / 3) as u8))
        } else {
            None
        }
    }
}

/// Reused across blocks: the encoder and the per-block tables.
pub(crate) struct Assembler {
    encoder: Encoder,
    items: Vec<Item>,
    /// Label id -> instruction index (`u32::MAX`: not a label).
    labels: Vec<u32>,
    /// Offsets with every branch near, then the final ones.
    near: Vec<u32>,
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Self {
            encoder: Encoder::new(64),
            items: Vec::new(),
            labels: Vec::new(),
            near: Vec::new(),
        }
    }

    /// Encodes `instructions` (from a `CodeAssembler`: a labelled
    /// instruction's IP is its label's id, a branch to a label targets
    /// that id) for host address `ip`; `None` when the block needs
    /// `BlockEncoder`.
    pub(crate) fn encode(
        &mut self,
        instructions: &[Instruction],
        ip: u64,
    ) -> Result<Option<Encoded>, IcedError> {
        let count = instructions.len();
        let ids = instructions.iter().map(|i| i.ip()).max().unwrap_or(0);
        let Ok(ids) = usize::try_from(ids) else {
            return Ok(None);
        };
        self.labels.clear();
        self.labels.resize(ids + 1, u32::MAX);
        for (index, i) in instructions.iter().enumerate() {
            if i.ip() != 0 {
                self.labels[i.ip() as usize] = index as u32;
            }
        }
        // Pass 1: the plain encodings, and the branches' kinds and targets.
        self.items.clear();
        let mut plain = self.encoder.take_buffer();
        plain.clear();
        self.encoder.set_buffer(plain);
        let mut at = 0u32;
        for i in instructions {
            if i.op0_kind() == OpKind::NearBranch64 {
                let Some(kind) = Kind::of(i.code()) else {
                    return Ok(None);
                };
                let t = i.near_branch64();
                let target = match usize::try_from(t).ok().and_then(|t| self.labels.get(t)) {
                    Some(&index) if index != u32::MAX => Target::Label(index),
                    _ => Target::Address(t),
                };
                self.items.push(Item::Branch {
                    kind,
                    target,
                    short: false,
                });
            } else if i.is_ip_rel_memory_operand() {
                return Ok(None);
            } else {
                let n = self.encoder.encode(i, 0)? as u32;
                self.items.push(Item::Plain {
                    start: at,
                    end: at + n,
                });
                at += n;
            }
        }
        let plain = self.encoder.take_buffer();
        // Pass 2: the layout with near branches; then the branches to
        // labels that fit in 8 bits there become short.
        let layout = |items: &[Item], out: &mut Vec<u32>| {
            out.clear();
            let mut at = 0u32;
            for item in items {
                out.push(at);
                at += match *item {
                    Item::Plain { start, end } => end - start,
                    Item::Branch { short: true, .. } => 2,
                    Item::Branch { kind, .. } => kind.near_len(),
                };
            }
            out.push(at);
        };
        layout(&self.items, &mut self.near);
        for (index, item) in self.items.iter_mut().enumerate() {
            let Item::Branch {
                kind,
                target: Target::Label(t),
                short,
            } = item
            else {
                continue;
            };
            if *kind == Kind::Call {
                continue;
            }
            let here = i64::from(self.near[index]);
            let to = i64::from(self.near[*t as usize]);
            // Forward: the distance only shrinks from its end; backward:
            // from its start, and the short form ends 2 bytes in.
            let disp = if to > here {
                to - (here + i64::from(kind.near_len()))
            } else {
                to - (here + 2)
            };
            *short = i8::try_from(disp).is_ok();
        }
        let mut offsets = Vec::with_capacity(count + 1);
        layout(&self.items, &mut offsets);
        // Pass 3: the bytes.
        let size = offsets.last().copied().unwrap_or(0) as usize;
        let mut code = Vec::with_capacity(size);
        for (index, item) in self.items.iter().enumerate() {
            match *item {
                Item::Plain { start, end } => {
                    code.extend_from_slice(&plain[start as usize..end as usize]);
                }
                Item::Branch {
                    kind,
                    target,
                    short,
                } => {
                    let end = u64::from(offsets[index + 1]);
                    let target = match target {
                        Target::Label(t) => ip.wrapping_add(u64::from(offsets[t as usize])),
                        Target::Address(a) => a,
                    };
                    let disp = target.wrapping_sub(ip.wrapping_add(end)) as i64;
                    if short {
                        let Ok(d) = i8::try_from(disp) else {
                            unreachable!("a short branch stays within its range");
                        };
                        code.push(match kind {
                            Kind::Jcc(cc) => 0x70 | cc,
                            _ => 0xeb,
                        });
                        code.push(d as u8);
                    } else {
                        let Ok(d) = i32::try_from(disp) else {
                            // Beyond ±2 GiB: BlockEncoder rewrites it.
                            self.encoder.set_buffer(plain);
                            return Ok(None);
                        };
                        match kind {
                            Kind::Jmp => code.push(0xe9),
                            Kind::Call => code.push(0xe8),
                            Kind::Jcc(cc) => code.extend_from_slice(&[0x0f, 0x80 | cc]),
                        }
                        code.extend_from_slice(&d.to_le_bytes());
                    }
                }
            }
        }
        self.encoder.set_buffer(plain);
        Ok(Some(Encoded { code, offsets }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::code_asm::*;

    /// Near labelled branches, as the translator emits them.
    fn assembler() -> CodeAssembler {
        let mut a = CodeAssembler::new(64).unwrap();
        a.set_prefer_short_branch(false);
        a
    }

    /// Ours and BlockEncoder's bytes for `a`'s instructions at `ip`.
    fn both(a: &mut CodeAssembler, ip: u64) -> (Vec<u8>, Vec<u8>) {
        let ours = Assembler::new()
            .encode(a.instructions(), ip)
            .unwrap()
            .expect("encodable");
        (ours.code, a.assemble(ip).unwrap())
    }

    #[test]
    fn short_and_near_branches_encode_as_block_encoder_does() {
        let ip = 0x7f00_1234_0000;
        let mut a = assembler();
        let mut top = a.create_label();
        let mut near = a.create_label();
        let mut short = a.create_label();
        a.set_label(&mut top).unwrap();
        a.mov(rax, qword_ptr(rbx + 8)).unwrap();
        a.jne(short).unwrap();
        a.jb(near).unwrap();
        a.add(rax, 1).unwrap();
        a.set_label(&mut short).unwrap();
        a.je(top).unwrap();
        // 40 ten-byte moves: the near label is 400 bytes on.
        for _ in 0..40 {
            a.mov(rcx, 0x1122_3344_5566_7788u64).unwrap();
        }
        a.set_label(&mut near).unwrap();
        a.jmp(top).unwrap();
        a.jmp(ip + 0x10_0000).unwrap();
        a.call(ip - 0x100).unwrap();
        let (ours, theirs) = both(&mut a, ip);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn every_condition_keeps_its_code() {
        let ip = 0x40_0000;
        let mut a = assembler();
        let mut end = a.create_label();
        a.jo(end).unwrap();
        a.jno(end).unwrap();
        a.jb(end).unwrap();
        a.jae(end).unwrap();
        a.je(end).unwrap();
        a.jne(end).unwrap();
        a.jbe(end).unwrap();
        a.ja(end).unwrap();
        a.js(end).unwrap();
        a.jns(end).unwrap();
        a.jp(end).unwrap();
        a.jnp(end).unwrap();
        a.jl(end).unwrap();
        a.jge(end).unwrap();
        a.jle(end).unwrap();
        a.jg(end).unwrap();
        // And as near branches to an address outside the block.
        for cc in [0x10_0000u64, 0x20_0000] {
            a.jl(cc).unwrap();
            a.jg(cc).unwrap();
        }
        a.set_label(&mut end).unwrap();
        a.ret().unwrap();
        let (ours, theirs) = both(&mut a, ip);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_target_beyond_2_gib_is_left_to_block_encoder() {
        let mut a = assembler();
        a.jmp(0x1_0000_0000_0000u64).unwrap();
        let ours = Assembler::new().encode(a.instructions(), 0x1000).unwrap();
        assert!(ours.is_none());
    }
}
