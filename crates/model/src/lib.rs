//! The Networking API's resources as data: attribute maps, request parsing and validation,
//! typed documents, the extension catalog and the API error type.
//!
//! This crate has no I/O. The server parses a request body with [`body`], runs the
//! resource logic on the typed documents in [`types`], and reports failures as
//! [`ApiError`], which renders as Neutron's `NeutronError` body.

pub mod attrs;
pub mod bodies;
pub mod body;
pub mod diagnose;
pub mod dns;
pub mod error;
pub mod extensions;
pub mod if_match;
pub mod limits;
pub mod openapi;
pub mod pystr;
pub mod query;
pub mod resources;
pub mod servicetype;
pub mod types;
pub mod validate;

pub use error::{ApiError, Resource};
