//! Bad configurations: every kind of problem gives `FILE:LINE:COL: key.path: message`, every
//! problem is reported (not just the first), and problems in a subscribers file name that file.

use std::path::{Path, PathBuf};

use l2tpagg::config::{self, ConfigErrors};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_fixtures")
}

/// The errors for `text` loaded as `t.toml`, one string each, in the order reported.
fn errors(text: &str) -> Vec<String> {
    match config::load_str("t.toml", text) {
        Ok(_) => panic!("expected errors, the configuration loaded"),
        Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
    }
}

fn load_errors(e: &ConfigErrors) -> Vec<String> {
    let prefix = format!("{}/", fixtures().display());
    e.errors
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect()
}

fn assert_lines(actual: Vec<String>, expected: &[&str]) {
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(actual, expected, "\nactual:\n{}\n", actual.join("\n"));
}

#[test]
fn unknown_keys_are_rejected_in_every_table() {
    let text = std::fs::read_to_string(fixtures().join("unknown_keys.toml")).unwrap();
    let e = config::load_str("unknown_keys.toml", &text).unwrap_err();
    assert_lines(
        e.errors.iter().map(|d| d.to_string()).collect(),
        &[
            "unknown_keys.toml:3:1: bogus_top: unknown key `bogus_top`, expected one of `daemon`, `l2tp`, `ppp`, `lns`, `lac`, `planner`, `disconnect`, `subscribers`, `subscriber`, `subscriber_range`, `billing`",
            "unknown_keys.toml:6:1: daemon.bogus_daemon: unknown key `bogus_daemon`, expected one of `state_dir`, `ctl_socket`, `log_format`, `log_level`, `shutdown_grace`, `watchdog`, `command_queue`, `malformed_log_interval`",
            "unknown_keys.toml:9:1: l2tp.bogus_l2tp: unknown key `bogus_l2tp`, expected one of `hostname`, `vendor_name`, `receive_window`, `ack_delay`, `retransmit_initial`, `retransmit_cap`, `retransmit_retries`, `hello_interval`, `stopccn_linger`, `hide_avps`, `vendor_id`, `advertise_capability`, `socket_recv_buffer`, `socket_send_buffer`",
            "unknown_keys.toml:12:1: ppp.bogus_ppp: unknown key `bogus_ppp`, expected one of `auth`, `mru`, `lcp_echo_interval`, `lcp_echo_failures`, `restart_timer`, `max_configure`, `max_terminate`, `max_failure`, `auth_timeout`, `accept_proxy`",
            "unknown_keys.toml:15:1: lns.bogus_lns: unknown key `bogus_lns`, expected one of `enabled`, `listen`, `peers`, `max_tunnels`, `max_sessions_per_tunnel`, `max_sessions`, `local_address`, `dns`, `tun`, `pools`, `resume`",
            "unknown_keys.toml:18:1: lns.tun.bogus_tun: unknown key `bogus_tun`, expected one of `name`, `mtu`, `manage_routes`",
            "unknown_keys.toml:21:1: lns.resume.bogus_resume: unknown key `bogus_resume`, expected one of `grace`, `buffer_packets`, `buffer_bytes`, `total_bytes`",
            "unknown_keys.toml:26:1: lns.peers[0].bogus_lns_peer: unknown key `bogus_lns_peer`, expected one of `name`, `address`, `secret`, `hostname`, `max_tunnels`",
            "unknown_keys.toml:31:1: lns.pools[0].bogus_pool: unknown key `bogus_pool`, expected one of `name`, `ranges`, `exclude`, `realms`, `default`",
            "unknown_keys.toml:34:1: lac.bogus_lac: unknown key `bogus_lac`, expected one of `enabled`, `lines`, `peers`, `empty_tunnel_linger`, `setup_timeout`, `hold_down`, `pppoe`, `dialin`",
            "unknown_keys.toml:40:1: lac.lines[0].bogus_line: unknown key `bogus_line`, expected one of `name`, `bind`, `device`, `capacity`, `cost_per_month`, `private_account`",
            "unknown_keys.toml:45:1: lac.peers[0].bogus_lac_peer: unknown key `bogus_lac_peer`, expected one of `name`, `address`, `realms`, `preference`, `weight`, `secret`, `tunnel_capacity`, `max_sessions_per_tunnel`, `max_tunnels`, `lines`, `hold_down`",
            "unknown_keys.toml:48:1: lac.pppoe.bogus_pppoe: unknown key `bogus_pppoe`, expected one of `interfaces`, `ac_name`, `service_names`, `max_sessions_per_mac`, `max_sessions_per_interface`, `cookie_secret`, `cookie_bucket`, `unknown_session_padt_per_second`",
            "unknown_keys.toml:51:1: lac.dialin.bogus_dialin: unknown key `bogus_dialin`, expected one of `enabled`, `listen`, `peers`, `max_tunnels`, `max_sessions_per_tunnel`",
            "unknown_keys.toml:56:1: lac.dialin.peers[0].bogus_dialin_peer: unknown key `bogus_dialin_peer`, expected one of `name`, `address`, `secret`, `hostname`, `max_tunnels`",
            "unknown_keys.toml:59:1: planner.bogus_planner: unknown key `bogus_planner`, expected one of `enabled`, `replan_interval`, `migration_budget`, `min_dwell`, `hysteresis_tunnels`, `move_timeout`, `on_disconnect`, `on_spare_bandwidth`, `max_fill_percent`, `service_level`",
            "unknown_keys.toml:62:1: planner.service_level.bogus_service_level: unknown key `bogus_service_level`, expected one of `enabled`, `window`, `lower_percent`, `target_percent`, `raise_percent`, `floor`, `min`, `max`, `hold`",
            "unknown_keys.toml:65:1: disconnect.bogus_disconnect: unknown key `bogus_disconnect`, expected one of `sampling_interval`, `services`, `server_lists`, `profiles`",
            "unknown_keys.toml:73:1: disconnect.services[0].bogus_service: unknown key `bogus_service`, expected one of `name`, `address`, `protocol`, `port`, `server_idle_timeout`",
            "unknown_keys.toml:78:1: disconnect.server_lists[0].bogus_server_list: unknown key `bogus_server_list`, expected `name` or `servers`",
            "unknown_keys.toml:82:1: disconnect.profiles[0].bogus_profile: unknown key `bogus_profile`, expected one of `name`, `session_time`, `idle`, `volume`, `logins`, `traffic`, `app_timeout`",
            "unknown_keys.toml:83:23: disconnect.profiles[0].idle.bogus_idle: unknown key `bogus_idle`, expected one of `time`, `direction`, `servers`, `min_rate`",
            "unknown_keys.toml:84:37: disconnect.profiles[0].volume.bogus_volume: unknown key `bogus_volume`, expected one of `from_subscriber_bytes`, `to_subscriber_bytes`, `from_subscriber_packets`, `to_subscriber_packets`, `servers`",
            "unknown_keys.toml:85:28: disconnect.profiles[0].logins.bogus_logins: unknown key `bogus_logins`, expected one of `per_access_point`, `per_server`, `per_subscriber`, `victim`, `policy`",
            "unknown_keys.toml:86:42: disconnect.profiles[0].traffic.bogus_traffic: unknown key `bogus_traffic`, expected `percent` or `window`",
            "unknown_keys.toml:87:31: disconnect.profiles[0].app_timeout.bogus_app_timeout: unknown key `bogus_app_timeout`, expected `guard` or `services`",
            "unknown_keys.toml:90:1: subscribers.bogus_subscribers: unknown key `bogus_subscribers`, expected one of `file`, `default_service_level`, `default_disconnect_profile`, `default_disconnect_order`",
            "unknown_keys.toml:95:1: subscriber[0].bogus_subscriber: unknown key `bogus_subscriber`, expected one of `name`, `secret`, `secret_hash`, `realm`, `service_level`, `address`, `pool`, `disconnect_profile`, `disconnect`, `disconnect_order`, `contract`",
            "unknown_keys.toml:96:14: subscriber[0].contract.bogus_contract: unknown key `bogus_contract`, expected one of `account`, `consolidation`, `supplementary`, `plan`",
            "unknown_keys.toml:97:16: subscriber[0].disconnect.bogus_inline: unknown key `bogus_inline`, expected one of `session_time`, `idle`, `volume`, `logins`, `traffic`, `app_timeout`",
            "unknown_keys.toml:103:1: subscriber_range[0].bogus_range: unknown key `bogus_range`, expected one of `prefix`, `suffix`, `first`, `count`, `secret`, `secret_hash`, `realm`, `service_level`, `pool`, `disconnect_profile`, `disconnect`, `disconnect_order`, `contract`",
            "unknown_keys.toml:106:1: billing.bogus_billing: unknown key `bogus_billing`, expected one of `currency`, `minor_digits`, `period_offset`, `tariff`, `plans`, `accounts`, `ledger`",
            "unknown_keys.toml:109:1: billing.tariff.bogus_tariff: unknown key `bogus_tariff`, expected one of `tunnel_hour`, `line_month`, `consolidation_fee`, `supplementary_fee`",
            "unknown_keys.toml:110:23: billing.tariff.consolidation_fee.bogus_consolidation_fee: unknown key `bogus_consolidation_fee`, expected `per` or `amount`",
            "unknown_keys.toml:111:23: billing.tariff.supplementary_fee.bogus_supplementary_fee: unknown key `bogus_supplementary_fee`, expected one of `fixed`, `metered`, `unit`",
            "unknown_keys.toml:115:1: billing.plans[0].bogus_plan: unknown key `bogus_plan`, expected one of `name`, `monthly`, `time`, `volume`",
            "unknown_keys.toml:116:38: billing.plans[0].time.bogus_time: unknown key `bogus_time`, expected `amount` or `per`",
            "unknown_keys.toml:117:42: billing.plans[0].volume.bogus_volume_rate: unknown key `bogus_volume_rate`, expected `amount` or `per`",
            "unknown_keys.toml:121:1: billing.accounts[0].bogus_account: unknown key `bogus_account`, expected one of `account`, `display_name`, `supplementary_fee`",
            "unknown_keys.toml:124:1: billing.ledger.bogus_ledger: unknown key `bogus_ledger`, expected one of `directory`, `fsync`, `commit_interval`, `rotate_size`, `rotate_interval`, `interim_interval`, `queue_bound`",
        ],
    );
}

