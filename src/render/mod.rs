//! Renderers: views of one `&Report`. Each writes to any `io::Write`.

pub mod json;
pub mod text;
pub mod trace;
