//! The commands: each is a short composition of the layers below (contract, source, pipeline, sinks, target)
//! behind a settings struct that the binary fills from its flags. Only commands use the run-level error.

pub mod check;
pub mod export;
pub mod files;
pub mod import;
pub mod migrate;
pub mod plan;
pub mod reset;
pub mod session;
pub mod verify;
