//! Durable files: written under a temporary name, synced, renamed into place, the directory synced, so a final
//! name never holds half a file; and SHA-256 of a file, for manifests.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Syncs a directory so that a rename inside it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Moves a finished, synced temporary file to its final name durably.
pub fn publish(tmp: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    crate::hooks::durable_step(|| format!("published {}", path.display()));
    Ok(())
}

/// Removes a file durably (the directory synced): one step.
pub fn remove(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    crate::hooks::durable_step(|| format!("removed {}", path.display()));
    Ok(())
}

/// Writes `bytes` to `path` through `tmp`.
pub fn write_atomically(tmp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    publish(tmp, path)
}

/// Lower-case hex SHA-256 of a digest's output.
pub fn hex_digest(h: Sha256) -> String {
    let mut s = String::with_capacity(64);
    super::hex::push_hex(&mut s, &h.finalize());
    s
}

/// Size and SHA-256 of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex_digest(h)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_a_known_text() {
        let dir = std::env::temp_dir().join(format!("pgc-fsio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, path) = (dir.join(".x.partial"), dir.join("x"));
        super::write_atomically(&tmp, &path, b"abc").unwrap();
        assert!(!tmp.exists());
        assert_eq!(
            super::sha256_file(&path).unwrap(),
            (
                3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string()
            )
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
