//! One block translated inside the VM (issue 12, docs/CHOICES.md 89): the
//! image reads the block's page from guest absolute storage through the
//! absolute window, decodes the block there and translates it with the
//! host's translator (`zmmu_translator`) under the environment the host
//! gives, into the [`Translation`] record in its data, where the host
//! reads the code and what it needs of the result. The code is not yet
//! placed in the code cache.
//!
//! The host writes the [`Request`]; the image answers in [`Answer`] and
//! [`Translation::code`]. Whatever the request, the answer is a
//! [`Status`]: an address outside storage, bytes that decode to no
//! instruction, an environment word the translator has no meaning for,
//! or code larger than the buffer are answers, never a fault or a panic.
//!
//! The heap: a block holds at most [`MAX_BLOCK`] instructions of one page,
//! so what one translation allocates is bounded, and all of it is freed
//! when the block is done (a translator of its own for each block): the
//! heap ([`HEAP_BYTES`]) holds iced's tables, made at the first
//! translation and kept, and the most one block needs, with a quarter of
//! it to spare at the worst blocks a test measured (`tests/heap.rs`: 64
//! of the longest instructions of a corpus, random bytes, the corpus).

use zmmu_mmu::addr::{AbsoluteAddress, AddressingMode};
use zmmu_mmu::storage::Storage;
use zmmu_translator::{decode_block, Env, MemoryAccess, Site, Stubs};

pub use zmmu_translator::{Translated, MAX_BLOCK};

use crate::guest::{Guest, Window};

/// Bytes of [`Translation::code`]: a block's code larger than this is
/// answered [`Status::TooLarge`].
pub const CODE_BYTES: usize = 64 << 10;

/// Entries of [`Answer::unlinked`]: a block's direct exits (its
/// [`zmmu_translator::MAX_SIDE_EXITS`] side exits and its last
/// instruction's targets).
pub const UNLINKED: usize = 8;

/// Bytes of the image's heap, in its bss (`src/bin/image.rs`).
pub const HEAP_BYTES: usize = 3 << 19;

/// What the host asks: translate the block at PSW address `addr`, whose
/// first byte is at absolute address `absolute`, under the environment
/// [`env_word`] `env`, for code placed at `ip` with block number `id`
/// and the shared stubs at `stubs` (enter offset, dispatcher, return
/// path: [`Stubs`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Request {
    /// The PSW address of the block's first instruction.
    pub addr: u64,
    /// The absolute address its bytes are fetched from.
    pub absolute: u64,
    /// The translator's environment ([`env_word`]).
    pub env: u64,
    /// The host address the code will run at.
    pub ip: u64,
    /// The block's number (below 2^32).
    pub id: u64,
    /// [`Stubs::enter`], [`Stubs::dispatch`], [`Stubs::ret`].
    pub stubs: [u64; 3],
}

/// What the image made of a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Status {
    /// Not answered (the host clears the status before each request).
    None = 0,
    /// Translated: the code and the fields of [`Answer`] hold.
    Translated = 1,
    /// The block's page does not lie in absolute storage (below
    /// `Shared::absolute_size`).
    Outside = 2,
    /// No instruction decodes at the address (an invalid opcode, or one
    /// that crosses into the next page: the host's path, which reads both
    /// frames).
    Empty = 3,
    /// The environment word or the block number has no meaning.
    BadRequest = 4,
    /// The translator refused the block (an encoding error).
    Refused = 5,
    /// The code or its exits do not fit the record.
    TooLarge = 6,
}

/// The image's answer: how much of the block it translated, and the
/// result's fields besides the code (`zmmu_translator::Translated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Answer {
    /// A [`Status`] as its number.
    pub status: u64,
    /// Guest instructions translated.
    pub insns: u64,
    /// Guest bytes they span.
    pub bytes: u64,
    /// Bytes of code in [`Translation::code`].
    pub code_len: u64,
    /// [`Translated::inline_end`].
    pub inline_end: u64,
    /// Bit `i`: instruction `i` is native ([`Translated::native`]).
    pub native: u64,
    /// Bit `i`: instruction `i`'s site has a slow path.
    pub slow: u64,
    /// Per instruction, its site's start and slow path (zero where it has
    /// none) ([`Translated::sites`]).
    pub sites: [[u64; 2]; MAX_BLOCK],
    /// Entries of [`Answer::unlinked`] that hold.
    pub unlinked_len: u64,
    /// [`Translated::unlinked`].
    pub unlinked: [[u64; 2]; UNLINKED],
    /// TSC ticks the image took to answer (a measurement: nothing
    /// depends on it).
    pub ticks: u64,
}

