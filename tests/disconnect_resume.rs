//! The resume buffer (seed 004's data guarantee on the LNS): bounds, expiry, and delivery order on
//! re-login.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use l2tpagg::dataplane::resume::{
    DropReason, Expired, HoldError, Offer, ResumeBuffer, ResumeLimits,
};
use l2tpagg::runtime::clock::test_epoch;

const A: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 3);

fn t(s: u64) -> Instant {
    test_epoch() + Duration::from_secs(s)
}

fn limits() -> ResumeLimits {
    ResumeLimits {
        grace: Duration::from_secs(60),
        max_held_addresses: 3,
        max_packets_per_address: 4,
        max_bytes_per_address: 1000,
        max_packets_total: 6,
        max_bytes_total: 1500,
    }
}

fn pkt(tag: u8, len: usize) -> Bytes {
    Bytes::from(vec![tag; len])
}

#[test]
fn a_relogin_within_grace_gets_the_address_and_the_packets_in_arrival_order() {
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(0), "alice".into(), A).unwrap();
    assert!(r.is_held(A));
    for i in 0..3 {
        assert_eq!(
            r.offer(t(1 + u64::from(i)), A, pkt(i, 100)),
            Offer::Buffered
        );
    }
    assert_eq!(
        r.offer(t(2), B, pkt(9, 100)),
        Offer::NotHeld,
        "B is not held"
    );
    assert_eq!(
        r.resume(t(30), "bob"),
        None,
        "another subscriber gets nothing"
    );
    let resumed = r.resume(t(30), "alice").unwrap();
    assert_eq!(resumed.address, A);
    assert_eq!(resumed.packets, vec![pkt(0, 100), pkt(1, 100), pkt(2, 100)]);
    assert!(!r.is_held(A));
    assert_eq!(r.buffered(), (0, 0));
    assert_eq!(r.poll_timeout(), None);
    let s = r.stats();
    assert_eq!(
        (s.holds, s.resumed, s.resumed_packets, s.expired),
        (1, 1, 3, 0)
    );
    assert_eq!(r.resume(t(31), "alice"), None, "a hold resumes once");
}

#[test]
fn per_address_bounds_drop_the_newest_packets() {
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(0), "alice".into(), A).unwrap();
    for i in 0..4 {
        assert_eq!(r.offer(t(1), A, pkt(i, 10)), Offer::Buffered);
    }
    assert_eq!(
        r.offer(t(1), A, pkt(4, 10)),
        Offer::Dropped(DropReason::AddressFull),
        "fifth packet"
    );
    r.hold(t(0), "bob".into(), B).unwrap();
    assert_eq!(r.offer(t(1), B, pkt(0, 999)), Offer::Buffered);
    assert_eq!(
        r.offer(t(1), B, pkt(1, 2)),
        Offer::Dropped(DropReason::AddressFull),
        "1001 bytes"
    );
    assert_eq!(
        r.offer(t(1), B, pkt(1, 1)),
        Offer::Buffered,
        "exactly 1000 bytes fits"
    );
    let s = r.stats();
    assert_eq!((s.overflow_packets, s.overflow_bytes), (2, 12));
    // The kept packets are the oldest ones.
    assert_eq!(
        r.resume(t(2), "alice").unwrap().packets,
        (0..4).map(|i| pkt(i, 10)).collect::<Vec<_>>()
    );
}

