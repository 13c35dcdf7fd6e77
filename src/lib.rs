//! l2tpagg: an L2TPv2 (RFC 2661) LAC and LNS for ISP access concentrators that packs subscriber
//! sessions into as few tunnels as it can, cuts sessions off by per-subscriber conditions, and charges
//! by tunnel, by line and by shared paying account.
//!
//! # Layout
//!
//! Two kinds of traffic take two paths. Control traffic (L2TP control messages, PPP negotiation, ctl
//! requests, timers) is decided in the one state actor. Data packets skip the actor: a socket task
//! looks the session up in a concurrent map, forwards the packet and bumps atomic counters that the
//! actor samples.
//!
//! `l2tpagg run` is [`runtime::daemon::run_daemon`]: it binds the sockets, creates the TUN device,
//! builds the [`actor::Actor`] and spawns one receive task per socket
//! ([`runtime::udp_task`], [`runtime::tun_task`]) around the [`dataplane::sessions::Dataplane`].
//!
//! | module        | owns                                                                  | must not touch                 |
//! |---------------|-----------------------------------------------------------------------|--------------------------------|
//! | [`wire`]      | L2TP header, AVPs and messages: parse/emit, never panics               | sockets, clock, state          |
//! | [`l2tp`]      | reliable control channel, tunnel and session state machines (sans-IO) | sockets, tokio, clock          |
//! | [`ppp`]       | LCP, PAP, CHAP and IPCP automatons (sans-IO)                           | sockets, tokio, clock          |
//! | [`pppoe`]     | PPPoE discovery and session codec and automaton (sans-IO)              | sockets, tokio, clock          |
//! | [`engine`]    | pure decisions: admin table, planner, disconnect conditions, tariffs   | tokio, IO, clock               |
//! | [`dataplane`] | session maps, per-packet relay/termination/TUN forwarding, counters    | the actor's state              |
//! | [`ledger`]    | the durable usage ledger: append, group commit, recovery               | the network                    |
//! | [`config`]    | TOML structs, validation into typed config, errors with file:line:col  | IO beyond reading the file     |
//! | [`actor`]     | the one state actor: L2TP endpoints, PPP links, planner, pools, ctl    | sockets (it sends through IO)  |
//! | [`runtime`]   | the only IO: UDP, AF_PACKET, TUN, the clock, signals, systemd, ctl     | protocol decisions             |
//! | [`ctl`]       | the ctl client and its wire format                                     | the actor's internals          |
//! | [`loadgen`]   | the subscriber emulator                                                | the daemon's internals         |
//! | `sys`         | the only `unsafe`: raw socket and TUN ioctls                           | anything else                  |
#![deny(unsafe_code)]

pub mod actor;
pub mod config;
pub mod ctl;
pub mod dataplane;
pub mod engine;
pub mod l2tp;
pub mod ledger;
pub mod loadgen;
pub mod ppp;
pub mod pppoe;
pub mod runtime;
#[allow(unsafe_code)]
pub mod sys;
pub mod wire;
