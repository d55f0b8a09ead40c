//! The host time the CPUs of a kvm machine read: the host's TSC on a
//! scale fixed when the machine starts ([`Pace::Tsc`]). The in-VM runtime
//! image reads the same TSC (plus the VM's offset, which KVM tells
//! exactly), so a STORE CLOCK completed in the VM hands out the value the
//! host would have at that moment: one TOD clock for every CPU, in and
//! out of the VM (PoP "TOD Clock"; docs/CHOICES.md 49).

use std::time::Duration;

use zmmu_cpu::clock::{Pace, TimeSource, TscScale};
use zmmu_hv_kvm::image::host_tsc;
use zmmu_hv_kvm::KvmError;

/// Where Linux names its clock source: it is `tsc` only where the kernel
/// found the TSC invariant and in step on every host CPU.
const CLOCK_SOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// Host time on the host's TSC.
#[derive(Clone, Copy, Debug)]
pub struct TscTime {
    scale: TscScale,
}

impl TscTime {
    /// Host time from now, at the rate KVM's vCPUs read the TSC. Fails
    /// where the host kernel does not trust its TSC as a clock (another
    /// clock source) or KVM does not tell the rate.
    /// (A VM and vCPU are made to ask the rate:
    /// [`KvmEngine::tsc_time`](crate::KvmEngine::tsc_time) asks its own.)
    pub fn new() -> Result<Self, KvmError> {
        Self::at_rate(zmmu_hv_kvm::host::tsc_khz)
    }

    /// Host time from now at the rate `khz` answers (asked only where the
    /// host's clock source is the TSC).
    pub(crate) fn at_rate(khz: impl FnOnce() -> Result<u32, KvmError>) -> Result<Self, KvmError> {
        let source = std::fs::read_to_string(CLOCK_SOURCE).unwrap_or_default();
        if source.trim() != "tsc" {
            return Err(KvmError::Config(format!(
                "the host's clock source is `{}` ({CLOCK_SOURCE}), not `tsc`",
                source.trim()
            )));
        }
        let khz = khz()?;
        let scale = TscScale::new(khz, host_tsc())
            .ok_or_else(|| KvmError::Config("KVM says the TSC ticks at 0 kHz".into()))?;
        Ok(Self { scale })
    }
}

impl TimeSource for TscTime {
    fn now_ns(&mut self) -> u64 {
        self.scale.ns(host_tsc())
    }

    fn wait_until_ns(&mut self, deadline: u64) {
        let now = self.now_ns();
        if deadline > now {
            std::thread::sleep(Duration::from_nanos(deadline - now));
        }
    }

    fn pace(&self) -> Option<Pace> {
        Some(Pace::Tsc(self.scale))
    }
}
