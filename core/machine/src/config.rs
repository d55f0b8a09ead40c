//! What a machine is made of, in the terms of QEMU's `s390-ccw-virtio`
//! command line (`-m`, `-append`, `-name`, `-uuid`, `-device`,
//! `-watchdog-action`, `-cpu`), so that a test's QEMU parameters map one to
//! one.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Where QEMU's `-kernel` loader puts the kernel command line (the parm
/// area of the IPL'd program, `KERN_PARM_AREA`).
pub const COMMAND_LINE_ADDRESS: u64 = 0x10480;
/// The longest command line that fits there with its terminating zero
/// (QEMU's legacy parm-area size, 896 bytes).
pub const COMMAND_LINE_MAX: usize = 895;

/// A device on the machine's command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// `virtio-net-ccw`: a virtio network device on the channel subsystem,
    /// without a backend.
    VirtioNetCcw,
    /// `diag288`: the watchdog that DIAGNOSE 0x288 drives.
    Diag288,
}

impl Device {
    /// The device named on the command line (its QEMU name, without
    /// properties).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.split(',').next()? {
            "virtio-net-ccw" => Some(Self::VirtioNetCcw),
            "diag288" => Some(Self::Diag288),
            _ => None,
        }
    }
}

/// What the watchdog does when it expires (QEMU's `-watchdog-action`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WatchdogAction {
    /// Reset the machine (QEMU's default).
    #[default]
    Reset,
    /// Stop the machine, as a power-off.
    Poweroff,
    /// Pause the machine (zmmu stops it and says so).
    Pause,
    /// Nothing happens.
    None,
    /// Inject a non-maskable interruption: on s390x a restart interruption
    /// (QEMU's `inject-nmi`).
    InjectNmi,
}

impl WatchdogAction {
    /// The action with this QEMU name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "reset" => Self::Reset,
            "poweroff" | "shutdown" => Self::Poweroff,
            "pause" => Self::Pause,
            "none" => Self::None,
            "inject-nmi" => Self::InjectNmi,
            _ => return Option::None,
        })
    }
}

/// CPU-model features a test may switch off (`-cpu max,vx=off`,
/// `-cpu max,edat=off`) or on (`-cpu max,sea_esop2=on`): what a reference
/// machine offers (the conformance vectors run under `zmmu run` so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuFeatures {
    /// The vector facility (129), where zmmu implements it.
    pub vx: bool,
    /// The miscellaneous-instruction-extensions facility 3 (61); on by
    /// default.
    pub mie3: bool,
    /// The vector-enhancements facility 1 (135, QEMU's `vxeh`); on by
    /// default, present only with `vx`.
    pub vxeh: bool,
    /// The vector-enhancements facility 2 (148, QEMU's `vxeh2`); on by
    /// default, present only with `vxeh`.
    pub vxeh2: bool,
    /// The guarded-storage facility (133): zmmu does not implement it, so
    /// it can only be off.
    pub gs: bool,
    /// Enhanced DAT 1 (facility 8: 1 MiB frames, segment and region
    /// protection, ACCF, PFMF), which the MMU implements; on by default
    /// (QEMU 7.2's `-cpu max` under TCG lacks it: `edat=off` is that
    /// machine, `docs/CHOICES.md` 33b).
    pub edat: bool,
    /// Enhanced suppression on protection 2 (facility 131, QEMU's
    /// `sea_esop2`: the TEID of a protection exception names its cause);
    /// off by default.
    pub sea_esop2: bool,
}

impl Default for CpuFeatures {
    fn default() -> Self {
        Self {
            vx: true,
            mie3: true,
            vxeh: true,
            vxeh2: true,
            gs: false,
            edat: true,
            sea_esop2: false,
        }
    }
}

/// Why a `-cpu` model string is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuModelError(pub String);

impl fmt::Display for CpuModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for CpuModelError {}

impl CpuFeatures {
    /// Parses QEMU's `-cpu MODEL[,FEATURE=on|off...]`: the model is `max`,
    /// `host` or `qemu` (all mean the one model zmmu has), each feature is
    /// `vx`, `mie3`, `gs`, `vxeh`, `vxeh2`, `edat` or `sea_esop2`. Asking
    /// for what zmmu does not implement (`gs`, the guarded-storage
    /// facility) is an error, never ignored.
    pub fn parse(text: &str) -> Result<Self, CpuModelError> {
        let mut parts = text.split(',');
        let model = parts.next().unwrap_or_default();
        if !matches!(model, "max" | "host" | "qemu") {
            return Err(CpuModelError(alloc::format!(
                "CPU model `{model}`: zmmu has one model, named max, host or qemu"
            )));
        }
        let mut features = Self::default();
        for part in parts {
            let (name, value) = part.split_once('=').unwrap_or((part, "on"));
            let on = match value {
                "on" | "true" => true,
                "off" | "false" => false,
                _ => {
                    return Err(CpuModelError(alloc::format!(
                        "feature `{part}`: the value must be on or off"
                    )))
                }
            };
            match (name, on) {
                ("vx", on) => features.vx = on,
                ("mie3", on) => features.mie3 = on,
                ("vxeh", on) => features.vxeh = on,
                ("vxeh2", on) => features.vxeh2 = on,
                ("edat", on) => features.edat = on,
                ("sea_esop2", on) => features.sea_esop2 = on,
                ("gs", false) => {}
                ("gs", true) => {
                    return Err(CpuModelError(
                        "feature gs=on: the guarded-storage facility (133) is not implemented".into(),
                    ));
                }
                _ => {
                    return Err(CpuModelError(alloc::format!(
                        "feature `{name}`: zmmu can switch vx, mie3, gs, vxeh, vxeh2, edat and sea_esop2 only"
                    )))
                }
            }
        }
        Ok(features)
    }
}

