//! Shared helpers for the daemon, interop and end-to-end tests: running `l2tpagg run` as a real
//! child process (in a network namespace created by the test), asking it questions through
//! `l2tpagg ctl`, reading its JSON log, a subscriber's own LAC with a PPP client (dial-in over
//! real UDP: an `l2tp::Endpoint` plus `ppp::Link` in the client role), and IPv4 packet builders.
//!
//! Nothing here sleeps to let time pass: waits poll a real process or socket against a deadline.

#![allow(dead_code)]

pub mod cli;
pub mod configs;
pub mod pppoe;
pub mod tmpfs;
pub mod topology;
pub mod traffic;
pub mod tshark;

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use l2tpagg::l2tp::{
    CloseReason, Endpoint, EndpointConfig, Event as L2tpEvent, PolicyDecision, SessionRequest,
    TunnelConfig, TunnelRequest,
};
use l2tpagg::loadgen::{Dialer, DialerOptions, TransportOptions};
use l2tpagg::ppp::{
    self, ClientConfig, IpcpClientConfig, Link, LinkConfig, NetworkInfo, with_address_control,
};
use l2tpagg::runtime::netns::NamedNetns;
use l2tpagg::wire::data::{DataHeaderOptions, Kind, classify, write_header};
use l2tpagg::wire::{CdnResult, StopCcnResult};
use serde_json::Value;

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_l2tpagg")
}

/// Fails loudly unless the test runs as root (namespaces, TUN).
pub fn require_root(what: &str) {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX);
    assert_eq!(
        uid, 0,
        "{what} needs root (network namespaces, TUN); CI runs the tests as root"
    );
}

