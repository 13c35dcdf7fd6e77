//! One million sessions with conditions in the disconnect engine: memory per session and the cost
//! of one sampling pass (issue 7's goals: at most 200 bytes of engine state per session, a pass in
//! under 100 ms).
//!
//! Memory is measured, not estimated: a counting global allocator records the bytes the engine
//! holds after a million logins, minus what was allocated before (subscriber names and the data
//! plane's counters, which the admin table and the session map own and the engine only shares).
//!
//! Run: `cargo bench --bench disconnect`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use l2tpagg::dataplane::classifier::{PROTO_TCP, ServiceSpec, ServiceTable, SharedServiceTable};
use l2tpagg::dataplane::counters::{Direction, SessionCounters, StampBase};
use l2tpagg::engine::disconnect::{
    AppTimeoutCondition, Conditions, DisconnectEngine, EngineSettings, IdleCondition,
    IdleDirection, LoginCondition, LoginOutcome, LoginRequest, RateDirection, SessionKey,
    TrafficCondition, VolumeCondition,
};
use l2tpagg::runtime::clock::test_epoch;

/// Counts live heap bytes. Only the bench binary uses it; the library stays free of unsafe code.
struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's arguments unchanged; the
// counter is bookkeeping only.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const SESSIONS: usize = 1_000_000;

struct Population {
    names: Vec<Arc<str>>,
    counters: Vec<Arc<SessionCounters>>,
}

fn population() -> Population {
    Population {
        names: (0..SESSIONS)
            .map(|i| Arc::from(format!("user{i:07}@isp.example")))
            .collect(),
        counters: (0..SESSIONS)
            .map(|_| Arc::new(SessionCounters::new()))
            .collect(),
    }
}

fn table() -> Arc<ServiceTable> {
    let specs = (0..1000u32)
        .map(|i| {
            ServiceSpec::host(
                &format!("svc{i}"),
                std::net::Ipv4Addr::from(0xC000_0000u32 + i),
                PROTO_TCP,
                Some(443),
                Duration::from_secs(300 + u64::from(i)),
            )
        })
        .collect();
    SharedServiceTable::new(ServiceTable::empty())
        .publish(ServiceTable::build(specs, &[], &[]).unwrap())
}

/// The common flat-rate profile: session time, idle, a monthly volume cap, one login per name.
fn typical() -> Arc<Conditions> {
    Arc::new(Conditions {
        session_time: Some(Duration::from_secs(86_400)),
        idle: Some(IdleCondition {
            limit: Duration::from_secs(1800),
            direction: IdleDirection::Either,
            only_listed_servers: false,
            min_rate_bps: None,
        }),
        volume: Some(VolumeCondition {
            bytes_to_subscriber: Some(100_000_000_000),
            ..Default::default()
        }),
        logins: Some(LoginCondition {
            per_subscriber: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Every condition at once, B with a minimum rate: the worst case for memory and for a pass.
fn everything() -> Arc<Conditions> {
    Arc::new(Conditions {
        idle: Some(IdleCondition {
            limit: Duration::from_secs(1800),
            direction: IdleDirection::Either,
            only_listed_servers: false,
            min_rate_bps: Some(8_000),
        }),
        traffic: Some(TrafficCondition {
            window: Duration::from_secs(60),
            max_percent: 90,
            direction: RateDirection::Busier,
        }),
        app_timeout: Some(AppTimeoutCondition {
            guard: Duration::from_secs(10),
            groups: 1,
        }),
        logins: Some(LoginCondition {
            per_subscriber: Some(2),
            per_access_point: Some(2_000_000),
            ..Default::default()
        }),
        ..(*typical()).clone()
    })
}

/// Logs a million sessions in over 16 access points; returns the engine and its heap bytes.
fn fill(pop: &Population, conditions: &Arc<Conditions>, t0: Instant) -> (DisconnectEngine, usize) {
    let aps: Vec<String> = (0..16).map(|i| format!("lac-{i}")).collect();
    let table = table();
    let before = LIVE.load(Ordering::Relaxed);
    let mut engine = DisconnectEngine::new(StampBase::new(t0), EngineSettings::default(), table);
    for i in 0..SESSIONS {
        let now = t0 + Duration::from_micros(i as u64);
        let outcome = engine.login(
            now,
            LoginRequest {
                session: SessionKey(i as u64),
                subscriber: pop.names[i].clone(),
                access_point: &aps[i % 16],
                conditions: conditions.clone(),
                counters: pop.counters[i].clone(),
                path_max_bps: 100_000_000,
                logged_in_at: now,
                disconnect_order: (i % 1000) as u32,
            },
        );
        assert!(
            matches!(outcome, LoginOutcome::Accepted { ref victims, .. } if victims.is_empty())
        );
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    (engine, bytes)
}

fn bench(c: &mut Criterion) {
    let t0 = test_epoch();
    let pop = population();
    eprintln!(
        "data plane, not engine state: SessionCounters is {} bytes per session (+16 for its Arc header)",
        std::mem::size_of::<SessionCounters>()
    );
    for (name, conditions) in [("typical", typical()), ("everything", everything())] {
        let (mut engine, bytes) = fill(&pop, &conditions, t0);
        eprintln!(
            "{name}: {SESSIONS} sessions hold {bytes} bytes of engine state = {:.1} bytes/session ({:?})",
            bytes as f64 / SESSIONS as f64,
            engine.stats()
        );
        // Some traffic so the pass has counters to read and rates to compute.
        for (i, counters) in pop.counters.iter().enumerate().step_by(7) {
            counters.record(Direction::ToSubscriber, 1500 * (i as u64 % 13), 1);
        }
        // One round of deadlines: at 300 s every session running F reaches its first probe
        // (shortest server timeout 300 s - guard 10 s, less a second of slack) and is re-armed;
        // nothing fires. The sampling pass due then runs first, so it is not timed here.
        let due = t0 + Duration::from_secs(300);
        engine.sample(due);
        let started = Instant::now();
        let (mut calls, mut decisions) = (0, 0);
        while engine.poll_timeout().is_some_and(|t| t <= due) {
            decisions += engine.handle_timeout(due).len();
            calls += 1;
        }
        eprintln!(
            "{name}: deadline round at {:?} took {:?} in {calls} handle_timeout calls \
             ({decisions} decisions, {:?})",
            due - t0,
            started.elapsed(),
            engine.stats()
        );
        let mut now = due;
        let mut group = c.benchmark_group("disconnect_sample_pass_1M");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(8));
        group.bench_function(name, |b| {
            b.iter(|| {
                now += Duration::from_secs(1);
                let decisions = engine.sample(now);
                assert!(decisions.is_empty());
                black_box(decisions)
            })
        });
        group.finish();
        drop(engine);
    }
}

criterion_group!(disconnect, bench);
criterion_main!(disconnect);
