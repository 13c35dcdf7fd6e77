//! tshark decodes everything the running daemon puts on the wire (dial-in front-end, LAC and LNS
//! in one process, on the loopback of a network namespace the test creates): tunnels, sessions
//! with proxy LCP/authentication, PPP (LCP, CHAP, IPCP), data, CDN and StopCCN, with no malformed
//! packet and no expert item of severity warning or worse (with our dissector for our vendor
//! AVPs loaded). Needs root and tshark.

mod support;

use std::process::Command;
use std::time::Duration;

use support::tshark::{assert_decodes, assert_no_expert_warnings, dissector_arg, tshark};
use support::{Auth, Daemon, DialinClient, daemon_section, netns, udp_packet, wait_for};

const T: Duration = Duration::from_secs(15);

#[test]
fn tshark_decodes_the_daemons_traffic_without_malformed_packets_or_warnings() {
    let ns = netns("tshark");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("daemon.pcapng");
    let capture_log = dir.path().join("capture.log");
    let capture_out = dir.path().join("capture.out");
    let mut capture = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "tshark",
            "-i",
            "lo",
            "-f",
            "udp",
            "-P",
            "-l",
            "-w",
        ])
        .arg(&pcap)
        .stdout(std::fs::File::create(&capture_out).unwrap())
        .stderr(std::fs::File::create(&capture_log).unwrap())
        .spawn()
        .expect("tshark is required for this test (apt-get install tshark)");
    assert!(
        wait_for(T, || std::fs::read_to_string(&capture_log)
            .unwrap_or_default()
            .contains("Capturing on")
            .then_some(()))
        .is_some(),
        "capture did not start: {}",
        std::fs::read_to_string(&capture_log).unwrap_or_default()
    );
    // tshark says "Capturing on" before the capture is live: packets right after it can be
    // missed. Probe with datagrams until tshark has printed one (`-P`); then it sees everything.
    let probe = ns
        .run(|| std::net::UdpSocket::bind("127.0.0.1:0"))
        .unwrap()
        .expect("probe socket");
    assert!(
        wait_for(T, || {
            let _ = probe.send_to(b"capture probe", "127.0.0.1:9");
            std::fs::metadata(&capture_out)
                .is_ok_and(|m| m.len() > 0)
                .then_some(())
        })
        .is_some(),
        "the capture never saw a probe: {}",
        std::fs::read_to_string(&capture_log).unwrap_or_default()
    );

    let mut daemon = Daemon::start(
        "conc",
        Some(ns.name()),
        &format!(
            "{}\n[l2tp]\nhide_avps = true\n\
             [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
             [lns.tun]\nname = \"l2tpw0\"\n\
             [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\nsecret = \"shared\"\n\
             [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
             [lac]\nempty_tunnel_linger = \"200ms\"\n\
             [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
             [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\nsecret = \"shared\"\n\
             [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
             [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
             [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
            daemon_section(std::path::Path::new("{dir}"))
        ),
    );
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let (a, addr) = client
            .login("user1", "demo", Auth::Chap, T)
            .await
            .expect("CHAP login");
        let (b, _) = client
            .login("user2", "demo", Auth::Pap, T)
            .await
            .expect("PAP login");
        for i in 0..5u16 {
            client
                .send_ip(
                    a,
                    &udp_packet(addr, 4000 + i, "100.64.0.1".parse().unwrap(), 9, b"data"),
                )
                .await;
        }
        client.hangup(b).await;
        daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lns" && e["fields"]["subscriber"] == "user2"
        });
        // SIGTERM while user1 is up: CDN and StopCCN on every tunnel.
        daemon.signal("TERM");
        client.drive_until(T, |c| c.tunnel_down.is_some()).await;
        client
            .drive_until(Duration::from_millis(300), |_| false)
            .await;
    })
    .unwrap();
    assert!(daemon.wait_exit(T).success());
    let _ = Command::new("kill")
        .args(["-INT", &capture.id().to_string()])
        .status();
    let _ = capture.wait();

    let lua_arg = dissector_arg(dir.path());
    let file = pcap.to_str().unwrap();
    let decode = ["-d", "udp.port==1702,l2tp"];
    let mut args = vec!["-X", &lua_arg, "-r", file, "-V"];
    args.extend_from_slice(&decode);
    let verbose = tshark(&args);
    assert_decodes(
        &verbose,
        &[
            "Hidden: True",
            "Proxy Authen Type",
            "Last Sent LCP CONFREQ",
            "Vendor l2tpagg (32473): Capabilities AVP",
            "Vendor l2tpagg (32473): Disconnect Cause AVP",
            "Challenge Handshake Authentication Protocol",
            "Password Authentication Protocol",
            "PPP IP Control Protocol",
            "User Datagram Protocol, Src Port: 4000",
        ],
    );
    let mut args = vec!["-X", &lua_arg, "-r", file, "-q", "-z", "expert"];
    args.extend_from_slice(&decode);
    assert_no_expert_warnings(&tshark(&args));
}
