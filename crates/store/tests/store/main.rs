//! The store's own tests: named cases per family of store methods, each run
//! on SQLite and, with `FLOTILLA_TEST_DATABASE_URL`, on PostgreSQL (a fresh
//! database per case). Under CI a missing PostgreSQL URL fails the suite.

mod agent;
mod at_rest;
mod backends;
mod dirty_hosts;
mod fixtures;
mod gitops;
mod hosts;
mod labels;
mod outbox;
mod policies;
mod schema;
mod teams;
mod users;
