//! How many sessions a service holds, in all and per remote address
//! ([`Config::max_sessions`](crate::Config::max_sessions),
//! [`Config::max_sessions_per_address`](crate::Config::max_sessions_per_address)).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::rejection::Rejection;

/// The session counts of one service.
#[derive(Default)]
pub(crate) struct Limits {
    max: Option<usize>,
    max_per_address: Option<usize>,
    open: AtomicUsize,
    /// Only kept when there is a per-address limit.
    per_address: DashMap<IpAddr, usize>,
}

/// One admitted session's place in the counts, given back on drop.
pub(crate) struct Slot {
    limits: Arc<Limits>,
    address: Option<IpAddr>,
}

impl Limits {
    pub(crate) fn new(max: Option<usize>, max_per_address: Option<usize>) -> Arc<Limits> {
        Arc::new(Limits {
            max,
            max_per_address,
            ..Limits::default()
        })
    }

    /// Takes a place for a new session from `address`, or says why not.
    pub(crate) fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Result<Slot, Rejection> {
        let open = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        let mut slot = Slot {
            limits: self.clone(),
            address: None,
        };
        if self.max.is_some_and(|max| open > max) {
            return Err(Rejection::TooManySessions);
        }
        if let (Some(max), Some(address)) = (self.max_per_address, address) {
            match self.per_address.entry(address) {
                Entry::Occupied(e) if *e.get() >= max => {
                    return Err(Rejection::TooManySessionsFromAddress);
                }
                Entry::Occupied(mut e) => *e.get_mut() += 1,
                Entry::Vacant(e) => {
                    e.insert(1);
                }
            }
            slot.address = Some(address);
        }
        Ok(slot)
    }

    /// Sessions holding a place.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let limits = &self.limits;
        limits.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(address) = self.address {
            if let Entry::Occupied(mut e) = limits.per_address.entry(address) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_all_and_per_address() {
        let limits = Limits::new(Some(3), Some(2));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = limits.admit(Some(a)).unwrap();
        let a2 = limits.admit(Some(a)).unwrap();
        assert_eq!(
            limits.admit(Some(a)).err(),
            Some(Rejection::TooManySessionsFromAddress)
        );
        let b1 = limits.admit(Some(b)).unwrap();
        assert_eq!(limits.admit(None).err(), Some(Rejection::TooManySessions));
        assert_eq!(limits.open(), 3);
        drop(a1);
        let a3 = limits.admit(Some(a)).unwrap();
        drop((a2, a3, b1));
        assert_eq!(limits.open(), 0);
        assert!(limits.per_address.is_empty());
    }

    #[test]
    fn no_limits_count_nothing_per_address() {
        let limits = Limits::new(None, None);
        let slots: Vec<_> = (0..100)
            .map(|_| limits.admit(Some([10, 0, 0, 1].into())).unwrap())
            .collect();
        assert!(limits.per_address.is_empty());
        drop(slots);
        assert_eq!(limits.open(), 0);
    }
}
