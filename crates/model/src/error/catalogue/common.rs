//! Catalogue: common.

use crate::error::ApiError;

impl ApiError {}
