//! The PPPoE front-end's limits against a running daemon: sessions per MAC and per interface, and
//! the daemon's own capacity (what its LNS peers can carry, shared with dial-in subscribers).
//! A full daemon refuses politely (RFC 2516 §5.2, §5.4): no PADO for a PADI it cannot serve, and a
//! PADS with SESSION_ID 0 and a Generic-Error tag saying why for a PADR with a valid cookie. The
//! refusals are counted in `ctl status`, and a freed slot is served again. Needs root.

mod support;

use std::time::Duration;

use l2tpagg::loadgen::{Credentials, Dialer, DialerOptions};
use l2tpagg::runtime::packet::{MacAddr, PacketSocket, ethertype};
use support::pppoe::{
    AC_COOKIE, AC_MAC, GENERIC_ERROR, PADI, PADO, PADR, PADS, SERVICE_NAME, discovery,
    recv_matching, tag,
};
use support::topology::{Access, AccessPair};
use support::{Daemon, daemon_section, dialin_dialer};

const T: Duration = Duration::from_secs(15);
/// A host speaking Discovery by hand from its own MACs.
struct Prober {
    socket: PacketSocket,
}

impl Prober {
    /// Forgets frames captured earlier (the emulator's own Discovery is seen here too).
    fn forget(&self) {
        let mut buf = vec![0u8; 2048];
        while self.socket.try_recv(&mut buf).is_ok() {}
    }

    async fn reply(&self, to: MacAddr, code: u8, wait: Duration) -> Option<Vec<u8>> {
        recv_matching(&self.socket, wait, |dst, p| dst == to && p[1] == code).await
    }

    /// The AC-Cookie of the PADO answering a PADI from `mac`, or `None` without a PADO.
    async fn padi(&self, mac: MacAddr) -> Option<Vec<u8>> {
        self.forget();
        self.socket
            .send_from(
                mac,
                MacAddr::BROADCAST,
                &discovery(PADI, 0, &[(SERVICE_NAME, b"")]),
            )
            .await
            .unwrap();
        let pado = self.reply(mac, PADO, Duration::from_secs(1)).await?;
        tag(&pado, AC_COOKIE)
    }

    /// The PADS answering a PADR from `mac`: (SESSION_ID, Generic-Error text).
    async fn padr(&self, mac: MacAddr, cookie: &[u8]) -> (u16, Option<String>) {
        self.forget();
        self.socket
            .send_from(
                mac,
                AC_MAC.parse().unwrap(),
                &discovery(PADR, 0, &[(SERVICE_NAME, b""), (AC_COOKIE, cookie)]),
            )
            .await
            .unwrap();
        let pads = self.reply(mac, PADS, T).await.expect("a PADS");
        (
            u16::from_be_bytes([pads[2], pads[3]]),
            tag(&pads, GENERIC_ERROR).map(|t| String::from_utf8_lossy(&t).into_owned()),
        )
    }
}

fn probe_mac(n: u8) -> MacAddr {
    MacAddr([0x06, 0xbb, 0, 0, 0, n])
}

#[test]
fn limits_refuse_politely_and_free_slots_are_served_again() {
    let AccessPair {
        sub,
        conc,
        sub_if,
        conc_if,
    } = AccessPair::new("pplim", Access::Ethernet { conc_mac: AC_MAC });
    // Dial-in subscribers reach the daemon over IP on the same veth.
    sub.ip(&["addr", "add", "10.9.0.2/24", "dev", &sub_if])
        .unwrap();
    conc.ip(&["addr", "add", "10.9.0.1/24", "dev", &conc_if])
        .unwrap();
    // Two sessions per interface, one per MAC; the LNS peer carries three subscribers in all.
    let config = format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpl0\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         max_tunnels = 1\nmax_sessions_per_tunnel = 3\n\
         [lac.pppoe]\ninterfaces = [\"{conc_if}\"]\nmax_sessions_per_mac = 1\n\
         max_sessions_per_interface = 2\n\
         [lac.dialin]\nlisten = [\"10.9.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"10.9.0.0/24\"\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(std::path::Path::new("{dir}")),
    );
    let daemon = Daemon::start("conc", Some(conc.name()), &config);
    let counter = |name: &str| {
        daemon.ctl_json(&["status"])["malformed"][name]
            .as_u64()
            .unwrap_or(0)
    };

    sub.block_on(|| async {
        let mut options = DialerOptions::pppoe(&sub_if);
        options.setup_timeout = T;
        let dialer = Dialer::start(options).await.expect("dialer");
        let prober = Prober {
            socket: PacketSocket::bind(&sub_if, ethertype::PPPOE_DISCOVERY).unwrap(),
        };

        // Per MAC: a second session from a MAC that has one gets no PADO.
        let one = dialer
            .dial(Credentials::new("user1", "demo").with_number(1))
            .await
            .expect("user1");
        let mac1 = MacAddr(l2tpagg::loadgen::pppoe_core::subscriber_mac(1).0);
        assert_eq!(
            prober.padi(mac1).await,
            None,
            "a PADO beyond the per-MAC cap"
        );
        assert_eq!(counter("pppoe.per_mac_limit"), 1);

        // Per interface: with two sessions up, a PADI gets no PADO, and a PADR carrying a cookie
        // from before gets a PADS refusing it with a Generic-Error.
        let early = prober
            .padi(probe_mac(1))
            .await
            .expect("a PADO while a slot is free");
        let _two = dialer
            .dial(Credentials::new("user2", "demo").with_number(2))
            .await
            .expect("user2");
        assert_eq!(
            prober.padi(probe_mac(2)).await,
            None,
            "a PADO on a full interface"
        );
        let (session, error) = prober.padr(probe_mac(1), &early).await;
        assert_eq!(session, 0, "a refusing PADS has SESSION_ID 0");
        assert_eq!(
            error.as_deref(),
            Some("access concentrator session limit reached")
        );
        assert_eq!(counter("pppoe.interface_full"), 2);

        // The daemon's capacity: one PPPoE slot frees, but two dial-in subscribers fill what the
        // LNS peer can carry (1 tunnel x 3 sessions): the AC stops offering, and says why.
        one.logout().await.expect("user1 logs out");
        support::wait_for(T, || (daemon.rows(&["sessions"]).len() == 2).then_some(()))
            .expect("user1's sessions gone");
        let early = prober
            .padi(probe_mac(3))
            .await
            .expect("a PADO for the free slot");
        let dialin = dialin_dialer("10.9.0.2:0", "10.9.0.1:1702", T).await;
        let mut dialed = Vec::new();
        for name in ["user5", "user6"] {
            dialed.push(
                dialin
                    .dial(Credentials::new(name, "demo"))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}")),
            );
        }
        assert_eq!(
            prober.padi(probe_mac(4)).await,
            None,
            "a PADO beyond capacity"
        );
        let (session, error) = prober.padr(probe_mac(3), &early).await;
        assert_eq!(session, 0);
        assert_eq!(error.as_deref(), Some("access concentrator at capacity"));
        assert_eq!(counter("pppoe.admission_closed"), 2);

        // A dial-in subscriber leaves: the PPPoE slot is served again.
        dialed.remove(0).hang_up().await.expect("user5 hangs up");
        support::wait_for(T, || (daemon.rows(&["sessions"]).len() == 4).then_some(()))
            .expect("the dial-in subscriber's sessions gone");
        dialer
            .dial(Credentials::new("user3", "demo").with_number(3))
            .await
            .expect("user3 logs in once capacity is free");
        let _ = dialin.close().await;
        let _ = dialer.close().await;
    })
    .unwrap();
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}
