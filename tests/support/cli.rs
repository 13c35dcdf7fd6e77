//! The `l2tpagg` binary as a one-shot command (`check`, `run` refusing a configuration,
//! `billing`, help and usage errors), the way an operator types it.

use std::process::{Command, Output};

use super::binary;

/// Runs `l2tpagg ARGS` (without `RUST_LOG` from the test's environment) to completion.
pub fn l2tpagg(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run l2tpagg")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A configuration file `bad.toml` with given contents in a fresh temporary directory (deleted
/// on drop), for the commands that read it.
pub struct ConfigFile {
    _dir: tempfile::TempDir,
    /// Its path, as the messages name it (`PATH:LINE:COL: …`).
    pub path: String,
}

impl ConfigFile {
    pub fn new(contents: &str) -> ConfigFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, contents).unwrap();
        ConfigFile {
            path: path.display().to_string(),
            _dir: dir,
        }
    }

    /// `l2tpagg SUBCOMMAND --config PATH` (`check` or `run`).
    pub fn run(&self, subcommand: &str) -> Output {
        l2tpagg(&[subcommand, "--config", &self.path])
    }
}
