//! Configuration reload (SIGHUP, `ctl reload`): re-read the file, refuse a bad one with the same
//! messages as `l2tpagg check` (the old configuration stays), otherwise adopt it without dropping a
//! session.
//!
//! Owns: deciding what a new configuration changes now. Applied at once: the subscriber table (new
//! logins), PPP settings (new links), the LNS and dial-in allow-lists and tunnel parameters (new
//! tunnels), address pools (live leases and addresses held for a resume kept), lines and LNS peers
//! new to the planner, and the disconnect settings: the service table, the sampling interval,
//! resume bounds, and changed conditions of live sessions' subscribers (`disconnect.rs`). Needs a
//! restart (logged as such): listen addresses, line addresses and devices, the TUN device, the ctl socket, the
//! state directory, and changes to lines or peers the planner already knows.
//!
//! Must not touch: live sessions (they keep the settings they logged in with), except their
//! disconnect conditions, which apply from the reload on (issue 7).

use std::sync::Arc;
use std::time::Instant;

use super::Actor;
use super::endpoint::base_tunnel_config;
use crate::config::{self, Config};

impl Actor {
    /// Reloads; `Ok` carries a one-line summary, `Err` every problem of the new file.
    pub(super) fn reload(&mut self, now: Instant) -> Result<String, String> {
        let origin = self.config_path.as_ref().map_or_else(
            || config::EMBEDDED_DEFAULT_ORIGIN.to_owned(),
            |p| p.display().to_string(),
        );
        let loaded = match &self.config_path {
            Some(path) => config::load_file(path),
            None => config::load_str(config::EMBEDDED_DEFAULT_ORIGIN, config::EMBEDDED_DEFAULT),
        };
        let new = match loaded {
            Ok(c) => c,
            Err(errors) => {
                let text = errors.to_string();
                tracing::warn!(
                    config = %origin, count = errors.errors.len(), errors = %text,
                    "config reload refused; the running configuration stays"
                );
                return Err(text);
            }
        };
        for warning in &new.warnings {
            tracing::warn!(config = %origin, "{warning}");
        }
        let diff = self.config.diff(&new);
        if diff.is_empty() {
            tracing::info!(config = %origin, "config reloaded: no change");
            self.config_loaded_at = self.wall(now);
            return Ok(format!("{origin}: reloaded, nothing changed"));
        }
        let new = Arc::new(new);
        self.apply_config(now, &new);
        let sections: Vec<String> = diff
            .changed_sections
            .iter()
            .map(|s| format!("{s:?}").to_lowercase())
            .collect();
        for key in &diff.needs_reopen {
            tracing::warn!(config = %origin, key, "changed setting needs a restart to take effect");
        }
        tracing::info!(
            config = %origin,
            changed = %sections.join(","),
            subscribers_added = diff.subscribers.added.len(),
            subscribers_removed = diff.subscribers.removed.len(),
            subscribers_changed = diff.subscribers.changed.len(),
            needs_restart = %diff.needs_reopen.join(","),
            "config reloaded"
        );
        self.config_loaded_at = self.wall(now);
        let mut summary = format!("{origin}: reloaded; changed: {}", sections.join(", "));
        if !diff.needs_reopen.is_empty() {
            summary.push_str(&format!(
                "; needs a restart to take effect: {}",
                diff.needs_reopen.join(", ")
            ));
        }
        Ok(summary)
    }

    fn apply_config(&mut self, now: Instant, new: &Arc<Config>) {
        self.pppoe_reconfigure(new);
        if let Ok(mut p) = self.lns_policy.lock() {
            p.peers = new.lns.peers.clone();
            p.base = base_tunnel_config(new, u32::from(new.lns.max_sessions_per_tunnel));
        }
        if let Ok(mut p) = self.dialin_policy.lock() {
            p.peers = new.lac.dialin.peers.clone();
            p.base = base_tunnel_config(new, u32::from(new.lac.dialin.max_sessions_per_tunnel));
        }
        let mut leases: Vec<_> = self.lns.sessions.values().filter_map(|s| s.lease).collect();
        let keys: Vec<u32> = self
            .lns
            .sessions
            .iter()
            .filter(|(_, s)| s.lease.is_some())
            .map(|(k, _)| *k)
            .collect();
        let live = leases.len();
        leases.extend(self.disconnect.held_leases());
        let moved = self.lns.pools.reconfigure(&new.lns, &leases);
        self.disconnect
            .repoint_held(&moved[live.min(moved.len())..]);
        for (key, lease) in keys.into_iter().zip(moved) {
            if let Some(s) = self.lns.sessions.get_mut(&key) {
                s.lease = Some(lease);
            }
        }
        let old = std::mem::replace(&mut self.config, new.clone());
        self.disconnect_reload(now, &old, new);
        self.lac.register(new, &mut self.planner, now);
        self.apply_routes();
    }

    /// Brings the TUN routes in line with the pools and static addresses in force.
    fn apply_routes(&self) {
        let Some(routes) = &self.routes else {
            return;
        };
        if !self.config.lns.tun.manage_routes {
            return;
        }
        let want = super::lns_routes(&self.config);
        let have = routes.installed();
        for net in have.iter().filter(|n| !want.contains(n)) {
            match routes.remove(*net) {
                Ok(()) => tracing::info!(route = %net, "route removed"),
                Err(e) => tracing::warn!(route = %net, error = %e, "cannot remove route"),
            }
        }
        for net in want.iter().filter(|n| !have.contains(n)) {
            match routes.add(*net) {
                Ok(()) => tracing::info!(route = %net, "route added"),
                Err(e) => tracing::warn!(route = %net, error = %e, "cannot add route"),
            }
        }
    }
}