#[test]
fn a_single_unknown_key_gives_the_documented_message() {
    assert_lines(
        errors("[lns]\nlisten = [\"127.0.0.1\"]\nlisen = [\"127.0.0.2\"]\n"),
        &[
            "t.toml:3:1: lns.lisen: unknown key `lisen`, expected one of `enabled`, `listen`, `peers`, `max_tunnels`, `max_sessions_per_tunnel`, `max_sessions`, `local_address`, `dns`, `tun`, `pools`, `resume`",
        ],
    );
}

#[test]
fn bad_addresses() {
    let text = r#"
[lns]
listen = ["127.0.0.1:99999", "lns.example:1701"]
local_address = "fe80::1"
dns = ["192.0.2.300"]
[[lns.peers]]
name = "a"
address = "10.0.0.1/8"
[[lns.pools]]
name = "p"
ranges = ["10.0.0.9-10.0.0.1"]
[lac]
[[lac.lines]]
name = "l"
bind = "300.1.1.1"
capacity = "1G"
[[lac.peers]]
name = "x"
address = "lns.example:1701"
"#;
    assert_lines(
        errors(text),
        &[
            r#"t.toml:3:11: lns.listen[0]: invalid address "127.0.0.1:99999": expected an IP address with an optional port, e.g. "192.0.2.1:1701" or "[2001:db8::1]:1701" (host names are not resolved)"#,
            r#"t.toml:3:30: lns.listen[1]: invalid address "lns.example:1701": expected an IP address with an optional port, e.g. "192.0.2.1:1701" or "[2001:db8::1]:1701" (host names are not resolved)"#,
            r#"t.toml:4:17: lns.local_address: invalid IPv4 address "fe80::1""#,
            r#"t.toml:5:8: lns.dns[0]: invalid IPv4 address "192.0.2.300""#,
            r#"t.toml:8:11: lns.peers[0].address: network "10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?"#,
            r#"t.toml:11:11: lns.pools[0].ranges[0]: IPv4 range "10.0.0.9-10.0.0.1" runs backwards: 10.0.0.9 is after 10.0.0.1"#,
            r#"t.toml:15:8: lac.lines[0].bind: invalid IP address "300.1.1.1""#,
            r#"t.toml:19:11: lac.peers[0].address: invalid address "lns.example:1701": expected an IP address with an optional port, e.g. "192.0.2.1:1701" or "[2001:db8::1]:1701" (host names are not resolved)"#,
        ],
    );
}

