//! Catalogue: routers.

use crate::error::ApiError;

impl ApiError {}
