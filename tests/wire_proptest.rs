//! Property tests of the wire codec: every AVP and message round-trips (plain and hidden), and
//! random or mutated bytes never panic the decoders, only produce typed errors.

use l2tpagg::wire::avp::{
    Accm, Bearer, CallErrors, Capabilities, DisconnectCause, DisconnectCauseCode, Framing,
};
use l2tpagg::wire::data::{self, DataHeaderOptions, Kind};
use l2tpagg::wire::{
    Avps, ControlHeader, DEFAULT_VENDOR_ID, EmitContext, HideSet, Message, MessageType,
    ParseContext, ProtocolVersion, ProxyAuthenType, Q931Cause, RawAvp, ResultCode, Switchover,
};
use proptest::prelude::*;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn bytes(r: &mut ChaCha8Rng, min: usize, max: usize) -> Vec<u8> {
    let n = r.random_range(min..=max);
    (0..n).map(|_| r.random()).collect()
}

fn text(r: &mut ChaCha8Rng) -> String {
    let n = r.random_range(0..=20);
    (0..n)
        .map(|_| r.random_range(b' '..=b'~') as char)
        .collect()
}

fn maybe<T>(r: &mut ChaCha8Rng, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> Option<T> {
    if r.random_bool(0.5) { Some(f(r)) } else { None }
}

fn nz(r: &mut ChaCha8Rng) -> u16 {
    r.random_range(1..=u16::MAX)
}

/// Random AVPs covering every field; a cheap generator (one seed per case) instead of a 40-field
/// proptest strategy.
fn random_avps(r: &mut ChaCha8Rng) -> Avps {
    Avps {
        result_code: maybe(r, |r| {
            let error = maybe(r, |r| r.random());
            let message = if error.is_some() {
                maybe(r, text).filter(|s| !s.is_empty())
            } else {
                None
            };
            ResultCode {
                result: r.random(),
                error,
                message,
            }
        }),
        protocol_version: maybe(r, |r| ProtocolVersion {
            version: r.random(),
            revision: r.random(),
        }),
        framing_capabilities: maybe(r, |r| Framing(r.random())),
        bearer_capabilities: maybe(r, |r| Bearer(r.random())),
        tie_breaker: maybe(r, |r| r.random()),
        firmware_revision: maybe(r, |r| r.random()),
        host_name: maybe(r, |r| bytes(r, 1, 64)),
        vendor_name: maybe(r, |r| bytes(r, 0, 32)),
        assigned_tunnel_id: maybe(r, nz),
        receive_window_size: maybe(r, nz),
        challenge: maybe(r, |r| bytes(r, 1, 64)),
        q931_cause: maybe(r, |r| Q931Cause {
            cause: r.random(),
            message: r.random(),
            advisory: maybe(r, text).filter(|s| !s.is_empty()),
        }),
        challenge_response: maybe(r, |r| r.random()),
        assigned_session_id: maybe(r, nz),
        call_serial_number: maybe(r, |r| r.random()),
        minimum_bps: maybe(r, |r| r.random()),
        maximum_bps: maybe(r, |r| r.random()),
        bearer_type: maybe(r, |r| Bearer(r.random())),
        framing_type: maybe(r, |r| Framing(r.random())),
        called_number: maybe(r, |r| bytes(r, 0, 40)),
        calling_number: maybe(r, |r| bytes(r, 0, 40)),
        sub_address: maybe(r, |r| bytes(r, 0, 40)),
        tx_connect_speed: maybe(r, |r| r.random()),
        physical_channel_id: maybe(r, |r| r.random()),
        initial_received_lcp_confreq: maybe(r, |r| bytes(r, 0, 100)),
        last_sent_lcp_confreq: maybe(r, |r| bytes(r, 0, 100)),
        last_received_lcp_confreq: maybe(r, |r| bytes(r, 0, 100)),
        proxy_authen_type: maybe(r, |r| ProxyAuthenType(r.random())),
        proxy_authen_name: maybe(r, |r| bytes(r, 0, 64)),
        proxy_authen_challenge: maybe(r, |r| bytes(r, 0, 64)),
        proxy_authen_id: maybe(r, |r| r.random()),
        proxy_authen_response: maybe(r, |r| bytes(r, 0, 64)),
        call_errors: maybe(r, |r| CallErrors {
            crc_errors: r.random(),
            framing_errors: r.random(),
            hardware_overruns: r.random(),
            buffer_overruns: r.random(),
            timeout_errors: r.random(),
            alignment_errors: r.random(),
        }),
        accm: maybe(r, |r| Accm {
            send: r.random(),
            receive: r.random(),
        }),
        private_group_id: maybe(r, |r| bytes(r, 0, 32)),
        rx_connect_speed: maybe(r, |r| r.random()),
        sequencing_required: r.random(),
        capabilities: maybe(r, |r| Capabilities(r.random())),
        switchover: maybe(r, |r| Switchover {
            old_tunnel_id: r.random(),
            old_session_id: r.random(),
            token: r.random(),
        }),
        disconnect_cause: maybe(r, |r| DisconnectCause {
            code: DisconnectCauseCode::from_code(r.random()),
            detail: r.random(),
            text: maybe(r, text).filter(|s| !s.is_empty()),
        }),
        unknown: (0..r.random_range(0..3))
            .map(|_| RawAvp {
                mandatory: r.random(),
                hidden: false,
                reserved: 0,
                vendor_id: r.random_range(1..=32472),
                attr: r.random(),
                value: bytes(r, 0, 20),
            })
            .collect(),
    }
}

/// Fills the §6 mandatory AVPs the random set lacks, so the message is valid.
fn complete(msg: &mut Message, r: &mut ChaCha8Rng) {
    let a = &mut msg.avps;
    for &attr in msg.kind.mandatory_avps() {
        use l2tpagg::wire::AvpType::*;
        match attr {
            ProtocolVersion => {
                a.protocol_version
                    .get_or_insert(l2tpagg::wire::ProtocolVersion::V1_0);
            }
            HostName => {
                a.host_name.get_or_insert_with(|| b"h".to_vec());
            }
            FramingCapabilities => {
                a.framing_capabilities.get_or_insert(Framing::BOTH);
            }
            AssignedTunnelId => {
                a.assigned_tunnel_id.get_or_insert(nz(r));
            }
            ResultCode => {
                a.result_code
                    .get_or_insert(l2tpagg::wire::ResultCode::new(1));
            }
            AssignedSessionId => {
                a.assigned_session_id.get_or_insert(nz(r));
            }
            CallSerialNumber => {
                a.call_serial_number.get_or_insert(1);
            }
            TxConnectSpeed => {
                a.tx_connect_speed.get_or_insert(1);
            }
            FramingType => {
                a.framing_type.get_or_insert(Framing(1));
            }
            MinimumBps => {
                a.minimum_bps.get_or_insert(1);
            }
            MaximumBps => {
                a.maximum_bps.get_or_insert(1);
            }
            BearerType => {
                a.bearer_type.get_or_insert(Bearer(1));
            }
            CalledNumber => {
                a.called_number.get_or_insert_with(Vec::new);
            }
            CallErrors => {
                a.call_errors.get_or_insert_with(Default::default);
            }
            Accm => {
                a.accm.get_or_insert(l2tpagg::wire::avp::Accm {
                    send: 0,
                    receive: 0,
                });
            }
            other => panic!("unhandled mandatory {other:?}"),
        }
    }
}

fn random_message(seed: u64) -> (Message, ControlHeader, ChaCha8Rng) {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let kind = MessageType::ALL[r.random_range(0..MessageType::ALL.len())];
    let mut msg = Message {
        kind,
        avps: random_avps(&mut r),
    };
    complete(&mut msg, &mut r);
    let header = ControlHeader {
        tunnel_id: r.random(),
        session_id: r.random(),
        ns: r.random(),
        nr: r.random(),
    };
    (msg, header, r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn every_avp_and_message_round_trips(seed in any::<u64>(), hide_mask in any::<u64>(), vendor_mask in any::<u64>()) {
        let (msg, header, mut r) = random_message(seed);
        let secret = bytes(&mut r, 1, 24);
        let mut rv = [0u8; 16];
        r.fill_bytes(&mut rv);
        for hide in [HideSet::NONE, HideSet { standard: hide_mask, vendor: vendor_mask }] {
            let ectx = EmitContext { secret: Some(&secret), hide, random_vector: rv, vendor_id: DEFAULT_VENDOR_ID };
            let mut out = Vec::new();
            msg.emit(&header, &ectx, &mut out).unwrap();
            let pctx = ParseContext { secret: Some(&secret), vendor_id: DEFAULT_VENDOR_ID };
            let (h, back) = Message::parse_packet(&out, &pctx).unwrap();
            prop_assert_eq!(h, header);
            prop_assert_eq!(back.as_ref(), Some(&msg));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    #[test]
    fn random_bytes_never_panic_the_decoders(b in prop::collection::vec(any::<u8>(), 0..96)) {
        let ctx = ParseContext { secret: Some(b"k"), vendor_id: DEFAULT_VENDOR_ID };
        let _ = Message::parse_packet(&b, &ctx);
        let _ = Message::parse(&b, &ctx);
        let _ = l2tpagg::wire::message::peek(&b);
        if let Ok(Kind::Data { payload, .. }) = data::classify(&b) {
            prop_assert!(payload.start <= payload.end && payload.end <= b.len());
        }
    }

    #[test]
    fn mutated_messages_never_panic(seed in any::<u64>(), edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..6)) {
        let (msg, header, _) = random_message(seed);
        let secret = b"secret".as_slice();
        let ectx = EmitContext { secret: Some(secret), hide: HideSet::ALL, random_vector: [3; 16], vendor_id: DEFAULT_VENDOR_ID };
        let mut b = Vec::new();
        msg.emit(&header, &ectx, &mut b).unwrap();
        for (pos, val, op) in edits {
            let at = pos as usize % (b.len() + 1);
            match op {
                0 if at < b.len() => b[at] ^= val | 1,
                1 => b.insert(at, val),
                _ => b.truncate(at),
            }
        }
        let ctx = ParseContext { secret: Some(secret), vendor_id: DEFAULT_VENDOR_ID };
        if let Ok((_, Some(m))) = Message::parse_packet(&b, &ctx) {
            prop_assert!(m.check_mandatory().is_ok());
        }
        let _ = data::classify(&b);
    }

    #[test]
    fn data_headers_round_trip(tunnel in any::<u16>(), session in any::<u16>(), ns in any::<Option<u16>>(),
                               with_length in any::<bool>(), priority in any::<bool>(), len in 0usize..200) {
        let opts = DataHeaderOptions { with_length, ns, priority };
        let mut buf = vec![0u8; 16 + len];
        let h = data::write_header(&mut buf, tunnel, session, len, opts).unwrap();
        buf.truncate(h + len);
        let kind = data::classify(&buf).unwrap();
        prop_assert_eq!(kind, Kind::Data { tunnel_id: tunnel, session_id: session, ns, priority, payload: h..h + len });
    }
}
