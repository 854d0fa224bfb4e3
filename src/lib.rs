//! kprov: provision an EKS platform on AWS by calling the AWS SDK directly.
//!
//! The pipeline (see `docs/architecture.md`): [`config`] loads the plan files and the env
//! overlay into resource declarations → [`graph`] builds the dependency DAG → [`plan`] refreshes
//! what exists and diffs it into a Plan → [`engine`] walks the plan concurrently → [`state`]
//! persists after every completed resource. [`resource`] is the contract between them and the
//! providers in [`aws`]; [`ui`] renders engine events; [`cli`] wires the commands.

// Error enums carry the resource address, AWS error code, request id and source location by
// value: they are built once on a cold path, and matching on them stays simple.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod cli;
pub mod config;
pub mod drift;
pub mod engine;
pub mod graph;
pub mod lint;
pub mod plan;
pub mod resource;
pub mod state;
pub mod ui;
