//! Runs a scenario's steps (format version 2) through one way of
//! translating accesses, from the scenario's initial state: accesses go
//! through the backend's [`Translator`]; operations change storage with the
//! core's own instruction semantics (`zmmu_mmu::invalidate`, `zmmu_mmu::lra`)
//! and hand their invalidation to the backend's caches, exactly as the
//! CPU's instructions do.
//!
//! Every backend shares this file, so backends differ only in how an access
//! is translated and which translations they cache.

use zmmu_mmu::access::{self, Fault, Request};
use zmmu_mmu::addr::{AbsoluteAddress, LogicalAddress, RealAddress};
use zmmu_mmu::asce::Asce;
use zmmu_mmu::control::{Controls, Cr0};
use zmmu_mmu::exception::{Code, Exception};
use zmmu_mmu::invalidate::{self, CspWidth, Invalidation, PendingFlush};
use zmmu_mmu::kind::AccessKind;
use zmmu_mmu::lra;
use zmmu_mmu::storage::Storage;

use crate::machine::{self, SetupError};
use crate::steps::{Op, Outcome, Scenario, Step};
use crate::vector::{Amode, Lra, ProbeSpace};

/// Why a backend could not run a scenario (as opposed to an outcome that
/// differs from the expectation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The scenario's state cannot be set up.
    Setup(SetupError),
    /// The backend refused an access it does not implement.
    Unsupported(String),
    /// The backend itself failed (for example a KVM ioctl).
    Backend(String),
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Setup(e) => write!(f, "cannot set up the scenario: {e}"),
            Self::Unsupported(what) => write!(f, "unsupported: {what}"),
            Self::Backend(what) => write!(f, "backend failure: {what}"),
        }
    }
}

impl From<SetupError> for BackendError {
    fn from(e: SetupError) -> Self {
        Self::Setup(e)
    }
}

/// R1 before the LOAD REAL ADDRESS whose result a vector records: the probe
/// program loads all ones (`conformance/vectors/README.md`), so bits the
/// instruction leaves unchanged read as ones.
pub const LRA_R1_BEFORE: u64 = u64::MAX;

/// What a backend observed for one step, in the vector format's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The outcome.
    pub outcome: Outcome,
    /// For an access: LOAD REAL ADDRESS (64-bit form) after it, in its space.
    pub lra: Option<Lra>,
    /// The storage key of the frame the step names, after it.
    pub key_after: Option<u64>,
    /// For a backend that caches translations: the same access made again
    /// right after (it must be accepted too).
    pub repeat: Option<Outcome>,
}

/// One way of translating accesses, with the storage it owns.
pub trait Translator {
    /// The absolute storage.
    type Storage: Storage;

    /// The storage (operations change it directly).
    fn storage(&mut self) -> &mut Self::Storage;

    /// One access: the real and absolute address, or the architected fault;
    /// a failure of the backend itself is an error of the run.
    fn access(
        &mut self,
        controls: &Controls,
        request: Request,
    ) -> Result<Result<(u64, u64), Fault>, BackendError>;

    /// Drops the cached translations an operation requires.
    fn invalidate(&mut self, invalidation: &Invalidation);

    /// The control state changed (control-register load, SPX).
    fn controls_changed(&mut self, old: &Controls, new: &Controls);

    /// Whether the backend caches translations, so that each access is made
    /// twice (the second one served by the cache).
    fn caches(&self) -> bool;
}

/// Runs every step of `scenario` in order.
pub fn run<T: Translator>(t: &mut T, scenario: &Scenario) -> Result<Vec<Observed>, BackendError> {
    let mut controls = machine::controls(scenario);
    scenario
        .steps
        .iter()
        .map(|s| step(t, &mut controls, s))
        .collect()
}

fn done(cc: Option<u8>, r1: Option<u64>) -> Outcome {
    Outcome::Done {
        cc: cc.map(u64::from),
        r1,
    }
}

/// An exception as an outcome: code, TEID and whether it nullifies.
pub fn exception(e: &Exception) -> Outcome {
    Outcome::Exception {
        pic: u64::from(e.code.0),
        teid: e.teid.map(|t| t.0),
        nullified: Some(e.code.nullifies()),
    }
}

fn fault(f: Fault) -> Result<Outcome, BackendError> {
    match f {
        Fault::Program(e) => Ok(exception(&e)),
        Fault::ArtUnsupported { alet } => Err(BackendError::Unsupported(format!(
            "access-register translation for ALET {alet:#x}"
        ))),
    }
}