#[test]
fn overlapping_pools_and_addresses() {
    let text = r#"
[lns]
local_address = "10.0.0.1"
[[lns.pools]]
name = "a"
ranges = ["10.0.0.0/24"]
[[lns.pools]]
name = "b"
ranges = ["10.1.0.0/24", "10.0.0.128/25"]
[[lns.pools]]
name = "c"
ranges = ["10.2.0.0/24", "10.2.0.5"]
exclude = ["10.9.0.0/24"]
default = true
[[lns.pools]]
name = "d"
ranges = ["10.3.0.0/30"]
exclude = ["10.3.0.0/30"]
default = true
"#;
    let e = config::load_str("t.toml", text).unwrap_err();
    assert_lines(
        e.errors.iter().map(|d| d.to_string()).collect(),
        &[
            "t.toml:3:17: lns.local_address: the LNS's own address 10.0.0.1 lies inside pool `a`; exclude it from the pool",
            "t.toml:9:26: lns.pools[1].ranges[1]: pool `b` overlaps pool `a` (both hold 10.0.0.128)",
            "t.toml:12:26: lns.pools[2].ranges[1]: range 10.2.0.5 overlaps range 10.2.0.0-10.2.0.255 of the same pool",
            "t.toml:18:11: lns.pools[3].exclude: the exclusions leave no address in the pool",
            "t.toml:19:11: lns.pools[3].default: pool `c` at t.toml:14:11 is already the default pool",
        ],
    );
    // Warnings ride along with the errors.
    assert_lines(
        e.warnings.iter().map(|d| d.to_string()).collect(),
        &[
            "t.toml:2:1: lns: no [[lns.peers]]: every tunnel will be refused",
            "t.toml:13:12: lns.pools[2].exclude[0]: exclusion 10.9.0.0-10.9.0.255 lies outside the pool's ranges and has no effect",
        ],
    );
}

