//! Private-line grouping through a real process (seed 000 claims 17-19; needs root): a LAC with a
//! public line and a line private to paying account ACME. ACME's users, who have the
//! supplementary contract, are carried together on the private line and nobody else is; after
//! they log out, `l2tpagg billing invoice` bills ACME one invoice with each user's line and the
//! supplementary contract fee, and the operator statement shows both lines' tunnels.
//!
//! The subscribers are `l2tpagg loadgen` processes dialling in over L2TP, as an operator would
//! run them. LAC and LNS share one process in a network namespace the test creates.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Daemon, binary, daemon_section, netns};

const T: Duration = Duration::from_secs(20);
const FIXED_FEE: u64 = 5000;

fn config() -> String {
    format!(
        "{}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tppl0\"\n\
         [[lns.peers]]\nname = \"lac\"\naddress = \"127.0.0.0/8\"\n\
         [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\n\
         [[lac.lines]]\nname = \"public\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
         [[lac.lines]]\nname = \"acme-private\"\nbind = \"127.0.0.2\"\ncapacity = \"10G\"\n\
         private_account = \"ACME\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
         [[subscriber_range]]\nprefix = \"acme\"\ncount = 3\nsecret = \"demo\"\n\
         contract = {{ account = \"ACME\", consolidation = true, supplementary = true, plan = \"flat\" }}\n\
         [[subscriber_range]]\nprefix = \"user\"\ncount = 3\nsecret = \"demo\"\n\
         contract = {{ consolidation = true, plan = \"flat\" }}\n\
         [billing.tariff]\nsupplementary_fee = {{ fixed = {FIXED_FEE} }}\n\
         [[billing.plans]]\nname = \"flat\"\nmonthly = 1000\n",
        daemon_section(std::path::Path::new("{dir}")),
    )
}

/// Three subscribers `{prefix}1..3` logged in by a load generator that holds them `hold` seconds.
fn subscribers(ns: &str, prefix: &str, hold: u32) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, binary(), "loadgen"])
        .args(["--l2tp", "127.0.0.1:1702", "--subscribers", "3"])
        .args(["--user", &format!("{prefix}{{n}}"), "--password", "demo"])
        .args(["--hold", &hold.to_string(), "--traffic-rate", "0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn l2tpagg loadgen")
}

fn finished(child: Child) -> Value {
    let out = child.wait_with_output().expect("loadgen exits");
    assert!(out.status.success(), "loadgen failed: {out:?}");
    serde_json::from_slice(&out.stdout).expect("loadgen --json prints JSON")
}

#[test]
fn an_accounts_users_share_its_private_line_and_one_invoice() {
    let ns = netns("privline");
    let daemon = Daemon::start("lacns", Some(ns.name()), &config());
    let acme = subscribers(ns.name(), "acme", 4);
    let others = subscribers(ns.name(), "user", 4);

    let sessions = daemon.wait_rows(&["sessions"], T, |rows| {
        rows.iter()
            .filter(|r| r["role"] == "lac" && r["state"] == "established")
            .count()
            == 6
    });
    let tunnels = daemon.rows(&["tunnels"]);
    let line_of = |tunnel: &Value| {
        tunnels
            .iter()
            .find(|t| t["role"] == "lac" && t["local_tunnel_id"] == *tunnel)
            .and_then(|t| t["line"].as_str())
            .unwrap_or_else(|| panic!("no LAC tunnel {tunnel} in {tunnels:?}"))
            .to_owned()
    };
    for s in sessions.iter().filter(|r| r["role"] == "lac") {
        let who = s["subscriber"].as_str().unwrap();
        let line = line_of(&s["local_tunnel_id"]);
        let want = if who.starts_with("acme") {
            "acme-private"
        } else {
            "public"
        };
        assert_eq!(line, want, "{who} runs on {line}: {sessions:?}");
    }
    // Kept together: one tunnel carries all three of ACME's sessions.
    let acme_tunnels: std::collections::BTreeSet<String> = sessions
        .iter()
        .filter(|r| r["role"] == "lac" && r["subscriber"].as_str().unwrap().starts_with("acme"))
        .map(|r| r["local_tunnel_id"].to_string())
        .collect();
    assert_eq!(acme_tunnels.len(), 1, "{sessions:?}");

    for run in [finished(acme), finished(others)] {
        assert_eq!(run["up"], 3, "{run}");
    }
    daemon.wait_rows(&["sessions"], T, |rows| rows.is_empty());

    // The stop records are on disk once the group commit ran; the invoice reads only the ledger.
    let today = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    let period = today.format("%Y-%m").to_string();
    let invoice = support::wait_for(T, || {
        let out = Command::new(binary())
            .args(["billing", "invoice", "--json", "--period", &period])
            .arg("--config")
            .arg(&daemon.config_path)
            .output()
            .expect("run l2tpagg billing invoice");
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("invoice JSON");
        let acme = v["accounts"]
            .as_array()?
            .iter()
            .find(|a| a["account"] == "ACME")?
            .clone();
        (acme["users"].as_array()?.len() == 3).then_some((v, acme))
    });
    let (invoice, acme) = invoice.expect("ACME's invoice with its three users");
    let users: Vec<&str> = acme["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["subscriber"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["acme1", "acme2", "acme3"], "{acme}");
    assert!(
        acme["contract_fee"]
            .to_string()
            .contains(&FIXED_FEE.to_string()),
        "supplementary fee on ACME's invoice: {acme}"
    );
    // The other subscribers are their own accounts, without a contract fee.
    for n in 1..=3 {
        let account = format!("user{n}");
        let a = invoice["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == account.as_str())
            .unwrap_or_else(|| panic!("no invoice for {account}: {invoice}"));
        assert!(a["contract_fee"].is_null(), "{a}");
    }
    let operator = invoice["operator"].to_string();
    assert!(
        operator.contains("acme-private") && operator.contains("public"),
        "both lines' tunnels in the operator statement: {operator}"
    );
}
