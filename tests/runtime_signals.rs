//! Signals as daemon events. Its own test binary (own process), because it signals itself.

use std::time::Duration;

use l2tpagg::runtime::signals::{SignalEvent, Signals};

fn kill(signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &std::process::id().to_string()])
        .status()
        .expect("run kill(1)");
    assert!(status.success());
}

#[tokio::test]
async fn hup_reloads_term_and_int_shut_down() {
    let mut signals = Signals::install().unwrap();
    for (signal, expected) in [
        ("-HUP", SignalEvent::Reload),
        ("-TERM", SignalEvent::Shutdown { signal: "SIGTERM" }),
        ("-INT", SignalEvent::Shutdown { signal: "SIGINT" }),
        ("-HUP", SignalEvent::Reload),
    ] {
        kill(signal);
        let got = tokio::time::timeout(Duration::from_secs(5), signals.recv())
            .await
            .unwrap_or_else(|_| panic!("no event for {signal}"));
        assert_eq!(got, expected, "{signal}");
    }
}
