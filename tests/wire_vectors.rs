//! Byte-exact vectors for every RFC 2661 §3.2 message type, built from the RFC's header and AVP
//! layouts (§3.1, §4.1) independently of the codec, then decoded and re-encoded.

use l2tpagg::wire::avp::{
    Accm, Bearer, CallErrors, Capabilities, DisconnectCause, DisconnectCauseCode, Framing,
};
use l2tpagg::wire::{
    Avps, ControlHeader, DEFAULT_VENDOR_ID, EmitContext, Error, HideSet, Message, MessageType,
    ParseContext, ProtocolVersion, ProxyAuthenType, Q931Cause, RawAvp, ResultCode, Switchover,
};

/// An AVP laid out per RFC 2661 §4.1: |M|H|rsvd|Length(10)|Vendor ID|Attribute Type|Value.
fn avp(m: bool, vendor: u16, attr: u16, value: &[u8]) -> Vec<u8> {
    let len = 6 + value.len() as u16;
    let flags = if m { 0x8000 } else { 0 } | len;
    let mut v = flags.to_be_bytes().to_vec();
    v.extend_from_slice(&vendor.to_be_bytes());
    v.extend_from_slice(&attr.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// A control header per RFC 2661 §3.1: T=1 L=1 S=1 Ver=2 (0xC802), Length, IDs, Ns, Nr.
fn packet(tunnel: u16, session: u16, ns: u16, nr: u16, avps: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = avps.concat();
    let mut v = vec![0xc8, 0x02];
    v.extend_from_slice(&(12 + body.len() as u16).to_be_bytes());
    for x in [tunnel, session, ns, nr] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(&body);
    v
}

fn msg_type(t: u16) -> Vec<u8> {
    avp(true, 0, 0, &t.to_be_bytes())
}

fn pctx() -> ParseContext<'static> {
    ParseContext {
        secret: None,
        vendor_id: DEFAULT_VENDOR_ID,
    }
}

fn ectx() -> EmitContext<'static> {
    EmitContext {
        secret: None,
        hide: HideSet::NONE,
        random_vector: [0; 16],
        vendor_id: DEFAULT_VENDOR_ID,
    }
}

fn check(bytes: &[u8], header: ControlHeader, msg: Message) {
    let (h, parsed) = Message::parse_packet(bytes, &pctx()).expect("vector decodes");
    assert_eq!(h, header);
    assert_eq!(parsed.as_ref(), Some(&msg), "decoded message differs");
    let mut out = Vec::new();
    msg.emit(&header, &ectx(), &mut out)
        .expect("vector encodes");
    assert_eq!(out, bytes, "encoded bytes differ");
}

fn with(kind: MessageType, f: impl FnOnce(&mut Avps)) -> Message {
    let mut m = Message::new(kind);
    f(&mut m.avps);
    m
}

#[test]
fn sccrq() {
    // As an l2tpagg LAC sends it: the §6.1 mandatory AVPs, RWS 16, a challenge, vendor name and our
    // capability AVP (M=0, vendor 32473, type 40).
    let bytes = packet(
        0,
        0,
        0,
        0,
        &[
            msg_type(1),
            avp(true, 0, 2, &[1, 0]),
            avp(true, 0, 3, &[0, 0, 0, 3]),
            avp(true, 0, 4, &[0, 0, 0, 0]),
            avp(false, 0, 6, &[0x01, 0x00]),
            avp(true, 0, 7, b"lac1"),
            avp(false, 0, 8, b"l2tpagg"),
            avp(true, 0, 9, &[0x12, 0x34]),
            avp(true, 0, 10, &[0, 16]),
            avp(true, 0, 11, &[0xa5; 16]),
            avp(false, 32473, 40, &[0, 0, 0, 3]),
        ],
    );
    let msg = with(MessageType::Sccrq, |a| {
        a.protocol_version = Some(ProtocolVersion::V1_0);
        a.framing_capabilities = Some(Framing::BOTH);
        a.bearer_capabilities = Some(Bearer(0));
        a.firmware_revision = Some(0x0100);
        a.host_name = Some(b"lac1".to_vec());
        a.vendor_name = Some(b"l2tpagg".to_vec());
        a.assigned_tunnel_id = Some(0x1234);
        a.receive_window_size = Some(16);
        a.challenge = Some(vec![0xa5; 16]);
        a.capabilities = Some(Capabilities::ALL);
    });
    check(&bytes, ControlHeader::default(), msg);
    // Spot-check the raw layout against the RFC: first AVP is Message Type, M=1, length 8.
    assert_eq!(&bytes[12..20], &[0x80, 0x08, 0, 0, 0, 0, 0, 1]);
}

