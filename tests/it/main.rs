//! Integration tests: one test binary (faster to link), one module per topic.
//! Tests that need root or nginx use `support::require`, which fails under CI=true.

mod cli;
mod docs;
mod fs;
mod output;
mod readonly;
mod run;
mod sample;
mod schemas;
mod snapshots;
mod support;
