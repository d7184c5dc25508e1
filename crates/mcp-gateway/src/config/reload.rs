//! What a reload may change at once, and what only a restart can: [`reloadable`] keeps the
//! running value of every restart-only key and names the ones the new file changed.

use super::Config;

/// A new configuration as a reload applies it.
#[derive(Debug)]
pub struct Reloaded {
    /// The new file's configuration, with the running value of every restart-only key.
    pub config: Config,
    /// The restart-only keys whose value in the new file differs from the running one (kept
    /// until the next restart), in file order.
    pub restart_required: Vec<&'static str>,
}

/// Services added, removed and changed by a reload (by name, sorted).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ServiceChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Services whose spawn spec (command, env, sandbox, timeouts, pool, ...) changed.
    pub changed: Vec<String>,
}

impl ServiceChanges {
    pub fn between(old: &Config, new: &Config) -> Self {
        let mut changes = Self::default();
        for (name, service) in &new.services {
            match old.services.get(name) {
                None => changes.added.push(name.clone()),
                Some(before) if before != service => changes.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        changes.removed = (old.services.keys())
            .filter(|name| !new.services.contains_key(*name))
            .cloned()
            .collect();
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// `new` as a reload applies it on top of the running `old`: services, credentials and keys,
/// rate limits, traffic policy, session limits and timeouts and the MCP front door's naming
/// apply at once; what the listener, the sandbox's layout, the log, the audit log, traces,
/// the cluster or the rate limits' storage were built from keeps its running value.
pub fn reloadable(old: &Config, mut new: Config) -> Reloaded {
    let mut restart_required = Vec::new();
    macro_rules! keep {
        ($key:literal, $($field:tt)+) => {
            if old.$($field)+ != new.$($field)+ {
                restart_required.push($key);
                new.$($field)+ = old.$($field)+.clone();
            }
        };
    }
    keep!("server.host", server.host);
    keep!("server.port", server.port);
    keep!("server.tls_cert", server.tls);
    keep!("server.max_connections", server.max_connections);
    keep!("server.max_body_bytes", server.max_body_bytes);
    keep!("server.header_read_timeout", server.header_read_timeout);
    keep!("server.shutdown_grace", server.shutdown_grace);
    keep!("session.sandbox_dir", session.sandbox_dir);
    keep!("session.child_uids", session.child_uids);
    keep!("session.cleanup_interval", session.cleanup_interval);
    keep!("rate_limiting.storage_uri", rate_limiting.storage_uri);
    keep!(
        "rate_limiting.storage_timeout",
        rate_limiting.storage_timeout
    );
    keep!("rate_limiting.fail_open", rate_limiting.fail_open);
    keep!("logging", logging);
    keep!("metrics", metrics);
    keep!("audit", audit);
    keep!("telemetry", telemetry);
    keep!("cluster", cluster);
    // A changed `auth.oauth` applies (its verifier is replaced); adding or removing it
    // changes the routes served, which only a restart does.
    if old.traffic.oauth.is_some() != new.traffic.oauth.is_some() {
        restart_required.push("auth.oauth");
        new.traffic.oauth = old.traffic.oauth.clone();
    }
    new.source = old.source.clone();
    Reloaded {
        config: new,
        restart_required,
    }
}
