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

/// A relative branch of the block: the instruction's index, where its
/// bytes go among the plain encodings (those before it), its kind and
/// target, and whether it is short.
#[derive(Clone, Copy, Debug)]
struct Branch {
    index: u32,
    plain_at: u32,
    kind: Kind,
    target: Target,
    short: bool,
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
    /// Not yet known: a host address, or a label's id once every label
    /// of the block is seen.
    Unresolved(u64),
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

/// How many encodings [`Assembler`] remembers (a power of two).
const MEMO: usize = 4096;

/// One remembered encoding: `len` bytes (0: none).
#[derive(Clone, Copy)]
struct Memo {
    insn: Instruction,
    len: u8,
    bytes: [u8; 15],
}

/// The [`Memo`] slot of an instruction: a hash of the fields that tell
/// the translator's instructions apart (the code, the first two operands'
/// kinds and registers, the memory operand's registers, displacement and
/// the immediate), not of every field its `Eq` compares (as iced's `Hash`
/// does, twice the time): two instructions that differ only elsewhere
/// share a slot, which costs an encoding, never a wrong one.
fn memo_slot(i: &Instruction) -> usize {
    let fields = i.code() as u64
        | (i.op0_kind() as u64) << 16
        | (i.op1_kind() as u64) << 24
        | (i.op0_register() as u64) << 32
        | (i.op1_register() as u64) << 40
        | (i.memory_base() as u64) << 48
        | (i.memory_index() as u64) << 56;
    let values = i.memory_displacement64() ^ u64::from(i.immediate32()).rotate_left(32);
    let mix = (fields ^ values.rotate_left(23)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mix >> (64 - MEMO.trailing_zeros())) as usize
}

/// Reused across blocks: the encoder, the encodings it made, and the
/// per-block tables.
pub(crate) struct Assembler {
    encoder: Encoder,
    /// The encodings of instructions seen before, by a hash of the
    /// instruction: a block's instructions mostly repeat earlier blocks'
    /// (register loads and stores, the TLB probe, the cc's store), and
    /// iced's `Encoder` was half of a translation's time
    /// (docs/CHOICES.md §52c). An instruction that is neither a relative
    /// branch nor RIP-relative has the same bytes at every address (they
    /// are encoded at 0), and its `Eq` compares every field its encoding
    /// reads (all but the address, length and code size: 64-bit here).
    /// Made at the third block (a translator made for one block, as the
    /// free `translate` is, does not pay for it).
    memo: Vec<Memo>,
    /// Blocks encoded.
    pub(crate) blocks: u32,
    /// Instructions encoded by iced's `Encoder` (not found in `memo`).
    encoded: u64,
    /// The plain encodings, one after the other.
    plain: Vec<u8>,
    /// The block's relative branches, in order.
    branches: Vec<Branch>,
    /// Label id -> instruction index (`u32::MAX`: not a label).
    labels: Vec<u32>,
    /// Per instruction, its offset with every branch near (and the end).
    near: Vec<u32>,
}

impl Assembler {
    pub(crate) fn new() -> Self {
        Self {
            encoder: Encoder::new(64),
            memo: Vec::new(),
            blocks: 0,
            encoded: 0,
            plain: Vec::new(),
            branches: Vec::new(),
            labels: Vec::new(),
            near: Vec::new(),
        }
    }

