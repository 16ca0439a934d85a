//! Apache httpd: its configuration loaded as `httpd` reads it (includes, read-time conditionals,
//! variables), read through `Directive` handles like the nginx tree.

pub mod ast;
pub mod loader;

pub use ast::{Config, ConfigKind, Diagnostic, Directive, Module, NodeId};
pub use loader::{find_main, load_files, load_memory, LoadError};
pub mod resolve;
pub mod site;