#[test]
fn static_addresses_must_stay_out_of_pools_and_be_unique() {
    let text = r#"
[lns]
local_address = "10.0.0.1"
[[lns.peers]]
name = "lo"
address = "127.0.0.1"
[[lns.pools]]
name = "p"
ranges = ["10.0.0.0/24"]
exclude = ["10.0.0.1", "10.0.0.7"]
[[subscriber]]
name = "s"
secret = "x"
address = "10.0.0.5"
[[subscriber]]
name = "t"
secret = "x"
address = "10.0.0.7"
[[subscriber]]
name = "u"
secret = "x"
address = "10.0.0.7"
[[subscriber]]
name = "v"
secret = "x"
address = "10.0.0.1"
pool = "p"
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:14:11: subscriber[0].address: static address 10.0.0.5 lies inside pool `p`; exclude it from the pool or pick another",
            "t.toml:22:11: subscriber[2].address: static address 10.0.0.7 is already given to subscriber `t` at t.toml:18:11",
            "t.toml:26:11: subscriber[3].address: static address 10.0.0.1 is the LNS's own address (lns.local_address)",
            "t.toml:27:8: subscriber[3].pool: set either address (static) or pool, not both",
        ],
    );
}

#[test]
fn duplicate_names() {
    let text = r#"
[lns]
[[lns.peers]]
name = "lac"
address = "127.0.0.1"
[[lns.peers]]
name = "lac"
address = "127.0.0.1"
[[lns.pools]]
name = "p"
ranges = ["10.0.0.0/24"]
[[lns.pools]]
name = "p"
ranges = ["10.0.1.0/24"]
[disconnect]
profiles = [{ name = "x" }, { name = "x" }]
[[subscriber]]
name = "a"
secret = "1"
[[subscriber]]
name = "a"
secret = "2"
[[subscriber_range]]
prefix = "a"
count = 10
secret = "s"
[[billing.plans]]
name = "f"
[[billing.plans]]
name = "f"
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:7:8: lns.peers[1].name: duplicate LNS peer name `lac`; first defined at t.toml:4:8",
            "t.toml:8:11: lns.peers[1].address: network 127.0.0.1/32 is already given to peer `lac` at t.toml:5:11",
            "t.toml:13:8: lns.pools[1].name: duplicate pool name `p`; first defined at t.toml:10:8",
            "t.toml:16:38: disconnect.profiles[1].name: duplicate profile name `x`; first defined at t.toml:16:22",
            "t.toml:21:8: subscriber[1].name: duplicate subscriber name `a`; first defined at t.toml:18:8",
            "t.toml:30:8: billing.plans[1].name: duplicate plan name `f`; first defined at t.toml:28:8",
        ],
    );
}

#[test]
fn subscriber_names_collide_with_ranges() {
    let text = r#"
[[subscriber]]
name = "user7"
secret = "x"
[[subscriber_range]]
prefix = "user"
count = 100
secret = "demo"
[[subscriber_range]]
prefix = "user1"
count = 5
secret = "demo"
[[subscriber_range]]
prefix = "user"
suffix = "@isp.example"
count = 100
secret = "demo"
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:3:8: subscriber[0].name: subscriber `user7` is also generated by the subscriber_range at t.toml:6:10",
            "t.toml:10:10: subscriber_range[1].prefix: subscriber `user11` would belong to this range and the range at t.toml:6:10",
        ],
    );
}

#[test]
fn limits_out_of_range() {
    let text = r#"
[l2tp]
receive_window = 70000
retransmit_retries = 0
vendor_id = -5
[ppp]
mru = 50
[lns]
max_sessions_per_tunnel = 0
max_sessions = 10
[planner]
max_fill_percent = 101
[lac.pppoe]
max_sessions_per_interface = 65535
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:3:18: l2tp.receive_window: out of range: expected 1 to 32767, got 70000",
            "t.toml:4:22: l2tp.retransmit_retries: must not be zero: expected 1 to 100, got 0",
            "t.toml:5:13: l2tp.vendor_id: must not be negative: expected 1 to 65535, got -5",
            "t.toml:7:7: ppp.mru: out of range: expected 128 to 16384, got 50",
            "t.toml:9:27: lns.max_sessions_per_tunnel: must not be zero: expected 1 to 65535, got 0",
            "t.toml:12:20: planner.max_fill_percent: out of range: expected 1 to 100, got 101",
            // `[lac.pppoe]` makes `[lac]` present, so the LAC role is on and needs lines and peers.
            "t.toml:13:2: lac: the LAC needs at least one [[lac.lines]]",
            "t.toml:13:2: lac: the LAC needs at least one [[lac.peers]]",
            "t.toml:14:30: lac.pppoe.max_sessions_per_interface: out of range: expected 1 to 65534, got 65535",
        ],
    );
}

