//! Wire codec speed: decode and encode of SCCRQ, ICRQ and ICCN as l2tpagg sends them, and the
//! data-message fast path (classify a data header, write one). Run: `cargo bench --bench wire`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use l2tpagg::wire::data::{self, DataHeaderOptions};
use l2tpagg::wire::{
    Bearer, Capabilities, ControlHeader, DEFAULT_VENDOR_ID, EmitContext, Framing, HideSet, Message,
    MessageType, ParseContext, ProtocolVersion, ProxyAuthenType,
};

fn sccrq() -> Message {
    let mut m = Message::new(MessageType::Sccrq);
    let a = &mut m.avps;
    a.protocol_version = Some(ProtocolVersion::V1_0);
    a.framing_capabilities = Some(Framing::BOTH);
    a.firmware_revision = Some(0x0100);
    a.host_name = Some(b"lac1.example.net".to_vec());
    a.vendor_name = Some(b"l2tpagg".to_vec());
    a.assigned_tunnel_id = Some(0x1234);
    a.receive_window_size = Some(16);
    a.challenge = Some(vec![0xa5; 16]);
    a.capabilities = Some(Capabilities::ALL);
    m
}

fn icrq() -> Message {
    let mut m = Message::new(MessageType::Icrq);
    let a = &mut m.avps;
    a.assigned_session_id = Some(0x0707);
    a.call_serial_number = Some(123_456);
    a.bearer_type = Some(Bearer(Bearer::DIGITAL));
    a.physical_channel_id = Some(42);
    a.calling_number = Some(b"00:11:22:33:44:55".to_vec());
    a.called_number = Some(b"isp.example".to_vec());
    m
}

fn iccn() -> Message {
    let mut m = Message::new(MessageType::Iccn);
    let a = &mut m.avps;
    a.tx_connect_speed = Some(100_000_000);
    a.framing_type = Some(Framing(Framing::SYNC));
    a.initial_received_lcp_confreq = Some(vec![1, 4, 5, 0xd4, 5, 6, 0x12, 0x34, 0x56, 0x78]);
    a.last_sent_lcp_confreq = Some(vec![
        1, 4, 5, 0xd4, 3, 4, 0xc0, 0x23, 5, 6, 0x9a, 0xbc, 0xde, 0xf0,
    ]);
    a.last_received_lcp_confreq = Some(vec![1, 4, 5, 0xd4, 5, 6, 0x12, 0x34, 0x56, 0x78]);
    a.proxy_authen_type = Some(ProxyAuthenType::CHAP);
    a.proxy_authen_name = Some(b"alice@isp.example".to_vec());
    a.proxy_authen_challenge = Some(vec![0x11; 16]);
    a.proxy_authen_id = Some(7);
    a.proxy_authen_response = Some(vec![0x22; 16]);
    m
}

fn codec(c: &mut Criterion) {
    let header = ControlHeader {
        tunnel_id: 0x5678,
        session_id: 0,
        ns: 3,
        nr: 2,
    };
    let pctx = ParseContext {
        secret: None,
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let ectx = EmitContext {
        secret: None,
        hide: HideSet::NONE,
        random_vector: [0; 16],
        vendor_id: DEFAULT_VENDOR_ID,
    };
    for (name, msg) in [("sccrq", sccrq()), ("icrq", icrq()), ("iccn", iccn())] {
        let mut bytes = Vec::new();
        msg.emit(&header, &ectx, &mut bytes).unwrap();
        c.bench_function(&format!("decode_{name}"), |b| {
            b.iter(|| Message::parse_packet(black_box(&bytes), &pctx).unwrap())
        });
        let mut out = Vec::with_capacity(256);
        c.bench_function(&format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&msg).emit(&header, &ectx, &mut out).unwrap();
                out.len()
            })
        });
    }
    // ICCN with the proxy credentials hidden (RFC 2661 §4.3), as sent when a secret is set.
    let secret = b"tunnel-secret".to_vec();
    let hctx = EmitContext {
        secret: Some(&secret),
        hide: HideSet::SENSITIVE,
        random_vector: [3; 16],
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let hpctx = ParseContext {
        secret: Some(&secret),
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let mut hidden = Vec::new();
    iccn().emit(&header, &hctx, &mut hidden).unwrap();
    c.bench_function("decode_iccn_hidden", |b| {
        b.iter(|| Message::parse_packet(black_box(&hidden), &hpctx).unwrap())
    });
}

fn data_path(c: &mut Criterion) {
    let mut packet = vec![0u8; 1500];
    let h = data::write_header(
        &mut packet,
        0x1234,
        0x0707,
        1494,
        DataHeaderOptions::default(),
    )
    .unwrap();
    packet.truncate(h + 1494);
    c.bench_function("data_classify", |b| {
        b.iter(|| data::classify(black_box(&packet)).unwrap())
    });
    let mut seq = vec![0u8; 1500];
    let opts = DataHeaderOptions {
        with_length: true,
        ns: Some(9),
        priority: false,
    };
    let h = data::write_header(&mut seq, 0x1234, 0x0707, 1488, opts).unwrap();
    seq.truncate(h + 1488);
    c.bench_function("data_classify_len_seq", |b| {
        b.iter(|| data::classify(black_box(&seq)).unwrap())
    });
    let mut buf = [0u8; 16];
    c.bench_function("data_write_header", |b| {
        b.iter(|| {
            data::write_header(
                black_box(&mut buf),
                black_box(0x1234),
                0x0707,
                1494,
                DataHeaderOptions::default(),
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, codec, data_path);
criterion_main!(benches);