/// A machine's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The kernel command line, stored at [`COMMAND_LINE_ADDRESS`].
    pub command_line: Option<String>,
    /// The guest's name (STSI 3.2.2 reports it).
    pub name: Option<String>,
    /// The guest's UUID (STSI 3.2.2 reports it).
    pub uuid: Option<[u8; 16]>,
    /// The devices.
    pub devices: Vec<Device>,
    /// What the watchdog does when it expires.
    pub watchdog_action: WatchdogAction,
    /// CPU-model features.
    pub cpu: CpuFeatures,
    /// The CPUs.
    pub cpus: Cpus,
}

/// The CPUs of the configuration, as QEMU's `-smp N,maxcpus=M` and the
/// core ids of its `s390x-cpu` devices give them: the CPU addresses in the
/// order the CPUs are configured (the first is the IPL CPU), and how many
/// CPUs there may be (STSI and the SCLP report both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpus {
    /// The CPU address (core id) of each configured CPU.
    pub core_ids: Vec<u16>,
    /// At most this many CPUs (every core id is below it).
    pub max_cpus: u16,
}

impl Default for Cpus {
    /// One CPU, address 0.
    fn default() -> Self {
        Self {
            core_ids: alloc::vec![0],
            max_cpus: 1,
        }
    }
}

impl Cpus {
    /// Checks what QEMU checks: at least one CPU, at most `max_cpus`
    /// (itself at most [`crate::sclp::MAX_CPUS`]), core ids below
    /// `max_cpus` and distinct.
    pub fn validate(&self) -> Result<(), String> {
        let count = self.core_ids.len();
        if count == 0 || count > usize::from(self.max_cpus) {
            return Err(alloc::format!(
                "{count} CPUs do not fit maxcpus={}",
                self.max_cpus
            ));
        }
        if self.max_cpus > crate::sclp::MAX_CPUS {
            return Err(alloc::format!(
                "maxcpus={} is more than the {} CPUs an s390x machine may have",
                self.max_cpus,
                crate::sclp::MAX_CPUS
            ));
        }
        for (i, id) in self.core_ids.iter().enumerate() {
            if *id >= self.max_cpus {
                return Err(alloc::format!(
                    "core id {id} is not below maxcpus={}",
                    self.max_cpus
                ));
            }
            if self.core_ids[..i].contains(id) {
                return Err(alloc::format!("core id {id} is given twice"));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Checks what the machine cannot take: CPUs QEMU would refuse
    /// ([`Cpus::validate`]), a command line longer than the parm area.
    pub fn validate(&self) -> Result<(), String> {
        self.cpus.validate()?;
        match &self.command_line {
            Some(line) if line.len() > COMMAND_LINE_MAX => Err(alloc::format!(
                "the command line is {} bytes long; at most {COMMAND_LINE_MAX} fit in the parm area",
                line.len()
            )),
            _ => Ok(()),
        }
    }
}

/// Parses a UUID in its 8-4-4-4-12 hexadecimal form.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    if digits.len() != 32 || groups != [8, 4, 4, 4, 12] {
        return None;
    }
    let mut uuid = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hex = core::str::from_utf8(pair).ok()?;
        uuid[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_in_the_8_4_4_4_12_form() {
        assert_eq!(
            parse_uuid("12345678-9abc-def0-1234-56789abcdef0"),
            Some([
                0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
                0xde, 0xf0
            ])
        );
        assert_eq!(parse_uuid("123456789abcdef0123456789abcdef0"), None);
        assert_eq!(parse_uuid("12345678-9abc-def0-1234-56789abcdefg"), None);
    }

    #[test]
    fn cpu_model_switches_only_what_exists() {
        assert_eq!(
            CpuFeatures::parse("max,vx=off,gs=off"),
            Ok(CpuFeatures {
                vx: false,
                gs: false,
                ..CpuFeatures::default()
            })
        );
        assert_eq!(
            CpuFeatures::parse("max,edat=off,sea_esop2"),
            Ok(CpuFeatures {
                edat: false,
                sea_esop2: true,
                ..CpuFeatures::default()
            })
        );
        assert_eq!(
            CpuFeatures::parse("max,mie3=off,vxeh=off,vxeh2=off"),
            Ok(CpuFeatures {
                mie3: false,
                vxeh: false,
                vxeh2: false,
                ..CpuFeatures::default()
            })
        );
        assert_eq!(
            CpuFeatures::parse("max,vxeh2=off,vxeh=on"),
            Ok(CpuFeatures {
                vxeh2: false,
                ..CpuFeatures::default()
            })
        );
        assert!(CpuFeatures::parse("max,gs=on").is_err());
        assert!(CpuFeatures::parse("z14").is_err());
        assert!(CpuFeatures::parse("max,ctop=on").is_err());
    }
}