#[test]
fn cross_field_limits() {
    let text = r#"
[lns]
max_sessions_per_tunnel = 100
max_sessions = 10
[planner.service_level]
lower_percent = 80
target_percent = 70
min = "1G"
max = "1M"
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:3:27: lns.max_sessions_per_tunnel: larger than lns.max_sessions (10)",
            "t.toml:7:18: planner.service_level.target_percent: thresholds must satisfy lower_percent < target_percent < raise_percent, got 80 < 70 < 90",
            "t.toml:9:7: planner.service_level.max: must not be below planner.service_level.min",
        ],
    );
}

#[test]
fn unknown_references() {
    let text = r#"
[lns]
[[lns.pools]]
name = "p"
ranges = ["10.0.0.0/24"]
[lac]
[[lac.lines]]
name = "l"
bind = "127.0.0.1"
capacity = "1G"
[[lac.peers]]
name = "x"
address = "127.0.0.1"
lines = ["l", "m"]
[disconnect]
[[disconnect.profiles]]
name = "pr"
idle = { time = "1m", servers = "nolist" }
app_timeout = { guard = "1s", services = ["nosvc"] }
[subscribers]
default_disconnect_profile = "nope"
[[subscriber]]
name = "a"
secret = "s"
pool = "q"
disconnect_profile = "zz"
contract = { plan = "gold" }
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:14:15: lac.peers[0].lines[1]: unknown line `m`; defined: `l`",
            "t.toml:18:33: disconnect.profiles[0].idle.servers: unknown server list `nolist`; no server list is defined",
            "t.toml:19:43: disconnect.profiles[0].app_timeout.services[0]: unknown service `nosvc`; no service is defined",
            "t.toml:21:30: subscribers.default_disconnect_profile: unknown disconnect profile `nope`; defined: `pr`",
            "t.toml:25:8: subscriber[0].pool: unknown pool `q`; defined: `p`",
            "t.toml:26:22: subscriber[0].disconnect_profile: unknown disconnect profile `zz`; defined: `pr`",
            "t.toml:27:21: subscriber[0].contract.plan: unknown plan `gold`; no plan is defined",
        ],
    );
}

#[test]
fn a_reference_into_a_broken_list_is_not_reported_as_unknown() {
    // The pool `q` is broken; the subscriber's reference to it must not add a second, false error.
    let text = r#"
[lns]
[[lns.pools]]
name = "q"
ranges = ["10.0.0.0/33"]
[[subscriber]]
name = "a"
secret = "s"
pool = "q"
"#;
    assert_lines(
        errors(text),
        &[
            r#"t.toml:5:11: lns.pools[0].ranges[0]: invalid IPv4 range "10.0.0.0/33": expected a CIDR "10.0.0.0/24", a range "10.0.0.10-10.0.0.99" or one address"#,
        ],
    );
}

#[test]
fn zero_and_negative_limits() {
    let text = r#"
[disconnect]
[[disconnect.profiles]]
name = "pr"
session_time = "0s"
idle = { time = "0s", min_rate = 0 }
volume = { to_subscriber_bytes = 0, from_subscriber_packets = 0 }
logins = { per_subscriber = -1 }
traffic = { percent = 0, window = "1m" }
[[disconnect.profiles]]
name = "empty-ones"
volume = {}
logins = { victim = "order" }
[subscribers]
default_service_level = 0
[billing.tariff]
tunnel_hour = -5
line_month = 1.5
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:5:16: disconnect.profiles[0].session_time: must be greater than zero",
            "t.toml:6:17: disconnect.profiles[0].idle.time: must be greater than zero",
            "t.toml:6:34: disconnect.profiles[0].idle.min_rate: must be greater than zero (omit it to count every packet)",
            "t.toml:7:34: disconnect.profiles[0].volume.to_subscriber_bytes: must not be zero",
            "t.toml:7:63: disconnect.profiles[0].volume.from_subscriber_packets: must not be zero: expected at least 1, got 0",
            "t.toml:8:29: disconnect.profiles[0].logins.per_subscriber: must not be negative: expected 1 to 65535, got -1",
            "t.toml:9:23: disconnect.profiles[0].traffic.percent: must not be zero: expected 1 to 100, got 0",
            "t.toml:12:10: disconnect.profiles[1].volume: set at least one of from_subscriber_bytes, to_subscriber_bytes, from_subscriber_packets, to_subscriber_packets",
            "t.toml:13:10: disconnect.profiles[1].logins: set at least one of per_access_point, per_server, per_subscriber",
            "t.toml:15:25: subscribers.default_service_level: must be greater than zero",
            "t.toml:17:15: billing.tariff.tunnel_hour: amounts must not be negative, got -5",
            "t.toml:18:14: billing.tariff.line_month: amounts are integers in minor units of the currency, never fractions (got 1.5); e.g. write 1999 for 19.99",
        ],
    );
}

