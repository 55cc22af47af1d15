//! Catalogue: segments (ML2's type drivers).

use crate::error::ApiError;

impl ApiError {}