    /// Encodes `instructions` (from a `CodeAssembler`: a labelled
    /// instruction's IP is its label's id, a branch to a label targets
    /// that id) for host address `ip`, without those `left_out` marks
    /// (neither branches nor the last: each gets no bytes, its label the
    /// next one's address; copying the others into a list without them
    /// was a fifth of a translation's time); `None` when the block needs
    /// `BlockEncoder`.
    pub(crate) fn encode(
        &mut self,
        instructions: &[Instruction],
        left_out: &[bool],
        ip: u64,
    ) -> Result<Option<Encoded>, IcedError> {
        let count = instructions.len();
        assert_eq!(left_out.len(), count, "one mark per instruction");
        self.blocks = self.blocks.saturating_add(1);
        if self.blocks == 3 {
            let empty = Memo {
                insn: Instruction::default(),
                len: 0,
                bytes: [0; 15],
            };
            self.memo = alloc::vec![empty; MEMO];
        }
        // Pass 1: the labels, the plain encodings, the branches, and the
        // layout with every branch near (one walk over the instructions:
        // the later passes walk the branches only).
        self.labels.clear();
        self.branches.clear();
        self.plain.clear();
        self.near.clear();
        let mut at = 0u32;
        for (index, i) in instructions.iter().enumerate() {
            if i.ip() != 0 {
                let Ok(id) = usize::try_from(i.ip()) else {
                    return Ok(None);
                };
                if id >= self.labels.len() {
                    self.labels.resize(id + 1, u32::MAX);
                }
                self.labels[id] = index as u32;
            }
            self.near.push(at);
            if left_out[index] {
                continue;
            }
            if i.op0_kind() == OpKind::NearBranch64 {
                let Some(kind) = Kind::of(i.code()) else {
                    return Ok(None);
                };
                self.branches.push(Branch {
                    index: index as u32,
                    plain_at: self.plain.len() as u32,
                    kind,
                    target: Target::Unresolved(i.near_branch64()),
                    short: false,
                });
                at += kind.near_len();
            } else if i.is_ip_rel_memory_operand() {
                return Ok(None);
            } else {
                at += self.plain(i)? as u32;
            }
        }
        self.near.push(at);
        // Pass 2: each branch's target; those to labels that fit in 8 bits
        // in the near layout become short.
        for branch in &mut self.branches {
            let Target::Unresolved(t) = branch.target else {
                continue;
            };
            branch.target = match usize::try_from(t).ok().and_then(|t| self.labels.get(t)) {
                Some(&index) if index != u32::MAX => Target::Label(index),
                _ => Target::Address(t),
            };
            let (Target::Label(t), false) = (branch.target, branch.kind == Kind::Call) else {
                continue;
            };
            let here = i64::from(self.near[branch.index as usize]);
            let to = i64::from(self.near[t as usize]);
            // Forward: the distance only shrinks from its end; backward:
            // from its start, and the short form ends 2 bytes in.
            let disp = if to > here {
                to - (here + i64::from(branch.kind.near_len()))
            } else {
                to - (here + 2)
            };
            branch.short = i8::try_from(disp).is_ok();
        }
        // The final offsets: the near ones, less what the short branches
        // before each instruction saved.
        let mut offsets = Vec::with_capacity(count + 1);
        let mut saved = 0;
        let mut from = 0;
        for branch in &self.branches {
            let to = branch.index as usize + 1;
            offsets.extend(self.near[from..to].iter().map(|&o| o - saved));
            from = to;
            if branch.short {
                saved += branch.kind.near_len() - 2;
            }
        }
        offsets.extend(self.near[from..].iter().map(|&o| o - saved));
        // Pass 3: the bytes; the plain encodings between two branches lie
        // together in `plain`, and are copied at once.
        let size = offsets.last().copied().unwrap_or(0) as usize;
        let mut code = Vec::with_capacity(size);
        let mut copied = 0;
        for branch in &self.branches {
            let Branch {
                index,
                plain_at,
                kind,
                target,
                short,
            } = *branch;
            code.extend_from_slice(&self.plain[copied..plain_at as usize]);
            copied = plain_at as usize;
            let end = u64::from(offsets[index as usize + 1]);
            let target = match target {
                Target::Label(t) => ip.wrapping_add(u64::from(offsets[t as usize])),
                Target::Address(a) | Target::Unresolved(a) => a,
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
        code.extend_from_slice(&self.plain[copied..]);
        Ok(Some(Encoded { code, offsets }))
    }

    /// Appends the bytes of `i` (neither a relative branch nor
    /// RIP-relative) at address 0 to `self.plain`, from `memo` if it holds
    /// them; their length.
    fn plain(&mut self, i: &Instruction) -> Result<usize, IcedError> {
        let slot = memo_slot(i);
        let memo = self.memo.get_mut(slot);
        // Compared bit for bit (a 40-byte compare; iced's `Eq`, field by
        // field, was a sixth of the encoder's time), its label id (`ip`)
        // cleared: equal bits are equal fields.
        let mut key = *i;
        key.set_ip(0);
        if let Some(memo) = memo
            .as_deref()
            .filter(|m| m.len != 0 && m.insn.eq_all_bits(&key))
        {
            // All 15 bytes (a copy of a fixed size), then only the
            // encoding's kept.
            let at = self.plain.len();
            self.plain.extend_from_slice(&memo.bytes);
            self.plain.truncate(at + usize::from(memo.len));
            return Ok(usize::from(memo.len));
        }
        self.encoded += 1;
        let n = self.encoder.encode(i, 0)?;
        let mut buffer = self.encoder.take_buffer();
        if let Some(memo) = memo {
            if let (Some(to), Ok(len)) = (memo.bytes.get_mut(..buffer.len()), u8::try_from(n)) {
                to.copy_from_slice(&buffer);
                memo.len = len;
                memo.insn = key;
            }
        }
        self.plain.extend_from_slice(&buffer);
        buffer.clear();
        self.encoder.set_buffer(buffer);
        Ok(n)
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

    /// Every instruction of `code` kept.
    fn all(code: &[Instruction]) -> Vec<bool> {
        alloc::vec![false; code.len()]
    }

    /// Ours and BlockEncoder's bytes for `a`'s instructions at `ip`.
    fn both(a: &mut CodeAssembler, ip: u64) -> (Vec<u8>, Vec<u8>) {
        let ours = Assembler::new()
            .encode(a.instructions(), &all(a.instructions()), ip)
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
    fn an_instruction_seen_before_takes_its_bytes_from_the_memo() {
        // Instructions that differ only in what Eq ignores share an entry;
        // those that differ in any encoded field do not.
        let ip = 0x7f00_1234_0000;
        let mut a = assembler();
        let mut distinct = 0;
        for disp in [0x10, 0x18, 0x10, 0x18] {
            a.mov(r8, qword_ptr(rbx + disp)).unwrap();
            a.mov(qword_ptr(rbx + disp), r9).unwrap();
        }
        distinct += 4;
        for imm in [1u64, 1 << 40, 1, 1 << 40] {
            a.mov(rsi, imm).unwrap();
        }
        distinct += 2;
        a.movzx(edx, byte_ptr(rsp + 0x10)).unwrap();
        a.movzx(edx, byte_ptr(rsp + 0x10)).unwrap();
        a.movzx(ecx, byte_ptr(rsp + 0x10)).unwrap();
        distinct += 2;
        let mut ours = Assembler::new();
        // The memo comes with the third block.
        let block = [Instruction::with(Code::Nopd)];
        for _ in 0..2 {
            ours.encode(&block, &[false], ip).unwrap();
        }
        let first = ours
            .encode(a.instructions(), &all(a.instructions()), ip)
            .unwrap()
            .expect("encodable");
        assert_eq!(first.code, a.assemble(ip).unwrap());
        assert_eq!(ours.encoded, 2 + distinct);
        // A second block of the same instructions: all from the memo.
        let again = ours
            .encode(a.instructions(), &all(a.instructions()), ip + 0x40)
            .unwrap()
            .expect("encodable");
        assert_eq!(again.code, first.code);
        assert_eq!(ours.encoded, 2 + distinct);
    }

    #[test]
    fn a_labelled_instruction_takes_the_bytes_of_the_same_one_unlabelled() {
        // The memo compares every bit but the label id (the `ip` a
        // labelled instruction carries): a label changes no byte.
        let ip = 0x7f00_1234_0000;
        let mut ours = Assembler::new();
        let block = [Instruction::with(Code::Nopd)];
        for _ in 0..2 {
            ours.encode(&block, &[false], ip).unwrap();
        }
        let mut a = assembler();
        a.mov(r9, qword_ptr(r12 + 0x18)).unwrap();
        let plain = a.instructions().to_vec();
        let mut b = assembler();
        let mut label = b.create_label();
        b.set_label(&mut label).unwrap();
        b.mov(r9, qword_ptr(r12 + 0x18)).unwrap();
        b.jmp(label).unwrap();
        let labelled = b.instructions().to_vec();
        assert_ne!(labelled[0].ip(), 0, "a labelled instruction");
        let first = ours.encode(&plain, &[false], ip).unwrap().unwrap();
        let encoded = ours.encoded;
        let again = ours
            .encode(&labelled, &[false, false], ip)
            .unwrap()
            .expect("encodable");
        assert_eq!(ours.encoded, encoded, "from the memo");
        assert_eq!(again.code[..first.code.len()], first.code[..]);
        assert_eq!(again.code, b.assemble(ip).unwrap());
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
        let ours = Assembler::new()
            .encode(a.instructions(), &[false], 0x1000)
            .unwrap();
        assert!(ours.is_none());
    }

    #[test]
    fn instructions_left_out_encode_as_the_list_without_them() {
        // Left out: a labelled nop a short and a near branch go to, a
        // move, and a nop before an instruction with a label of its own
        // (its branch goes there). Their bytes are those of the list
        // without them, their offsets the next instruction's.
        let ip = 0x7f00_1234_0000;
        let mut a = assembler();
        let mut gone = a.create_label();
        let mut before = a.create_label();
        let mut own = a.create_label();
        a.jne(gone).unwrap();
        a.jmp(before).unwrap();
        a.mov(rax, qword_ptr(rbx + 8)).unwrap(); // 2: left out
        for _ in 0..20 {
            a.mov(rcx, 0x1122_3344_5566_7788u64).unwrap();
        }
        a.set_label(&mut gone).unwrap();
        a.nop().unwrap(); // 23: left out
        a.add(rax, 1).unwrap();
        a.set_label(&mut before).unwrap();
        a.nop().unwrap(); // 25: left out
        a.set_label(&mut own).unwrap();
        a.sub(rax, 1).unwrap();
        a.jmp(own).unwrap();
        a.jb(gone).unwrap();
        let all = a.instructions().to_vec();
        let mut out = alloc::vec![false; all.len()];
        for n in [2, 23, 25] {
            out[n] = true;
        }
        let ours = Assembler::new()
            .encode(&all, &out, ip)
            .unwrap()
            .expect("encodable");
        // The same list written without them, labels moved by hand.
        let mut b = assembler();
        let mut gone = b.create_label();
        let mut own = b.create_label();
        b.jne(gone).unwrap();
        b.jmp(own).unwrap();
        for _ in 0..20 {
            b.mov(rcx, 0x1122_3344_5566_7788u64).unwrap();
        }
        b.set_label(&mut gone).unwrap();
        b.add(rax, 1).unwrap();
        b.set_label(&mut own).unwrap();
        b.sub(rax, 1).unwrap();
        b.jmp(own).unwrap();
        b.jb(gone).unwrap();
        assert_eq!(ours.code, b.assemble(ip).unwrap());
        let o = &ours.offsets;
        assert_eq!(o[2], o[3]);
        assert_eq!((o[23], o[25]), (o[24], o[26]));
    }
}
