//! Integration tests: one test binary (faster to link), one module per topic.
//! Tests that need root or nginx use `support::require`, which fails under CI=true.

mod apache_checks;
mod apache_cli;
mod apache_differential;
mod apache_fixtures;
mod apache_loader;
mod app;
mod bad_input;
mod check_fixtures;
mod cli;
mod compose;
mod compose_variant;
mod conformance;
mod corpus_findings;
mod differential;
mod docs;
mod fs;
mod hostile;
mod layers;
mod lazy_site;
mod listeners;
mod live;
mod nginx_checks;
mod nginx_dump;
mod nonroot;
mod output;
mod packaging;
mod readonly;
mod resolver_props;
mod run;
mod sample;
mod schemas;
mod sites;
mod snapshots;
mod source_rules;
mod support;
