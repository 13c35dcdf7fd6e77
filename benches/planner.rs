//! Consolidation planner benchmark (issue 6): plan 100,000 sessions over at most 2,000 tunnels with
//! mixed service levels, four LNS peers and five lines.
//!
//! - `planner/place_100k`: 100,000 arrivals placed one by one (best fit, new tunnels when needed).
//! - `planner/replan_100k`: one full re-plan (unlimited migration budget) of a fragmented table:
//!   140,000 arrivals of which 40,000 random ones then left, so 100,000 sessions sit in holed tunnels.
//! - `planner/ffd_100k`: the first-fit-decreasing packer alone on the same levels.
//!
//! Before measuring it prints the tunnels the planner uses after placement and after the re-plan
//! has settled (every move committed), against the Martello-Toth L2 bound.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use l2tpagg::engine::admin::{
    AccountId, LineClass, LineId, LineSpec, PeerId, PeerSpec, SessionId, SessionSpec,
};
use l2tpagg::engine::planner::{
    Decision, PackBin, Placement, Planner, PlannerConfig, first_fit_decreasing,
};
use l2tpagg::runtime::clock::test_epoch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const M: u64 = 1_000_000;
const TUNNEL_CAPACITY: u64 = 1_000 * M;
const PEERS: u32 = 4;
const LINES: u32 = 5;

/// Service levels and their weights (percent): a residential mix, about 7 Mbit/s on average.
const MIX: [(u64, u32); 7] = [
    (M, 30),
    (2 * M, 25),
    (5 * M, 20),
    (10 * M, 15),
    (25 * M, 7),
    (50 * M, 2),
    (100 * M, 1),
];

fn level(rng: &mut ChaCha8Rng) -> u64 {
    let mut x = rng.random_range(0..100);
    for (l, w) in MIX {
        if x < w {
            return l;
        }
        x -= w;
    }
    M
}

fn planner() -> Planner {
    let now = test_epoch();
    let mut p = Planner::new(PlannerConfig {
        max_tunnels: 2_000,
        min_dwell: Duration::ZERO,
        migration_budget: usize::MAX,
        max_pending_moves: usize::MAX,
        // Departures leave their holes: the bench measures the periodic re-plan.
        max_moves_per_event: 0,
        ..PlannerConfig::default()
    });
    for l in 1..=LINES {
        p.add_line(
            now,
            LineSpec {
                id: LineId(l),
                name: format!("uplink{l}"),
                capacity_bps: 400 * TUNNEL_CAPACITY,
                cost: 1_000 * i64::from(l),
                class: LineClass::Public,
            },
        )
        .unwrap();
    }
    for peer in 1..=PEERS {
        p.add_peer(PeerSpec {
            id: PeerId(peer),
            name: format!("lns{peer}"),
            lines: (1..=LINES).map(LineId).collect(),
            tunnel_capacity_bps: TUNNEL_CAPACITY,
            max_sessions_per_tunnel: 1_000,
            max_tunnels: 500,
        })
        .unwrap();
    }
    p
}

fn specs(n: u64, seed: u64) -> Vec<SessionSpec> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| SessionSpec {
            id: SessionId(i),
            subscriber: Arc::from(format!("sub{i}").as_str()),
            peer: PeerId(rng.random_range(1..=PEERS)),
            account: AccountId(i),
            customer: true,
            supplementary: false,
            level_bps: level(&mut rng),
        })
        .collect()
}

fn place_all(p: &mut Planner, specs: &[SessionSpec]) {
    let now = test_epoch();
    for s in specs {
        if let Placement::NewTunnel { tunnel, .. } = p.place_session(now, s.clone()).unwrap() {
            p.tunnel_up(now, tunnel, true).unwrap();
        }
    }
}

/// 140,000 arrivals, then 40,000 random departures.
fn fragmented() -> Planner {
    let mut p = planner();
    let all = specs(140_000, 1);
    place_all(&mut p, &all);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut ids: Vec<u64> = (0..140_000).collect();
    for i in 0..40_000 {
        let j = rng.random_range(i..ids.len());
        ids.swap(i, j);
        p.session_ended(test_epoch(), SessionId(ids[i])).unwrap();
    }
    assert_eq!(p.table().session_count(), 100_000);
    p
}

fn in_use(p: &Planner) -> u64 {
    p.table()
        .tunnels()
        .filter(|t| !t.sessions.is_empty())
        .count() as u64
}

fn report(label: &str, p: &Planner) {
    let b = p.bounds();
    let used = in_use(p);
    let l2 = b.overall.l2;
    eprintln!(
        "{label}: {} sessions, {used} tunnels in use, L1 {}, L2 {l2}, {:+.2} % over L2",
        b.overall.sessions,
        b.overall.l1,
        (used as f64 / l2 as f64 - 1.0) * 100.0
    );
}

/// Runs re-plans, committing every move, until one plans nothing. Returns the rounds taken.
fn settle(p: &mut Planner) -> usize {
    let mut now = test_epoch();
    for round in 1..=50 {
        now += Duration::from_secs(60);
        let ds = p.replan(now);
        let mut moved = 0;
        for d in ds {
            match d {
                Decision::Move(m) => {
                    p.move_committed(now, m.id).unwrap();
                    moved += 1;
                }
                Decision::OpenTunnel { tunnel, .. } => p.tunnel_up(now, tunnel, true).unwrap(),
                _ => {}
            }
        }
        if moved == 0 {
            return round;
        }
    }
    50
}

fn bench(c: &mut Criterion) {
    let arrivals = specs(100_000, 3);
    let mut placed = planner();
    place_all(&mut placed, &arrivals);
    report("after 100k best-fit placements", &placed);

    let frag = fragmented();
    report("fragmented (140k arrivals, 40k departures)", &frag);
    let mut settled = frag.clone();
    if std::env::var_os("PLANNER_BENCH_PROFILE").is_some() {
        for _ in 0..20 {
            let mut p = frag.clone();
            black_box(p.replan(test_epoch() + Duration::from_secs(1)));
        }
    }
    let t = std::time::Instant::now();
    let moves = settled.replan(test_epoch() + Duration::from_secs(1));
    eprintln!(
        "one full re-plan: {} moves planned in {:?}",
        moves.len(),
        t.elapsed()
    );
    for d in moves {
        if let Decision::Move(m) = d {
            settled
                .move_committed(test_epoch() + Duration::from_secs(2), m.id)
                .unwrap();
        }
    }
    report("after one re-plan, moves committed", &settled);
    let rounds = settle(&mut settled);
    report(&format!("after settling ({rounds} more rounds)"), &settled);

    let levels: Vec<u64> = frag.table().sessions().map(|s| s.level_bps).collect();
    let ffd = first_fit_decreasing(
        &levels,
        &[],
        PackBin {
            room_bps: TUNNEL_CAPACITY,
            slots: 1_000,
        },
        2_000,
    );
    eprintln!(
        "first-fit decreasing alone, all peers pooled: {} tunnels",
        ffd.fresh_used
    );

    let mut g = c.benchmark_group("planner");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("place_100k", |b| {
        b.iter_batched(
            planner,
            |mut p| {
                place_all(&mut p, &arrivals);
                p
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("replan_100k", |b| {
        b.iter_batched(
            || frag.clone(),
            |mut p| {
                let d = p.replan(test_epoch() + Duration::from_secs(1));
                (p, d)
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ffd_100k", |b| {
        b.iter(|| {
            first_fit_decreasing(
                black_box(&levels),
                &[],
                PackBin {
                    room_bps: TUNNEL_CAPACITY,
                    slots: 1_000,
                },
                2_000,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
