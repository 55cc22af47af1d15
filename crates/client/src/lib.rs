//! A typed HTTP client for the OpenStack Networking API v2.0, shared by the CLI, the tests,
//! the load generator and (later) the host agent.
//!
//! Resources stay JSON objects: the client knows collections, envelopes, pagination and
//! errors, not every attribute, so it works unchanged as the API grows. Name lookups follow
//! openstacksdk's `find` so that `neutrino` and `openstack` resolve names the same way.

mod auth;
mod client;
mod collection;
mod error;

pub use auth::{Login, PasswordAuth};
pub use client::{object_id, Client, Object};
pub use collection::Collection;
pub use error::{ApiError, ClientError};
