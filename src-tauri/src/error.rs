//! The one error type commands return: a sentence the UI shows as it is.

use serde::Serialize;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct AppError(String);

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(message: impl Into<String>) -> Self {
        AppError(message.into())
    }
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl From<onevision_store::StoreError> for AppError {
    fn from(e: onevision_store::StoreError) -> Self {
        AppError(e.to_string())
    }
}

impl From<onevision_engine::EngineError> for AppError {
    fn from(e: onevision_engine::EngineError) -> Self {
        AppError(e.to_string())
    }
}

impl From<onevision_model::Error> for AppError {
    fn from(e: onevision_model::Error) -> Self {
        AppError(e.to_string())
    }
}

impl From<tauri::Error> for AppError {
    fn from(e: tauri::Error) -> Self {
        AppError(e.to_string())
    }
}

impl From<onevision_engine::catalog::error::CatalogError> for AppError {
    fn from(e: onevision_engine::catalog::error::CatalogError) -> Self {
        AppError(e.to_string())
    }
}