#[test]
fn sccrp() {
    let bytes = packet(
        0x1234,
        0,
        0,
        1,
        &[
            msg_type(2),
            avp(true, 0, 2, &[1, 0]),
            avp(true, 0, 3, &[0, 0, 0, 1]),
            avp(true, 0, 7, b"lns"),
            avp(true, 0, 9, &[0x56, 0x78]),
            avp(true, 0, 10, &[0, 4]),
            avp(true, 0, 13, &[7; 16]),
        ],
    );
    let msg = with(MessageType::Sccrp, |a| {
        a.protocol_version = Some(ProtocolVersion::V1_0);
        a.framing_capabilities = Some(Framing(Framing::SYNC));
        a.host_name = Some(b"lns".to_vec());
        a.assigned_tunnel_id = Some(0x5678);
        a.receive_window_size = Some(4);
        a.challenge_response = Some([7; 16]);
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x1234,
            session_id: 0,
            ns: 0,
            nr: 1,
        },
        msg,
    );
}

#[test]
fn scccn() {
    let bytes = packet(0x5678, 0, 1, 1, &[msg_type(3), avp(true, 0, 13, &[9; 16])]);
    let msg = with(MessageType::Scccn, |a| a.challenge_response = Some([9; 16]));
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 0,
            ns: 1,
            nr: 1,
        },
        msg,
    );
}

#[test]
fn stopccn() {
    let mut rc = vec![0, 2, 0, 8];
    rc.extend_from_slice(b"unknown AVP 99");
    let bytes = packet(
        0x5678,
        0,
        2,
        1,
        &[
            msg_type(4),
            avp(true, 0, 1, &rc),
            avp(true, 0, 9, &[0x12, 0x34]),
        ],
    );
    let msg = with(MessageType::StopCcn, |a| {
        a.result_code = Some(ResultCode {
            result: 2,
            error: Some(8),
            message: Some("unknown AVP 99".into()),
        });
        a.assigned_tunnel_id = Some(0x1234);
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 0,
            ns: 2,
            nr: 1,
        },
        msg,
    );
}

#[test]
fn hello() {
    let bytes = packet(0x5678, 0, 7, 3, &[msg_type(6)]);
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 0,
            ns: 7,
            nr: 3,
        },
        Message::new(MessageType::Hello),
    );
}

#[test]
fn ocrq() {
    let bytes = packet(
        0x1234,
        0,
        3,
        2,
        &[
            msg_type(7),
            avp(true, 0, 14, &[0, 9]),
            avp(true, 0, 15, &[0, 0, 0, 42]),
            avp(true, 0, 16, &[0, 0, 0x25, 0x80]),
            avp(true, 0, 17, &[0, 1, 0xf4, 0]),
            avp(true, 0, 18, &[0, 0, 0, 2]),
            avp(true, 0, 19, &[0, 0, 0, 2]),
            avp(true, 0, 21, b"5551234"),
            avp(true, 0, 23, b"7"),
        ],
    );
    let msg = with(MessageType::Ocrq, |a| {
        a.assigned_session_id = Some(9);
        a.call_serial_number = Some(42);
        a.minimum_bps = Some(9600);
        a.maximum_bps = Some(128000);
        a.bearer_type = Some(Bearer(Bearer::ANALOG));
        a.framing_type = Some(Framing(Framing::ASYNC));
        a.called_number = Some(b"5551234".to_vec());
        a.sub_address = Some(b"7".to_vec());
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x1234,
            session_id: 0,
            ns: 3,
            nr: 2,
        },
        msg,
    );
}