/// The record in the image's data the host and the image share for a
/// translation.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Translation {
    /// Written by the host.
    pub request: Request,
    /// Written by the image.
    pub answer: Answer,
    /// The code, [`Answer::code_len`] bytes of it.
    pub code: [u8; CODE_BYTES],
}

impl Translation {
    /// A record with nothing asked or answered.
    pub const fn new() -> Self {
        Self {
            request: Request {
                addr: 0,
                absolute: 0,
                env: 0,
                ip: 0,
                id: 0,
                stubs: [0; 3],
            },
            answer: Answer::of(Status::None),
            code: [0; CODE_BYTES],
        }
    }
}

impl Default for Translation {
    fn default() -> Self {
        Self::new()
    }
}

impl Answer {
    /// An answer of `status` with nothing translated.
    pub const fn of(status: Status) -> Self {
        Self {
            status: status as u64,
            insns: 0,
            bytes: 0,
            code_len: 0,
            inline_end: 0,
            native: 0,
            slow: 0,
            sites: [[0; 2]; MAX_BLOCK],
            unlinked_len: 0,
            unlinked: [[0; 2]; UNLINKED],
            ticks: 0,
        }
    }

    /// The [`Translated`] this answer and its `code` stand for: `None`
    /// unless the status is [`Status::Translated`] and every count lies
    /// in the record (the host reads what the image wrote, bounded).
    pub fn translated(&self, code: &[u8]) -> Option<Translated> {
        let insns = usize::try_from(self.insns)
            .ok()
            .filter(|&n| n <= MAX_BLOCK)?;
        let unlinked = usize::try_from(self.unlinked_len)
            .ok()
            .filter(|&n| n <= UNLINKED)?;
        let code = code.get(..usize::try_from(self.code_len).ok()?)?;
        (self.status == Status::Translated as u64).then(|| Translated {
            code: code.to_vec(),
            native: (0..insns).map(|i| self.native >> i & 1 != 0).collect(),
            sites: self.sites[..insns]
                .iter()
                .enumerate()
                .map(|(i, &[start, slow])| Site {
                    start,
                    slow: (self.slow >> i & 1 != 0).then_some(slow),
                })
                .collect(),
            inline_end: self.inline_end,
            chained: alloc::vec::Vec::new(),
            unlinked: self.unlinked[..unlinked]
                .iter()
                .map(|&[at, addr]| (at, addr))
                .collect(),
        })
    }
}

/// The word of [`Request::env`] for `env`: the addressing mode's bits
/// (24, 31, 64) in bits 0-7, the PSW key in bits 8-11, how storage
/// operands are reached in bits 16-17 (0: the helper, 1: the host MMU,
/// 2: the software TLB, whose partition is in bits 32-63, whole pages in
/// bit 18 and FMA in bit 19), MOVBE in bit 12.
pub fn env_word(env: &Env) -> u64 {
    let memory = match env.memory {
        MemoryAccess::Helper => 0,
        MemoryAccess::HostMmu => 1 << 16,
        MemoryAccess::SoftTlb {
            partition,
            whole_pages,
            fma,
        } => {
            2 << 16 | u64::from(whole_pages) << 18 | u64::from(fma) << 19 | (partition as u64) << 32
        }
    };
    u64::from(env.amode.bits()) | u64::from(env.key & 15) << 8 | u64::from(env.movbe) << 12 | memory
}

