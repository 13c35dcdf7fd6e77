//! The data-message fast path never allocates: a counting global allocator watches
//! `wire::data::classify` and `wire::data::write_header` over many packets.

mod counting_alloc;

use l2tpagg::wire::data::{self, DataHeaderOptions, Kind};

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

#[test]
fn classify_and_write_header_do_not_allocate() {
    let mut buf = [0u8; 1600];
    let mut total = 0usize;
    let before = counting_alloc::allocations();
    for i in 0..10_000u32 {
        let opts = DataHeaderOptions {
            with_length: i % 2 == 0,
            ns: (i % 3 == 0).then_some(i as u16),
            priority: i % 5 == 0,
        };
        let len = (i % 1400) as usize;
        let h = data::write_header(&mut buf, i as u16 | 1, (i >> 3) as u16 | 1, len, opts).unwrap();
        match data::classify(&buf[..h + len]) {
            Ok(Kind::Data { payload, .. }) => total += payload.len(),
            other => panic!("{other:?}"),
        }
        // Errors are allocation-free too.
        assert!(data::classify(&buf[..1]).is_err());
    }
    let after = counting_alloc::allocations();
    assert_eq!(after - before, 0, "the data path allocated");
    assert!(total > 0);
}