fn flush<T: Translator>(t: &mut T, pending: PendingFlush) {
    pending.apply(|inv| t.invalidate(inv));
}

/// The result of an invalidating operation as an outcome, its flush applied.
fn flushed<T: Translator>(t: &mut T, result: Result<PendingFlush, Exception>) -> Outcome {
    match result {
        Ok(pending) => {
            flush(t, pending);
            done(None, None)
        }
        Err(e) => exception(&e),
    }
}

fn step<T: Translator>(
    t: &mut T,
    controls: &mut Controls,
    s: &Step,
) -> Result<Observed, BackendError> {
    let mut seen = Observed {
        outcome: done(None, None),
        lra: None,
        key_after: None,
        repeat: None,
    };
    let prefix = controls.prefix;
    let real = |addr: u64| RealAddress::new(addr);
    seen.outcome = match s.op {
        Op::Access {
            addr,
            space,
            amode,
            access,
            key,
            size,
        } => {
            let a = Accessed {
                addr,
                space,
                amode,
                kind: machine::kind(access),
                key: (key & 0xF) as u8,
                size,
            };
            let first = a.run(t, controls)?;
            if t.caches() {
                seen.repeat = Some(a.run(t, controls)?);
            }
            let request = a.request(addr);
            if s.lra.is_some() && space != ProbeSpace::Real {
                seen.lra = lra::lra(t.storage(), controls, request.space, request.address, true)
                    .ok()
                    .map(|r| Lra {
                        cc: u64::from(r.cc),
                        r1: r.lra_register(LRA_R1_BEFORE, true),
                    });
            }
            seen.key_after = frame_key(t.storage(), controls, request);
            first
        }
        Op::Tprot {
            addr, space, key, ..
        } => match lra::tprot(
            t.storage(),
            controls,
            machine::space(space),
            LogicalAddress::new(addr),
            (key & 0xF) as u8,
        ) {
            Ok(cc) => done(Some(cc), None),
            Err(f) => fault(f)?,
        },
        Op::Lra {
            form,
            addr,
            space,
            amode,
        } => {
            let wide = form.wide(amode);
            match lra::lra(
                t.storage(),
                controls,
                machine::space(space),
                LogicalAddress::new(addr),
                wide,
            ) {
                Ok(r) => done(Some(r.cc), Some(r.lra_register(LRA_R1_BEFORE, wide))),
                Err(f) => fault(f)?,
            }
        }
        Op::Strag { addr, space, .. } => match lra::strag(
            t.storage(),
            controls,
            machine::space(space),
            LogicalAddress::new(addr),
        ) {
            Ok(r) => done(None, Some(r.value())),
            Err(f) => fault(f)?,
        },
        Op::Lptea { addr, m4 } => {
            let asce = match m4 {
                0 => controls.cr1,
                2 => controls.cr7,
                3 => controls.cr13,
                _ => return Ok(with(seen, exception(&Exception::new(Code::SPECIFICATION)))),
            };
            match lra::lptea(t.storage(), controls, asce, LogicalAddress::new(addr)) {
                Ok(r) => done(Some(r.cc), Some(r.r1)),
                Err(e) => exception(&e),
            }
        }
        Op::Ipte { pto, va, range, .. } => {
            let result = invalidate::ipte(t.storage(), pto, va, range as u8);
            flushed(t, result)
        }
        Op::Idte { r1, r2, r3, .. } => {
            let result = invalidate::idte(t.storage(), r1, r2, r3);
            flushed(t, result)
        }
        Op::Csp {
            width,
            addr,
            compare,
            replace,
            purge,
        } => {
            let width = if width == 4 {
                CspWidth::Word
            } else {
                CspWidth::Doubleword
            };
            let operand = prefix.to_absolute(real(width.operand_address(addr)));
            match invalidate::csp(t.storage(), operand, width, compare, replace, purge) {
                Ok(out) => {
                    if let Some(pending) = out.invalidation {
                        flush(t, pending);
                    }
                    done(Some(out.cc), None)
                }
                Err(e) => exception(&e),
            }
        }
        Op::Ptlb => {
            t.invalidate(&Invalidation::All);
            done(None, None)
        }
        Op::Sske { addr, key, .. } => {
            let result = invalidate::sske(t.storage(), prefix, real(addr), key as u8);
            seen.key_after = key_of(t.storage(), prefix.to_absolute(real(addr)));
            flushed(t, result)
        }
        Op::Rrbe { addr } => match invalidate::rrbe(t.storage(), prefix, real(addr)) {
            Ok((cc, pending)) => {
                flush(t, pending);
                seen.key_after = key_of(t.storage(), prefix.to_absolute(real(addr)));
                done(Some(cc), None)
            }
            Err(e) => exception(&e),
        },
        Op::Spx { prefix: operand } => match invalidate::spx(t.storage(), prefix, operand) {
            Ok((new, pending)) => {
                let old = *controls;
                controls.prefix = new;
                flush(t, pending);
                t.controls_changed(&old, controls);
                done(None, None)
            }
            Err(e) => exception(&e),
        },
        Op::Store { addr, value } => {
            match t.storage().write_u64(AbsoluteAddress::new(addr), value) {
                Some(()) => done(None, None),
                None => exception(&Exception::addressing()),
            }
        }
        Op::Lctlg { cr, value } => {
            let old = *controls;
            match cr {
                0 => controls.cr0 = Cr0::from_bits_retain(value),
                1 => controls.cr1 = Asce::new(value),
                7 => controls.cr7 = Asce::new(value),
                _ => controls.cr13 = Asce::new(value),
            }
            t.controls_changed(&old, controls);
            done(None, None)
        }
    };
    Ok(seen)
}