#[test]
fn overlapping_services_and_guard_longer_than_the_server_timeout() {
    let text = r#"
[disconnect]
[[disconnect.services]]
name = "web"
address = "192.0.2.0/24"
protocol = "tcp"
port = "80-443"
server_idle_timeout = "1m"
[[disconnect.services]]
name = "web2"
address = "192.0.2.7"
protocol = "tcp"
port = 443
server_idle_timeout = "1m"
[[disconnect.services]]
name = "dns"
address = "192.0.2.7"
protocol = "udp"
port = 443
server_idle_timeout = "1m"
[[disconnect.profiles]]
name = "pr"
app_timeout = { guard = "1m" }
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:11:11: disconnect.services[1].address: service `web2` (192.0.2.7/32 tcp port 443) overlaps service `web` (192.0.2.0/24 tcp port 80-443) defined at t.toml:5:11",
            "t.toml:23:25: disconnect.profiles[0].app_timeout.guard: guard 1m is not shorter than service `web`'s server_idle_timeout 1m",
            "t.toml:23:25: disconnect.profiles[0].app_timeout.guard: guard 1m is not shorter than service `web2`'s server_idle_timeout 1m",
            "t.toml:23:25: disconnect.profiles[0].app_timeout.guard: guard 1m is not shorter than service `dns`'s server_idle_timeout 1m",
        ],
    );
}

#[test]
fn app_timeout_needs_services() {
    assert_lines(
        errors("[[disconnect.profiles]]\nname = \"p\"\napp_timeout = { guard = \"5s\" }\n"),
        &[
            "t.toml:3:15: disconnect.profiles[0].app_timeout: needs [[disconnect.services]] to watch; none is defined",
        ],
    );
}

const HASH: &str = "pbkdf2-sha256$20000$00112233445566778899aabbccddeeff$0ece1ae138b7866af416df4c887d57f39624421ae48ed6f75c90e74b1f968401";

#[test]
fn hashed_secrets_are_rejected_when_only_chap_is_allowed() {
    let text = format!(
        "[ppp]\nauth = [\"chap-md5\"]\n[[subscriber]]\nname = \"a\"\nsecret_hash = \"{HASH}\"\n[[subscriber_range]]\nprefix = \"u\"\ncount = 3\nsecret_hash = \"{HASH}\"\n"
    );
    assert_lines(
        errors(&text),
        &[
            r#"t.toml:5:15: subscriber[0].secret_hash: a hashed secret works with PAP only, but ppp.auth does not allow "pap"; store the cleartext in `secret` or add "pap" to ppp.auth"#,
            r#"t.toml:9:15: subscriber_range[0].secret_hash: a hashed secret works with PAP only, but ppp.auth does not allow "pap"; store the cleartext in `secret` or add "pap" to ppp.auth"#,
        ],
    );
}

#[test]
fn hashed_secrets_with_chap_first_load_with_a_clear_warning() {
    let text = format!("[lns]\n[[subscriber]]\nname = \"a\"\nsecret_hash = \"{HASH}\"\n");
    let c = config::load_str("t.toml", &text).unwrap();
    let warnings: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.contains(&r#"t.toml:4:15: subscriber[0].secret_hash: 1 subscriber entry has a hashed secret, but ppp.auth requests chap-md5 first: such subscribers can log in only if their client refuses CHAP and accepts PAP; put "pap" first in ppp.auth or store cleartext secrets"#.to_string()),
        "{warnings:#?}"
    );
    // With PAP first there is nothing to warn about.
    let text = format!(
        "[lns]\n[ppp]\nauth = [\"pap\", \"chap-md5\"]\n[[subscriber]]\nname = \"a\"\nsecret_hash = \"{HASH}\"\n"
    );
    let c = config::load_str("t.toml", &text).unwrap();
    assert!(
        c.warnings.iter().all(|w| !w.message.contains("hashed")),
        "{:#?}",
        c.warnings
    );
}

#[test]
fn bad_secrets() {
    let text = r#"
[[subscriber]]
name = "a"
[[subscriber]]
name = "b"
secret = "x"
secret_hash = "y"
[[subscriber]]
name = "c"
secret_hash = "md5$1$aa$bb"
[[subscriber]]
name = "d"
secret = ""
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:2:1: subscriber[0].secret: missing: set secret (cleartext) or secret_hash",
            "t.toml:7:15: subscriber[1].secret_hash: set either secret or secret_hash, not both",
            r#"t.toml:10:15: subscriber[2].secret_hash: unsupported hash scheme "md5": expected "pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX""#,
            "t.toml:13:10: subscriber[3].secret: must not be empty",
        ],
    );
}