/// A fresh network namespace with loopback up, deleted on drop.
pub fn netns(tag: &str) -> NamedNetns {
    require_root("this test");
    NamedNetns::create(&format!("l2a-{tag}-{}", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot create a network namespace: {e}"))
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `l2tpagg run` child with its own directory (config, ctl socket, state, log).
pub struct Daemon {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub config_path: PathBuf,
    pub ctl_socket: PathBuf,
    pub log_path: PathBuf,
}

/// The `[daemon]` table every test daemon uses: everything under its own directory, JSON logs.
pub fn daemon_section(dir: &Path) -> String {
    format!(
        "[daemon]\nstate_dir = \"{}\"\nctl_socket = \"{}\"\nlog_format = \"json\"\n\
         log_level = \"info,l2tpagg=debug\"\nshutdown_grace = \"5s\"\nwatchdog = false\n\
         malformed_log_interval = \"1s\"\n",
        dir.join("state").display(),
        dir.join("ctl.sock").display()
    )
}

impl Daemon {
    /// Writes `config` (with `{dir}` replaced by the daemon's directory) and starts the daemon,
    /// inside network namespace `ns` when given; returns once it logged that it runs.
    pub fn start(name: &str, ns: Option<&str>, config: &str) -> Daemon {
        Self::start_with_env(name, ns, config, &[])
    }

    /// [`Self::start`] with extra environment variables (e.g. `NOTIFY_SOCKET`).
    pub fn start_with_env(
        name: &str,
        ns: Option<&str>,
        config: &str,
        env: &[(&str, &str)],
    ) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix(&format!("l2tpagg-{name}-"))
            .tempdir()
            .unwrap();
        let config = config.replace("{dir}", &dir.path().display().to_string());
        let config_path = dir.path().join("l2tpagg.toml");
        std::fs::write(&config_path, &config).unwrap();
        let args = vec![
            "run".to_owned(),
            "--config".to_owned(),
            config_path.display().to_string(),
        ];
        let ctl_socket = dir.path().join("ctl.sock");
        let d = Self::new(name, dir, config_path, ctl_socket);
        d.launch(ns, &[], &args, env)
    }

    /// Starts `l2tpagg ARGS` through `wrapper` (e.g. `setpriv …`) inside `ns`, with a cleared
    /// environment; `ctl_socket` is where it is expected to listen.
    pub fn start_wrapped(
        name: &str,
        ns: Option<&str>,
        wrapper: &[&str],
        args: &[&str],
        ctl_socket: PathBuf,
    ) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix(&format!("l2tpagg-{name}-"))
            .tempdir()
            .unwrap();
        let config_path = dir.path().join("none.toml");
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let d = Self::new(name, dir, config_path, ctl_socket);
        d.launch(ns, wrapper, &args, &[])
    }

    fn new(name: &str, dir: tempfile::TempDir, config_path: PathBuf, ctl_socket: PathBuf) -> Self {
        Daemon {
            name: name.to_owned(),
            ctl_socket,
            log_path: dir.path().join("log.jsonl"),
            dir,
            child: None,
            config_path,
        }
    }

    fn launch(
        mut self,
        ns: Option<&str>,
        wrapper: &[&str],
        args: &[String],
        env: &[(&str, &str)],
    ) -> Daemon {
        let d = &mut self;
        let log = std::fs::File::create(&d.log_path).unwrap();
        let mut full: Vec<String> = Vec::new();
        if let Some(ns) = ns {
            full.extend(["ip", "netns", "exec", ns].map(String::from));
        }
        full.extend(wrapper.iter().map(|w| w.to_string()));
        full.push(binary().to_owned());
        full.extend(args.iter().cloned());
        let mut cmd = Command::new(&full[0]);
        cmd.args(&full[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied());
        d.child = Some(cmd.spawn().expect("spawn l2tpagg run"));
        let ok = wait_for(Duration::from_secs(20), || {
            if d.log().contains("l2tpagg running") {
                return Some(true);
            }
            if let Some(child) = d.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{}: l2tpagg run exited with {status} before it was ready:\n{}",
                    d.name,
                    d.log()
                );
            }
            None
        });
        assert!(ok.is_some(), "{}: not ready in time:\n{}", d.name, d.log());
        self
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Log lines as JSON objects (lines that are not JSON are skipped).
    pub fn log_events(&self) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Log events whose message is `message`.
    pub fn events(&self, message: &str) -> Vec<Value> {
        self.log_events()
            .into_iter()
            .filter(|e| e["fields"]["message"] == message)
            .collect()
    }

    /// Waits until `pred` holds for some log event with message `message`.
    pub fn wait_event(
        &self,
        message: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(timeout, || {
            self.events(message).into_iter().find(|e| pred(e))
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: no log event {message:?} matching within {timeout:?}:\n{}",
                self.name,
                self.log()
            )
        })
    }

    /// Waits until both of `subscriber`'s sessions in this daemon (the LNS's and the LAC's) logged
    /// "session down"; returns the LAC's event.
    pub fn wait_down_both_roles(&self, subscriber: &str, timeout: Duration) -> Value {
        self.wait_event("session down", timeout, |e| {
            e["fields"]["role"] == "lns" && e["fields"]["subscriber"] == subscriber
        });
        self.wait_event("session down", timeout, |e| {
            e["fields"]["role"] == "lac" && e["fields"]["subscriber"] == subscriber
        })
    }

    /// Waits until the LAC closed its emptied tunnel (it sent StopCCN) and no session is left.
    pub fn wait_lac_tunnel_closed(&self, timeout: Duration) {
        self.wait_event("tunnel down", timeout, |e| {
            e["fields"]["role"] == "lac"
                && e["fields"]["cause"]
                    .as_str()
                    .unwrap_or("")
                    .contains("we sent StopCCN")
        });
        self.wait_rows(&["sessions"], timeout, |r| r.is_empty());
    }

    /// Runs `l2tpagg ctl --socket SOCKET ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(binary())
            .arg("ctl")
            .arg("--socket")
            .arg(&self.ctl_socket)
            .args(args)
            .output()
            .expect("run l2tpagg ctl")
    }

    /// `ctl ARGS --json`, parsed; panics unless the command succeeded.
    pub fn ctl_json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        self.json_of(&format!("ctl {args:?}"), &self.ctl(&a))
    }

    /// The JSON on stdout of a command (`what`) that must have succeeded.
    fn json_of(&self, what: &str, out: &Output) -> Value {
        assert!(
            out.status.success(),
            "{}: {what} failed: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {what} prints no JSON: {e}", self.name))
    }

    /// Rows of `ctl tunnels|sessions|… --json`.
    pub fn rows(&self, args: &[&str]) -> Vec<Value> {
        self.ctl_json(args)["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `ctl ARGS` rows satisfy `pred`.
    pub fn wait_rows(
        &self,
        args: &[&str],
        timeout: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        wait_for(timeout, || {
            let rows = self.rows(args);
            pred(&rows).then_some(rows)
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: ctl {args:?} never matched; last rows {:?}\nlog:\n{}",
                self.name,
                self.rows(args),
                self.log()
            )
        })
    }

    /// The PID of the daemon (of `ip netns exec`, which execs it, so the same process).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal by number through kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the daemon to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let status = wait_for(timeout, || child.try_wait().ok().flatten());
        let status =
            status.unwrap_or_else(|| panic!("{}: did not exit within {timeout:?}", self.name));
        self.child = None;
        status
    }

    /// `l2tpagg billing ARGS --config CONFIG` with this daemon's configuration, as an operator
    /// runs it; panics unless it succeeds, and parses stdout as JSON (pass `--json`).
    pub fn billing_json(&self, args: &[&str]) -> Value {
        let out = Command::new(binary())
            .arg("billing")
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .output()
            .expect("run l2tpagg billing");
        self.json_of(&format!("billing {args:?}"), &out)
    }

    /// Replaces the config file (for reload tests).
    pub fn write_config(&self, config: &str) {
        let config = config.replace("{dir}", &self.dir.path().display().to_string());
        let mut f = std::fs::File::create(&self.config_path).unwrap();
        f.write_all(config.as_bytes()).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.name, self.log());
        }
    }
}