#[test]
fn ocrp() {
    let bytes = packet(
        0x5678,
        9,
        4,
        4,
        &[
            msg_type(8),
            avp(true, 0, 14, &[0, 3]),
            avp(false, 0, 25, &[0, 0, 0, 1]),
        ],
    );
    let msg = with(MessageType::Ocrp, |a| {
        a.assigned_session_id = Some(3);
        a.physical_channel_id = Some(1);
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 9,
            ns: 4,
            nr: 4,
        },
        msg,
    );
}

#[test]
fn occn() {
    let bytes = packet(
        0x5678,
        9,
        5,
        4,
        &[
            msg_type(9),
            avp(true, 0, 19, &[0, 0, 0, 1]),
            avp(true, 0, 24, &[0, 0, 0xfa, 0]),
            avp(false, 0, 38, &[0, 0, 0x7d, 0]),
            avp(true, 0, 39, &[]),
        ],
    );
    let msg = with(MessageType::Occn, |a| {
        a.framing_type = Some(Framing(Framing::SYNC));
        a.tx_connect_speed = Some(64000);
        a.rx_connect_speed = Some(32000);
        a.sequencing_required = true;
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 9,
            ns: 5,
            nr: 4,
        },
        msg,
    );
}

#[test]
fn icrq_with_switchover() {
    let mut sw = vec![0x00, 0x21, 0x00, 0x42];
    sw.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    let bytes = packet(
        0x5678,
        0,
        2,
        1,
        &[
            msg_type(10),
            avp(true, 0, 14, &[0x00, 0x07]),
            avp(true, 0, 15, &[0, 0, 1, 0]),
            avp(true, 0, 18, &[0, 0, 0, 1]),
            avp(true, 0, 21, b"dsl"),
            avp(true, 0, 22, b"0049301234"),
            avp(false, 0, 25, &[0, 0, 0, 5]),
            avp(false, 32473, 41, &sw),
        ],
    );
    let msg = with(MessageType::Icrq, |a| {
        a.assigned_session_id = Some(7);
        a.call_serial_number = Some(256);
        a.bearer_type = Some(Bearer(Bearer::DIGITAL));
        a.called_number = Some(b"dsl".to_vec());
        a.calling_number = Some(b"0049301234".to_vec());
        a.physical_channel_id = Some(5);
        a.switchover = Some(Switchover {
            old_tunnel_id: 0x21,
            old_session_id: 0x42,
            token: 0x0102_0304_0506_0708,
        });
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 0,
            ns: 2,
            nr: 1,
        },
        msg,
    );
}

#[test]
fn icrp() {
    let bytes = packet(
        0x1234,
        7,
        1,
        3,
        &[msg_type(11), avp(true, 0, 14, &[0x00, 0x63])],
    );
    let msg = with(MessageType::Icrp, |a| a.assigned_session_id = Some(0x63));
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x1234,
            session_id: 7,
            ns: 1,
            nr: 3,
        },
        msg,
    );
}

#[test]
fn iccn_with_proxy_lcp_and_auth() {
    let bytes = packet(
        0x5678,
        0x63,
        3,
        2,
        &[
            msg_type(12),
            avp(true, 0, 19, &[0, 0, 0, 1]),
            avp(true, 0, 24, &[0x05, 0xf5, 0xe1, 0x00]),
            avp(false, 0, 26, &[1, 4, 5, 0xd4, 5, 6, 1, 2, 3, 4]),
            avp(false, 0, 27, &[3, 5, 0xc2, 0x23, 5]),
            avp(false, 0, 28, &[1, 4, 5, 0xd4]),
            avp(false, 0, 29, &[0, 2]),
            avp(false, 0, 30, b"alice@isp"),
            avp(false, 0, 31, &[0x11; 16]),
            avp(false, 0, 32, &[0, 1]),
            avp(false, 0, 33, &[0x22; 16]),
            avp(false, 0, 37, b"grp"),
        ],
    );
    let msg = with(MessageType::Iccn, |a| {
        a.framing_type = Some(Framing(Framing::SYNC));
        a.tx_connect_speed = Some(100_000_000);
        a.initial_received_lcp_confreq = Some(vec![1, 4, 5, 0xd4, 5, 6, 1, 2, 3, 4]);
        a.last_sent_lcp_confreq = Some(vec![3, 5, 0xc2, 0x23, 5]);
        a.last_received_lcp_confreq = Some(vec![1, 4, 5, 0xd4]);
        a.proxy_authen_type = Some(ProxyAuthenType::CHAP);
        a.proxy_authen_name = Some(b"alice@isp".to_vec());
        a.proxy_authen_challenge = Some(vec![0x11; 16]);
        a.proxy_authen_id = Some(1);
        a.proxy_authen_response = Some(vec![0x22; 16]);
        a.private_group_id = Some(b"grp".to_vec());
    });
    let auth = msg.avps.proxy_auth().expect("complete CHAP proxy auth");
    assert_eq!(auth.kind, ProxyAuthenType::CHAP);
    assert_eq!(auth.id, Some(1));
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 0x63,
            ns: 3,
            nr: 2,
        },
        msg,
    );
}

