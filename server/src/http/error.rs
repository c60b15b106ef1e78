//! The one error type of the HTTP layer and its RFC 9457 `application/problem+json` rendering.
//! 4xx answers say exactly what was wrong; 5xx answers are generic and the cause goes to the
//! log with the request id.

use app::api::{FieldError, Problem};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::kv::KvError;
use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad query, bad path parameter, bad pagination).
    #[error("{0}")]
    BadRequest(String),
    /// The body parsed but some fields are invalid.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// The addressed resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A unique field clashes with an existing record.
    #[error("a record with this {field} already exists")]
    Conflict { field: &'static str },
    /// No credential, or one that does not verify (RFC 6750 §3.1 `invalid_token`).
    #[error("{detail}")]
    Unauthorized { detail: String, invalid_token: bool },
    /// The password was right; a second factor is needed (`mfa_code`).
    #[error("{0}")]
    MfaRequired(String),
    /// A role the caller holds requires MFA and the caller has none yet.
    #[error("{0}")]
    MfaEnrolmentRequired(String),
    /// Sign-in attempts throttled or the account locked; retry after the given seconds.
    #[error("{detail}")]
    TooManyAttempts { detail: String, retry_after: u64 },
    /// Too many requests; retry after the given seconds.
    #[error("rate limit exceeded; retry in {0} s")]
    RateLimited(u64),
    /// Refused by a guard (for example the loopback-only console).
    #[error("{0}")]
    Forbidden(String),
    /// A request the framework refused before the handler (JSON syntax, size, content type).
    #[error("{detail}")]
    Rejected { status: StatusCode, detail: String },
    /// A dependency is down (readiness).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: logged, answered with a generic 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict { field } => ApiError::Conflict { field },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<KvError> for ApiError {
    fn from(error: KvError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited(_) | ApiError::TooManyAttempts { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unauthorized { .. } | ApiError::MfaRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::MfaEnrolmentRequired(_) => StatusCode::FORBIDDEN,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Rejected { status, .. } => match *status {
                StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
                StatusCode::UNPROCESSABLE_ENTITY => "invalid-body",
                StatusCode::BAD_GATEWAY => "upstream-failed",
                StatusCode::GATEWAY_TIMEOUT => "upstream-timeout",
                _ => "malformed-body",
            },
            ApiError::Validation(_) => "validation",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::RateLimited(_) => "rate-limited",
            ApiError::TooManyAttempts { .. } => "too-many-attempts",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::MfaRequired(_) => "mfa-required",
            ApiError::MfaEnrolmentRequired(_) => "mfa-enrolment-required",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            // Never leak internals: the log has the cause, the client gets the request id.
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "request failed");
                "an internal error occurred; quote the request id when reporting it".to_string()
            }
            other => other.to_string(),
        };
        let errors = match &self {
            ApiError::Validation(errors) => errors.clone(),
            ApiError::Conflict { field } => {
                vec![FieldError::new(field, format!("{field} is already taken"))]
            }
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("/problems/{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: Some(detail),
            instance: None,
            request_id: None,
            errors,
        };
        let mut response = problem_response(&problem);
        match self {
            ApiError::RateLimited(seconds)
            | ApiError::TooManyAttempts {
                retry_after: seconds,
                ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            // RFC 6750 §3: a 401 names the scheme, and the error when a token was presented.
            ApiError::Unauthorized { invalid_token, .. } => {
                let challenge = if invalid_token {
                    r#"Bearer realm="switchyard", error="invalid_token""#
                } else {
                    r#"Bearer realm="switchyard""#
                };
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            _ => {}
        }
        response.extensions_mut().insert(problem);
        response
    }
}

fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// Completes every error answer of the API: fills `instance` and `request_id` into problems,
/// and turns the framework's bare error responses (404 of an unknown path, 405, 408, 413)
/// into problem documents too, so a client never has to parse two error shapes.
pub async fn finish_problems(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut problem = match parts.extensions.remove::<Problem>() {
        Some(problem) => problem,
        None => {
            let is_problem = parts
                .headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v == PROBLEM_JSON);
            if is_problem {
                return Response::from_parts(parts, body);
            }
            let detail = match status {
                StatusCode::NOT_FOUND => format!("no API resource at {path}"),
                StatusCode::METHOD_NOT_ALLOWED => format!("{path} does not support this method"),
                StatusCode::REQUEST_TIMEOUT => "the request took too long".to_string(),
                StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
                other => other.canonical_reason().unwrap_or("error").to_string(),
            };
            Problem {
                kind: "about:blank".into(),
                title: status.canonical_reason().unwrap_or("Error").into(),
                status: status.as_u16(),
                detail: Some(detail),
                instance: None,
                request_id: None,
                errors: Vec::new(),
            }
        }
    };
    problem.instance = Some(path);
    problem.request_id = request_id;
    let rebuilt = problem_response(&problem);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    let (_, body) = rebuilt.into_parts();
    Response::from_parts(parts, Body::new(body))
}
