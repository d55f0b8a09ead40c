//! Console input: keys the host types reach the guest as SCLP events (the
//! VT220 console's ASCII data, or the line-mode console's operator
//! commands), announced by a service-signal external interruption as
//! QEMU's SCLP console announces them.

use crate::{Machine, Observer};

impl Machine {
    /// Hands the SCLP what the observer has typed, as much as its input
    /// buffer takes, and signals the guest when an event it accepts is
    /// pending.
    pub(crate) fn type_console_input(&mut self, observer: &mut dyn Observer) {
        let typed = observer.console_input();
        if typed.is_empty() {
            return;
        }
        let taken = self.services.sclp.push_input(typed);
        observer.console_taken(taken);
        if let Some(parameter) = self.services.sclp.attention() {
            self.services.signal_service(parameter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sclp::{event_mask, EVENT_ASCII};

    /// An observer with `keys` typed.
    struct Typist {
        keys: alloc::vec::Vec<u8>,
    }

    impl Observer for Typist {
        fn console_input(&mut self) -> &[u8] {
            &self.keys
        }
        fn console_taken(&mut self, n: usize) {
            self.keys.drain(..n);
        }
    }

    #[test]
    fn typed_keys_reach_the_sclp_and_a_guest_that_reads_them_is_signalled() {
        let mut m = Machine::new(1 << 20);
        let mut typist = Typist {
            keys: b"ls\r".to_vec(),
        };
        m.type_console_input(&mut typist);
        assert_eq!((m.services.sclp.pending_input(), typist.keys.len()), (3, 0));
        assert_eq!(
            m.services.service_signal, None,
            "no receive mask: no signal"
        );

        m.services.sclp.receive_mask = event_mask(EVENT_ASCII);
        typist.keys = b"x".to_vec();
        m.type_console_input(&mut typist);
        assert!(m.services.service_signal.is_some());
    }
}
