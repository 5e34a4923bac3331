//! What a plugin was denied, kept for its developer.
//!
//! A denial reaches the plugin as a value (`denied(reason)`), and the reason names the
//! manifest line that would allow the call; but a plugin may swallow it, and then its
//! developer never sees why the call did nothing. In development mode the host keeps
//! the reasons of one plugin's calls here, and the command line prints them after the
//! result. Every capability's state holds the plugin's [`Denials`] and passes each
//! reason through [`Denials::note`] as it denies.
//!
//! By default nothing is kept: a loaded plugin keeps denials only after
//! [`Denials::keep`], so that a long-running host never accumulates them. This module
//! never decides what is denied.

use std::sync::{Arc, Mutex};

/// At most this many different reasons are kept; a repeated one is counted instead.
const MAX_KEPT: usize = 64;

/// The denials of one plugin's calls: shared by its capabilities' states, off by default.
#[derive(Clone, Default)]
pub struct Denials(Arc<Mutex<Option<Vec<Denial>>>>);

/// One reason a capability gave, and how many times it gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The host's reason, as the plugin received it.
    pub reason: String,
    /// How many times the calls were denied for it.
    pub times: u32,
}

impl Denials {
    /// Start keeping denials (development mode); until then [`note`](Self::note) keeps
    /// nothing.
    pub fn keep(&self) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.get_or_insert_with(Vec::new);
    }

    /// Keep `reason` if denials are kept, and return it for the plugin's error value.
    pub fn note(&self, reason: String) -> String {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = kept.as_mut() {
            if let Some(d) = list.iter_mut().find(|d| d.reason == reason) {
                d.times = d.times.saturating_add(1);
            } else if list.len() < MAX_KEPT {
                list.push(Denial {
                    reason: reason.clone(),
                    times: 1,
                });
            }
        }
        reason
    }

    /// The denials kept since the last take, first denied first; they are kept on.
    pub fn take(&self) -> Vec<Denial> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_nothing_until_asked() {
        let denials = Denials::default();
        assert_eq!(denials.note("no".into()), "no");
        assert!(denials.take().is_empty());
    }

    #[test]
    fn keeps_each_reason_once_with_a_count_in_order() {
        let denials = Denials::default();
        denials.keep();
        for reason in ["secret `a`", "config key `b`", "secret `a`"] {
            denials.note(reason.into());
        }
        let kept = denials.take();
        assert_eq!(
            kept,
            vec![
                Denial {
                    reason: "secret `a`".into(),
                    times: 2
                },
                Denial {
                    reason: "config key `b`".into(),
                    times: 1
                },
            ]
        );
        assert!(denials.take().is_empty());
        denials.note("again".into());
        assert_eq!(denials.take().len(), 1, "still kept after a take");
    }

    #[test]
    fn keeps_a_bounded_number_of_reasons() {
        let denials = Denials::default();
        denials.keep();
        for i in 0..1000 {
            denials.note(format!("reason {i}"));
        }
        assert_eq!(denials.take().len(), MAX_KEPT);
    }
}
