//! tshark as the independent judge of what we put on the wire (`l2tp_pcap` for the simulated
//! exchange, `interop_tshark` for the running daemon): running it, loading our dissector for our
//! vendor AVPs, and the checks both make of its output.

use std::path::Path;
use std::process::Command;

use l2tpagg::wire::DEFAULT_VENDOR_ID;
use l2tpagg::wire::avp::wireshark_dissector;

/// The control messages every capture of a complete exchange shows, by tshark's names.
pub const CONTROL_MESSAGES: [&str; 8] = [
    "Start_Control_Request",
    "Start_Control_Reply",
    "Start_Control_Connected",
    "Incoming_Call_Request",
    "Incoming_Call_Reply",
    "Incoming_Call_Connected",
    "Call_Disconnect_Notification",
    "Stop_Control_Notification",
];

/// Runs `tshark ARGS`; panics (naming how to install it) when tshark is missing or fails.
pub fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().unwrap_or_else(|e| {
        panic!("tshark is required for this test (apt-get install tshark; .ci/run installs it): {e}")
    });
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes our Wireshark dissector into `dir` and returns the `-X` argument that loads it.
pub fn dissector_arg(dir: &Path) -> String {
    let lua = dir.join("l2tpagg.lua");
    std::fs::write(&lua, wireshark_dissector(DEFAULT_VENDOR_ID)).unwrap();
    format!("lua_script:{}", lua.display())
}

/// Asserts that tshark's verbose decode (`-V`) has no malformed packet and shows every one of
/// [`CONTROL_MESSAGES`] and of `expected`.
pub fn assert_decodes(verbose: &str, expected: &[&str]) {
    assert!(
        !verbose.contains("Malformed"),
        "tshark found a malformed packet:\n{verbose}"
    );
    for expected in CONTROL_MESSAGES.iter().chain(expected) {
        assert!(
            verbose.contains(expected),
            "tshark output lacks {expected:?}:\n{verbose}"
        );
    }
}

/// The expert-info sections tshark printed (`-z expert`), as (severity, count) pairs.
pub fn expert_sections(report: &str) -> Vec<(String, u32)> {
    report
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(" (")?;
            let n = rest.strip_suffix(')')?.parse().ok()?;
            Some((name.to_string(), n))
        })
        .collect()
}

/// Asserts that an expert report (`-z expert`) has no item of severity warning or worse.
pub fn assert_no_expert_warnings(expert: &str) {
    let bad: Vec<_> = expert_sections(expert)
        .into_iter()
        .filter(|(s, n)| (s == "Errors" || s == "Warns") && *n > 0)
        .collect();
    assert!(
        bad.is_empty(),
        "tshark expert items of severity warning or worse:\n{expert}"
    );
}
