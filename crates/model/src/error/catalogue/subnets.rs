//! Catalogue: subnets.

use crate::error::ApiError;

impl ApiError {}
