//! What a reload sees: section changes, keys that need sockets reopened, and per-subscriber
//! changes (conditions, service level, address, contract, secret), by meaning rather than by
//! position in the file. Also: the run-time path candidates for state and the control socket.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use l2tpagg::config::{self, Config, PathSetting, Section, SubscriberChange, SubscriberStatus};

const BASE: &str = r#"
[lns]
listen = ["127.0.0.1:1701"]
local_address = "10.255.0.1"
[[lns.peers]]
name = "lo"
address = "127.0.0.1"
[[lns.pools]]
name = "a"
ranges = ["10.0.0.0/24"]
default = true
[[lns.pools]]
name = "b"
ranges = ["10.1.0.0/24"]
[disconnect]
[[disconnect.profiles]]
name = "short"
idle = { time = "10m" }
[[disconnect.profiles]]
name = "long"
idle = { time = "2h" }
[[subscriber]]
name = "alice"
secret = "a"
disconnect_profile = "short"
[[subscriber]]
name = "bob"
secret = "b"
disconnect_profile = "long"
pool = "b"
[[subscriber]]
name = "carol"
secret = "c"
[[subscriber_range]]
prefix = "user"
count = 1000
secret = "demo"
service_level = "1M"
"#;

fn load(text: &str) -> Config {
    config::load_str("t.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

fn changed(c: SubscriberChange) -> SubscriberStatus {
    SubscriberStatus::Changed(c)
}

#[test]
fn an_identical_reload_changes_nothing() {
    let a = load(BASE);
    let b = load(BASE);
    let d = a.diff(&b);
    assert!(d.is_empty(), "{d:#?}");
    assert!(d.needs_reopen.is_empty());
    assert_eq!(
        a.subscriber_status(&b, "alice"),
        SubscriberStatus::Unchanged
    );
    assert_eq!(
        a.subscriber_status(&b, "user500"),
        SubscriberStatus::Unchanged
    );
    assert_eq!(a.subscriber_status(&b, "nobody"), SubscriberStatus::Unknown);
}

#[test]
fn changing_a_profile_changes_the_conditions_of_exactly_its_subscribers() {
    let a = load(BASE);
    let b = load(&BASE.replace("idle = { time = \"10m\" }", "idle = { time = \"20m\" }"));
    let d = a.diff(&b);
    assert_eq!(
        d.changed_sections,
        vec![Section::Disconnect, Section::Subscribers]
    );
    assert_eq!(
        d.subscribers.changed,
        vec![(
            Arc::from("alice"),
            SubscriberChange {
                conditions: true,
                ..Default::default()
            }
        )]
    );
    assert!(!d.subscribers.ranges_changed);
    assert_eq!(a.subscriber_status(&b, "bob"), SubscriberStatus::Unchanged);
    // The new conditions are there to apply.
    let alice = b.subscribers.get("alice").unwrap();
    assert_eq!(
        alice
            .settings
            .disconnect
            .idle
            .as_ref()
            .unwrap()
            .time
            .as_secs(),
        1200
    );
}

#[test]
fn switching_profile_and_inline_conditions_are_condition_changes() {
    let a = load(BASE);
    let text = BASE
        .replace(
            "name = \"bob\"\nsecret = \"b\"\ndisconnect_profile = \"long\"",
            "name = \"bob\"\nsecret = \"b\"\ndisconnect_profile = \"short\"",
        )
        .replace(
            "name = \"carol\"\nsecret = \"c\"",
            "name = \"carol\"\nsecret = \"c\"\ndisconnect = { session_time = \"1h\" }",
        );
    let b = load(&text);
    let cond = SubscriberChange {
        conditions: true,
        ..Default::default()
    };
    assert_eq!(a.subscriber_status(&b, "bob"), changed(cond));
    assert_eq!(a.subscriber_status(&b, "carol"), changed(cond));
    assert_eq!(
        a.subscriber_status(&b, "alice"),
        SubscriberStatus::Unchanged
    );
}

#[test]
fn service_level_secret_contract_and_address_changes_are_told_apart() {
    let a = load(BASE);
    let text = BASE.replace(
        "name = \"carol\"\nsecret = \"c\"",
        "name = \"carol\"\nsecret = \"c2\"\nservice_level = \"50M\"\npool = \"b\"\ncontract = { consolidation = true }",
    );
    let b = load(&text);
    assert_eq!(
        a.subscriber_status(&b, "carol"),
        changed(SubscriberChange {
            secret: true,
            service_level: true,
            address: true,
            contract: true,
            ..Default::default()
        })
    );
}

#[test]
fn reordering_pools_is_not_an_address_change() {
    let a = load(BASE);
    let swapped = BASE.replace(
        "[[lns.pools]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\ndefault = true\n[[lns.pools]]\nname = \"b\"\nranges = [\"10.1.0.0/24\"]\n",
        "[[lns.pools]]\nname = \"b\"\nranges = [\"10.1.0.0/24\"]\n[[lns.pools]]\nname = \"a\"\nranges = [\"10.0.0.0/24\"]\ndefault = true\n",
    );
    assert_ne!(swapped, BASE);
    let b = load(&swapped);
    // Pool IDs moved, meanings did not.
    assert_ne!(
        a.lns.pool_by_name("b").unwrap().id,
        b.lns.pool_by_name("b").unwrap().id
    );
    let d = a.diff(&b);
    assert!(d.subscribers.changed.is_empty(), "{d:#?}");
    assert!(!d.changed_sections.contains(&Section::Subscribers));
    // A pool whose addresses change is an address change for its subscribers.
    let c = load(&BASE.replace("ranges = [\"10.1.0.0/24\"]", "ranges = [\"10.2.0.0/24\"]"));
    assert_eq!(
        a.subscriber_status(&c, "bob"),
        changed(SubscriberChange {
            address: true,
            ..Default::default()
        })
    );
}

#[test]
fn added_removed_and_range_members() {
    let a = load(BASE);
    let text = BASE
        .replace(
            "[[subscriber]]\nname = \"carol\"\nsecret = \"c\"\n",
            "[[subscriber]]\nname = \"dave\"\nsecret = \"d\"\n",
        )
        .replace("service_level = \"1M\"", "service_level = \"2M\"");
    let b = load(&text);
    let d = a.diff(&b);
    assert_eq!(d.subscribers.added, vec![Arc::from("dave")]);
    assert_eq!(d.subscribers.removed, vec![Arc::from("carol")]);
    assert!(d.subscribers.ranges_changed);
    assert_eq!(a.subscriber_status(&b, "carol"), SubscriberStatus::Removed);
    assert_eq!(a.subscriber_status(&b, "dave"), SubscriberStatus::Added);
    assert_eq!(
        a.subscriber_status(&b, "user999"),
        changed(SubscriberChange {
            service_level: true,
            ..Default::default()
        })
    );
    // Shrinking a range removes its tail.
    let c = load(&BASE.replace("count = 1000", "count = 10"));
    assert_eq!(a.subscriber_status(&c, "user11"), SubscriberStatus::Removed);
    assert_eq!(
        a.subscriber_status(&c, "user10"),
        SubscriberStatus::Unchanged
    );
    assert!(a.diff(&c).subscribers.ranges_changed);
}

#[test]
fn socket_and_device_changes_are_flagged() {
    let a = load(BASE);
    let text = BASE.replace(
        "listen = [\"127.0.0.1:1701\"]",
        "listen = [\"127.0.0.1:1711\"]",
    ) + "[lns.tun]\nname = \"agg1\"\n";
    let b = load(&text);
    let d = a.diff(&b);
    assert_eq!(d.needs_reopen, vec!["lns.listen", "lns.tun"]);
    assert_eq!(d.changed_sections, vec![Section::Lns]);
}

#[test]
fn clones_share_the_subscriber_table() {
    let a = config::embedded_default();
    let b = a.clone();
    assert!(Arc::ptr_eq(&a.subscribers, &b.subscribers));
    assert!(a.diff(&b).is_empty());
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn state_dir_candidates_work_without_root() {
    let c = config::embedded_default();
    let user = env(&[("HOME", "/home/ann"), ("XDG_RUNTIME_DIR", "/run/user/1000")]);
    assert_eq!(
        c.daemon.state_dir_candidates(&user, 1000),
        vec![
            PathBuf::from("/home/ann/.local/state/l2tpagg"),
            PathBuf::from("/tmp/l2tpagg-1000/state")
        ]
    );
    assert_eq!(
        c.daemon.ctl_socket_candidates(&user, 1000),
        vec![
            PathBuf::from("/run/user/1000/l2tpagg/ctl.sock"),
            PathBuf::from("/tmp/l2tpagg-1000/ctl.sock")
        ]
    );
    // Under systemd (StateDirectory=l2tpagg, RuntimeDirectory=l2tpagg) as root.
    let unit = env(&[
        ("STATE_DIRECTORY", "/var/lib/l2tpagg"),
        ("RUNTIME_DIRECTORY", "/run/l2tpagg"),
    ]);
    assert_eq!(
        c.daemon.state_dir_candidates(&unit, 0)[0],
        PathBuf::from("/var/lib/l2tpagg")
    );
    assert_eq!(
        c.daemon.ctl_socket_candidates(&unit, 0)[0],
        PathBuf::from("/run/l2tpagg/ctl.sock")
    );
    // Root without systemd.
    let bare = env(&[]);
    assert_eq!(
        c.daemon.state_dir_candidates(&bare, 0)[0],
        PathBuf::from("/var/lib/l2tpagg")
    );
    assert_eq!(
        config::default_ctl_socket_candidates(&bare, 0)[0],
        PathBuf::from("/run/l2tpagg/ctl.sock")
    );
    // Relative or empty variables are ignored.
    let odd = env(&[("XDG_STATE_HOME", "relative/dir"), ("HOME", "")]);
    assert_eq!(
        c.daemon.state_dir_candidates(&odd, 5),
        vec![PathBuf::from("/tmp/l2tpagg-5/state")]
    );
}

#[test]
fn configured_paths_are_used_as_given_and_relative_ones_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l2tpagg.toml");
    std::fs::write(
        &path,
        "[daemon]\nstate_dir = \"state\"\nctl_socket = \"/run/custom.sock\"\n",
    )
    .unwrap();
    let c = config::load_file(&path).unwrap();
    assert_eq!(
        c.daemon.state_dir,
        PathSetting::Path(dir.path().join("state"))
    );
    let none = env(&[]);
    assert_eq!(
        c.daemon.ctl_socket_candidates(&none, 0),
        vec![PathBuf::from("/run/custom.sock")]
    );
}
