//! The API's error type and the one place errors become HTTP statuses. Every error answer is
//! JSON `{"type": ..., "message": ...}`, the shape of the reference node's ErrorResponse.

use colossus_engine::EngineError;
use http::StatusCode;

use crate::ledger::LedgerError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or contradicts the ledger.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid credentials (upload token, admin token, token request signature).
    #[error("{0}")]
    Unauthorized(String),
    /// No such object or route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not for this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: &'static str,
    },
    /// The change conflicts with what exists.
    #[error("{0}")]
    Conflict(String),
    /// The body or the object is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The request head is larger than allowed.
    #[error("{0}")]
    HeadTooLarge(String),
    /// The range lies outside the object.
    #[error("range not satisfiable: object is {size_bytes} bytes")]
    RangeNotSatisfiable { size_bytes: u64 },
    /// The node cannot take this now (bucket not accepting, limits reached, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// The disk is full.
    #[error("{0}")]
    InsufficientStorage(String),
    /// The client took too long.
    #[error("{0}")]
    Timeout(String),
    /// Stored data failed verification: never served.
    #[error("{0}")]
    Corrupt(String),
    /// A fault on the node's side.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Corrupt(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `type` field of the JSON answer.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "payload_too_large",
            Self::HeadTooLarge(_) => "header_fields_too_large",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Self::Unavailable(_) => "unavailable",
            Self::InsufficientStorage(_) => "insufficient_storage",
            Self::Timeout(_) => "timeout",
            Self::Corrupt(_) => "corrupt_object",
            Self::Internal(_) => "internal",
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "type": self.kind(), "message": self.to_string() }).to_string()
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        match error {
            EngineError::NotFound { .. } => Self::NotFound(message),
            EngineError::AlreadyExists { .. } => {
                Self::BadRequest(format!("{message}: the data object is already stored"))
            }
            EngineError::TooLarge { .. } => Self::TooLarge(message),
            EngineError::SizeMismatch { .. }
            | EngineError::HashMismatch { .. }
            | EngineError::BagTooLong { .. }
            | EngineError::RangeOutOfBounds { .. } => Self::BadRequest(message),
            EngineError::NoSpace { .. } => Self::InsufficientStorage(message),
            EngineError::LimitReached { .. } | EngineError::ShuttingDown => {
                Self::Unavailable(message)
            }
            EngineError::Corrupt { .. } | EngineError::IndexCorrupt { .. } => {
                Self::Corrupt(message)
            }
            EngineError::Io { .. }
            | EngineError::Locked { .. }
            | EngineError::UnsupportedVersion { .. }
            | EngineError::NotAStore { .. }
            | EngineError::InvalidConfig(_)
            | EngineError::SegmentPoisoned { .. } => Self::Internal(message),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        let message = error.to_string();
        match error {
            LedgerError::NotFound { .. } => Self::NotFound(message),
            LedgerError::ObjectExists { .. } => Self::Conflict(message),
            LedgerError::Invalid(_) => Self::BadRequest(message),
            LedgerError::Io { .. } | LedgerError::Corrupt { .. } => Self::Internal(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_json_with_type_and_message() {
        let error = ApiError::NotFound("data object 7 not found".into());
        let value: serde_json::Value = serde_json::from_str(&error.to_json()).unwrap();
        assert_eq!(value["type"], "not_found");
        assert_eq!(value["message"], "data object 7 not found");
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn engine_errors_map_to_statuses() {
        let full = ApiError::from(EngineError::NoSpace {
            context: "x".into(),
        });
        assert_eq!(full.status(), StatusCode::INSUFFICIENT_STORAGE);
        let exists = ApiError::from(EngineError::AlreadyExists { id: 3 });
        assert_eq!(exists.status(), StatusCode::BAD_REQUEST);
        let corrupt = ApiError::from(EngineError::Corrupt {
            id: 1,
            segment_id: 0,
            offset: 0,
            reason: "crc".into(),
        });
        assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
