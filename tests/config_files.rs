//! Every file in config/ parses (one test per file), the embedded default is one of them and
//! loads, and its values come out typed as documented.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use l2tpagg::config::{
    self, AddressAssignment, AuthMethod, Config, EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_ORIGIN,
    LogFormat, PathSetting, RealmMatch, SubscriberSource,
};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn load(name: &str) -> Config {
    let path = config_dir().join(name);
    match config::load_file(&path) {
        Ok(c) => c,
        Err(e) => panic!("{} does not load:\n{e}", path.display()),
    }
}

/// The TOML files this test knows; a new file in config/ must get its own test below.
const KNOWN_TOML: &[&str] = &[
    "l2tpagg.toml",
    "lac-only.toml",
    "lns-only.toml",
    "subscribers.toml",
];

#[test]
fn every_toml_file_in_config_has_a_test() {
    let found: BTreeSet<String> = std::fs::read_dir(config_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    let known: BTreeSet<String> = KNOWN_TOML.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found, known,
        "config/ and KNOWN_TOML disagree: add a test for the new file"
    );
}

#[test]
fn embedded_default_is_config_l2tpagg_toml() {
    let on_disk = std::fs::read_to_string(config_dir().join("l2tpagg.toml")).unwrap();
    assert_eq!(on_disk, EMBEDDED_DEFAULT);
}

#[test]
fn file_l2tpagg_toml_loads_without_warnings() {
    let c = load("l2tpagg.toml");
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
}

#[test]
fn embedded_default_loads_and_is_what_the_newcomer_needs() {
    let c = config::embedded_default();
    assert_eq!(&*c.origin, EMBEDDED_DEFAULT_ORIGIN);
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);

    // Works without root: paths are chosen at run time.
    assert_eq!(c.daemon.state_dir, PathSetting::Auto);
    assert_eq!(c.daemon.ctl_socket, PathSetting::Auto);
    assert_eq!(c.daemon.log_format, LogFormat::Text);

    // LNS on loopback, accepting loopback LACs without a secret.
    assert!(c.lns.enabled);
    assert_eq!(
        c.lns.listen,
        vec!["127.0.0.1:1701".parse::<SocketAddr>().unwrap()]
    );
    let peer = c
        .lns
        .allowed_peer("127.0.0.1".parse().unwrap())
        .expect("loopback allowed");
    assert!(peer.secret.is_none());
    assert!(c.lns.allowed_peer("192.0.2.1".parse().unwrap()).is_none());

    // A LAC in the same process: one line, one peer at the LNS, dial-in on 1702, PPPoE off.
    assert!(c.lac.enabled);
    assert_eq!(c.lac.lines.len(), 1);
    assert_eq!(c.lac.peers.len(), 1);
    assert_eq!(
        c.lac.peers[0].address,
        "127.0.0.1:1701".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.lac.peers[0].realms, vec![RealmMatch::Any]);
    assert_eq!(c.lac.peers[0].lines, vec![c.lac.lines[0].id]);
    assert!(c.lac.dialin.enabled);
    assert_eq!(
        c.lac.dialin.listen,
        vec!["127.0.0.1:1702".parse::<SocketAddr>().unwrap()]
    );
    assert!(
        c.lac
            .dialin
            .allowed_peer("127.0.0.1".parse().unwrap())
            .is_some()
    );
    assert!(!c.lac.pppoe.enabled());

    // 100,000 demo logins, realm-less, password "demo", from a pool large enough for them.
    assert_eq!(c.subscribers.len(), 100_000);
    for name in ["user1", "user50000", "user100000"] {
        let s = c
            .subscribers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(s.secret.verify_pap(b"demo"));
        assert_eq!(s.secret.cleartext(), Some(&b"demo"[..]));
        assert_eq!(s.settings.realm, None);
        assert!(s.settings.contract.consolidation);
        assert_eq!(s.account(), name);
        assert!(s.settings.disconnect.is_empty());
        let AddressAssignment::Pool(p) = s.settings.address else {
            panic!("no pool")
        };
        assert!(c.lns.pool(p).size() >= 100_000);
        assert!(!c.lns.pool(p).contains(c.lns.local_address));
    }
    assert!(c.subscribers.get("user0").is_none());
    assert!(c.subscribers.get("user100001").is_none());
    assert!(matches!(
        c.subscribers.get("user7").unwrap().source,
        SubscriberSource::Range {
            range: 0,
            number: 7
        }
    ));
    // The limits let all of them in at once.
    assert!(c.lns.max_sessions >= 100_000);
    let p = &c.lac.peers[0];
    assert!(u64::from(p.max_tunnels) * u64::from(p.max_sessions_per_tunnel) >= 100_000);
}