// ------------------------------------------------------------------------------------------------
// IPv4 packets

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[8] = 64;
    p[9] = protocol;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..].copy_from_slice(payload);
    p
}

/// An IPv4/UDP packet with a correct UDP checksum.
pub fn udp_packet(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, data: &[u8]) -> Vec<u8> {
    let len = 8 + data.len();
    let mut udp = vec![0u8; len];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    udp[8..].copy_from_slice(data);
    let mut pseudo = Vec::with_capacity(12 + len);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(len as u16).to_be_bytes());
    pseudo.extend_from_slice(&udp);
    let mut c = checksum(&pseudo);
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 17, &udp)
}

/// An ICMP echo request.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8u8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv4(src, dst, 1, &icmp)
}

/// (source, destination, protocol, payload) of an IPv4 packet.
pub fn parse_ipv4(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
    Some((
        Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        p[9],
        p.get(ihl..total)?,
    ))
}

// ------------------------------------------------------------------------------------------------
// Subscribers dialling in over L2TP

/// The load generator's dialer (`loadgen::Dialer`: a subscriber's own LAC with PPP clients) bound
/// to `bind`, dialling our dial-in front-end at `server`; a dial not up within `setup_timeout`
/// fails. Tests use it for well-behaved subscribers; [`DialinClient`] is for what it cannot do.
pub async fn dialin_dialer(bind: &str, server: &str, setup_timeout: Duration) -> Dialer {
    let mut options = DialerOptions::l2tp(server.parse().unwrap());
    if let TransportOptions::L2tp(l2tp) = &mut options.transport {
        l2tp.bind = bind.parse().unwrap();
    }
    options.setup_timeout = setup_timeout;
    Dialer::start(options).await.expect("dialer")
}

// ------------------------------------------------------------------------------------------------
// The subscriber's own LAC with a PPP client

/// Which authentication the client allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Pap,
    Chap,
}

/// One dialled session of the client.
pub struct ClientSession {
    pub link: Link,
    pub peer_tunnel: u16,
    pub peer_session: u16,
    pub established: bool,
    pub down: Option<String>,
    pub network: Option<NetworkInfo>,
    pub link_down: Option<ppp::DownCause>,
    /// Raw sessions run no PPP client: the test speaks PPP by hand.
    pub raw: bool,
    /// Frames received on a raw session, as they came (with `FF 03`).
    pub received_frames: VecDeque<Vec<u8>>,
    client: ClientConfig,
    pending_link: bool,
}

