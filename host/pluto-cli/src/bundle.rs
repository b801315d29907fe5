//! Agent bundles: a `.tar.gz` of an agent's files with a manifest of their SHA-256 digests
//! (`pluto-bundle.json`). Unpacking refuses links, paths that leave the bundle, files the
//! manifest does not list (or lists with another digest), and bundles over 16 MiB.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use pluto_services::AgentFiles;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::serve::agents::check_rel_path;

/// The manifest's name inside a bundle.
pub const MANIFEST: &str = "pluto-bundle.json";
/// The most bytes a bundle may unpack to.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// What `pluto-bundle.json` says.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The bundle format: 1.
    pub format: u32,
    /// The agent's name.
    pub agent: String,
    /// Every file, by relative path, with its SHA-256 in hex.
    pub files: BTreeMap<String, String>,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads an agent's files: a folder (every file in it) or a single `.md` file.
pub fn read_agent(path: &Path) -> anyhow::Result<AgentFiles> {
    let mut files = AgentFiles::new();
    if path.is_file() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .context("the agent file has no name")?;
        files.insert(
            name.to_owned(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        return Ok(files);
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            let full = entry.path();
            let rel = full
                .strip_prefix(path)
                .expect("below the agent folder")
                .to_string_lossy()
                .replace('\\', "/");
            if kind.is_symlink() {
                bail!(
                    "{} is a symbolic link: bundles hold plain files only",
                    full.display()
                );
            } else if kind.is_dir() {
                stack.push(full);
            } else {
                check_rel_path(&rel).map_err(anyhow::Error::msg)?;
                let text = std::fs::read_to_string(&full).with_context(|| {
                    format!(
                        "reading {} (bundles hold text files only for now)",
                        full.display()
                    )
                })?;
                files.insert(rel, text);
            }
        }
    }
    Ok(files)
}

/// Packs `files` of agent `agent` as a `.tar.gz` bundle.
pub fn pack(agent: &str, files: &AgentFiles) -> anyhow::Result<Vec<u8>> {
    let manifest = Manifest {
        format: 1,
        agent: agent.to_owned(),
        files: files
            .iter()
            .map(|(p, t)| (p.clone(), sha256(t.as_bytes())))
            .collect(),
    };
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut add = |path: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes)
    };
    add(MANIFEST, &serde_json::to_vec_pretty(&manifest)?)?;
    for (path, text) in files {
        add(path, text.as_bytes())?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// Unpacks and checks a bundle; returns the agent's name and files.
pub fn unpack(bytes: &[u8]) -> anyhow::Result<(String, AgentFiles)> {
    let gz = flate2::read::GzDecoder::new(bytes).take(MAX_BYTES + 1);
    let mut archive = tar::Archive::new(gz);
    let mut manifest: Option<Manifest> = None;
    let mut files = AgentFiles::new();
    let mut total = 0u64;
    for entry in archive.entries().context("not a .tar.gz bundle")? {
        let mut entry = entry.context("reading the bundle")?;
        let path = entry
            .path()
            .context("a path in the bundle")?
            .to_string_lossy()
            .into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular => {}
            tar::EntryType::Directory => continue,
            other => bail!("`{path}` is a {other:?} entry: bundles hold plain files only"),
        }
        check_rel_path(&path).map_err(anyhow::Error::msg)?;
        total += entry.size();
        if total > MAX_BYTES {
            bail!("the bundle unpacks to more than {MAX_BYTES} bytes");
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .with_context(|| format!("`{path}` is not UTF-8 text"))?;
        if path == MANIFEST {
            manifest = Some(serde_json::from_str(&text).context("reading pluto-bundle.json")?);
        } else if files.insert(path.clone(), text).is_some() {
            bail!("`{path}` is in the bundle twice");
        }
    }
    let manifest = manifest.context("the bundle has no pluto-bundle.json")?;
    if manifest.format != 1 {
        bail!(
            "bundle format {} is not supported (this Pluto reads format 1)",
            manifest.format
        );
    }
    for (path, text) in &files {
        match manifest.files.get(path) {
            None => bail!("`{path}` is in the bundle but not in its manifest"),
            Some(digest) if *digest != sha256(text.as_bytes()) => {
                bail!("`{path}` does not match its digest in the manifest")
            }
            Some(_) => {}
        }
    }
    if let Some(missing) = manifest.files.keys().find(|p| !files.contains_key(*p)) {
        bail!("`{missing}` is in the manifest but not in the bundle");
    }
    Ok((manifest.agent, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> AgentFiles {
        [
            ("agent.yaml".to_owned(), "paf: 1\n".to_owned()),
            ("instructions.md".to_owned(), "Hi.\n".to_owned()),
        ]
        .into()
    }

    #[test]
    fn a_bundle_round_trips() {
        let bytes = pack("helper", &files()).unwrap();
        let (agent, back) = unpack(&bytes).unwrap();
        assert_eq!(agent, "helper");
        assert_eq!(back, files());
    }

    /// A hand-made tar.gz: entries given as (path, type, bytes).
    fn raw(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (path, kind, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            // Written raw, so that hostile paths are not cleaned up on the way in.
            let name = header.as_gnu_mut().unwrap();
            name.name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            tar.append(&header, *bytes).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn manifest_for(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let files: BTreeMap<String, String> = entries
            .iter()
            .map(|(p, b)| ((*p).to_owned(), sha256(b)))
            .collect();
        serde_json::to_vec(&Manifest {
            format: 1,
            agent: "a".into(),
            files,
        })
        .unwrap()
    }

    #[test]
    fn hostile_bundles_are_refused() {
        let reg = tar::EntryType::Regular;
        let m = manifest_for(&[("../escape.md", b"x")]);
        let err = unpack(&raw(&[(MANIFEST, reg, &m), ("../escape.md", reg, b"x")])).unwrap_err();
        assert!(err.to_string().contains("relative path"), "{err}");
        let m = manifest_for(&[("/etc/passwd", b"x")]);
        assert!(unpack(&raw(&[(MANIFEST, reg, &m), ("/etc/passwd", reg, b"x")])).is_err());
        let m = manifest_for(&[("link", b"")]);
        let err = unpack(&raw(&[
            (MANIFEST, reg, &m),
            ("link", tar::EntryType::Symlink, b""),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("plain files only"), "{err}");
        let m = manifest_for(&[("a.md", b"original")]);
        let err = unpack(&raw(&[(MANIFEST, reg, &m), ("a.md", reg, b"tampered")])).unwrap_err();
        assert!(err.to_string().contains("digest"), "{err}");
        let err = unpack(&raw(&[
            (MANIFEST, reg, &m),
            ("a.md", reg, b"original"),
            ("b.md", reg, b"extra"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("not in its manifest"), "{err}");
        assert!(unpack(b"not a gzip at all").is_err());
        let err = unpack(&raw(&[("a.md", reg, b"x")])).unwrap_err();
        assert!(err.to_string().contains("no pluto-bundle.json"), "{err}");
    }
}