#[test]
fn embedded_default_typed_values() {
    let c = config::embedded_default();
    assert_eq!(c.l2tp.receive_window, 16);
    assert_eq!(c.l2tp.retransmit_initial, Duration::from_secs(1));
    assert_eq!(c.l2tp.retransmit_cap, Duration::from_secs(8));
    assert_eq!(c.l2tp.retransmit_retries, 5);
    assert_eq!(c.l2tp.hello_interval, Duration::from_secs(60));
    assert_eq!(c.l2tp.stopccn_linger, Duration::from_secs(31));
    assert_eq!(c.l2tp.ack_delay, Duration::from_millis(10));
    assert_eq!(c.l2tp.vendor_id, 32473);
    assert_eq!(c.l2tp.socket_recv_buffer, 4 << 20);
    assert_eq!(c.ppp.auth, vec![AuthMethod::ChapMd5, AuthMethod::Pap]);
    assert_eq!(c.ppp.mru, 1492);
    assert_eq!(c.lac.lines[0].capacity, 1_000_000_000_000);
    assert_eq!(c.lac.peers[0].tunnel_capacity, 10_000_000_000);
    assert_eq!(c.lac.peers[0].hold_down, Duration::from_secs(30));
    assert_eq!(c.lac.pppoe.cookie_bucket, Duration::from_secs(30));
    assert_eq!(c.lns.local_address, Ipv4Addr::new(100, 64, 0, 1));
    assert_eq!(c.lns.resume.grace, Duration::from_secs(120));
    assert_eq!(c.lns.resume.buffer_bytes, 64 << 10);
    assert_eq!(c.planner.service_level.floor, 256_000);
    assert_eq!(c.planner.min_dwell, Duration::from_secs(300));
    assert_eq!(c.disconnect.sampling_interval, Duration::from_secs(1));
    let flat = c.disconnect.profile("flat-rate").unwrap();
    assert_eq!(flat.session_time, Some(Duration::from_secs(86_400)));
    assert_eq!(flat.idle.as_ref().unwrap().time, Duration::from_secs(1800));
    assert_eq!(
        flat.volume.as_ref().unwrap().to_subscriber_bytes,
        Some(100_000_000_000)
    );
    assert_eq!(flat.logins.unwrap().per_subscriber, Some(2));
    assert_eq!(flat.traffic.unwrap().percent, 95);
    assert_eq!(
        c.subscribers.get("user1").unwrap().settings.service_level,
        1_000_000
    );
    assert_eq!(c.billing.currency, "EUR");
    assert_eq!(c.billing.plan_by_name("flat").unwrap().monthly, 1999);
    assert_eq!(c.billing.ledger.commit_interval, Duration::from_millis(200));
    assert_eq!(c.billing.ledger.rotate_size, 64 << 20);
    assert_eq!(
        c.billing.ledger_dir(Path::new("/var/lib/l2tpagg")),
        Path::new("/var/lib/l2tpagg/ledger")
    );
    assert_eq!(c.lac.lines[0].bind, IpAddr::V4(Ipv4Addr::LOCALHOST),);
}

/// Every key in the example is explained: the line above it is a comment (or the key is part
/// of a run of keys under one comment).
#[test]
fn every_key_in_the_example_is_documented() {
    let mut undocumented = Vec::new();
    let mut previous = "";
    for (n, line) in EMBEDDED_DEFAULT.lines().enumerate() {
        let t = line.trim();
        let is_key = !t.is_empty() && !t.starts_with('#') && !t.starts_with('[');
        if is_key {
            let prev = previous.trim();
            let covered = prev.starts_with('#') || (!prev.is_empty() && !prev.starts_with('['));
            if !covered {
                undocumented.push(format!("line {}: {t}", n + 1));
            }
        }
        previous = line;
    }
    assert!(
        undocumented.is_empty(),
        "keys without a comment:\n{}",
        undocumented.join("\n")
    );
}