#[test]
fn cdn_with_q931_and_disconnect_cause() {
    let mut dc = vec![0, 2, 0, 0, 0, 4];
    dc.extend_from_slice(b"idle");
    let bytes = packet(
        0x1234,
        7,
        4,
        4,
        &[
            msg_type(14),
            avp(true, 0, 1, &[0, 3]),
            avp(true, 0, 12, &[0, 16, 0x45, b'b', b'y', b'e']),
            avp(true, 0, 14, &[0, 0x63]),
            avp(false, 32473, 42, &dc),
        ],
    );
    let msg = with(MessageType::Cdn, |a| {
        a.result_code = Some(ResultCode::new(3));
        a.q931_cause = Some(Q931Cause {
            cause: 16,
            message: 0x45,
            advisory: Some("bye".into()),
        });
        a.assigned_session_id = Some(0x63);
        a.disconnect_cause = Some(DisconnectCause {
            code: DisconnectCauseCode::AutomaticDisconnect,
            detail: 4,
            text: Some("idle".into()),
        });
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x1234,
            session_id: 7,
            ns: 4,
            nr: 4,
        },
        msg,
    );
}

#[test]
fn wen() {
    let mut v = vec![0, 0];
    for n in 1u32..=6 {
        v.extend_from_slice(&n.to_be_bytes());
    }
    let bytes = packet(0x5678, 0x63, 5, 4, &[msg_type(15), avp(true, 0, 34, &v)]);
    let msg = with(MessageType::Wen, |a| {
        a.call_errors = Some(CallErrors {
            crc_errors: 1,
            framing_errors: 2,
            hardware_overruns: 3,
            buffer_overruns: 4,
            timeout_errors: 5,
            alignment_errors: 6,
        })
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x5678,
            session_id: 0x63,
            ns: 5,
            nr: 4,
        },
        msg,
    );
}

