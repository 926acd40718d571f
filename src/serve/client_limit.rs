//! Connections per client address: a handful of slow or hostile clients must not take every
//! connection slot and shut everyone else out. The table holds one entry per address with an
//! open connection, so it is never larger than the global connection limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub struct ClientLimit {
    max_per_client: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in the table; given back when dropped.
pub struct ClientPermit {
    limit: Arc<ClientLimit>,
    address: IpAddr,
}

impl ClientLimit {
    pub fn new(max_per_client: usize) -> Arc<ClientLimit> {
        Arc::new(ClientLimit {
            max_per_client,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A permit for one more connection from `address`, or `None` when it has its limit.
    pub fn try_acquire(self: &Arc<Self>, address: IpAddr) -> Option<ClientPermit> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        Some(ClientPermit {
            limit: self.clone(),
            address,
        })
    }

    /// Client addresses with at least one open connection.
    pub fn clients(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }
}

impl Drop for ClientPermit {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_and_forgets_closed_ones() {
        let limit = ClientLimit::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limit.try_acquire(a).unwrap();
        let _second = limit.try_acquire(a).unwrap();
        assert!(limit.try_acquire(a).is_none());
        assert!(limit.try_acquire(b).is_some());
        drop(first);
        assert!(limit.try_acquire(a).is_some());
        drop(_second);
        assert_eq!(limit.clients(), 0, "closed addresses leave the table");
    }
}
