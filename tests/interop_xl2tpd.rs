//! Interop with the real xl2tpd (Debian's /usr/sbin/xl2tpd): our LAC toward xl2tpd as LNS, and
//! xl2tpd as a LAC toward our LNS and toward our dial-in front-end, with clean teardown both
//! ways. Everything runs in a network namespace the test creates.
//!
//! xl2tpd starts pppd for every call and there is no /dev/ppp here, and it executes the fixed
//! path /usr/sbin/pppd: so xl2tpd runs in a private mount namespace (`unshare -m`) in which a
//! stand-in script is bind-mounted over /usr/sbin/pppd. The stand-in holds the pty until xl2tpd
//! kills it, so the L2TP exchange completes; no PPP is spoken on xl2tpd's side. Needs root.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{Auth, Daemon, DialinClient, daemon_section, netns, wait_for};

const T: Duration = Duration::from_secs(20);

/// xl2tpd in the foreground in namespace `ns` with the stand-in pppd.
struct Xl2tpd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    name: &'static str,
}

impl Xl2tpd {
    fn start(ns: &str, name: &'static str, conf: &str) -> Xl2tpd {
        assert!(
            std::path::Path::new("/usr/sbin/xl2tpd").exists(),
            "interop tests need xl2tpd (apt-get install xl2tpd; CI installs it)"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("xl2tpd-{name}-"))
            .tempdir()
            .unwrap();
        let standin = dir.path().join("pppd");
        std::fs::write(
            &standin,
            format!(
                "#!/bin/sh\n# Stand-in for pppd: note our PID, stay alive until xl2tpd kills us.\n\
                 echo $$ >> {}/pppd.pids\nexec sleep infinity\n",
                dir.path().display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&standin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf_path = dir.path().join("xl2tpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let control = dir.path().join("control");
        let pid = dir.path().join("xl2tpd.pid");
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let script = format!(
            "mount --bind {standin} /usr/sbin/pppd && exec /usr/sbin/xl2tpd -D -c {conf} -p {pid} -C {control}",
            standin = standin.display(),
            conf = conf_path.display(),
            pid = pid.display(),
            control = control.display(),
        );
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
            ])
            .arg(script)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start xl2tpd");
        let x = Xl2tpd {
            child: Some(child),
            dir,
            name,
        };
        assert!(
            wait_for(Duration::from_secs(10), || x
                .log()
                .contains("Listening on IP address")
                .then_some(()))
            .is_some(),
            "xl2tpd {name} did not start:\n{}",
            x.log()
        );
        x
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn wait_log(&self, needle: &str) {
        assert!(
            wait_for(T, || self.log().contains(needle).then_some(())).is_some(),
            "xl2tpd {} never logged {needle:?}:\n{}",
            self.name,
            self.log()
        );
    }

    /// Writes a command to xl2tpd's control FIFO.
    fn control(&self, command: &str) {
        let path: PathBuf = self.dir.path().join("control");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("control fifo");
        writeln!(f, "{command}").unwrap();
    }

    /// Kills the `n`th stand-in pppd xl2tpd started (1-based), once it has: xl2tpd then ends
    /// that call with a CDN.
    fn kill_pppd(&self, n: usize) {
        let path = self.dir.path().join("pppd.pids");
        let pid = wait_for(T, || {
            let pids = std::fs::read_to_string(&path).unwrap_or_default();
            pids.lines().nth(n - 1).map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| {
            panic!(
                "xl2tpd {} never started pppd #{n}:\n{}",
                self.name,
                self.log()
            )
        });
        let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(st.success(), "kill stand-in pppd {pid}");
    }

    /// Stops xl2tpd. SIGINT, not SIGTERM: xl2tpd sends StopCCN ("Server closing") to every
    /// tunnel on SIGINT and exits silently on SIGTERM.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            let _ = wait_for(Duration::from_secs(10), || c.try_wait().ok().flatten());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Xl2tpd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- xl2tpd {} log ----\n{}", self.name, self.log());
        }
        self.stop();
    }
}

fn subscribers() -> &'static str {
    "[[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n"
}

