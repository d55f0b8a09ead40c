//! How the CPU executes instructions: the interpreter one at a time, or an
//! engine (the `jit`) that runs a batch and behaves exactly as that many
//! calls of [`Cpu::step`].

use zmmu_cpu::interrupt::Interruption;
use zmmu_cpu::state::Cpu;
use zmmu_mmu::invalidate::Invalidation;

use crate::board::Board;
use crate::interrupt::{controls_differ, interruption_controls};

/// What one call of [`Engine::run`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ran {
    /// Instructions executed (the one that ended in an interruption
    /// included); at least one.
    pub instructions: u64,
    /// The address of the last of them.
    pub last: u64,
    /// The result of the last ([`Cpu::step`]'s).
    pub result: Result<(), Interruption>,
}

/// An execution engine. [`Engine::run`] must behave as calling
/// [`Cpu::step`] up to `max` (at least 1) times, stopping after the first
/// call that returns an interruption; it may stop earlier, and must after
/// an instruction that may have made an interruption pending or changed the
/// PSW mask (SERVC, SIGP, DIAG, LPSWE, SSM, ...), so that the machine
/// checks for interruptions, timers and stop requests as it does between
/// interpreted instructions.
pub trait Engine {
    /// Runs up to `max` instructions of `cpu` on `board`.
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Ran;

    /// The engine ends a batch by itself once the next enabled timer
    /// interruption or the watchdog is due ([`crate::interrupt::next_timer`],
    /// [`crate::watchdog::earliest`]; with virtual time, one nanosecond
    /// per instruction): the machine then gives it batches up to the
    /// limit instead of the timer-poll period, and looks at the timers
    /// after each. An engine that leaves translated code only at a cost
    /// (a VM exit) says `true`.
    fn watches_clock(&self) -> bool {
        false
    }

    /// The engine ends its batch soon after another CPU kicks this one
    /// ([`crate::configuration::Member::kicked`]), however long the batch
    /// (the kvm engine's vCPU is interrupted in the VM): among several
    /// CPUs the machine then gives it batches up to the limit rather than
    /// [`crate::configuration::BATCH`], which bounds how long another CPU
    /// waits for this one's next boundary.
    fn leaves_when_kicked(&self) -> bool {
        false
    }

    /// Another CPU's instruction invalidated translations in the whole
    /// configuration (IPTE, IDTE, CSP, SSKE, RRBE); the CPU's TLB has
    /// dropped what it covers, between two batches. An engine that keeps
    /// more (translated code found by logical address, shadow tables)
    /// drops it here. The default keeps nothing.
    fn invalidate(&mut self, invalidation: &Invalidation) {
        let _ = invalidation;
    }
}

/// The interpreter: [`Cpu::step`] after [`Cpu::step`], up to `max`, ending
/// the batch after an interruption, after an instruction that reached the
/// machine ([`Board::attention`]), when another CPU kicked this one
/// ([`crate::configuration::Member::kicked`]) or after one that changed what decides which
/// interruptions are enabled or due ([`interruption_controls`]). Among
/// several CPUs its batches are at most [`Interpreter::MEMBER_BATCH`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Interpreter;

impl Interpreter {
    /// The longest batch of a CPU among several: a batch costs the
    /// interpreter little, and a CPU that spins shows it in a few batches
    /// ([`crate::configuration::Spin`]): with batches as long as a
    /// translating engine's ([`crate::configuration::BATCH`], about 250
    /// µs interpreted), a CPU waiting for a lock whose holder waits for a
    /// host core spun a millisecond before it let the holder run.
    pub const MEMBER_BATCH: u64 = 256;
}

impl Engine for Interpreter {
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board<'_>, max: u64) -> Ran {
        let max = match board.member {
            Some(_) => max.min(Self::MEMBER_BATCH),
            None => max,
        };
        let mut instructions = 0;
        loop {
            let last = cpu.psw.addr;
            let before = interruption_controls(cpu);
            let result = cpu.step(board);
            instructions += 1;
            if result.is_err()
                || instructions >= max
                || board.attention
                || board.member.is_some_and(|member| member.kicked())
                || controls_differ(&interruption_controls(cpu), &before)
            {
                return Ran {
                    instructions,
                    last,
                    result,
                };
            }
        }
    }
}
