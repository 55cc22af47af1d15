//! Catalogue: floatingips.

use crate::error::ApiError;

impl ApiError {}
