//! LNS address pools: hand a subscriber an IPv4 address for the life of its session and take it
//! back on teardown (issue 4: "keeps it for the life of the session, returns it on teardown; an
//! exhausted pool refuses the session with a clear cause").
//!
//! Owns: which pool addresses and static addresses are in use. Must not touch: which pool a
//! subscriber uses (the validated configuration resolved that into
//! [`AddressAssignment`]), routes, the data plane.
//!
//! Allocation never scans the pool: a cursor walks the assignable addresses once, after which
//! released addresses are reused oldest-released first (so an address just given up is not handed
//! to the next login at once, which keeps stale packets toward it from reaching a new subscriber).

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::config::{AddressAssignment, LnsConfig, PoolId, units::Ipv4Range};

/// An address handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Lease {
    /// From the pool at this index of [`LnsConfig::pools`] (by name across reloads).
    Pool {
        /// Index into the current pool list.
        pool: usize,
        /// The address.
        address: Ipv4Addr,
    },
    /// The subscriber's static address.
    Static(Ipv4Addr),
}

impl Lease {
    /// The address.
    pub fn address(&self) -> Ipv4Addr {
        match *self {
            Lease::Pool { address, .. } | Lease::Static(address) => address,
        }
    }
}

/// Why no address could be handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PoolError {
    /// Every address of the pool is in use.
    #[error("address pool {0:?} exhausted")]
    Exhausted(Arc<str>),
    /// The subscriber's static address is held by another session.
    #[error("static address {0} is already in use by another session")]
    StaticInUse(Ipv4Addr),
    /// No pool applies to the subscriber.
    #[error(
        "no address pool applies to this subscriber (no pool named, no realm pool, no default pool)"
    )]
    NoPool,
}

#[derive(Debug)]
struct PoolState {
    name: Arc<str>,
    ranges: Vec<Ipv4Range>,
    size: u64,
    /// Addresses below this ordinal have been handed out at least once.
    cursor: u64,
    /// Released addresses, oldest first.
    released: VecDeque<Ipv4Addr>,
    in_use: HashSet<Ipv4Addr>,
}

impl PoolState {
    fn nth(&self, mut n: u64) -> Option<Ipv4Addr> {
        for r in &self.ranges {
            if n < r.len() {
                return Some(Ipv4Addr::from(u32::from(r.first) + n as u32));
            }
            n -= r.len();
        }
        None
    }

    fn take(&mut self) -> Option<Ipv4Addr> {
        while let Some(a) = self.released.pop_front() {
            if self.in_use.insert(a) {
                return Some(a);
            }
        }
        while self.cursor < self.size {
            let a = self.nth(self.cursor)?;
            self.cursor += 1;
            if self.in_use.insert(a) {
                return Some(a);
            }
        }
        None
    }
}

/// Every pool of the LNS and the static addresses in use.
#[derive(Debug, Default)]
pub(crate) struct AddressPools {
    pools: Vec<PoolState>,
    statics: HashSet<Ipv4Addr>,
}

impl AddressPools {
    /// Pools as configured, all free.
    pub fn new(config: &LnsConfig) -> Self {
        let mut p = Self::default();
        p.reconfigure(config, &[]);
        p
    }

    /// Adopts a reloaded configuration: pools are matched by name, and `leases` (the addresses
    /// of live sessions) stay taken wherever they now belong. Returns the leases re-pointed at
    /// the new pool indices (a lease whose address no longer lies in a pool becomes a static one,
    /// kept until its session ends).
    pub fn reconfigure(&mut self, config: &LnsConfig, leases: &[Lease]) -> Vec<Lease> {
        self.pools = config
            .pools
            .iter()
            .map(|pool| PoolState {
                name: pool.name.clone(),
                ranges: pool.assignable().to_vec(),
                size: pool.size(),
                cursor: 0,
                released: VecDeque::new(),
                in_use: HashSet::new(),
            })
            .collect();
        self.statics.clear();
        leases
            .iter()
            .map(|lease| {
                let a = lease.address();
                match config.pool_of_address(a) {
                    Some(id) => {
                        self.pools[id.index()].in_use.insert(a);
                        Lease::Pool {
                            pool: id.index(),
                            address: a,
                        }
                    }
                    None => {
                        self.statics.insert(a);
                        Lease::Static(a)
                    }
                }
            })
            .collect()
    }

