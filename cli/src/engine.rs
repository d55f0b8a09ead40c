//! The engines `zmmu run --engine` chooses from.

/// The execution engines of `zmmu run --engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The interpreter.
    Interp,
    /// The translator (zmmu-jit).
    Jit,
    /// Translated code in a KVM virtual machine (zmmu-kvm).
    Kvm,
}

impl EngineKind {
    /// The engine without `--engine`: the jit where it runs (x86-64
    /// hosts), else the interpreter.
    pub const DEFAULT: EngineKind = if cfg!(target_arch = "x86_64") {
        EngineKind::Jit
    } else {
        EngineKind::Interp
    };
}