#[test]
fn file_lns_only_toml_loads() {
    let c = load("lns-only.toml");
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
    assert!(c.lns.enabled);
    assert!(!c.lac.enabled);
    assert_eq!(
        c.subscribers_file.as_deref(),
        Some(config_dir().join("subscribers.toml").as_path())
    );
    // Longest prefix wins: lac1 has its own entry inside lac-farm's block.
    assert_eq!(
        &*c.lns
            .allowed_peer("198.51.100.1".parse().unwrap())
            .unwrap()
            .name,
        "lac1"
    );
    assert_eq!(
        &*c.lns
            .allowed_peer("198.51.100.2".parse().unwrap())
            .unwrap()
            .name,
        "lac-farm"
    );
    assert!(
        c.lns
            .allowed_peer("198.51.100.16".parse().unwrap())
            .is_none()
    );
    // Pools by realm, then the default pool; static addresses outside pools.
    let business = c.lns.pool_by_name("business").unwrap().id;
    let residential = c.lns.pool_by_name("residential").unwrap().id;
    let alice = c.subscribers.get("alice@acme.example").unwrap();
    assert_eq!(alice.settings.address, AddressAssignment::Pool(business));
    let carol = c.subscribers.get("carol@acme.example").unwrap();
    assert_eq!(
        carol.settings.address,
        AddressAssignment::Static("203.0.113.200".parse().unwrap())
    );
    let w = c.subscribers.get("w42@wholesale.example").unwrap();
    assert_eq!(w.settings.realm.as_deref(), Some("wholesale.example"));
    assert_eq!(w.settings.address, AddressAssignment::Pool(residential));
    let pool = c.lns.pool(residential);
    assert_eq!(pool.size(), (1 << 20) - 256 + (4 * 256 - 10));
    assert!(!pool.contains("10.64.0.7".parse().unwrap()));
    assert!(pool.contains("10.64.1.0".parse().unwrap()));
    assert!(pool.contains("10.96.0.10".parse().unwrap()));
    assert_eq!(c.lns.primary_dns(), Some("192.0.2.53".parse().unwrap()));
    // Inline conditions replace the profile's, and keep the rest of it.
    let idle = carol.settings.disconnect.idle.as_ref().unwrap();
    assert_eq!(idle.time, Duration::from_secs(8 * 3600));
    assert_eq!(
        carol.settings.disconnect.profile.as_deref(),
        Some("business")
    );
    assert_eq!(
        carol.settings.disconnect.logins.unwrap().per_subscriber,
        Some(4)
    );
    let res = c.disconnect.profile("residential").unwrap();
    let app = res.app_timeout.as_ref().unwrap();
    assert_eq!(app.services.len(), 2);
    assert_eq!(app.guard, Duration::from_secs(5));
    assert_eq!(
        res.volume
            .as_ref()
            .unwrap()
            .servers
            .as_ref()
            .unwrap()
            .name
            .as_ref(),
        "cdn"
    );
    assert_eq!(res.idle.as_ref().unwrap().min_rate, Some(8_000));
    // erin names no profile in the file: the default profile applies.
    let erin = c.subscribers.get("erin@home.example").unwrap();
    assert_eq!(
        erin.settings.disconnect.profile.as_deref(),
        Some("residential")
    );
    // Billing.
    assert_eq!(c.billing.period_offset_seconds, 9 * 3600);
    assert_eq!(
        c.billing.supplementary_fee_for("ACME-0001"),
        config::ContractFee::Metered {
            amount: 40,
            unit: config::MeterUnit::Hour
        }
    );
    assert_eq!(
        c.billing.supplementary_fee_for("other"),
        config::ContractFee::Fixed(3000)
    );
    let game = c.disconnect.classify(
        "198.51.100.200".parse().unwrap(),
        config::Protocol::Udp,
        27010,
    );
    assert_eq!(game.map(|id| &*c.disconnect.service(id).name), Some("game"));
    assert_eq!(
        c.disconnect.classify(
            "198.51.100.200".parse().unwrap(),
            config::Protocol::Tcp,
            27010
        ),
        None
    );
}

