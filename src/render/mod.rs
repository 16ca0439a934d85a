//! Renderers: views of one `&Report`. Each writes to any `io::Write`.

pub mod causes;
pub mod diff;
pub mod files;
pub mod github;
pub mod json;
pub mod list;
pub mod man;
pub mod safe;
pub mod sarif;
pub mod sites;
pub mod text;
pub mod trace;