#[test]
fn sli() {
    let bytes = packet(
        0x1234,
        7,
        5,
        6,
        &[
            msg_type(16),
            avp(true, 0, 35, &[0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
        ],
    );
    let msg = with(MessageType::Sli, |a| {
        a.accm = Some(Accm {
            send: 0xffff_ffff,
            receive: 0,
        })
    });
    check(
        &bytes,
        ControlHeader {
            tunnel_id: 0x1234,
            session_id: 7,
            ns: 5,
            nr: 6,
        },
        msg,
    );
}

#[test]
fn unknown_avps_are_kept_with_flags_vendor_type_and_bytes() {
    let bytes = packet(
        1,
        0,
        0,
        0,
        &[
            msg_type(6),
            avp(false, 9, 1234, &[1, 2, 3]),
            avp(true, 0, 20, &[4]),
        ],
    );
    let (_, m) = Message::parse_packet(&bytes, &pctx()).unwrap();
    let m = m.unwrap();
    assert_eq!(
        m.avps.unknown,
        vec![
            RawAvp {
                mandatory: false,
                hidden: false,
                reserved: 0,
                vendor_id: 9,
                attr: 1234,
                value: vec![1, 2, 3]
            },
            RawAvp {
                mandatory: true,
                hidden: false,
                reserved: 0,
                vendor_id: 0,
                attr: 20,
                value: vec![4]
            },
        ]
    );
    assert_eq!(m.avps.unknown_mandatory().map(|r| r.attr), Some(20));
    let mut out = Vec::new();
    m.emit(
        &ControlHeader {
            tunnel_id: 1,
            ..Default::default()
        },
        &ectx(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn our_vendor_avps_under_another_vendor_id_are_unknown() {
    let bytes = packet(
        1,
        0,
        0,
        0,
        &[msg_type(6), avp(false, 32473, 40, &[0, 0, 0, 1])],
    );
    let ctx = ParseContext {
        secret: None,
        vendor_id: 4242,
    };
    let (_, m) = Message::parse_packet(&bytes, &ctx).unwrap();
    let m = m.unwrap();
    assert_eq!(m.avps.capabilities, None);
    assert_eq!(m.avps.unknown.len(), 1);
}

#[test]
fn mandatory_avps_are_checked_on_receive_and_on_send() {
    // ICRQ without Call Serial Number (§6.6).
    let bytes = packet(1, 0, 0, 0, &[msg_type(10), avp(true, 0, 14, &[0, 1])]);
    assert_eq!(
        Message::parse_packet(&bytes, &pctx()).unwrap_err(),
        Error::MissingAvp {
            message: MessageType::Icrq,
            attr: l2tpagg::wire::AvpType::CallSerialNumber
        }
    );
    for kind in MessageType::ALL {
        let m = Message::new(kind);
        let mut out = Vec::new();
        let r = m.emit(&ControlHeader::default(), &ectx(), &mut out);
        assert_eq!(r.is_ok(), kind.mandatory_avps().is_empty(), "{kind:?}");
        if r.is_err() {
            assert!(out.is_empty(), "a failed emit writes nothing");
        }
    }
}

#[test]
fn malformed_mandatory_avp_is_an_error_but_malformed_optional_is_ignored() {
    // Assigned Session ID 0 is out of range (M=1): error.
    let bad = packet(1, 0, 0, 0, &[msg_type(11), avp(true, 0, 14, &[0, 0])]);
    assert!(matches!(
        Message::parse_packet(&bad, &pctx()),
        Err(Error::BadAvp { attr: 14, .. })
    ));
    // RFC 2661 §7.1's own example: Rx Connect Speed (M=0) with 2 bytes: accepted, AVP ignored.
    let ok = packet(
        1,
        0,
        0,
        0,
        &[
            msg_type(12),
            avp(true, 0, 19, &[0, 0, 0, 1]),
            avp(true, 0, 24, &[0, 0, 0, 1]),
            avp(false, 0, 38, &[0, 1]),
        ],
    );
    let (_, m) = Message::parse_packet(&ok, &pctx()).unwrap();
    let m = m.unwrap();
    assert_eq!(m.avps.rx_connect_speed, None);
    assert_eq!(m.avps.unknown.len(), 1);
}

#[test]
fn unknown_message_type_reports_its_m_bit() {
    let b = packet(1, 0, 0, 0, &[avp(true, 0, 0, &[0, 99])]);
    assert_eq!(
        Message::parse_packet(&b, &pctx()).unwrap_err(),
        Error::UnknownMessageType {
            value: 99,
            mandatory: true
        }
    );
    let b = packet(1, 0, 0, 0, &[avp(false, 0, 0, &[0, 5])]);
    assert_eq!(
        Message::parse_packet(&b, &pctx()).unwrap_err(),
        Error::UnknownMessageType {
            value: 5,
            mandatory: false
        }
    );
    let b = packet(1, 0, 0, 0, &[avp(true, 0, 7, b"x")]);
    assert_eq!(
        Message::parse_packet(&b, &pctx()).unwrap_err(),
        Error::MissingMessageType
    );
}

#[test]
fn hidden_avp_vector_decodes_with_the_rfc_construction() {
    use md5::{Digest, Md5};
    // Hide Calling Number "12345" by hand per RFC 2661 §4.3 with secret "tunnel" and RV 0..16.
    let secret = b"tunnel";
    let rv: Vec<u8> = (0u8..16).collect();
    let mut sub = vec![0u8, 5];
    sub.extend_from_slice(b"12345");
    sub.extend_from_slice(&[0xee; 3]); // padding, which the receiver must tolerate
    let mut h = Md5::new();
    h.update(22u16.to_be_bytes());
    h.update(secret);
    h.update(&rv);
    let b1: [u8; 16] = h.finalize().into();
    let hidden: Vec<u8> = sub.iter().zip(b1).map(|(p, b)| p ^ b).collect();
    let mut hidden_avp = avp(true, 0, 22, &hidden);
    hidden_avp[0] |= 0x40; // H bit
    let bytes = packet(
        1,
        0,
        0,
        0,
        &[
            msg_type(10),
            avp(true, 0, 36, &rv),
            avp(true, 0, 14, &[0, 1]),
            avp(true, 0, 15, &[0, 0, 0, 1]),
            hidden_avp,
        ],
    );
    let ctx = ParseContext {
        secret: Some(secret),
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let (_, m) = Message::parse_packet(&bytes, &ctx).unwrap();
    assert_eq!(
        m.unwrap().avps.calling_number.as_deref(),
        Some(&b"12345"[..])
    );
    // Without the secret a mandatory hidden AVP cannot be understood.
    assert_eq!(
        Message::parse_packet(&bytes, &pctx()).unwrap_err(),
        Error::HiddenWithoutSecret { attr: 22 }
    );
}

#[test]
fn hidden_emit_puts_random_vector_first_and_round_trips() {
    let secret = b"s";
    let msg = with(MessageType::Iccn, |a| {
        a.framing_type = Some(Framing(Framing::SYNC));
        a.tx_connect_speed = Some(1);
        a.proxy_authen_type = Some(ProxyAuthenType::PAP);
        a.proxy_authen_name = Some(b"bob".to_vec());
        a.proxy_authen_id = Some(3);
        a.proxy_authen_response = Some(b"hunter2".to_vec());
    });
    let ectx = EmitContext {
        secret: Some(secret),
        hide: HideSet::SENSITIVE,
        random_vector: [5; 16],
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let mut out = Vec::new();
    msg.emit(&ControlHeader::default(), &ectx, &mut out)
        .unwrap();
    // Message Type (8 bytes) then the Random Vector AVP (M=1, type 36).
    assert_eq!(&out[20..26], &[0x80, 22, 0, 0, 0, 36]);
    assert!(
        !out.windows(7).any(|w| w == b"hunter2"),
        "password must not appear in clear"
    );
    let pctx = ParseContext {
        secret: Some(secret),
        vendor_id: DEFAULT_VENDOR_ID,
    };
    let (_, back) = Message::parse_packet(&out, &pctx).unwrap();
    assert_eq!(back.unwrap(), msg);
    // Hiding without a secret is refused.
    let no_secret = EmitContext {
        secret: None,
        ..ectx
    };
    assert!(matches!(
        msg.emit(&ControlHeader::default(), &no_secret, &mut Vec::new()),
        Err(Error::HideWithoutSecret { .. })
    ));
}

#[test]
fn an_avp_with_reserved_bits_set_is_treated_as_unrecognized_and_kept() {
    // RFC 2661 §4.1: reserved bits set → unrecognized. A Host Name AVP with a reserved bit.
    let mut odd = avp(false, 0, 7, b"x");
    odd[0] |= 0x04;
    let bytes = packet(1, 0, 0, 0, &[msg_type(6), odd]);
    let (_, m) = Message::parse_packet(&bytes, &pctx()).unwrap();
    let m = m.unwrap();
    assert_eq!(m.avps.host_name, None);
    assert_eq!(m.avps.unknown.len(), 1);
    assert_eq!(m.avps.unknown[0].reserved, 1);
    let mut out = Vec::new();
    m.emit(
        &ControlHeader {
            tunnel_id: 1,
            ..Default::default()
        },
        &ectx(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, bytes);
}
