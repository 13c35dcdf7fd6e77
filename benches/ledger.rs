//! Ledger append throughput with group commit, on the real filesystem under a temp dir.
//!
//! - `append_then_commit/N`: append N interim records, then one commit (write + fsync) and wait
//!   for it: records per second made durable when the actor commits every N records.
//! - `append_caller_path`: only the caller's cost of `append` (encode + queue), the writer thread
//!   draining concurrently; durability is awaited outside the measurement.
//!
//! Run: `cargo bench --bench ledger`. The temp dir follows $TMPDIR.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use l2tpagg::ledger::{AcctSessionId, Counters, Ledger, LedgerEvent, LedgerOptions, LedgerRecord};

fn interim(i: u64) -> LedgerRecord {
    LedgerRecord {
        at: 1_793_491_200_000 + i,
        event: LedgerEvent::SessionInterim {
            session: AcctSessionId(i % 50_000),
            counters: Counters {
                octets_in: i * 1400,
                octets_out: i * 9000,
                packets_in: i,
                packets_out: 6 * i,
            },
        },
    }
}

fn options() -> LedgerOptions {
    LedgerOptions {
        max_pending_records: 4_000_000,
        ..LedgerOptions::default()
    }
}

fn append_then_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_then_commit");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for batch in [100u64, 1_000, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = Ledger::open(dir.path(), options()).unwrap();
        let mut i = 0u64;
        group.throughput(Throughput::Elements(batch));
        group.bench_function(batch.to_string(), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    ledger.append(&interim(i)).unwrap();
                    i += 1;
                }
                ledger.commit_and_wait().unwrap()
            })
        });
        ledger.close().unwrap();
    }
    group.finish();
}

fn append_caller_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_caller_path");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(dir.path(), options()).unwrap();
    let records: Vec<LedgerRecord> = (0..10_000).map(interim).collect();
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("10000", |b| {
        b.iter_batched(
            || ledger.commit_and_wait().unwrap(),
            |_| {
                for r in &records {
                    ledger.append(r).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    ledger.close().unwrap();
    group.finish();
}

criterion_group!(benches, append_then_commit, append_caller_path);
criterion_main!(benches);