#[test]
fn misc_bad_values() {
    let text = r#"
[daemon]
log_level = "l2tpagg=loud"
shutdown_grace = 30
[l2tp]
ack_delay = "2s"
retransmit_cap = "500ms"
[lns]
listen = ["0.0.0.0:1701", "127.0.0.1:1701"]
local_address = "10.0.0.1"
[lns.tun]
name = "this-name-is-too-long"
[[lns.pools]]
name = "p"
ranges = ["10.0.0.0/24"]
[lac]
[lac.dialin]
listen = ["127.0.0.1:1701"]
[lac.pppoe]
interfaces = ["eth0", "eth0", "a/b"]
cookie_secret = "0011"
[[subscriber]]
name = "s"
secret = "x"
contract = { account = "ACME", supplementary = true }
"#;
    assert_lines(
        errors(text),
        &[
            r#"t.toml:3:13: daemon.log_level: invalid log filter "l2tpagg=loud": error parsing level filter: expected one of "off", "error", "warn", "info", "debug", "trace", or a number 0-5"#,
            r#"t.toml:4:18: daemon.shutdown_grace: durations are strings with a unit: write "30s" for 30 seconds"#,
            "t.toml:6:13: l2tp.ack_delay: must be shorter than l2tp.retransmit_initial (1s), or the peer retransmits before we acknowledge",
            "t.toml:7:18: l2tp.retransmit_cap: must not be shorter than l2tp.retransmit_initial (1s)",
            "t.toml:9:27: lns.listen[1]: 127.0.0.1:1701 conflicts with an earlier entry of lns.listen",
            "t.toml:10:17: lns.local_address: the LNS's own address 10.0.0.1 lies inside pool `p`; exclude it from the pool",
            r#"t.toml:12:8: lns.tun.name: invalid interface name "this-name-is-too-long": 1 to 15 printable characters, no '/', ':' or spaces"#,
            "t.toml:16:1: lac: the LAC needs at least one [[lac.lines]]",
            "t.toml:16:1: lac: the LAC needs at least one [[lac.peers]]",
            "t.toml:18:11: lac.dialin.listen[0]: 127.0.0.1:1701 conflicts with lns.listen 0.0.0.0:1701",
            "t.toml:20:23: lac.pppoe.interfaces[1]: listed twice",
            r#"t.toml:20:31: lac.pppoe.interfaces[2]: invalid interface name "a/b": 1 to 15 printable characters, no '/', ':' or spaces"#,
            "t.toml:21:17: lac.pppoe.cookie_secret: 2 bytes; the key is exactly 32 bytes (64 hex digits)",
            r#"t.toml:25:48: subscriber[0].contract.supplementary: account `ACME` has a supplementary contract but no [[lac.lines]] has private_account = "ACME""#,
        ],
    );
}

#[test]
fn syntax_errors_are_positioned_and_stop_the_load() {
    assert_lines(
        errors("[lns]\nlisten = [\"a\"\n[lac]\n"),
        &[
            "t.toml:3:1: lns.listen: syntax error: missing comma between array elements, expected `,`",
            "t.toml:3:2: lns.listen: syntax error: string values must be quoted, expected literal string",
            "t.toml:3:6: syntax error: unclosed array, expected `]`",
        ],
    );
}

#[test]
fn errors_in_the_subscribers_file_name_that_file_and_all_errors_come_at_once() {
    let e = config::load_file(&fixtures().join("main_with_bad_subscribers.toml")).unwrap_err();
    assert_lines(
        load_errors(&e),
        &[
            "main_with_bad_subscribers.toml:7:15: lns.max_tunnels: must not be zero: expected 1 to 65535, got 0",
            r#"main_with_bad_subscribers.toml:27:12: billing.currency: expected an ISO 4217 code such as "EUR", got "euro""#,
            "bad_subscribers.toml:3:8: subscriber[0].name: duplicate subscriber name `dup`; first defined at main_with_bad_subscribers.toml:23:8",
            r#"bad_subscribers.toml:8:15: subscriber[1].secret_hash: a hashed secret works with PAP only, but ppp.auth does not allow "pap"; store the cleartext in `secret` or add "pap" to ppp.auth"#,
            "bad_subscribers.toml:13:8: subscriber[2].pool: unknown pool `nope`; defined: `p`",
            "bad_subscribers.toml:14:1: subscriber[2].servce_level: unknown key `servce_level`, expected one of `name`, `secret`, `secret_hash`, `realm`, `service_level`, `address`, `pool`, `disconnect_profile`, `disconnect`, `disconnect_order`, `contract`",
            "bad_subscribers.toml:19:11: subscriber[3].address: static address 10.0.0.9 lies inside pool `p`; exclude it from the pool or pick another",
            "bad_subscribers.toml:27:10: subscriber_range[1].prefix: subscriber `u11` would belong to this range and the range at bad_subscribers.toml:22:10",
            "bad_subscribers.toml:31:2: daemon: unknown key `daemon`, expected one of `subscriber`, `subscriber_range`",
        ],
    );
    // The display is one error per line, as `l2tpagg check` prints it.
    assert_eq!(e.to_string().lines().count(), 9);
}

