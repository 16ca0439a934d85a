//! Fixes that work when pasted: config edits as data (`edit`), merged one block per place and
//! proven on an in-memory copy of the configuration before they are printed (`prove`), and
//! commands built from what is on this box (`commands`).

pub mod apache;
pub mod commands;
pub mod edit;
pub mod prove;
pub mod text;

pub use edit::{render, BlockEdit, Change};
pub use prove::{prove, Goal, Member, Prover, Refusal};