fn with(seen: Observed, outcome: Outcome) -> Observed {
    Observed { outcome, ..seen }
}

/// An access of several bytes.
struct Accessed {
    addr: u64,
    space: ProbeSpace,
    amode: Amode,
    kind: AccessKind,
    key: u8,
    size: u64,
}

impl Accessed {
    fn request(&self, address: u64) -> Request {
        Request {
            address: LogicalAddress::new(address),
            space: machine::space(self.space),
            kind: self.kind,
            key: self.key,
        }
    }

    /// The address of byte `i`, wrapped at the end of the addressing mode's
    /// space (PoP ch. 3, Address Wraparound).
    fn byte(&self, i: u64) -> u64 {
        self.addr.wrapping_add(i) & self.amode.max_addr()
    }

    /// The bytes whose access rules can differ from the byte before them:
    /// the first, and each at a 2 KiB boundary (a new page, the end of the
    /// fetch-protection-override area, a wrap to 0), and the last byte when
    /// the access crosses a page.
    fn checkpoints(&self) -> Vec<u64> {
        let mut at: Vec<u64> = (0..self.size)
            .filter(|&i| i == 0 || self.byte(i) & 0x7FF == 0)
            .map(|i| self.byte(i))
            .collect();
        let end = self.byte(self.size - 1);
        if end >> 12 != self.addr >> 12 {
            at.push(end);
        }
        at
    }

    /// The first exception in byte order is the outcome, and nothing is
    /// recorded (no reference or change bit) when any part is refused: an
    /// access of several checkpoints is checked by the core's rules first,
    /// then made through the backend. Success names the first byte and,
    /// when the access crosses a page, the last.
    fn run<T: Translator>(&self, t: &mut T, controls: &Controls) -> Result<Outcome, BackendError> {
        let at = self.checkpoints();
        if at.len() > 1 {
            for &a in &at {
                if let Err(f) = access::check(t.storage(), controls, self.request(a)) {
                    return fault(f);
                }
            }
        }
        let mut done = Vec::with_capacity(at.len());
        for &a in &at {
            match t.access(controls, self.request(a))? {
                Ok(pair) => done.push(pair),
                Err(f) => return fault(f),
            }
        }
        let (real, abs) = done[0];
        let last =
            (self.byte(self.size - 1) >> 12 != self.addr >> 12).then(|| done[done.len() - 1]);
        Ok(Outcome::Access { real, abs, last })
    }
}

fn key_of<S: Storage + ?Sized>(storage: &S, absolute: AbsoluteAddress) -> Option<u64> {
    storage.key(absolute).map(|k| u64::from(k.value()))
}

/// The storage key of the frame an access's address translates to, if it
/// translates to an existing frame (protection is not considered).
pub fn frame_key<S: Storage + ?Sized>(
    storage: &S,
    controls: &Controls,
    request: Request,
) -> Option<u64> {
    let address = request.address.value();
    let absolute = match access::asce_source(request.space, request.kind).ok()? {
        None => controls.prefix.to_absolute(RealAddress::new(address)),
        Some(source) => {
            zmmu_mmu::walk::walk(storage, controls.asce(source), address, controls.into())
                .ok()?
                .absolute(address, controls.prefix)
        }
    };
    key_of(storage, absolute)
}