/// A subscriber's LAC dialling into our dial-in front-end over real UDP, with one PPP client
/// link per session. Single task: every method drives the protocol itself.
///
/// Well-behaved subscribers are `loadgen::Dialer`'s ([`dialin_dialer`]). This client stays for what
/// the Dialer cannot do, because it runs the protocol in the test's own task and exposes its state:
/// raw sessions with hand-made (malformed) PPP frames and an LCP Terminate-Request without the PPP
/// client behind it (`daemon_bad_input`, `e2e_dialin_teardown`); a subscriber that goes silent
/// because nobody drives it (`daemon_echo_failure`); a refused login that waits for the daemon's
/// CDN (the Dialer hangs up at once on an authentication failure, racing the cause the test checks:
/// `daemon_lns_pools`); the tunnel's StopCCN and the session's CDN observed and acknowledged on the
/// test's schedule (`daemon_process`, `interop_tshark`); calls driven only until the daemon's log
/// says they are up, whatever PPP does beyond (`interop_xl2tpd`); thousands of dials counted as
/// they settle, for the setup-rate measurement (`daemon_setup_rate`).
pub struct DialinClient {
    pub socket: tokio::net::UdpSocket,
    pub server: SocketAddr,
    pub endpoint: Endpoint,
    pub tunnel: Option<u16>,
    pub tunnel_down: Option<String>,
    pub sessions: HashMap<u16, ClientSession>,
    pub events: Vec<String>,
    seed: u8,
    /// Sessions whose link may have something to send or report.
    dirty: std::collections::HashSet<u16>,
    /// PPP link deadlines, earliest first.
    link_timers: std::collections::BTreeSet<(Instant, u16)>,
    link_deadline: HashMap<u16, Instant>,
    /// Sessions that reached IPCP or went down.
    settled: usize,
}

/// A seed no other link shares (time and a process-wide counter), so no two client links draw
/// the same Magic-Numbers.
fn seed(n: u8) -> [u8; 32] {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut s = [n; 32];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_le_bytes();
    s[..16].copy_from_slice(&t);
    let c = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    s[16..24].copy_from_slice(&c.to_le_bytes());
    s
}

