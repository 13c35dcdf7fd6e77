//! The data plane: the concurrent session maps that socket tasks look up per packet, the
//! forwarding they do without the actor, the atomic counters they bump, and the packet classifier
//! for the application-service table. It never touches the actor's state; the actor inserts and
//! replaces map entries and samples the counters.
//!
//! * [`sessions`]: the L2TP session maps, the LNS address map, [`sessions::L2tpPath`] and the
//!   per-packet functions ([`sessions::Dataplane::l2tp_ingress`],
//!   [`sessions::Dataplane::tun_ingress`]).
//! * [`counters`]: per-session atomic counters and the coarse clock.
//! * [`classifier`]: the application-service table (wired by the disconnect engine's task).
//! * [`resume`]: packets held for an absent subscriber (wired by the resume task).

pub mod classifier;
pub mod counters;
pub mod resume;
pub mod sessions;