/// The environment of [`env_word`] `word`, `None` for a word no
/// environment gives.
pub fn env_of(word: u64) -> Option<Env> {
    let amode = AddressingMode::from_bits((word & 0xff) as u32)?;
    let partition = word >> 32;
    let memory = match word >> 16 & 3 {
        0 => MemoryAccess::Helper,
        1 => MemoryAccess::HostMmu,
        2 => MemoryAccess::SoftTlb {
            partition: usize::try_from(partition).ok()?,
            whole_pages: word >> 18 & 1 != 0,
            fma: word >> 19 & 1 != 0,
        },
        _ => return None,
    };
    let env = Env {
        amode,
        key: (word >> 8 & 15) as u8,
        memory,
        movbe: word >> 12 & 1 != 0,
    };
    (env_word(&env) == word).then_some(env)
}

/// Answers `request`: the block's page read from absolute storage
/// through `guest`'s absolute window (`absolute_size` bytes of it),
/// decoded and translated as the kvm engine does on the host
/// (`zmmu_translator::translate`, a translator of its own for each block:
/// what it allocates is freed when the block is done); the code goes to
/// `code`.
pub fn translate(
    request: &Request,
    guest: &impl Guest,
    absolute_size: u64,
    code: &mut [u8; CODE_BYTES],
) -> Answer {
    translate_from(request, &Window::new(guest, absolute_size), code)
}

