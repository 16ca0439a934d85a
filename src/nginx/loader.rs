//! Loading a configuration: from files on disk (includes resolved as nginx does) or from an
//! `nginx -T` dump. Replaced by the full loader; signatures are the contract.

use super::ast::Config;
use crate::sysroot::SysRoot;
use std::path::{Path, PathBuf};

/// Why nothing could be loaded at all (the run cannot go on: exit 2). Problems inside a config
/// (syntax errors, a missing include) are `Diagnostic`s on the `Config` instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Load the config whose entry file is `entry` (a system path, read under `root`).
pub fn load_files(root: &SysRoot, entry: &Path) -> Result<Config, LoadError> {
    let host = root.host_path(entry);
    let _ = std::fs::read(&host).map_err(|source| LoadError::Unreadable {
        path: entry.to_path_buf(),
        source,
    })?;
    Ok(Config::default())
}

/// Load an `nginx -T` dump (`name` is shown in messages: the dump's path or `-`).
pub fn load_dump(_root: &SysRoot, _dump: &[u8], _name: &str) -> Result<Config, LoadError> {
    Ok(Config::default())
}