#[test]
fn file_lac_only_toml_loads() {
    let c = load("lac-only.toml");
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
    assert!(c.lac.enabled);
    assert!(!c.lns.enabled);
    // Realm routing: exact realm first, else the catch-all peers by preference.
    let names = |realm: Option<&str>| -> Vec<String> {
        c.lac
            .peers_for_realm(realm)
            .iter()
            .map(|p| p.name.to_string())
            .collect()
    };
    assert_eq!(names(Some("wholesale.example")), vec!["partner-lns"]);
    assert_eq!(names(Some("ACME.example")), vec!["lns-backup"]);
    assert_eq!(names(None), vec!["lns-main-1", "lns-main-2", "lns-backup"]);
    assert_eq!(
        names(Some("unknown.example")),
        vec!["lns-main-1", "lns-main-2", "lns-backup"]
    );
    let main2 = c.lac.peer_by_name("lns-main-2").unwrap();
    assert_eq!(main2.address.port(), 1701);
    assert_eq!(main2.hold_down, Duration::from_secs(45));
    assert_eq!(
        c.lac.peer_by_name("lns-backup").unwrap().hold_down,
        Duration::from_secs(120)
    );
    // Line costs: own, or the tariff's.
    assert_eq!(
        c.lac.line_by_name("wholesale-a").unwrap().cost_per_month,
        250_000
    );
    assert_eq!(
        c.lac.line_by_name("wholesale-b").unwrap().cost_per_month,
        50_000
    );
    assert_eq!(c.lac.private_lines("ACME-0001").count(), 1);
    // Pools belong to the LNS: here they stay unresolved.
    let dave = c.subscribers.get("dave@home.example").unwrap();
    assert_eq!(dave.settings.address, AddressAssignment::Unassigned);
    assert_eq!(
        dave.settings
            .contract
            .plan
            .map(|p| &*c.billing.plan(p).name),
        Some("metered")
    );
    assert!(c.lac.pppoe.enabled());
    assert_eq!(
        c.lac.pppoe.cookie_secret.as_ref().unwrap().as_bytes().len(),
        32
    );
    assert_eq!(
        &*c.lac
            .dialin
            .allowed_peer("100.80.3.4".parse().unwrap())
            .unwrap()
            .name,
        "cpe-fleet"
    );
    assert!(c.planner.service_level.enabled);
    assert_eq!(c.planner.service_level.min, 512_000);
    assert_eq!(c.billing.ledger.commit_interval, Duration::from_millis(50));
}

#[test]
fn file_subscribers_toml_loads_as_a_subscribers_file() {
    // A subscribers file is not a main configuration; load it through a minimal main file that
    // names it and supplies the profiles and plans it refers to.
    let path = config_dir().join("subscribers.toml");
    let main = format!(
        r#"
[ppp]
auth = ["pap"]
[disconnect]
profiles = [{{ name = "business" }}, {{ name = "residential" }}]
[subscribers]
file = {path:?}
[[billing.plans]]
name = "flat"
[[billing.plans]]
name = "metered"
[[billing.plans]]
name = "business"
"#
    );
    let c = config::load_str("main.toml", &main).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.subscribers.explicit().len(), 5);
    assert_eq!(c.subscribers.len(), 5 + 5000);
    let bob = c.subscribers.get("bob@acme.example").unwrap();
    assert!(bob.secret.is_hashed());
    assert!(bob.secret.verify_pap(b"correct horse battery staple"));
    assert!(!bob.secret.verify_pap(b"wonderland"));
    let carol = c.subscribers.get("carol@acme.example").unwrap();
    assert!(carol.secret.verify_pap(b"tr0ub4dor&3"));
    assert_eq!(carol.account(), "ACME-0001");
    assert!(carol.settings.contract.supplementary);
    assert_eq!(carol.settings.disconnect_order, 10);
    let dave = c.subscribers.get("dave@home.example").unwrap();
    assert_eq!(dave.account(), "dave@home.example");
    assert_eq!(dave.settings.service_level, 100_000_000);
    assert!(
        !c.subscribers
            .get("erin@home.example")
            .unwrap()
            .settings
            .contract
            .consolidation
    );
    assert!(c.subscribers.get("w5000@wholesale.example").is_some());
    assert!(c.subscribers.get("w5001@wholesale.example").is_none());
}

