//! Catalogue: the store's failures, as the store names them (`neutrino-store` maps its
//! errors to these and owns no status code or wording).

use crate::error::ApiError;

impl ApiError {
    /// 503 `ServiceUnavailable`: a queue in front of the database is full (the server is
    /// flooded). The server adds `Retry-After` to every 503, so clients back off.
    pub fn service_busy() -> Self {
        Self::new(503, "ServiceUnavailable", "The server is too busy to take this request now. Please try again later.")
    }

    /// 503 `ServiceUnavailable` for a request that did not finish within the server's
    /// request timeout (`http.request_timeout`).
    pub fn request_timed_out(timeout: std::time::Duration) -> Self {
        Self::new(
            503,
            "ServiceUnavailable",
            format!("The request did not complete within {} seconds. Please try again later.", timeout.as_secs()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_service_is_a_503_with_neutrons_type() {
        let e = ApiError::service_busy();
        assert_eq!((e.status, e.kind.as_ref()), (503, "ServiceUnavailable"));
        assert_eq!(e.message, "The server is too busy to take this request now. Please try again later.");
    }
}
