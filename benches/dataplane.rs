//! Per-packet cost of the data plane's counting and classification (issue 7's goal: under 50 ns a
//! packet), with the application-service table empty and with 1,000 services.
//!
//! Each iteration handles one packet the way the data plane's forward paths do: read the coarse
//! clock, parse the IPv4 header, and `count_shared` (which skips the table for a session that
//! watches nothing, and otherwise reads the published table from its per-thread cache). The
//! `count_ipv4` group measures the same with a table held by the caller. Packets rotate through a
//! set of 1,024 (mixed directions, services hit and missed) so branch prediction sees realistic
//! variety.
//!
//! Run: `cargo bench --bench dataplane`

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l2tpagg::dataplane::classifier::{
    Ipv4Summary, PROTO_TCP, PROTO_UDP, ServiceSpec, ServiceTable, SharedServiceTable, count_ipv4,
    count_shared,
};
use l2tpagg::dataplane::counters::{CoarseClock, Direction, SessionCounters};
use l2tpagg::runtime::clock::test_epoch;

const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);

fn server(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xC000_0000u32 + i * 7)
}

fn packet(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, sport: u16, dport: u16, total: u16) -> Vec<u8> {
    let mut p = vec![0u8; usize::from(total)];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p
}

fn table_with(services: u32) -> ServiceTable {
    let specs = (0..services)
        .map(|i| {
            ServiceSpec::host(
                &format!("svc{i}"),
                server(i),
                if i % 3 == 0 { PROTO_UDP } else { PROTO_TCP },
                Some(1000 + (i % 50) as u16),
                Duration::from_secs(60 + u64::from(i % 600)),
            )
        })
        .collect();
    // Ten listed-server sets of 20 servers each.
    let sets: Vec<Vec<ipnet::Ipv4Net>> = (0..10)
        .map(|s| (0..20).map(|k| server(s * 20 + k).into()).collect())
        .collect();
    ServiceTable::build(specs, &sets, &[]).unwrap()
}

/// 1,024 packets: half upstream, half downstream; with 1,000 services about half hit one.
fn packets(services: u32) -> Vec<(Direction, Vec<u8>)> {
    (0..1024u32)
        .map(|i| {
            let s = i % services.max(1);
            let hit = i % 2 == 0 && services > 0;
            let proto = if s.is_multiple_of(3) {
                PROTO_UDP
            } else {
                PROTO_TCP
            };
            let port = if hit { 1000 + (s % 50) as u16 } else { 9 };
            let remote = if hit {
                server(s)
            } else {
                Ipv4Addr::new(203, 0, 113, (i % 250) as u8)
            };
            let len = [60u16, 576, 1500][(i % 3) as usize];
            if i % 4 < 2 {
                (
                    Direction::FromSubscriber,
                    packet(SUB, remote, proto, 40000, port, len),
                )
            } else {
                (
                    Direction::ToSubscriber,
                    packet(remote, SUB, proto, port, 40000, len),
                )
            }
        })
        .collect()
}

fn bench_case(
    c: &mut Criterion,
    name: &str,
    services: u32,
    track_services: bool,
    listed_sets: u64,
) {
    let clock = CoarseClock::new(test_epoch());
    let shared = SharedServiceTable::new(ServiceTable::empty());
    shared.publish(table_with(services));
    let mut reader = shared.reader();
    let counters = Arc::new(SessionCounters::new());
    counters.set_watch(listed_sets, u64::from(track_services));
    let packets = packets(services);
    let mut i = 0usize;
    let mut group = c.benchmark_group("count_ipv4");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let (direction, p) = &packets[i & 1023];
            i = i.wrapping_add(1);
            let stamp = clock.now();
            let table = reader.current();
            black_box(count_ipv4(
                table,
                &counters,
                *direction,
                black_box(p),
                stamp,
            ))
            .ok()
        })
    });
    group.finish();
    let mut group = c.benchmark_group("forward_path_count_shared");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            let (direction, p) = &packets[i & 1023];
            i = i.wrapping_add(1);
            let stamp = clock.now();
            let ip = Ipv4Summary::parse(black_box(p)).ok()?;
            Some(black_box(count_shared(
                &shared, &counters, *direction, &ip, stamp,
            )))
        })
    });
    group.finish();
    // The counters really moved: the bench measured the work, not a short cut.
    assert!(counters.snapshot().from_subscriber.packets > 0);
    if track_services && services > 0 {
        assert!(
            counters
                .service_activity(reader.current().generation())
                .count()
                > 0
        );
    }
}

fn benches(c: &mut Criterion) {
    bench_case(c, "empty_table", 0, true, 0);
    bench_case(c, "1000_services", 1000, true, 0);
    bench_case(c, "1000_services_and_listed_servers", 1000, true, 0b1111);
    bench_case(c, "1000_services_session_without_f", 1000, false, 0);
}

criterion_group!(name = dataplane; config = Criterion::default().measurement_time(Duration::from_secs(3)); targets = benches);
criterion_main!(dataplane);
