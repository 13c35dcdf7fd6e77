//! Running code inside a named network namespace, from a dedicated OS thread.
//!
//! Owns: nothing persistent. Must not touch: the calling thread's namespace, tokio worker threads.
//!
//! `setns(CLONE_NEWNET)` moves only the calling thread, and everything that thread creates
//! afterwards (sockets, TUN devices, interface and route ioctls) lives in the namespace. So each call
//! spawns a fresh scoped thread, moves it, runs the closure and ends the thread: the namespace never
//! leaks into a thread pool. The namespace tests of this crate use it (rather than re-executing the
//! test binary under `ip netns exec`) because it keeps each test one ordinary function, with
//! assertions in the same process; the loader of issue 4/5 end-to-end tests can do the same.

use std::fs::File;
use std::future::Future;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::RuntimeError;
use crate::sys;

/// Where `ip netns add NAME` puts the namespace handle.
pub fn netns_path(name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else {
        Path::new("/run/netns").join(name)
    }
}

/// Runs `f` on a new thread inside network namespace `name` (a name under /run/netns or a path
/// such as /proc/PID/ns/net) and returns its result. A panic in `f` propagates to the caller.
pub fn run_in_netns<F, T>(name: &str, f: F) -> Result<T, RuntimeError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let path = netns_path(name);
    let err = |source| RuntimeError::Netns {
        name: name.to_owned(),
        source,
    };
    let handle = File::open(&path).map_err(err)?;
    std::thread::scope(|scope| {
        let joined = scope
            .spawn(move || {
                sys::enter_netns(handle.as_fd())?;
                drop(handle);
                Ok(f())
            })
            .join();
        match joined {
            Ok(result) => result.map_err(err),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs the future made by `make` to completion on a current-thread tokio runtime (timers and IO
/// enabled) inside network namespace `name`.
pub fn block_on_in_netns<F, Fut, T>(name: &str, make: F) -> Result<T, RuntimeError>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = T>,
    T: Send,
{
    run_in_netns(name, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(make()))
    })?
    .map_err(|source| RuntimeError::Netns {
        name: name.to_owned(),
        source,
    })
}

/// A network namespace created with `ip netns add` and deleted (with every interface in it) on
/// drop. For tests and tools that need an isolated network; the daemon itself never creates one.
/// Needs root and iproute2; failures say so.
#[derive(Debug)]
pub struct NamedNetns {
    name: String,
}

impl NamedNetns {
    /// Creates namespace `name` (replacing a leftover of the same name from a crashed run) and
    /// brings its loopback up.
    pub fn create(name: &str) -> Result<Self, RuntimeError> {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .output();
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip_on_host(&["netns", "add", name])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME ARGS…` and returns its stdout; a non-zero exit is an error carrying stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String, RuntimeError> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        self.ip_on_host(&full)
    }

    fn ip_on_host(&self, args: &[&str]) -> Result<String, RuntimeError> {
        let err = |source| RuntimeError::Netns {
            name: self.name.clone(),
            source,
        };
        let output = std::process::Command::new("ip")
            .args(args)
            .output()
            .map_err(|e| {
                err(std::io::Error::new(
                    e.kind(),
                    format!("cannot run `ip` (install iproute2): {e}"),
                ))
            })?;
        if !output.status.success() {
            return Err(err(std::io::Error::other(format!(
                "`ip {}` failed ({}): {} (needs root)",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// [`run_in_netns`] in this namespace.
    pub fn run<F, T>(&self, f: F) -> Result<T, RuntimeError>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        run_in_netns(&self.name, f)
    }

    /// [`block_on_in_netns`] in this namespace.
    pub fn block_on<F, Fut, T>(&self, make: F) -> Result<T, RuntimeError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = T>,
        T: Send,
    {
        block_on_in_netns(&self.name, make)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
