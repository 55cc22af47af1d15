//! Catalogue: ports.

use crate::error::ApiError;

impl ApiError {}
