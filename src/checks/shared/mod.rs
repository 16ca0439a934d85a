//! What several checks share, by band (a check's own helpers stay in its file).

pub mod apache;
pub mod apache_app;
pub mod app;
pub mod containers;
pub mod fs;
pub mod live;
pub mod nginx;
pub mod nginx_paths;
pub mod nginx_routing;
pub mod nginx_uploads;
pub mod regex_probe;

/// How a check says it could not read `path`: `needs root: PATH (Permission denied)` when this
/// run is not root and the kernel refused (root would have read it), else `PATH: why`. Never
/// "not found" or a pass: what could not be read was not judged.
pub fn could_not_read(path: &std::path::Path, err: &std::io::Error) -> String {
    let why = crate::text_safe::io_error(err);
    if err.kind() == std::io::ErrorKind::PermissionDenied && !nix::unistd::geteuid().is_root() {
        format!("needs root: {} ({why})", path.display())
    } else {
        format!("{}: {why}", path.display())
    }
}
