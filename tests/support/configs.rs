//! Daemon configurations shared by several tests: both roles in one process behind a
//! subscribers' front-end, or the LAC and the LNS as two processes on the loopback of one network
//! namespace. `{dir}` stands for the daemon's own directory ([`super::Daemon::start`] fills it
//! in).

use std::path::Path;

use super::daemon_section;

/// An LNS-only daemon listening on 127.0.0.1:`port` (its own address 100.64.0.1, pool
/// 100.64.1.0/24, TUN device `tun`) that accepts any LAC from 127.0.0.0/8, with LCP echo off;
/// `tail` is appended (billing, subscribers).
pub fn loopback_lns(port: u16, tun: &str, tail: &str) -> String {
    format!(
        "{daemon}\n[ppp]\nlcp_echo_interval = \"0s\"\n\
         [lns]\nlisten = [\"127.0.0.1:{port}\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"{tun}\"\n\
         [[lns.peers]]\nname = \"lacs\"\naddress = \"127.0.0.0/8\"\n\
         [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n{tail}",
        daemon = daemon_section(Path::new("{dir}")),
    )
}

/// A LAC-only daemon with its dial-in front-end on 127.0.0.1:`dialin_port` (any CPE from
/// 127.0.0.0/8) that carries every realm over a 10G loopback line to the LNS at
/// 127.0.0.1:`lns_port`; `lac` is added to the `[lac]` table, `tail` is appended.
pub fn loopback_lac(lns_port: u16, dialin_port: u16, lac: &str, tail: &str) -> String {
    format!(
        "{daemon}\n[lac]\nsetup_timeout = \"5s\"\n{lac}\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:{lns_port}\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:{dialin_port}\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.0/8\"\n{tail}",
        daemon = daemon_section(Path::new("{dir}")),
    )
}

/// Both roles in one daemon: an LNS on 127.0.0.1:1701 (its own address 100.64.0.1, pool
/// 100.64.1.0/24 on TUN device `tun`) and a LAC that carries every realm to it over a 1G loopback
/// line (empty tunnels linger 1 s, setups time out after 3 s). `access` is the subscribers'
/// front-end (`[lac.dialin]` or `[lac.pppoe]` with what follows); subscribers `user1`…`user10`
/// with secret `demo`.
pub fn both_roles(tun: &str, access: &str) -> String {
    format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"{tun}\"\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\nempty_tunnel_linger = \"1s\"\nsetup_timeout = \"3s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         {access}\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(Path::new("{dir}")),
    )
}