/// The example says every setting shows its default value: hold it to that, section by section.
#[test]
fn the_example_shows_the_built_in_defaults() {
    use l2tpagg::config::{
        DaemonConfig, L2tpConfig, LedgerConfig, PlannerConfig, PppConfig, ResumeConfig, TunConfig,
    };
    let example = config::embedded_default();
    assert_eq!(example.daemon, DaemonConfig::default());
    assert_eq!(example.l2tp, L2tpConfig::default());
    assert_eq!(example.ppp, PppConfig::default());
    assert_eq!(example.planner, PlannerConfig::default());
    assert_eq!(example.lns.tun, TunConfig::default());
    assert_eq!(example.lns.resume, ResumeConfig::default());
    assert_eq!(example.billing.ledger, LedgerConfig::default());

    // The scalar settings of the list-bearing sections, against a file that sets none of them.
    let bare = config::load_str(
        "bare.toml",
        "[lns]\n[lac]\n[lac.dialin]\n[[lac.lines]]\nname = \"l\"\nbind = \"127.0.0.1\"\ncapacity = 1\n[[lac.peers]]\nname = \"p\"\naddress = \"127.0.0.1\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (e, b) = (&example.lns, &bare.lns);
    assert_eq!(
        (
            e.listen.clone(),
            e.max_tunnels,
            e.max_sessions_per_tunnel,
            e.max_sessions,
            e.local_address,
            e.dns.clone()
        ),
        (
            b.listen.clone(),
            b.max_tunnels,
            b.max_sessions_per_tunnel,
            b.max_sessions,
            b.local_address,
            b.dns.clone()
        )
    );
    let (e, b) = (&example.lac, &bare.lac);
    assert_eq!(
        (e.empty_tunnel_linger, e.setup_timeout),
        (b.empty_tunnel_linger, b.setup_timeout)
    );
    assert_eq!(e.pppoe, b.pppoe);
    assert_eq!(
        (
            e.dialin.enabled,
            &e.dialin.listen,
            e.dialin.max_tunnels,
            e.dialin.max_sessions_per_tunnel
        ),
        (
            b.dialin.enabled,
            &b.dialin.listen,
            b.dialin.max_tunnels,
            b.dialin.max_sessions_per_tunnel
        )
    );
    let (ep, bp) = (&e.peers[0], &b.peers[0]);
    assert_eq!(
        (
            &ep.realms,
            ep.preference,
            ep.weight,
            ep.max_sessions_per_tunnel,
            ep.max_tunnels,
            ep.hold_down,
            &ep.lines
        ),
        (
            &bp.realms,
            bp.preference,
            bp.weight,
            bp.max_sessions_per_tunnel,
            bp.max_tunnels,
            bp.hold_down,
            &bp.lines
        )
    );
    assert_eq!(
        example.disconnect.sampling_interval,
        bare.disconnect.sampling_interval
    );
    let (e, b) = (&example.billing, &bare.billing);
    assert_eq!(
        (
            &e.currency,
            e.minor_digits,
            e.period_offset_seconds,
            e.tariff
        ),
        (
            &b.currency,
            b.minor_digits,
            b.period_offset_seconds,
            b.tariff
        )
    );
}

/// A file without any table: both roles off (with a warning), every default applied.
#[test]
fn an_empty_file_gives_the_defaults() {
    let c = config::load_str("empty.toml", "").unwrap();
    assert!(!c.lns.enabled);
    assert!(!c.lac.enabled);
    assert!(!c.lac.dialin.enabled);
    assert!(c.subscribers.is_empty());
    assert_eq!(
        c.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
        vec!["empty.toml: neither [lns] nor [lac] is enabled: the daemon has nothing to run"]
    );
    assert_eq!(c.l2tp.receive_window, 16);
    assert_eq!(c.l2tp.retransmit_initial, Duration::from_secs(1));
    assert_eq!(c.l2tp.retransmit_cap, Duration::from_secs(8));
    assert_eq!(c.l2tp.retransmit_retries, 5);
    assert_eq!(c.l2tp.hello_interval, Duration::from_secs(60));
    assert_eq!(c.l2tp.vendor_id, 32473);
    assert!(c.l2tp.advertise_capability);
    assert_eq!(
        c.lns.listen,
        vec!["127.0.0.1:1701".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(
        c.lac.dialin.listen,
        vec!["127.0.0.1:1702".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(c.disconnect.sampling_interval, Duration::from_secs(1));
    assert_eq!(c.billing.ledger.directory, Path::new("ledger"));
}

/// Bandwidths as integers or SI strings, byte sizes, durations with several units.
#[test]
fn value_syntaxes_come_out_typed() {
    let c = config::load_str(
        "v.toml",
        r#"
[lac]
[[lac.lines]]
name = "a"
bind = "::1"
capacity = 2500000000
[[lac.lines]]
name = "b"
bind = "127.0.0.1"
capacity = "2.5 Gbit/s"
[[lac.peers]]
name = "p"
address = "[::1]:1799"
tunnel_capacity = "750M"
hold_down = "1m 30s"
[billing.ledger]
rotate_size = "1.5GB"
commit_interval = "250ms"
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.lac.lines[0].capacity, 2_500_000_000);
    assert_eq!(c.lac.lines[1].capacity, 2_500_000_000);
    assert_eq!(c.lac.lines[0].bind, "::1".parse::<IpAddr>().unwrap());
    assert_eq!(
        c.lac.peers[0].address,
        "[::1]:1799".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(c.lac.peers[0].tunnel_capacity, 750_000_000);
    assert_eq!(c.lac.peers[0].hold_down, Duration::from_secs(90));
    assert_eq!(c.billing.ledger.rotate_size, 1_500_000_000);
    assert_eq!(c.billing.ledger.commit_interval, Duration::from_millis(250));
}
