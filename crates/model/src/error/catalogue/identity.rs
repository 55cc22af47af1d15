//! Catalogue: identity.

use crate::error::ApiError;

impl ApiError {}
