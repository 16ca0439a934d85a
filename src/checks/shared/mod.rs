//! What several checks share, by band (a check's own helpers stay in its file).

pub mod app;
pub mod containers;
pub mod fs;
pub mod live;
pub mod nginx;
pub mod nginx_paths;
pub mod nginx_routing;
pub mod nginx_uploads;
pub mod regex_probe;
