//! Catalogue: networks.

use crate::error::ApiError;

impl ApiError {}