#[test]
fn global_bounds_hold_across_addresses() {
    let mut r = ResumeBuffer::new(limits());
    for (who, a) in [("a", A), ("b", B), ("c", C)] {
        r.hold(t(0), who.into(), a).unwrap();
    }
    // Six packets in all.
    for a in [A, A, A, B, B, B] {
        assert_eq!(r.offer(t(1), a, pkt(0, 10)), Offer::Buffered);
    }
    assert_eq!(
        r.offer(t(1), C, pkt(0, 10)),
        Offer::Dropped(DropReason::GlobalFull)
    );
    // Resuming frees room for others.
    r.resume(t(2), "a").unwrap();
    assert_eq!(r.offer(t(2), C, pkt(0, 10)), Offer::Buffered);
    // 1500 bytes in all.
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(0), "a".into(), A).unwrap();
    r.hold(t(0), "b".into(), B).unwrap();
    assert_eq!(r.offer(t(1), A, pkt(0, 1000)), Offer::Buffered);
    assert_eq!(
        r.offer(t(1), B, pkt(0, 600)),
        Offer::Dropped(DropReason::GlobalFull)
    );
    assert_eq!(r.offer(t(1), B, pkt(0, 500)), Offer::Buffered);
    assert_eq!(r.buffered(), (2, 1500));
}

#[test]
fn expiry_drops_and_counts_and_frees_the_address() {
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(10), "alice".into(), A).unwrap();
    r.offer(t(11), A, pkt(1, 300));
    r.offer(t(12), A, pkt(2, 200));
    assert_eq!(r.poll_timeout(), Some(t(70)));
    assert!(
        r.handle_timeout(t(70) - Duration::from_millis(1))
            .is_empty()
    );
    assert_eq!(
        r.offer(t(70), A, pkt(3, 10)),
        Offer::NotHeld,
        "the grace is over at 70 s"
    );
    assert_eq!(r.resume(t(70), "alice"), None, "too late");
    let expired = r.handle_timeout(t(70));
    assert_eq!(
        expired,
        vec![Expired {
            subscriber: "alice".into(),
            address: A,
            dropped_packets: 2,
            dropped_bytes: 500
        }]
    );
    assert!(!r.is_held(A));
    assert_eq!(r.buffered(), (0, 0));
    let s = r.stats();
    assert_eq!((s.expired, s.expired_packets, s.expired_bytes), (1, 2, 500));
    assert_eq!(r.poll_timeout(), None);
    // The address can be held again later.
    r.hold(t(80), "zoe".into(), A).unwrap();
}

#[test]
fn holds_are_refused_when_taken_or_full() {
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(0), "a".into(), A).unwrap();
    assert_eq!(
        r.hold(t(0), "b".into(), A),
        Err(HoldError::AlreadyHeld {
            address: A,
            subscriber: "a".into()
        })
    );
    r.hold(t(0), "b".into(), B).unwrap();
    r.hold(t(0), "c".into(), C).unwrap();
    assert_eq!(
        r.hold(t(0), "d".into(), Ipv4Addr::new(100, 64, 0, 4)),
        Err(HoldError::Full { held: 3 })
    );
    assert_eq!(r.stats().holds_refused, 2);
}

#[test]
fn a_subscriber_with_two_holds_resumes_the_oldest_live_one() {
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(0), "multi".into(), A).unwrap();
    r.hold(t(30), "multi".into(), B).unwrap();
    assert_eq!(r.resume(t(40), "multi").unwrap().address, A);
    assert_eq!(r.resume(t(41), "multi").unwrap().address, B);
    assert_eq!(r.resume(t(42), "multi"), None);
    // An expired hold not yet collected is skipped, and still counted as expired later.
    r.hold(t(100), "multi".into(), A).unwrap();
    r.hold(t(150), "multi".into(), B).unwrap();
    assert_eq!(r.resume(t(170), "multi").unwrap().address, B);
    let expired = r.handle_timeout(t(170));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].address, A);
}

#[test]
fn release_ends_a_hold_early() {
    let mut r = ResumeBuffer::new(limits());
    r.hold(t(0), "a".into(), A).unwrap();
    r.offer(t(1), A, pkt(0, 10));
    let e = r.release(A).unwrap();
    assert_eq!((e.address, e.dropped_packets), (A, 1));
    assert_eq!(r.release(A), None);
    assert!(r.handle_timeout(t(1000)).is_empty());
    assert_eq!(r.resume(t(2), "a"), None);
}
