//! The nginx model: lexer and parser (nom), loader (includes, globs, `nginx -T` dumps, fragments),
//! and the configuration tree they produce.

pub mod ast;
mod context;
mod directives;
pub mod lexer;
pub mod loader;
pub mod overlay;
mod parser;
pub mod resolve;
pub mod rules;
pub(crate) mod variables;

pub use ast::{
    Children, Config, ConfigKind, Diagnostic, Directive, FileId, NodeId, Omitted, SourceFile,
};
pub use loader::{load_dump, load_files, load_files_prepared, LoadError};