/// [`translate`] with the block's bytes read from `storage`.
pub fn translate_from(
    request: &Request,
    storage: &impl Storage,
    code: &mut [u8; CODE_BYTES],
) -> Answer {
    let (Some(env), Ok(id)) = (env_of(request.env), u32::try_from(request.id)) else {
        return Answer::of(Status::BadRequest);
    };
    let mut page = [0u8; 4096];
    let frame = AbsoluteAddress::new(request.absolute & !0xfff);
    if storage.read(frame, &mut page).is_none() {
        return Answer::of(Status::Outside);
    }
    let offset = (request.absolute & 0xfff) as usize;
    let insns = decode_block(&page[offset..], request.addr, env.amode, MAX_BLOCK);
    if insns.is_empty() {
        return Answer::of(Status::Empty);
    }
    let [enter, dispatch, ret] = request.stubs;
    let stubs = Stubs {
        enter: enter as usize,
        dispatch,
        ret,
    };
    let Ok(translated) = zmmu_translator::translate(&insns, &env, request.ip, id, &stubs, &[])
    else {
        return Answer::of(Status::Refused);
    };
    let len = translated.code.len();
    let (Some(out), true) = (code.get_mut(..len), translated.unlinked.len() <= UNLINKED) else {
        return Answer::of(Status::TooLarge);
    };
    out.copy_from_slice(&translated.code);
    let mut answer = Answer {
        insns: insns.len() as u64,
        bytes: insns.iter().map(|g| u64::from(g.insn.len)).sum(),
        code_len: len as u64,
        inline_end: translated.inline_end,
        unlinked_len: translated.unlinked.len() as u64,
        ..Answer::of(Status::Translated)
    };
    for (i, (&native, site)) in translated.native.iter().zip(&translated.sites).enumerate() {
        answer.native |= u64::from(native) << i;
        answer.slow |= u64::from(site.slow.is_some()) << i;
        answer.sites[i] = [site.start, site.slow.unwrap_or(0)];
    }
    for (slot, &(at, addr)) in answer.unlinked.iter_mut().zip(&translated.unlinked) {
        *slot = [at, addr];
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmmu_mmu::storage::OwnedStorage;

    fn host_mmu(amode: AddressingMode) -> Env {
        Env {
            amode,
            key: 0,
            memory: MemoryAccess::HostMmu,
            movbe: false,
        }
    }

    /// The stubs of code at `base` (the translator's own).
    fn stubs_at(base: u64) -> (u64, [u64; 3]) {
        let (shared, stubs) = zmmu_translator::stubs(base).unwrap();
        (
            base + shared.len() as u64,
            [stubs.enter as u64, stubs.dispatch, stubs.ret],
        )
    }

    #[test]
    fn every_environment_has_a_word_and_back() {
        for amode in [
            AddressingMode::Bits24,
            AddressingMode::Bits31,
            AddressingMode::Bits64,
        ] {
            for memory in [
                MemoryAccess::Helper,
                MemoryAccess::HostMmu,
                MemoryAccess::SoftTlb {
                    partition: 3,
                    whole_pages: true,
                    fma: false,
                },
            ] {
                for (key, movbe) in [(0, false), (9, true)] {
                    let env = Env {
                        amode,
                        key,
                        memory,
                        movbe,
                    };
                    assert_eq!(env_of(env_word(&env)), Some(env));
                }
            }
        }
        // Words no environment gives.
        assert_eq!(env_of(32), None);
        assert_eq!(env_of(64 | 3 << 16), None);
        assert_eq!(env_of(64 | 1 << 40), None);
    }

    /// agr %r1,%r2 ; lg %r3,8(%r1) ; brc 15,.-10 at 0x2000.
    fn program() -> OwnedStorage {
        let mut storage = OwnedStorage::new(0x4000);
        storage.bytes_mut()[0x3ffe] = 0xe3;
        let code = [
            0xb9, 0x08, 0x00, 0x12, 0xe3, 0x30, 0x10, 0x08, 0x00, 0x04, 0xa7, 0xf4, 0xff, 0xfb,
        ];
        storage.bytes_mut()[0x2000..0x2000 + code.len()].copy_from_slice(&code);
        storage
    }

    #[test]
    fn the_answer_is_the_translators_result() {
        let storage = program();
        let (ip, stubs) = stubs_at(0x7f00_0000_0000);
        let env = host_mmu(AddressingMode::Bits64);
        let request = Request {
            addr: 0x10_2000,
            absolute: 0x2000,
            env: env_word(&env),
            ip,
            id: 7,
            stubs,
        };
        let mut code = [0; CODE_BYTES];
        let answer = translate_from(&request, &storage, &mut code);
        assert_eq!(answer.status, Status::Translated as u64);
        assert_eq!((answer.insns, answer.bytes), (3, 14));
        let mut page = [0u8; 4096];
        storage
            .read(AbsoluteAddress::new(0x2000), &mut page)
            .unwrap();
        let block = decode_block(&page, 0x10_2000, env.amode, MAX_BLOCK);
        let (_, host_stubs) = zmmu_translator::stubs(0x7f00_0000_0000).unwrap();
        let host = zmmu_translator::translate(&block, &env, ip, 7, &host_stubs, &[]).unwrap();
        assert_eq!(answer.translated(&code), Some(host));
    }

    #[test]
    fn a_hostile_request_is_an_answer() {
        let storage = program();
        let (ip, stubs) = stubs_at(0x1000);
        let env = env_word(&host_mmu(AddressingMode::Bits31));
        let request = Request {
            addr: 0x2000,
            absolute: 0x2000,
            env,
            ip,
            id: 1,
            stubs,
        };
        let mut code = [0; CODE_BYTES];
        let mut answer = |request: Request| translate_from(&request, &storage, &mut code);
        let outside = [0x4000, u64::MAX, !0xfff, 1 << 63];
        for absolute in outside {
            let status = answer(Request {
                absolute,
                ..request
            })
            .status;
            assert_eq!(status, Status::Outside as u64, "{absolute:#x}");
        }
        // An instruction that crosses the page's end is the host's (the
        // bytes of both frames).
        assert_eq!(
            answer(Request {
                absolute: 0x3ffe,
                ..request
            })
            .status,
            Status::Empty as u64
        );
        let bad = [(32, 1), (env | 3 << 16, 1), (env, 1 << 32)];
        for (env, id) in bad {
            let status = answer(Request { env, id, ..request }).status;
            assert_eq!(status, Status::BadRequest as u64);
        }
        // What the image wrote is read bounded.
        let mut lying = Answer::of(Status::Translated);
        lying.insns = MAX_BLOCK as u64 + 1;
        assert_eq!(lying.translated(&[0; 16]), None);
        lying.insns = 1;
        lying.code_len = 17;
        assert_eq!(lying.translated(&[0; 16]), None);
    }
}
