//! Control-plane speed: one simulated tunnel (l2tpagg LAC and LNS endpoints on a 5 ms link)
//! carrying 10,000 session setups (ICRQ, ICRP, ICCN and their acknowledgements) from the tunnel's
//! SCCRQ to the last SessionUp. The time is CPU time of both endpoints plus the simulator.
//! Run: `cargo bench --bench control_channel`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l2tpagg::l2tp::sim::{LinkModel, Side, SimPair};
use l2tpagg::l2tp::{
    Endpoint, EndpointConfig, Event, PolicyDecision, SessionRequest, TunnelConfig, TunnelRequest,
};
use l2tpagg::runtime::clock::test_epoch;

const SESSIONS: u32 = 10_000;

fn setup_sessions() -> u32 {
    let lac_addr: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    let lns_addr: SocketAddr = "192.0.2.2:1701".parse().unwrap();
    let cfg = Arc::new(TunnelConfig::default());
    let lns_cfg = cfg.clone();
    let lns = Endpoint::new(
        EndpointConfig::default(),
        move |_: &TunnelRequest<'_>| PolicyDecision::Accept(lns_cfg.clone()),
        [2; 32],
    );
    let lac = Endpoint::new(
        EndpointConfig::default(),
        |_: &TunnelRequest<'_>| PolicyDecision::Ignore,
        [1; 32],
    );
    let mut sim = SimPair::new(
        lac,
        lac_addr,
        lns,
        lns_addr,
        LinkModel::default(),
        test_epoch(),
        1,
    );
    let tid = sim
        .a
        .open_tunnel(test_epoch(), lac_addr, lns_addr, cfg)
        .unwrap();
    let mut up = 0;
    sim.run_for(Duration::from_secs(36_000), |sim, side, e| {
        match (side, e) {
            (Side::A, Event::TunnelUp { .. }) => {
                for i in 0..SESSIONS {
                    let mut r = SessionRequest::default();
                    r.icrq.calling_number = Some(format!("sub{i}").into_bytes());
                    let now = sim.now();
                    sim.a.open_session(now, tid, r).unwrap();
                }
            }
            (
                Side::B,
                Event::IncomingCall {
                    tunnel, session, ..
                },
            ) => {
                let now = sim.now();
                sim.b.accept_call(now, tunnel, session).unwrap();
            }
            (Side::B, Event::SessionUp { .. }) => up += 1,
            _ => {}
        }
    });
    assert_eq!(up, SESSIONS);
    up
}

fn ten_thousand_sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("control_channel");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SESSIONS as u64));
    g.bench_function("tunnel_with_10k_session_setups", |b| b.iter(setup_sessions));
    g.finish();
}

criterion_group!(benches, ten_thousand_sessions);
criterion_main!(benches);
