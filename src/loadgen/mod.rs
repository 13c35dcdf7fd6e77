//! The subscriber emulator (`l2tpagg loadgen`, issue 5): many PPP subscribers dialling in over
//! L2TP or PPPoE, for load measurements, end-to-end tests and a first look at the daemon.
//!
//! Owns: emulated subscribers (PPP client links over our own L2TP LAC role or PPPoE clients), their
//! pacing, traffic and counters, and the reports. Must not touch: the daemon's internals. It talks
//! to the daemon only over the wire, exactly as real subscribers do, and composes the same sans-IO
//! machines the daemon uses ([`crate::l2tp::Endpoint`], [`crate::ppp::Link`],
//! [`crate::pppoe::PppoeClient`]) in the roles the daemon does not play.
//!
//! # Layers
//!
//! | module         | what                                                                         | IO?  |
//! |----------------|------------------------------------------------------------------------------|------|
//! | [`population`] | per-subscriber PPP link, setup deadline, hold, test traffic; [`Stats`]        | no   |
//! | [`l2tp_core`]  | [`L2tpCore`]: our LAC endpoint, tunnel slots, sessions, data fast path        | no   |
//! | [`pppoe_core`] | [`PppoeCore`]: one PPPoE client and MAC per subscriber                        | no   |
//! | [`pacer`]      | login rate and concurrency                                                   | no   |
//! | [`stats`]      | counters, latency percentiles, [`Report`] (text and JSON)                    | no   |
//! | [`ip`], [`pattern`] | test packets and echoes; `user{n}` name patterns                        | no   |
//! | [`driver`]     | the event loop: sockets, clock, commands, stop requests                      | yes  |
//! | [`emulator`]   | [`Emulator`] / [`run`]: a bulk run from [`LoadgenOptions`] to a [`Report`]    | yes  |
//! | [`dialer`]     | [`Dialer`] / [`Subscriber`]: one subscriber at a time, for tests              | yes  |
//!
//! # Bulk runs
//!
//! ```no_run
//! # async fn demo() -> Result<(), l2tpagg::loadgen::LoadgenError> {
//! use l2tpagg::loadgen::{Emulator, LoadgenOptions};
//! let mut options = LoadgenOptions::default(); // the embedded default's dial-in and demo users
//! options.subscribers = 10_000;
//! options.rate = 2_000.0;
//! let mut emulator = Emulator::new(options)?;
//! let stop = emulator.stop_handle(); // stop.drain() from a signal handler
//! emulator.on_progress(|stats, elapsed| eprintln!("{}", stats.progress_line(elapsed, 10_000)));
//! let report = emulator.run().await?;
//! println!("{report}"); // or report.to_json()
//! # drop(stop); Ok(()) }
//! ```
//!
//! Setup latency is measured from the start of a subscriber's login (its ICRQ queued or its PADI
//! sent; the tunnel's setup is included for the first subscribers of each tunnel) to IPCP
//! reaching Opened, with [`crate::runtime::clock::now`]. The setup rate in the report is
//! subscribers up divided by the time from the first login to the last network-up.
//!
//! # One subscriber at a time
//!
//! [`Dialer::start`] opens the sockets; [`Dialer::dial`] returns a [`Subscriber`] once it is up,
//! with its address, [`Subscriber::send_ip`] / [`Subscriber::recv_ip`] through the session, and
//! [`Subscriber::logout`] (LCP Terminate, then CDN or PADT) or [`Subscriber::hang_up`] (CDN or
//! PADT alone).

pub mod dialer;
pub mod driver;
pub mod emulator;
pub mod ip;
pub mod l2tp_core;
pub mod options;
pub mod pacer;
pub mod pattern;
pub mod population;
pub mod pppoe_core;
pub mod stats;

pub use dialer::{Credentials, DialError, Dialer, DialerOptions, Subscriber};
pub use driver::{ProgressHook, StopLevel};
pub use emulator::{Emulator, StopHandle, run};
pub use l2tp_core::{L2tpCore, L2tpCoreConfig};
pub use options::{
    DEFAULT_DIALIN, DEFAULT_PASSWORD, DEFAULT_USER_PATTERN, L2tpOptions, LoadgenError,
    LoadgenOptions, PppoeOptions, TransportOptions,
};
pub use pattern::{Pattern, PatternError};
pub use population::{AuthChoice, CoreEvent, DownOutcome, SubscriberSpec, TrafficPlan};
pub use pppoe_core::{PppoeCore, PppoeCoreConfig};
pub use stats::{Cause, CauseKind, LatencySummary, Report, Stats, TrafficCounters};
