//! The disconnect settings through the one TOML schema (the config layer) into the engine's
//! runtime types: a full example maps into conditions, the service table, watch groups and resume
//! bounds; what the mapping cannot represent (IPv6 servers, two server lists for one session,
//! too many lists or watched-service sets) and the engine's own rules (zero limits, unknown
//! names, overlapping services, a guard not shorter than a server timeout, a traffic window
//! shorter than the sampling interval) are refused as `FILE:LINE:COL: key: message`.

use std::net::Ipv4Addr;
use std::time::Duration;

use l2tpagg::config::{self, Config};
use l2tpagg::dataplane::classifier::{PROTO_TCP, PROTO_UDP, ServiceId};
use l2tpagg::engine::disconnect::config::{CompiledDisconnect, resume_limits};
use l2tpagg::engine::disconnect::{
    DEFAULT_SAMPLE_INTERVAL, IdleDirection, LoginPolicy, RateDirection, VolumeCondition,
};

fn load(text: &str) -> Config {
    config::load_str("t.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    match config::load_str("t.toml", text) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
    }
}

fn assert_has(got: &[String], want: &str) {
    assert!(
        got.iter().any(|g| g == want),
        "missing {want:?} in {got:#?}"
    );
}

const FULL: &str = r#"
[lns]
local_address = "100.64.0.1"
[lns.resume]
grace = "90s"
buffer_packets = 32
buffer_bytes = "48KiB"
total_bytes = "1MiB"
[[lns.peers]]
name = "lo"
address = "127.0.0.1"
[[lns.pools]]
name = "p"
ranges = ["100.64.1.0/24"]
default = true

[disconnect]
sampling_interval = "500ms"

[[disconnect.services]]
name = "ftp"
address = "192.0.2.10"
protocol = "tcp"
port = 21
server_idle_timeout = "15m"

[[disconnect.services]]
name = "quic"
address = "198.51.100.0/24"
protocol = "udp"
port = "443-444"
server_idle_timeout = "30s"

[[disconnect.server_lists]]
name = "cdn"
servers = ["192.0.2.0/24", "198.51.100.7"]

[[disconnect.server_lists]]
name = "ftp-only"
servers = ["192.0.2.10"]

[[disconnect.profiles]]
name = "flat"
session_time = "24h"
idle = { time = "30m", direction = "from_subscriber", servers = "cdn", min_rate = "8k" }
volume = { to_subscriber_bytes = 50000000000, from_subscriber_packets = 1000000, servers = "cdn" }
logins = { per_subscriber = 1, per_access_point = 500, victim = "order" }
traffic = { percent = 60, window = "10m" }
app_timeout = { guard = "10s", services = ["ftp"] }

[[disconnect.profiles]]
name = "other"
volume = { from_subscriber_bytes = 1, servers = "ftp-only" }
logins = { per_server = 100000, policy = "refuse" }
app_timeout = { guard = "5s" }

[[disconnect.profiles]]
name = "empty"

[[subscriber]]
name = "alice"
secret = "a"
disconnect_profile = "flat"
disconnect_order = 7

[[subscriber]]
name = "bob"
secret = "b"
disconnect_profile = "flat"
disconnect = { session_time = "1h" }

[[subscriber_range]]
prefix = "u"
count = 3
secret = "u"
disconnect_profile = "other"
"#;

