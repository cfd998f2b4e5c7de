//! axum's path and query extractors, with their rejections in the API's error shape.

use axum::extract::{FromRequestParts, Path, Query};

use super::error::ApiError;

#[derive(Debug, FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);
