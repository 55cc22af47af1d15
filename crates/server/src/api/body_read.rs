//! Reading request bodies, bounded before any work is done on them: bytes against
//! `max_request_body_bytes` as they arrive (413 as soon as a body is known to be larger),
//! and bodies over 64 KiB parsed and validated on the blocking pool, a few at a time, so a
//! flood of them leaves the runtime free to answer everyone else. A DELETE refuses any body,
//! including one it cannot read.

use crate::app::App;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderMap};
use neutrino_model::ApiError;
use serde_json::Value;

/// Bodies up to this size are parsed and prepared on the async runtime (well under a
/// millisecond); larger ones go to the blocking pool, a few at a time (see [`off_runtime`]).
const INLINE_BODY_BYTES: usize = 64 * 1024;

pub(super) fn unreadable() -> ApiError {
    ApiError::bad_request("Malformed request body")
}

/// Reads a whole body, refusing one over `limit` bytes (413) as soon as it is known to be
/// larger: from `Content-Length` before reading, or when the bytes read pass the limit.
/// A body that cannot be read (the client broke off, bad chunking) is a 400.
pub(super) async fn read_bytes(headers: &HeaderMap, body: Body, limit: usize) -> std::result::Result<Bytes, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large());
    }
    let mut body = body;
    // Grown as bytes arrive: a declared length alone reserves at most the inline size.
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(INLINE_BODY_BYTES));
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(|_| unreadable())?.into_data() else { continue };
        if buf.len() + data.len() > limit {
            return Err(ApiError::too_large());
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

pub(super) fn parse_json(bytes: &[u8]) -> std::result::Result<Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("Resource body required"));
    }
    serde_json::from_slice(bytes).map_err(|_| ApiError::bad_request("Malformed request body"))
}

/// At most this many large bodies are parsed and validated at once, so they never take every
/// core from the runtime that answers the other requests.
fn large_body_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

/// Runs the CPU work of a body of `body_len` bytes (JSON parsing, validation): inline when the
/// body is small, else on the blocking pool under [`large_body_permits`]. The work itself is
/// linear in the body, whose size is capped by `max_request_body_bytes`.
pub(super) async fn off_runtime<T: Send + 'static>(
    body_len: usize,
    work: impl FnOnce() -> std::result::Result<T, ApiError> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    if body_len <= INLINE_BODY_BYTES {
        return work();
    }
    let _permit = large_body_permits().acquire().await.map_err(|_| ApiError::internal())?;
    tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::internal())?
}

/// Reads and parses a JSON body, refusing one over the configured limit before parsing it (413).
pub(super) async fn read_json(app: &App, headers: &HeaderMap, body: Body) -> std::result::Result<Value, ApiError> {
    let bytes = read_bytes(headers, body, app.config.max_request_body_bytes).await?;
    off_runtime(bytes.len(), move || parse_json(&bytes)).await
}

/// Neutron refuses any body on a DELETE; one that is too large or cannot be read is refused
/// the same way, never taken for "no body" (the resource is not deleted).
pub(super) async fn refuse_delete_body(headers: &HeaderMap, body: Body) -> std::result::Result<(), ApiError> {
    let refused = || ApiError::bad_request("Request body is not supported in DELETE.");
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(|v| v.trim().parse::<u64>());
    match declared {
        Some(Ok(0)) | None => {}
        Some(_) => return Err(refused()),
    }
    let mut body = body;
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        match frame.map(|f| f.into_data()) {
            Ok(Ok(data)) if data.is_empty() => {}
            Ok(Err(_trailers)) => {}
            _ => return Err(refused()),
        }
    }
    Ok(())
}
