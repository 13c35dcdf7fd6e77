//! The rate-limited logger for malformed input: at most N lines per kind per interval, then one
//! "suppressed K similar" summary, driven by tokio's paused clock and captured by a test writer.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use l2tpagg::runtime::logging::RateLimitedLog;
use l2tpagg::runtime::shutdown::ShutdownCoordinator;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
    fn take(&self) -> Vec<String> {
        let lines = self.lines();
        self.0.lock().unwrap().clear();
        lines
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

#[tokio::test(start_paused = true)]
async fn at_most_n_lines_per_interval_then_a_summary() {
    let (captured, _guard) = capture();
    let log = RateLimitedLog::new(3, Duration::from_secs(1));

    for i in 0..50 {
        log.warn(
            "l2tp.truncated_header",
            format_args!("truncated header from 192.0.2.{i}"),
        );
    }
    let lines = captured.take();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("truncated header from 192.0.2.0"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("kind=\"l2tp.truncated_header\""),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains("192.0.2.2"));

    // Another kind is not held back by the first one's flood.
    log.warn("pppoe.bad_tag", "bad tag length");
    assert_eq!(captured.take().len(), 1);

    // Half a window later: still suppressed.
    tokio::time::advance(Duration::from_millis(500)).await;
    log.warn("l2tp.truncated_header", "still flooding");
    assert!(captured.take().is_empty());

    // Next window: the summary comes first, then the new line.
    tokio::time::advance(Duration::from_millis(500)).await;
    log.warn("l2tp.truncated_header", "after the window");
    let lines = captured.take();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("suppressed 48 similar l2tp.truncated_header messages in the last 1s"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("after the window"));
    assert_eq!(log.total("l2tp.truncated_header"), 52);
    assert_eq!(log.totals().get("pppoe.bad_tag"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn the_flusher_reports_a_flood_that_stopped() {
    let (captured, _guard) = capture();
    let log = Arc::new(RateLimitedLog::new(2, Duration::from_secs(10)));
    let coordinator = ShutdownCoordinator::new();
    let flusher = tokio::spawn(log.clone().run_flusher(coordinator.listener()));

    for _ in 0..9 {
        log.warn("l2tp.unknown_tunnel", "unknown tunnel 4711");
    }
    assert_eq!(captured.take().len(), 2);

    // Nothing more arrives; the periodic flush still reports the 7 suppressed lines once.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let lines = captured.take();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("suppressed 7 similar l2tp.unknown_tunnel messages in the last 10s"),
        "{}",
        lines[0]
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(captured.take().is_empty(), "summaries are not repeated");

    // On shutdown the flusher reports what is pending, regardless of the window, and ends.
    for _ in 0..5 {
        log.warn("l2tp.unknown_tunnel", "unknown tunnel 4711");
    }
    assert_eq!(captured.take().len(), 2);
    coordinator.trigger();
    flusher.await.unwrap();
    let lines = captured.take();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("suppressed 3 similar"), "{}", lines[0]);
}