#[test]
fn our_lac_to_xl2tpd_as_lns() {
    let ns = netns("x-lns");
    let mut xl2tpd = Xl2tpd::start(
        ns.name(),
        "lns",
        "[global]\nport = 21701\nlisten-addr = 127.0.0.1\nforce userspace = yes\n\
         [lns default]\nip range = 10.99.0.10-10.99.0.20\nlocal ip = 10.99.0.1\n\
         require authentication = no\nhostname = xl2tpd-lns\n",
    );
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &format!(
            "{}\n[lac]\nsetup_timeout = \"5s\"\nempty_tunnel_linger = \"1s\"\n\
             [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
             [[lac.peers]]\nname = \"xl2tpd\"\naddress = \"127.0.0.1:21701\"\nrealms = [\"*\"]\n\
             [lac.dialin]\nlisten = [\"127.0.0.1:11702\"]\n\
             [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.0/8\"\n{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        ),
    );
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:11702", T).await;
        let up = |d: &Daemon, who: &str| {
            d.rows(&["sessions"])
                .iter()
                .any(|r| r["subscriber"] == who && r["state"] == "established")
        };
        // Our LAC authenticates user1 and carries the call to xl2tpd (which runs no PPP, so the
        // subscriber's IPCP never opens; the L2TP exchange is what is tested).
        let s1 = client.dial("user1", "demo", Auth::Pap);
        assert!(
            client.drive_until(T, |_| up(&lac, "user1")).await,
            "call to xl2tpd never came up"
        );
        xl2tpd.wait_log("Call established with 127.0.0.1");
        let tunnels = lac.rows(&["tunnels"]);
        let t = tunnels
            .iter()
            .find(|t| t["peer_name"] == "xl2tpd")
            .expect("tunnel to xl2tpd");
        assert_eq!(t["state"], "established");
        lac.wait_event("tunnel up", T, |e| e["fields"]["peer"] == "xl2tpd");

        // Teardown from our side: the subscriber hangs up, our LAC sends CDN (xl2tpd kills its
        // pppd for the call), and the empty tunnel is closed with StopCCN after its linger.
        // (CDN without LCP: nothing behind xl2tpd would answer a Terminate-Request.)
        client.hang_up(s1).await;
        lac.wait_event("session down", T, |e| e["fields"]["subscriber"] == "user1");
        xl2tpd.wait_log("Terminating pppd");
        let ok = client
            .drive_until(T, |_| !lac.events("tunnel down").is_empty())
            .await;
        assert!(ok, "empty tunnel to xl2tpd not closed");
        lac.wait_event("tunnel down", T, |e| {
            e["fields"]["cause"]
                .as_str()
                .unwrap_or("")
                .contains("we sent StopCCN")
        });
        xl2tpd.wait_log("closed to 127.0.0.1, port");

        // Teardown of a call from xl2tpd's side: its pppd exits, it sends CDN.
        client.dial("user2", "demo", Auth::Pap);
        assert!(
            client.drive_until(T, |_| up(&lac, "user2")).await,
            "second call never came up"
        );
        xl2tpd.kill_pppd(2);
        lac.wait_event("session down", T, |e| {
            e["fields"]["subscriber"] == "user2"
                && e["fields"]["cause"]
                    .as_str()
                    .unwrap_or("")
                    .contains("peer sent CDN")
        });

        // Teardown of the tunnel from xl2tpd's side: it stops with StopCCN.
        client.dial("user3", "demo", Auth::Pap);
        assert!(
            client.drive_until(T, |_| up(&lac, "user3")).await,
            "third call never came up"
        );
        xl2tpd.stop();
        let ok = client
            .drive_until(T, |_| {
                lac.events("tunnel down").iter().any(|e| {
                    e["fields"]["cause"]
                        .as_str()
                        .unwrap_or("")
                        .contains("peer sent StopCCN")
                })
            })
            .await;
        assert!(ok, "xl2tpd's StopCCN not seen:\n{}", lac.log());
        lac.wait_event("session down", T, |e| e["fields"]["subscriber"] == "user3");
        lac.wait_rows(&["sessions"], T, |r| r.is_empty());
    })
    .unwrap();
}

