//! Extractors whose rejections are problem documents with the framework's precise message
//! ("unknown field `x`", "expected a string at line 1 column 9", "length limit exceeded").

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;

/// A JSON body; malformed JSON, wrong types, unknown fields and oversized bodies are 4xx.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// A JSON body, or a YAML one (`Content-Type: application/yaml`, `application/x-yaml` or
/// `text/yaml`), for documents people write by hand, such as workflow definitions. The same
/// types, so the same strictness: unknown fields and wrong types are 422 naming them, and
/// YAML that does not parse names its line and column.
#[derive(Debug)]
pub struct Document<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Document<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let yaml = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                matches!(
                    m.as_str(),
                    "application/yaml" | "application/x-yaml" | "text/yaml"
                )
            });
        if !yaml {
            let Json(value) = Json::<T>::from_request(request, state).await?;
            return Ok(Self(value));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|r| ApiError::Rejected {
                status: r.status(),
                detail: r.body_text(),
            })?;
        // serde_norway bounds recursion and alias expansion ("billion laughs").
        serde_norway::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::Rejected {
                status: http::StatusCode::UNPROCESSABLE_ENTITY,
                detail: format!("the YAML body does not fit: {e}"),
            })
    }
}

/// A query string decoded strictly (unknown parameters are refused).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::Rejected {
            status: rejection.status(),
            detail: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// What the transport says about a request, for audit records: its id and the client's
/// address. Never fails: either part may be unknown (in-process calls have no peer).
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

impl RequestContext {
    /// The same facts in the form audit records take.
    pub fn origin(&self) -> crate::audit::Origin {
        crate::audit::Origin {
            request_id: self.request_id.clone(),
            client_addr: self.client_addr.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let client_addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self {
            request_id,
            client_addr,
        })
    }
}
