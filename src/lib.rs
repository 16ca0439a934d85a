//! media-doctor as a library: the binary is a thin clap front end over these modules.
//! See docs/architecture.md for how data flows: Site (gathered once) → checks → Report → render.

pub mod answer;
pub mod apache;
pub mod app;
pub mod checks;
pub mod cli;
pub mod container;
pub mod fix;
pub mod fnv;
pub mod fs;
pub mod heap;
pub mod http;
pub mod input;
pub mod live;
pub mod nginx;
pub mod profile;
pub mod render;
pub mod report;
pub mod site;
pub mod sysroot;
pub mod system;
pub mod text_safe;