    /// Hands out an address per the subscriber's assignment.
    pub fn allocate(&mut self, assignment: AddressAssignment) -> Result<Lease, PoolError> {
        match assignment {
            AddressAssignment::Static(a) => {
                if self.statics.insert(a) {
                    Ok(Lease::Static(a))
                } else {
                    Err(PoolError::StaticInUse(a))
                }
            }
            AddressAssignment::Pool(PoolId(i)) => {
                let pool = self.pools.get_mut(i as usize).ok_or(PoolError::NoPool)?;
                match pool.take() {
                    Some(address) => Ok(Lease::Pool {
                        pool: i as usize,
                        address,
                    }),
                    None => Err(PoolError::Exhausted(pool.name.clone())),
                }
            }
            AddressAssignment::Unassigned => Err(PoolError::NoPool),
        }
    }

    /// Takes an address back.
    pub fn release(&mut self, lease: Lease) {
        match lease {
            Lease::Static(a) => {
                self.statics.remove(&a);
            }
            Lease::Pool { pool, address } => {
                if let Some(p) = self.pools.get_mut(pool)
                    && p.in_use.remove(&address)
                {
                    p.released.push_back(address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lns(toml_pools: &str) -> LnsConfig {
        let text = format!(
            "[lns]\nlocal_address = \"10.0.0.1\"\n[[lns.peers]]\nname = \"p\"\naddress = \"127.0.0.1\"\n{toml_pools}"
        );
        crate::config::load_str("t.toml", &text)
            .unwrap_or_else(|e| panic!("{e}"))
            .lns
    }

    #[test]
    fn a_pool_hands_out_each_address_once_then_refuses_then_reuses_oldest_first() {
        let cfg = lns(
            "[[lns.pools]]\nname = \"small\"\nranges = [\"10.9.0.1-10.9.0.3\"]\ndefault = true\n",
        );
        let mut p = AddressPools::new(&cfg);
        let pool = AddressAssignment::Pool(PoolId(0));
        let a: Vec<Ipv4Addr> = (0..3)
            .map(|_| p.allocate(pool).unwrap().address())
            .collect();
        assert_eq!(
            a,
            vec![
                Ipv4Addr::new(10, 9, 0, 1),
                Ipv4Addr::new(10, 9, 0, 2),
                Ipv4Addr::new(10, 9, 0, 3)
            ]
        );
        assert_eq!(p.allocate(pool), Err(PoolError::Exhausted("small".into())));
        p.release(Lease::Pool {
            pool: 0,
            address: a[1],
        });
        p.release(Lease::Pool {
            pool: 0,
            address: a[0],
        });
        assert_eq!(p.allocate(pool).unwrap().address(), a[1]);
        assert_eq!(p.allocate(pool).unwrap().address(), a[0]);
    }

    #[test]
    fn statics_are_exclusive_and_reload_keeps_live_leases() {
        let cfg = lns("[[lns.pools]]\nname = \"a\"\nranges = [\"10.9.0.0/30\"]\ndefault = true\n");
        let mut p = AddressPools::new(&cfg);
        let s = AddressAssignment::Static(Ipv4Addr::new(192, 0, 2, 5));
        let lease = p.allocate(s).unwrap();
        assert_eq!(
            p.allocate(s),
            Err(PoolError::StaticInUse(Ipv4Addr::new(192, 0, 2, 5)))
        );
        let pooled = p.allocate(AddressAssignment::Pool(PoolId(0))).unwrap();
        let kept = p.reconfigure(&cfg, &[lease, pooled]);
        assert_eq!(kept, vec![lease, pooled]);
        // The pooled address is still taken after the reload.
        let next = p.allocate(AddressAssignment::Pool(PoolId(0))).unwrap();
        assert_ne!(next.address(), pooled.address());
        assert_eq!(p.allocate(s), Err(PoolError::StaticInUse(lease.address())));
        assert_eq!(
            p.allocate(AddressAssignment::Unassigned),
            Err(PoolError::NoPool)
        );
    }
}