#[test]
fn a_missing_subscribers_file_is_an_error_at_the_key_that_names_it() {
    assert_lines(
        errors("[subscribers]\nfile = \"/nonexistent/l2tpagg-subscribers.toml\"\n"),
        &[
            "t.toml:2:8: subscribers.file: cannot read subscribers file /nonexistent/l2tpagg-subscribers.toml: No such file or directory (os error 2)",
        ],
    );
}

#[test]
fn a_syntax_error_in_the_subscribers_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("subs.toml"),
        "[[subscriber]]\nname = \"a\nsecret = \"x\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.toml"),
        "[subscribers]\nfile = \"subs.toml\"\n",
    )
    .unwrap();
    let e = config::load_file(&dir.path().join("main.toml")).unwrap_err();
    let subs = dir.path().join("subs.toml").display().to_string();
    assert!(!e.errors.is_empty());
    for d in &e.errors {
        assert_eq!(&*d.file, subs, "{d}");
        assert!(d.message.starts_with("syntax error"), "{d}");
    }
    assert_eq!(e.errors[0].position, Some((2, 10)), "{}", e);
}

#[test]
fn an_unreadable_main_file_is_named() {
    let e = config::load_file(Path::new("/nonexistent/l2tpagg.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/l2tpagg.toml: cannot read configuration file: No such file or directory (os error 2)"
    );
}

#[test]
fn errors_in_one_section_do_not_hide_errors_in_others() {
    // One bad value per section, and a section that fails as a whole (`planner` is not a table).
    let text = r#"
planner = 5
[daemon]
log_format = "xml"
[l2tp]
hello_interval = "soon"
[lns]
max_tunnels = "many"
[billing]
minor_digits = 9
[[subscriber]]
name = "a"
secret = "x"
service_level = "fast"
"#;
    assert_lines(
        errors(text),
        &[
            "t.toml:2:11: planner: invalid type: integer `5`, expected struct PlannerConfig",
            "t.toml:4:14: daemon.log_format: unknown variant `xml`, expected `text` or `json`",
            r#"t.toml:6:18: l2tp.hello_interval: invalid duration "soon": expected number at 0 (write a number and a unit, e.g. "30s", "15m", "250ms")"#,
            r#"t.toml:8:15: lns.max_tunnels: invalid type: string "many", expected i64; expected an integer between 1 and 65535"#,
            "t.toml:10:16: billing.minor_digits: out of range: expected 0 to 4, got 9",
            r#"t.toml:14:17: subscriber[0].service_level: invalid bandwidth "fast": write bit/s as an integer or with an SI prefix, e.g. 100000000, "100M", "1.5G""#,
        ],
    );
}

#[test]
fn warnings_load_but_are_reported_with_positions() {
    let text = format!(
        r#"
[lns]
[[lns.peers]]
name = "anyone"
address = "0.0.0.0/0"
[[lns.pools]]
name = "small"
ranges = ["10.0.0.0/30"]
default = true
[lac]
[[lac.lines]]
name = "b"
bind = "127.0.0.2"
capacity = "1G"
private_account = "X"
[[lac.peers]]
name = "p"
address = "127.0.0.9"
realms = ["example.net"]
[ppp]
auth = ["pap"]
[[subscriber_range]]
prefix = "u"
count = 10
secret_hash = "{HASH}"
"#
    );
    let c = config::load_str("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_lines(
        c.warnings.iter().map(|w| w.to_string()).collect(),
        &[
            "t.toml:5:11: lns.peers[0].address: peer `anyone` has no secret: any host in 0.0.0.0/0 can open tunnels without authentication",
            r#"t.toml:15:19: lac.lines[0].private_account: line `b` is private to account `X`, but no subscriber of that account has a supplementary contract"#,
            r#"t.toml:16:1: lac.peers: no LAC peer serves the catch-all realm "*": logins without a realm, or with a realm no peer lists, will be refused"#,
            "t.toml:24:9: subscriber_range[0].count: 10 subscribers draw from pool `small`, which holds 4 addresses: logins beyond that are refused",
        ],
    );
}

#[test]
fn huge_ranges_with_nesting_prefixes_are_refused_not_guessed() {
    let text = "[[subscriber_range]]\nprefix = \"u\"\ncount = 2000000\nsecret = \"a\"\n[[subscriber_range]]\nprefix = \"u1\"\nfirst = 5000000\ncount = 2000000\nsecret = \"b\"\n";
    assert_lines(
        errors(text),
        &[
            "t.toml:6:10: subscriber_range[1].prefix: this range and the range at t.toml:2:10 have nesting prefixes and over a million names each, so their names cannot be checked for overlap; use prefixes that do not start with one another",
        ],
    );
    // Disjoint prefixes of any size are fine and cost nothing to check.
    let ok = "[[subscriber_range]]\nprefix = \"a\"\ncount = 50000000\nsecret = \"a\"\n[[subscriber_range]]\nprefix = \"b\"\ncount = 50000000\nsecret = \"b\"\n";
    let c = config::load_str("t.toml", ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.subscribers.len(), 100_000_000);
}
