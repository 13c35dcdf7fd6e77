//! `l2tpagg loadgen`'s command line: its defaults are the embedded default configuration's
//! dial-in address and demo subscribers, so `l2tpagg run` in one terminal and `l2tpagg loadgen`
//! in another need no arguments; bad arguments exit 2 before anything is sent.

use std::net::SocketAddr;
use std::process::Command;

use clap::Parser;
use l2tpagg::loadgen::{AuthChoice, LoadgenOptions, TransportOptions};
use l2tpagg::runtime::entry::LoadgenArgs;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadgenArgs,
}

fn parse(args: &[&str]) -> LoadgenArgs {
    let mut argv = vec!["loadgen"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("arguments parse").args
}

#[test]
fn defaults_dial_the_embedded_default_as_its_demo_subscribers() {
    let config = l2tpagg::config::embedded_default();
    let options = parse(&[]).to_options().unwrap();
    options.validate().unwrap();

    let TransportOptions::L2tp(l2tp) = &options.transport else {
        panic!("L2TP dial-in by default");
    };
    assert!(
        config.lac.dialin.listen.contains(&l2tp.server),
        "default --l2tp {} is not where the embedded default listens ({:?})",
        l2tp.server,
        config.lac.dialin.listen
    );
    assert!(
        config
            .lac
            .dialin
            .peers
            .iter()
            .any(|p| p.network.contains(&l2tp.server.ip()) && p.secret.is_none()),
        "the embedded default admits our tunnels without a secret"
    );
    // `--subscribers 1000`, the README's quick start, logs in as user1..user1000 / demo, all of
    // which the embedded default knows.
    let options = parse(&["--subscribers", "1000"]).to_options().unwrap();
    assert_eq!(options.subscribers, 1000);
    for n in [options.first, options.first + options.subscribers - 1] {
        let name = options.user.expand(n);
        let sub = config
            .subscribers
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not in the embedded default"));
        assert_eq!(
            sub.secret.cleartext(),
            Some(options.password.expand(n).as_bytes()),
            "{name}"
        );
    }
    // The CLI defaults are the library's defaults.
    let lib = LoadgenOptions::default();
    assert_eq!(options.user, lib.user);
    assert_eq!(options.password, lib.password);
    assert_eq!(options.first, lib.first);
    assert_eq!(options.rate, lib.rate);
    assert_eq!(options.concurrency, lib.concurrency);
    assert_eq!(options.hold, lib.hold);
    assert_eq!(options.setup_timeout, lib.setup_timeout);
    assert_eq!(options.traffic, lib.traffic);
    assert_eq!(options.auth, AuthChoice::Chap);
    assert_eq!(options.transport, lib.transport);
}

#[test]
fn arguments_map_onto_options() {
    let o = parse(&[
        "--pppoe",
        "veth1",
        "--subscribers",
        "50",
        "--first",
        "1001",
        "--rate",
        "0",
        "--hold",
        "0",
        "--traffic-rate",
        "0",
        "--user",
        "cpe{n}@isp.example",
        "--password",
        "pw{n}",
        "--auth",
        "pap",
        "--service-name",
        "internet",
    ])
    .to_options()
    .unwrap();
    o.validate().unwrap();
    match &o.transport {
        TransportOptions::Pppoe(p) => {
            assert_eq!(p.interface, "veth1");
            assert_eq!(p.service_name, "internet");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(o.first, 1001);
    assert!(o.rate.is_infinite(), "--rate 0 means unlimited");
    assert_eq!(o.hold, None, "--hold 0 means until interrupted");
    assert_eq!(o.traffic, None, "--traffic-rate 0 means no traffic");
    assert_eq!(o.user.expand(1001), "cpe1001@isp.example");
    assert_eq!(o.password.expand(7), "pw7");
    assert_eq!(o.auth, AuthChoice::Pap);

    let o = parse(&[
        "--l2tp",
        "192.0.2.1:1702",
        "--sessions-per-tunnel",
        "10",
        "--tunnel-secret",
        "s3cret",
        "--hostname",
        "cpe-lac",
        "--target",
        "198.51.100.7",
        "--target-port",
        "9",
        "--packet-size",
        "1000",
        "--subscribers",
        "95",
    ])
    .to_options()
    .unwrap();
    o.validate().unwrap();
    let TransportOptions::L2tp(l) = &o.transport else {
        panic!()
    };
    assert_eq!(l.server, "192.0.2.1:1702".parse::<SocketAddr>().unwrap());
    assert_eq!(l.secret.as_deref(), Some(&b"s3cret"[..]));
    assert_eq!(l.host_name, "cpe-lac");
    assert_eq!(o.tunnel_slots(), 10);
    let t = o.traffic.unwrap();
    assert_eq!(t.target, Some("198.51.100.7".parse().unwrap()));
    assert_eq!((t.port, t.payload), (9, 1000));

    assert!(parse(&["--user", "user{N}"]).to_options().is_err());
    assert!(
        parse(&["--hold=-1"]).to_options().is_err(),
        "negative seconds"
    );
    assert!(Cli::try_parse_from(["loadgen", "--pppoe", "x", "--l2tp", "127.0.0.1:1"]).is_err());
}

#[test]
fn invalid_arguments_exit_2_without_sending() {
    for args in [
        &["--subscribers", "0"][..],
        &["--packet-size", "1500"],
        &["--user", "user{x}"],
        &["--concurrency", "0"],
        &["--pppoe", "lo", "--first", "16777215", "--subscribers", "2"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_l2tpagg"))
            .arg("loadgen")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("l2tpagg loadgen:"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