#[test]
fn xl2tpd_as_lac_to_our_lns() {
    let ns = netns("x-lac");
    let lns = Daemon::start(
        "lns",
        Some(ns.name()),
        &format!(
            "{}\n[lns]\nlisten = [\"127.0.0.1:11701\"]\nlocal_address = \"100.64.0.1\"\n\
             [lns.tun]\nname = \"l2tpx0\"\n\
             [[lns.peers]]\nname = \"xl2tpd\"\naddress = \"127.0.0.1\"\nhostname = \"xl2tpd-lac\"\n\
             [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.2.0/24\"]\ndefault = true\n{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        ),
    );
    let xl2tpd = Xl2tpd::start(
        ns.name(),
        "lac",
        "[global]\nport = 21702\nlisten-addr = 127.0.0.1\nforce userspace = yes\n\
         [lac ours]\nlns = 127.0.0.1:11701\nredial = no\nautodial = yes\n\
         require authentication = no\nhostname = xl2tpd-lac\n",
    );
    xl2tpd.wait_log("Call established with 127.0.0.1");
    lns.wait_event("tunnel up", T, |e| {
        e["fields"]["host_name"] == "xl2tpd-lac" && e["fields"]["peer"] == "xl2tpd"
    });
    let rows = lns.wait_rows(&["sessions"], T, |r| r.len() == 1);
    assert_eq!(rows[0]["role"], "lns");
    assert_eq!(
        rows[0]["state"], "negotiating",
        "no PPP behind xl2tpd's stand-in pppd"
    );

    // Teardown from our side: ctl disconnect sends LCP Terminate and CDN; xl2tpd ends the call.
    let id = rows[0]["local_session_id"].as_u64().unwrap().to_string();
    let out = lns.ctl(&["disconnect", &id]);
    assert!(out.status.success());
    xl2tpd.wait_log("Terminating pppd");
    lns.wait_rows(&["sessions"], T, |r| r.is_empty());

    // A call ended from xl2tpd's side: its pppd exits, it sends CDN.
    xl2tpd.control("c ours");
    lns.wait_rows(&["sessions"], T, |r| r.len() == 1);
    xl2tpd.kill_pppd(2);
    lns.wait_event("session down", T, |e| {
        e["fields"]["cause"]
            .as_str()
            .unwrap_or("")
            .contains("peer sent CDN")
    });
    lns.wait_rows(&["sessions"], T, |r| r.is_empty());

    // The tunnel from xl2tpd's side: `d` disconnects it with StopCCN.
    xl2tpd.control("d ours");
    lns.wait_event("tunnel down", T, |e| {
        e["fields"]["peer"] == "xl2tpd"
            && e["fields"]["cause"]
                .as_str()
                .unwrap_or("")
                .contains("peer sent StopCCN")
    });

    // The tunnel from our side: xl2tpd dials again, `ctl drain` sends CDN and StopCCN.
    xl2tpd.control("c ours");
    let rows = lns.wait_rows(&["tunnels"], T, |r| {
        r.iter().any(|t| t["state"] == "established")
    });
    let tunnel = rows.iter().find(|t| t["state"] == "established").unwrap()["local_tunnel_id"]
        .as_u64()
        .unwrap()
        .to_string();
    lns.wait_rows(&["sessions"], T, |r| r.len() == 1);
    let out = lns.ctl(&["drain", &tunnel]);
    assert!(out.status.success());
    xl2tpd.wait_log("closed to 127.0.0.1, port 11701");
    lns.wait_rows(&["tunnels"], T, |r| {
        r.iter().all(|t| t["state"] != "established")
    });
    lns.wait_rows(&["sessions"], T, |r| r.is_empty());
}

#[test]
fn xl2tpd_as_a_subscribers_lac_to_our_dialin() {
    let ns = netns("x-dial");
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &format!(
            "{}\n[lac]\n\
             [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
             [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:11701\"\nrealms = [\"*\"]\n\
             [lac.dialin]\nlisten = [\"127.0.0.1:11702\"]\n\
             [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        ),
    );
    let xl2tpd = Xl2tpd::start(
        ns.name(),
        "cpe",
        "[global]\nport = 21703\nlisten-addr = 127.0.0.1\nforce userspace = yes\n\
         [lac cpe]\nlns = 127.0.0.1:11702\nredial = no\nautodial = yes\n\
         require authentication = no\nhostname = cpe-xl2tpd\n",
    );
    xl2tpd.wait_log("Call established with 127.0.0.1");
    lac.wait_event("tunnel up", T, |e| {
        e["fields"]["role"] == "dialin" && e["fields"]["host_name"] == "cpe-xl2tpd"
    });
    let rows = lac.wait_rows(&["sessions"], T, |r| r.len() == 1);
    assert_eq!(rows[0]["access"], "l2tp");
    assert_eq!(rows[0]["state"], "authenticating");
    let tunnels = lac.rows(&["tunnels"]);
    assert!(
        tunnels
            .iter()
            .any(|t| t["line"] == "dial-in" && t["state"] == "established"),
        "{tunnels:?}"
    );
    // xl2tpd ends the call (its pppd exits: CDN), then the tunnel (StopCCN).
    xl2tpd.kill_pppd(1);
    lac.wait_event("session ended before it came up", T, |e| {
        e["fields"]["cause"]
            .as_str()
            .unwrap_or("")
            .contains("peer sent CDN")
    });
    xl2tpd.control("d cpe");
    lac.wait_event("tunnel down", T, |e| {
        e["fields"]["role"] == "dialin"
            && e["fields"]["cause"]
                .as_str()
                .unwrap_or("")
                .contains("peer sent StopCCN")
    });
    // The tunnel lingers to acknowledge retransmissions (RFC 2661 §5.7), then goes.
    lac.wait_rows(&["tunnels"], T, |r| {
        r.iter().all(|t| t["state"] == "lingering")
    });
    lac.wait_rows(&["sessions"], T, |r| r.is_empty());
}
