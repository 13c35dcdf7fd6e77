//! The `[disconnect]` config section: a full example parses and compiles into the engine's values;
//! unknown keys, negative numbers, zero limits, unknown servers and overlapping services are
//! refused with the key that is wrong.

use std::net::Ipv4Addr;
use std::time::Duration;

use l2tpagg::dataplane::classifier::PROTO_TCP;
use l2tpagg::engine::disconnect::config::{ConfigIssue, DisconnectConfig};
use l2tpagg::engine::disconnect::{
    DEFAULT_SAMPLE_INTERVAL, IdleDirection, LoginPolicy, RateDirection, VolumeCondition,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Root {
    disconnect: DisconnectConfig,
}

fn parse(toml_text: &str) -> Result<DisconnectConfig, String> {
    toml::from_str::<Root>(toml_text)
        .map(|r| r.disconnect)
        .map_err(|e| e.to_string())
}

fn issues(toml_text: &str) -> Vec<String> {
    parse(toml_text)
        .expect("parses")
        .validate()
        .iter()
        .map(ConfigIssue::to_string)
        .collect()
}

const FULL: &str = r#"
[disconnect]
sample_interval = "500ms"

[[disconnect.server]]
name = "ftp1"
address = "192.0.2.10"

[[disconnect.server]]
name = "web1"
address = "192.0.2.20"

[[disconnect.service]]
name = "ftp"
server = "ftp1"
protocol = "tcp"
port = 21
idle_timeout = "15m"

[[disconnect.service]]
name = "web-quic"
server = "web1"
protocol = 17
idle_timeout = "30s"

[disconnect.profile.flat]
session_time = "24h"
listed_servers = ["ftp1", "web1"]
disconnect_order = 3
idle = { limit = "30m", direction = "from-subscriber", only_listed_servers = true, min_rate_bps = 8000 }
volume = { bytes_to_subscriber = 50_000_000_000, packets_from_subscriber = 1_000_000 }
logins = { per_subscriber = 1, per_access_point = 500, policy = "cut-by-order" }
traffic = { window = "10m", max_percent = 60, direction = "to-subscriber" }
app_timeout = { guard = "10s" }

[disconnect.profile.other]
listed_servers = ["ftp1"]
volume = { bytes_from_subscriber = 1, only_listed_servers = true }

[disconnect.profile.empty]

[disconnect.resume]
grace = "2m"
max_packets_per_address = 32
"#;

#[test]
fn the_full_example_compiles_into_engine_values() {
    let cfg = parse(FULL).unwrap();
    let compiled = cfg.compile().unwrap();
    assert_eq!(
        compiled.settings.sample_interval,
        Duration::from_millis(500)
    );
    assert_eq!(compiled.table.services().len(), 2);
    assert_eq!(compiled.table.services()[0].protocol, PROTO_TCP);
    assert_eq!(
        compiled.table.services()[0].address,
        Ipv4Addr::new(192, 0, 2, 10)
    );
    assert_eq!(compiled.table.services()[1].port, None);

    let flat = compiled.profile("flat").unwrap();
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
    assert_eq!(flat.traffic.unwrap().direction, RateDirection::ToSubscriber);
    assert_eq!(flat.app_timeout.unwrap().guard, Duration::from_secs(10));
    assert_eq!(flat.disconnect_order, 3);

    // Two different listed-server sets, each a bit, each known to the service table.
    let other = compiled.profile("other").unwrap();
    assert_ne!(flat.listed_sets, 0);
    assert_ne!(other.listed_sets, 0);
    assert_ne!(flat.listed_sets, other.listed_sets);
    let ftp = Ipv4Addr::new(192, 0, 2, 10);
    let web = Ipv4Addr::new(192, 0, 2, 20);
    assert_eq!(
        compiled.table.server_sets_of(ftp),
        flat.listed_sets | other.listed_sets
    );
    assert_eq!(compiled.table.server_sets_of(web), flat.listed_sets);

    assert!(compiled.profile("empty").unwrap().is_empty());
    assert!(compiled.profile("nope").is_none());
    let resume = compiled.resume.unwrap();
    assert_eq!(resume.grace, Duration::from_secs(120));
    assert_eq!(resume.max_packets_per_address, 32);
}

#[test]
fn an_empty_section_takes_the_named_defaults() {
    let cfg = parse("[disconnect]\n").unwrap();
    assert_eq!(cfg, DisconnectConfig::default());
    let compiled = cfg.compile().unwrap();
    assert_eq!(compiled.settings.sample_interval, DEFAULT_SAMPLE_INTERVAL);
    assert!(compiled.table.has_no_services());
    assert_eq!(compiled.resume, Some(Default::default()));
    let off = parse("[disconnect.resume]\nenabled = false\n")
        .unwrap()
        .compile()
        .unwrap();
    assert_eq!(off.resume, None);
}

#[test]
fn unknown_keys_are_refused_everywhere() {
    for doc in [
        "[disconnect]\nsample_intervall = \"1s\"\n",
        "[[disconnect.server]]\nname = \"a\"\naddress = \"192.0.2.1\"\nport = 1\n",
        "[disconnect.profile.p]\nidle_time = \"5m\"\n",
        "[disconnect.profile.p]\nidle = { limit = \"5m\", directon = \"either\" }\n",
        "[disconnect.profile.p]\nlogins = { per_user = 1 }\n",
        "[disconnect.resume]\ngrace_period = \"1m\"\n",
    ] {
        let err = parse(doc).unwrap_err();
        assert!(err.contains("unknown field"), "{doc}: {err}");
    }
}

#[test]
fn negative_numbers_and_bad_values_are_refused_by_the_parser_with_a_position() {
    for (doc, needle) in [
        (
            "[disconnect.profile.p]\nlogins = { per_subscriber = -1 }\n",
            "-1",
        ),
        (
            "[disconnect.profile.p]\nvolume = { bytes_to_subscriber = -5 }\n",
            "-5",
        ),
        (
            "[disconnect.profile.p]\nsession_time = \"-5s\"\n",
            "invalid duration",
        ),
        (
            "[disconnect.profile.p]\nsession_time = \"soon\"\n",
            "invalid duration",
        ),
        (
            "[disconnect.profile.p]\ntraffic = { window = \"1m\", max_percent = 300 }\n",
            "300",
        ),
        (
            "[disconnect.profile.p]\nlogins = { per_subscriber = 1, policy = \"cut-latest\" }\n",
            "cut-latest",
        ),
        (
            "[[disconnect.service]]\nname = \"s\"\nserver = \"x\"\nprotocol = \"sctp\"\nidle_timeout = \"1m\"\n",
            "sctp",
        ),
        (
            "[[disconnect.service]]\nname = \"s\"\nserver = \"x\"\nprotocol = 256\nidle_timeout = \"1m\"\n",
            "256",
        ),
        (
            "[[disconnect.server]]\nname = \"a\"\naddress = \"192.0.2.300\"\n",
            "address",
        ),
    ] {
        let err = parse(doc).unwrap_err();
        assert!(err.contains(needle), "{doc}: {err}");
        assert!(err.contains("line"), "toml errors carry the line: {err}");
    }
}

#[test]
fn zero_limits_are_refused_with_their_keys() {
    let got = issues(
        r#"
[disconnect]
sample_interval = "0s"
[disconnect.profile.z]
session_time = "0s"
idle = { limit = "0s", min_rate_bps = 0 }
volume = { bytes_from_subscriber = 0, packets_to_subscriber = 0 }
logins = { per_server = 0 }
traffic = { window = "0s", max_percent = 0 }
"#,
    );
    for want in [
        "sample_interval: must be greater than zero",
        "profile.z.session_time: must be greater than zero",
        "profile.z.idle.limit: must be greater than zero",
        "profile.z.idle.min_rate_bps: must be greater than zero (omit it to count any packet)",
        "profile.z.volume.bytes_from_subscriber: must be greater than zero",
        "profile.z.volume.packets_to_subscriber: must be greater than zero",
        "profile.z.logins.per_server: must be at least 1",
        "profile.z.traffic.window: must be greater than zero",
        "profile.z.traffic.max_percent: must be 1-100",
    ] {
        assert!(
            got.iter().any(|g| g == want),
            "missing {want:?} in {got:#?}"
        );
    }
}

#[test]
fn empty_condition_tables_are_refused() {
    let got = issues("[disconnect.profile.e]\nvolume = {}\nlogins = { policy = \"refuse-new\" }\n");
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(got[0].starts_with("profile.e.volume: set at least one of"));
    assert!(got[1].starts_with("profile.e.logins: set at least one of"));
}

#[test]
fn unknown_servers_are_refused() {
    let got = issues(
        r#"
[[disconnect.server]]
name = "ftp1"
address = "192.0.2.10"
[[disconnect.service]]
name = "ftp"
server = "ftp2"
protocol = "tcp"
port = 21
idle_timeout = "1m"
[disconnect.profile.p]
listed_servers = ["ftp1", "mail"]
"#,
    );
    assert_eq!(
        got,
        vec![
            "service[0].server: unknown server \"ftp2\" (no [[disconnect.server]] has that name)",
            "profile.p.listed_servers[1]: unknown server \"mail\" (no [[disconnect.server]] has that name)",
        ]
    );
}

#[test]
fn overlapping_services_are_refused() {
    let base = r#"
[[disconnect.server]]
name = "s1"
address = "192.0.2.10"
[[disconnect.server]]
name = "s1-again"
address = "192.0.2.10"
"#;
    let svc = |name: &str, server: &str, proto: &str, port: Option<u16>| {
        let port = port.map(|p| format!("port = {p}\n")).unwrap_or_default();
        format!(
            "[[disconnect.service]]\nname = \"{name}\"\nserver = \"{server}\"\nprotocol = \"{proto}\"\n{port}idle_timeout = \"1m\"\n"
        )
    };
    // Same address (through two server names), protocol and port.
    let got = issues(&format!(
        "{base}{}{}",
        svc("a", "s1", "tcp", Some(80)),
        svc("b", "s1-again", "tcp", Some(80))
    ));
    assert_eq!(
        got,
        vec!["service[1]: overlaps service[0] \"a\": same server, protocol and port"]
    );
    // Every port against one port.
    let got = issues(&format!(
        "{base}{}{}",
        svc("a", "s1", "tcp", Some(80)),
        svc("b", "s1", "tcp", None)
    ));
    assert_eq!(
        got,
        vec![
            "service[1]: overlaps service[0] \"a\": same server, protocol and port (a service without a port covers every port)"
        ]
    );
    // Different ports or protocols are fine.
    let ok = issues(&format!(
        "{base}{}{}{}",
        svc("a", "s1", "tcp", Some(80)),
        svc("b", "s1", "tcp", Some(443)),
        svc("c", "s1", "udp", None)
    ));
    assert!(ok.is_empty(), "{ok:#?}");
}

#[test]
fn service_and_server_mistakes_are_refused() {
    let got = issues(
        r#"
[[disconnect.server]]
name = "s"
address = "0.0.0.0"
[[disconnect.server]]
name = "s"
address = "192.0.2.1"
[[disconnect.service]]
name = "x"
server = "s"
protocol = "icmp"
port = 7
idle_timeout = "0s"
[[disconnect.service]]
name = "x"
server = "s"
protocol = "udp"
port = 0
idle_timeout = "1m"
"#,
    );
    for want in [
        "server[0].address: 0.0.0.0 is not a unicast host address",
        "server[1].name: duplicate server name \"s\" (first at server[0])",
        "service[0].port: protocol 1 has no ports; remove the port",
        "service[0].idle_timeout: must be greater than zero",
        "service[1].name: duplicate service name \"x\" (first at service[0])",
        "service[1].port: must be 1-65535",
    ] {
        assert!(
            got.iter().any(|g| g == want),
            "missing {want:?} in {got:#?}"
        );
    }
}

#[test]
fn the_guard_must_be_shorter_than_every_server_timeout() {
    let doc = |guard: &str| {
        format!(
            r#"
[[disconnect.server]]
name = "s"
address = "192.0.2.1"
[[disconnect.service]]
name = "short"
server = "s"
protocol = "tcp"
port = 1
idle_timeout = "30s"
[disconnect.profile.p]
app_timeout = {{ guard = "{guard}" }}
"#
        )
    };
    assert!(issues(&doc("29s")).is_empty());
    assert_eq!(
        issues(&doc("30s")),
        vec![
            "profile.p.app_timeout.guard: 30s is not shorter than the idle_timeout of service[0] \"short\" (30s)"
        ]
    );
    assert_eq!(
        issues(&doc("0s")),
        vec!["profile.p.app_timeout.guard: must be greater than zero"]
    );
    assert_eq!(
        issues("[disconnect.profile.p]\napp_timeout = { guard = \"5s\" }\n"),
        vec!["profile.p.app_timeout: no [[disconnect.service]] is configured for it to watch"]
    );
}

#[test]
fn cross_key_rules_are_enforced() {
    let got = issues(
        r#"
[disconnect]
sample_interval = "5s"
[disconnect.profile.p]
idle = { limit = "5m", only_listed_servers = true }
traffic = { window = "2s", max_percent = 50 }
[disconnect.resume]
max_packets_per_address = 10
max_packets_total = 5
max_bytes_total = 0
"#,
    );
    for want in [
        "profile.p.listed_servers: only_listed_servers is set but no listed_servers are given",
        "profile.p.traffic.window: 2s is shorter than sample_interval (5s); a window needs at least one sample",
        "resume.max_packets_per_address: exceeds max_packets_total (5)",
        "resume.max_bytes_total: must be greater than zero",
    ] {
        assert!(
            got.iter().any(|g| g == want),
            "missing {want:?} in {got:#?}"
        );
    }
}