impl DialinClient {
    /// A client bound to `bind` (port 0 picks one), talking to `server`.
    pub async fn new(bind: SocketAddr, server: SocketAddr) -> Self {
        // Large buffers: thousands of sessions negotiating at once arrive in bursts, and a lost
        // frame costs a PPP restart timer.
        let raw = socket2::Socket::new(
            socket2::Domain::for_address(bind),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .expect("client socket");
        let _ = raw.set_recv_buffer_size(8 << 20);
        let _ = raw.set_send_buffer_size(8 << 20);
        raw.set_nonblocking(true).unwrap();
        raw.bind(&bind.into()).expect("bind client");
        let socket = tokio::net::UdpSocket::from_std(raw.into()).expect("register client socket");
        let endpoint = Endpoint::new(
            EndpointConfig::default(),
            |_: &TunnelRequest<'_>| PolicyDecision::Ignore,
            seed(1),
        );
        Self {
            socket,
            server,
            endpoint,
            tunnel: None,
            tunnel_down: None,
            sessions: HashMap::new(),
            events: Vec::new(),
            seed: 10,
            dirty: Default::default(),
            link_timers: Default::default(),
            link_deadline: HashMap::new(),
            settled: 0,
        }
    }

    /// A client bound to `bind` with its tunnel to `server` open; panics if the tunnel does not
    /// come up within `timeout`.
    pub async fn connect(bind: &str, server: &str, timeout: Duration) -> Self {
        let mut client = Self::new(bind.parse().unwrap(), server.parse().unwrap()).await;
        client
            .open_tunnel(TunnelConfig::default(), timeout)
            .await
            .expect("dial-in tunnel");
        client
    }

    /// Sessions that reached IPCP or went down so far.
    pub fn settled(&self) -> usize {
        self.settled
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Opens the tunnel and waits for it.
    pub async fn open_tunnel(
        &mut self,
        config: TunnelConfig,
        timeout: Duration,
    ) -> Result<u16, String> {
        let now = tokio::time::Instant::now().into_std();
        let id = self
            .endpoint
            .open_tunnel(now, self.local(), self.server, Arc::new(config))
            .map_err(|e| e.to_string())?;
        self.tunnel = Some(id);
        let up = self
            .drive_until(timeout, |c| {
                c.events.iter().any(|e| e.starts_with("tunnel up")) || c.tunnel_down.is_some()
            })
            .await;
        match (&self.tunnel_down, up) {
            (Some(why), _) => Err(why.clone()),
            (None, true) => Ok(id),
            (None, false) => Err("tunnel setup timed out".into()),
        }
    }

    /// Dials one session without a PPP client: the test sends and reads frames itself.
    pub fn dial_raw(&mut self) -> u16 {
        let s = self.dial("", "", Auth::Pap);
        if let Some(x) = self.sessions.get_mut(&s) {
            x.raw = true;
        }
        s
    }

    /// Waits for a raw session's next received frame.
    pub async fn recv_frame(&mut self, s: u16, timeout: Duration) -> Option<Vec<u8>> {
        self.drive_until(timeout, |c| {
            c.sessions
                .get(&s)
                .is_none_or(|x| !x.received_frames.is_empty())
        })
        .await;
        self.sessions.get_mut(&s)?.received_frames.pop_front()
    }

    /// Waits until the L2TP session is established.
    pub async fn wait_established(&mut self, s: u16, timeout: Duration) -> bool {
        self.drive_until(timeout, |c| {
            c.sessions.get(&s).is_some_and(|x| x.established)
        })
        .await
    }

    /// Dials one session (ICRQ); the PPP client starts once the session is up.
    pub fn dial(&mut self, name: &str, password: &str, auth: Auth) -> u16 {
        let now = tokio::time::Instant::now().into_std();
        let tunnel = self.tunnel.expect("tunnel open");
        let session = self
            .endpoint
            .open_session(now, tunnel, SessionRequest::default())
            .expect("open session");
        self.sessions.insert(
            session,
            ClientSession {
                link: Link::new(
                    now,
                    LinkConfig::client(client_config("x", "x", auth), [0; 32]),
                ),
                peer_tunnel: 0,
                peer_session: 0,
                established: false,
                down: None,
                network: None,
                link_down: None,
                raw: false,
                received_frames: VecDeque::new(),
                client: client_config(name, password, auth),
                pending_link: true,
            },
        );
        self.dirty.insert(session);
        session
    }

    /// Dials and waits for IPCP to open; returns the assigned address.
    pub async fn login(
        &mut self,
        name: &str,
        password: &str,
        auth: Auth,
        timeout: Duration,
    ) -> Result<(u16, Ipv4Addr), String> {
        let s = self.dial(name, password, auth);
        self.wait_network(s, timeout).await.map(|a| (s, a))
    }

    /// Waits until session `s` has an IPCP address (or fails).
    pub async fn wait_network(&mut self, s: u16, timeout: Duration) -> Result<Ipv4Addr, String> {
        self.drive_until(timeout, |c| {
            c.sessions
                .get(&s)
                .is_none_or(|x| x.network.is_some() || x.down.is_some() || x.link_down.is_some())
        })
        .await;
        let x = self.sessions.get(&s).ok_or("session vanished")?;
        if let Some(n) = &x.network {
            return Ok(n.local);
        }
        Err(format!(
            "no network: l2tp down {:?}, ppp down {:?}, events {:?}",
            x.down, x.link_down, self.events
        ))
    }

    /// Waits until the session is down (L2TP CDN or PPP link down).
    pub async fn wait_down(&mut self, s: u16, timeout: Duration) -> bool {
        self.drive_until(timeout, |c| {
            c.sessions
                .get(&s)
                .is_none_or(|x| x.down.is_some() || x.link_down.is_some())
        })
        .await
    }

    /// Sends an IPv4 packet on session `s` (`FF 03 00 21` + packet in an L2TP data message).
    pub async fn send_ip(&mut self, s: u16, packet: &[u8]) {
        let x = &self.sessions[&s];
        let mut frame = vec![0xff, 0x03, 0x00, 0x21];
        frame.extend_from_slice(packet);
        self.send_data(x.peer_tunnel, x.peer_session, &frame).await;
    }

    /// Sends a raw PPP frame on session `s` (for bad-input tests).
    pub async fn send_frame(&mut self, s: u16, frame: &[u8]) {
        let x = &self.sessions[&s];
        self.send_data(x.peer_tunnel, x.peer_session, frame).await;
    }

    async fn send_data(&self, peer_tunnel: u16, peer_session: u16, frame: &[u8]) {
        let mut buf = vec![0u8; 16 + frame.len()];
        let h = write_header(
            &mut buf,
            peer_tunnel,
            peer_session,
            frame.len(),
            DataHeaderOptions::default(),
        )
        .unwrap();
        buf[h..h + frame.len()].copy_from_slice(frame);
        buf.truncate(h + frame.len());
        let _ = self.socket.send_to(&buf, self.server).await;
    }

    /// Hangs up session `s` the way a subscriber does: LCP Terminate-Request, then (after the
    /// Terminate-Ack or a short wait) CDN.
    pub async fn hangup(&mut self, s: u16) {
        let now = tokio::time::Instant::now().into_std();
        if let Some(x) = self.sessions.get_mut(&s) {
            x.link.close(now, "subscriber hangs up");
        }
        self.dirty.insert(s);
        self.drive_until(Duration::from_secs(3), |c| {
            c.sessions
                .get(&s)
                .is_none_or(|x| x.link_down.is_some() || x.down.is_some())
        })
        .await;
        let now = tokio::time::Instant::now().into_std();
        if let Some(t) = self.tunnel {
            let _ =
                self.endpoint
                    .close_session(now, t, s, CloseReason::new(CdnResult::Administrative));
        }
        self.drive_until(Duration::from_millis(300), |_| false)
            .await;
    }

    /// Hangs up session `s` without LCP (the modem lost power): CDN at once.
    pub async fn hang_up(&mut self, s: u16) {
        let now = tokio::time::Instant::now().into_std();
        if let Some(t) = self.tunnel {
            let _ =
                self.endpoint
                    .close_session(now, t, s, CloseReason::new(CdnResult::LossOfCarrier));
        }
        self.dirty.insert(s);
        self.drive_until(Duration::from_millis(100), |_| false)
            .await;
    }

    /// Closes the tunnel with StopCCN and waits for the acknowledgement (or `timeout`).
    pub async fn close_tunnel(&mut self, timeout: Duration) {
        let now = tokio::time::Instant::now().into_std();
        if let Some(t) = self.tunnel {
            let _ = self
                .endpoint
                .close_tunnel(now, t, StopCcnResult::GeneralClear, None, None);
        }
        self.drive_until(timeout, |c| c.endpoint.tunnel_count() == 0)
            .await;
    }

    /// Drives the protocol until `done` holds or `timeout` passes; returns whether it held.
    pub async fn drive_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            self.flush().await;
            if done(self) {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= end {
                return false;
            }
            let mut wake = end;
            if let Some(t) = self.endpoint.poll_timeout() {
                wake = wake.min(t.into());
            }
            if let Some((t, _)) = self.link_timers.first() {
                wake = wake.min((*t).into());
            }
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        self.handle(&buf[..n], from);
                    }
                    // Take the rest of a burst before flushing.
                    for _ in 0..256 {
                        match self.socket.try_recv_from(&mut buf) {
                            Ok((n, from)) => self.handle(&buf[..n], from),
                            Err(_) => break,
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let now = tokio::time::Instant::now().into_std();
                    self.endpoint.handle_timeout(now);
                    while let Some(&(t, id)) = self.link_timers.first() {
                        if t > now {
                            break;
                        }
                        self.link_timers.pop_first();
                        self.link_deadline.remove(&id);
                        if let Some(x) = self.sessions.get_mut(&id) {
                            x.link.handle_timeout(now);
                        }
                        self.dirty.insert(id);
                    }
                }
            }
        }
    }