#[test]
fn the_full_example_maps_into_engine_values() {
    let cfg = load(FULL);
    let c = CompiledDisconnect::new(&cfg).unwrap();
    assert_eq!(c.settings.sample_interval, Duration::from_millis(500));
    let services = c.table.services();
    assert_eq!(services.len(), 2);
    assert_eq!(
        (services[0].protocol, services[0].network, services[0].ports),
        (PROTO_TCP, "192.0.2.10/32".parse().unwrap(), Some((21, 21)))
    );
    assert_eq!(
        (services[1].protocol, services[1].ports),
        (PROTO_UDP, Some((443, 444)))
    );
    assert_eq!(
        c.table
            .lookup_service(Ipv4Addr::new(198, 51, 100, 99), PROTO_UDP, Some(444)),
        Some(ServiceId(1))
    );

    let (flat, order) = c.for_subscriber(&cfg, "alice").unwrap();
    assert_eq!(order, 7);
    assert_eq!(flat.session_time, Some(Duration::from_secs(86_400)));
    let idle = flat.idle.unwrap();
    assert_eq!(idle.direction, IdleDirection::FromSubscriber);
    assert!(idle.only_listed_servers);
    assert_eq!(idle.min_rate_bps, Some(8000));
    assert_eq!(
        flat.volume,
        Some(VolumeCondition {
            bytes_to_subscriber: Some(50_000_000_000),
            packets_from_subscriber: Some(1_000_000),
            only_listed_servers: true,
            ..Default::default()
        })
    );
    let logins = flat.logins.unwrap();
    assert_eq!(
        (
            logins.per_subscriber,
            logins.per_access_point,
            logins.per_server
        ),
        (Some(1), Some(500), None)
    );
    assert_eq!(logins.policy, LoginPolicy::CutByOrder);
    let traffic = flat.traffic.unwrap();
    assert_eq!(
        (traffic.max_percent, traffic.window, traffic.direction),
        (60, Duration::from_secs(600), RateDirection::Busier)
    );

    // Server lists are sets by position; each address knows its sets.
    assert_eq!(flat.listed_sets, 0b01);
    let (other, order) = c.for_subscriber(&cfg, "u2").unwrap();
    assert_eq!(order, 100, "subscribers.default_disconnect_order");
    assert_eq!(other.listed_sets, 0b10);
    assert_eq!(c.table.server_sets_of(Ipv4Addr::new(192, 0, 2, 10)), 0b11);
    assert_eq!(c.table.server_sets_of(Ipv4Addr::new(192, 0, 2, 11)), 0b01);
    assert_eq!(c.table.server_sets_of(Ipv4Addr::new(198, 51, 100, 7)), 0b01);
    assert_eq!(other.logins.unwrap().policy, LoginPolicy::RefuseNew);

    // Watch groups: "flat" watches ftp only, "other" every service.
    let flat_groups = flat.app_timeout.unwrap().groups;
    let other_groups = other.app_timeout.unwrap().groups;
    assert_ne!(flat_groups, other_groups);
    assert_ne!(c.table.groups_of(ServiceId(0)) & flat_groups, 0);
    assert_eq!(c.table.groups_of(ServiceId(1)) & flat_groups, 0);
    assert_ne!(c.table.groups_of(ServiceId(1)) & other_groups, 0);

    // Everyone on one profile shares one value; an inline override is its own.
    let (again, _) = c.for_subscriber(&cfg, "alice").unwrap();
    assert!(std::sync::Arc::ptr_eq(&flat, &again));
    let (u3, _) = c.for_subscriber(&cfg, "u3").unwrap();
    assert!(std::sync::Arc::ptr_eq(&other, &u3));
    let (bob, _) = c.for_subscriber(&cfg, "bob").unwrap();
    assert_eq!(bob.session_time, Some(Duration::from_secs(3600)));
    assert_eq!(bob.idle, flat.idle);
    assert!(c.for_subscriber(&cfg, "nobody").is_none());

    let resume = c.resume.unwrap();
    assert_eq!(resume.grace, Duration::from_secs(90));
    assert_eq!(resume.max_packets_per_address, 32);
    assert_eq!(resume.max_bytes_per_address, 48 << 10);
    assert_eq!(resume.max_bytes_total, 1 << 20);
}

#[test]
fn no_disconnect_section_means_defaults_and_no_conditions() {
    let cfg = load("[lns]\n[[subscriber]]\nname = \"a\"\nsecret = \"s\"\n");
    let c = CompiledDisconnect::new(&cfg).unwrap();
    assert_eq!(c.settings.sample_interval, DEFAULT_SAMPLE_INTERVAL);
    assert!(c.table.has_no_services());
    assert!(!c.table.has_server_sets());
    let (conditions, _) = c.for_subscriber(&cfg, "a").unwrap();
    assert!(conditions.is_empty());
    assert!(c.resume.is_some(), "resume is on by default");
    let mut off = cfg.lns.resume.clone();
    off.grace = Duration::ZERO;
    assert_eq!(resume_limits(&off), None, "grace 0s turns resume off");
}

#[test]
fn ipv6_servers_are_refused_with_their_position() {
    let got = errors(
        r#"
[[disconnect.services]]
name = "v6"
address = "2001:db8::1"
protocol = "tcp"
port = 80
server_idle_timeout = "1m"
[[disconnect.server_lists]]
name = "l"
servers = ["192.0.2.1", "2001:db8::/32"]
"#,
    );
    assert_has(
        &got,
        "t.toml:4:11: disconnect.services[0].address: must be an IPv4 address or network: the data plane classifies IPv4",
    );
    assert_has(
        &got,
        "t.toml:10:25: disconnect.server_lists[0].servers[1]: must be an IPv4 address or network: the data plane classifies IPv4",
    );
}

