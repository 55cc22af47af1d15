//! Catalogue: security_groups.

use crate::error::ApiError;

impl ApiError {}