    fn handle(&mut self, datagram: &[u8], from: SocketAddr) {
        let now = tokio::time::Instant::now().into_std();
        match classify(datagram) {
            Ok(Kind::Data {
                session_id,
                payload,
                ..
            }) => {
                if let Some(x) = self.sessions.get_mut(&session_id) {
                    self.dirty.insert(session_id);
                    let frame = &datagram[payload];
                    if x.raw {
                        x.received_frames.push_back(frame.to_vec());
                        return;
                    }
                    // IP that arrives is dropped: tests that exchange traffic both ways use
                    // `loadgen::Dialer`.
                    let _ = x.link.handle_frame(now, frame);
                }
            }
            Ok(Kind::Control { .. }) => {
                let local = self.local();
                self.endpoint.handle_datagram(now, local, from, datagram);
            }
            Err(_) => {}
        }
    }

    async fn flush(&mut self) {
        let now = tokio::time::Instant::now().into_std();
        loop {
            let mut progress = false;
            while let Some(ev) = self.endpoint.poll_event() {
                progress = true;
                match ev {
                    L2tpEvent::TunnelUp { tunnel, .. } => {
                        self.events.push(format!("tunnel up {tunnel}"))
                    }
                    L2tpEvent::TunnelDown { cause, .. } => {
                        self.tunnel_down = Some(format!("{cause:?}"));
                        self.events.push(format!("tunnel down {cause:?}"));
                    }
                    L2tpEvent::SessionUp { session, info, .. } => {
                        self.events.push(format!("session up {session}"));
                        self.seed = self.seed.wrapping_add(1);
                        let seed = seed(self.seed);
                        self.dirty.insert(session);
                        if let Some(x) = self.sessions.get_mut(&session) {
                            x.peer_tunnel = info.peer_tunnel_id;
                            x.peer_session = info.peer_session_id;
                            x.established = true;
                            if !x.raw {
                                x.link = Link::new(now, LinkConfig::client(x.client.clone(), seed));
                                x.pending_link = false;
                            }
                        }
                    }
                    L2tpEvent::SessionDown { session, cause, .. } => {
                        self.events
                            .push(format!("session down {session} {cause:?}"));
                        if let Some(x) = self.sessions.get_mut(&session) {
                            if x.down.is_none() && x.network.is_none() && x.link_down.is_none() {
                                self.settled += 1;
                            }
                            x.down = Some(format!("{cause:?}"));
                            x.link.lower_down(now);
                        }
                        self.dirty.insert(session);
                    }
                    other => self.events.push(format!("{other:?}")),
                }
            }
            let mut frames = Vec::new();
            let dirty: Vec<u16> = self.dirty.drain().collect();
            for id in dirty {
                let Some(x) = self.sessions.get_mut(&id) else {
                    continue;
                };
                if x.pending_link || x.down.is_some() {
                    while x.link.poll_transmit().is_some() {}
                    continue;
                }
                while let Some(f) = x.link.poll_transmit() {
                    frames.push((x.peer_tunnel, x.peer_session, with_address_control(&f)));
                }
                while let Some(ev) = x.link.poll_event() {
                    let was_settled =
                        x.network.is_some() || x.down.is_some() || x.link_down.is_some();
                    match ev {
                        ppp::Event::NetworkUp(info) => x.network = Some(info),
                        ppp::Event::NetworkDown => x.network = None,
                        ppp::Event::LinkDown(cause) => x.link_down = Some(cause),
                        _ => {}
                    }
                    let settled = x.network.is_some() || x.down.is_some() || x.link_down.is_some();
                    if settled && !was_settled {
                        self.settled += 1;
                    }
                }
                if let Some(old) = self.link_deadline.remove(&id) {
                    self.link_timers.remove(&(old, id));
                }
                if let Some(t) = x.link.poll_timeout() {
                    self.link_timers.insert((t, id));
                    self.link_deadline.insert(id, t);
                }
            }
            // Control first: our ICCN must reach the peer before the first PPP frame of the
            // session it establishes.
            while let Some(t) = self.endpoint.poll_transmit() {
                progress = true;
                let _ = self.socket.send_to(&t.payload, t.remote).await;
            }
            for (t, s, f) in frames {
                progress = true;
                self.send_data(t, s, &f).await;
            }
            if !progress {
                break;
            }
        }
    }
}

/// A PPP client configuration.
pub fn client_config(name: &str, password: &str, auth: Auth) -> ClientConfig {
    ClientConfig {
        name: name.as_bytes().to_vec(),
        secret: password.as_bytes().to_vec(),
        allow_pap: true,
        allow_chap: auth == Auth::Chap,
        ipcp: IpcpClientConfig::default(),
    }
}

/// A free UDP port on `ip` (bound and released; racy only against other processes).
pub fn free_udp_port(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