#[test]
fn idle_and_volume_must_follow_the_same_server_list() {
    let text = r#"
[[disconnect.server_lists]]
name = "a"
servers = ["192.0.2.1"]
[[disconnect.server_lists]]
name = "b"
servers = ["192.0.2.2"]
[[disconnect.profiles]]
name = "p"
idle = { time = "5m", servers = "a" }
volume = { to_subscriber_bytes = "1GB", servers = "b" }
[[disconnect.profiles]]
name = "q"
idle = { time = "5m", servers = "a" }
[[subscriber]]
name = "s"
secret = "s"
disconnect_profile = "q"
disconnect = { volume = { to_subscriber_bytes = "1GB", servers = "b" } }
"#;
    let got = errors(text);
    assert_has(
        &got,
        "t.toml:11:51: disconnect.profiles[0].volume.servers: idle counts server list `a` but volume counts `b`: a session counts one list's traffic, so both must name the same list",
    );
    assert_has(
        &got,
        "t.toml:19:66: subscriber[0].disconnect.volume.servers: idle counts server list `a` but volume counts `b`: a session counts one list's traffic, so both must name the same list",
    );
    assert_eq!(got.len(), 2, "{got:#?}");
}

#[test]
fn more_server_lists_or_watched_sets_than_a_session_has_bits_are_refused() {
    let mut text = String::new();
    for i in 0..65 {
        text.push_str(&format!(
            "[[disconnect.server_lists]]\nname = \"l{i}\"\nservers = [\"192.0.2.{i}\"]\n"
        ));
    }
    let got = errors(&text);
    assert_has(
        &got,
        "t.toml:1:1: disconnect.server_lists: 65 server lists, at most 64 are supported (one bit each in a session's counters)",
    );

    // 65 services; 65 profiles each watching a different one.
    let mut text = String::new();
    for i in 0..65 {
        text.push_str(&format!(
            "[[disconnect.services]]\nname = \"s{i}\"\naddress = \"192.0.2.{i}\"\nprotocol = \"tcp\"\nport = 80\nserver_idle_timeout = \"1m\"\n"
        ));
    }
    for i in 0..65 {
        text.push_str(&format!(
            "[[disconnect.profiles]]\nname = \"p{i}\"\napp_timeout = {{ guard = \"1s\", services = [\"s{i}\"] }}\n"
        ));
    }
    let got = errors(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].contains("disconnect.profiles[64].app_timeout.services: more than 64 distinct sets of watched services"),
        "{got:#?}"
    );
}

#[test]
fn the_engine_rules_come_out_as_config_errors_with_positions() {
    let got = errors(
        r#"
[disconnect]
sampling_interval = "5s"
[[disconnect.services]]
name = "a"
address = "192.0.2.0/24"
protocol = "tcp"
port = "1-100"
server_idle_timeout = "30s"
[[disconnect.services]]
name = "b"
address = "192.0.2.9"
protocol = "tcp"
port = 80
server_idle_timeout = "0s"
[[disconnect.profiles]]
name = "p"
session_time = "0s"
idle = { time = "5m", servers = "nolist" }
traffic = { percent = 50, window = "2s" }
app_timeout = { guard = "30s", services = ["a"] }
logins = { per_access_point = 0 }
"#,
    );
    for want in [
        "t.toml:12:11: disconnect.services[1].address: service `b` (192.0.2.9/32 tcp port 80) overlaps service `a` (192.0.2.0/24 tcp port 1-100) defined at t.toml:6:11",
        "t.toml:15:23: disconnect.services[1].server_idle_timeout: must be greater than zero",
        "t.toml:18:16: disconnect.profiles[0].session_time: must be greater than zero",
        "t.toml:19:33: disconnect.profiles[0].idle.servers: unknown server list `nolist`; no server list is defined",
        "t.toml:20:36: disconnect.profiles[0].traffic.window: shorter than disconnect.sampling_interval (5s): the rate cannot be measured",
        "t.toml:21:25: disconnect.profiles[0].app_timeout.guard: guard 30s is not shorter than service `a`'s server_idle_timeout 30s",
        "t.toml:22:31: disconnect.profiles[0].logins.per_access_point: must not be zero: expected 1 to 4294967295, got 0",
    ] {
        assert_has(&got, want);
    }
}
