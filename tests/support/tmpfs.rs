//! A tiny tmpfs the test mounts (and unmounts on drop) and can fill to the last byte: disk-full
//! trouble on a real filesystem for the ledger tests. Needs root; fails loudly without.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

pub struct Tmpfs {
    pub mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount(8) syntax, e.g. `256k`) on a fresh temporary directory.
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("running mount(8)");
        assert!(
            out.status.success(),
            "this test needs root to mount a tmpfs (CI runs as root): mount said {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            mountpoint: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    /// Writes a filler file until the filesystem is full.
    pub fn fill(&self) -> PathBuf {
        let path = self.mountpoint.join("filler");
        let mut f = fs::File::create(&path).unwrap();
        let chunk = vec![0xAAu8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling tmpfs: {e}"),
            }
        }
        // Single bytes too, so not even a small frame fits.
        while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mountpoint).status();
    }
}
