//! The one error type at the web boundary: what a person sees in the browser.
//!
//! Server code maps its own errors into these variants; an `Internal` error carries no detail
//! (the cause chain is logged on the server, never sent to the browser).

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Bad input; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    #[error("You need to sign in first.")]
    Unauthenticated,
    #[error("You don't have permission to do that.")]
    Forbidden,
    #[error("Page not found.")]
    NotFound,
    #[error("Something went wrong on the server. Please try again.")]
    Internal,
    /// Too many failed attempts from this address or for this account; the seconds to wait.
    #[error("Too many failed sign-in attempts. Try again in {0} seconds.")]
    TooManyAttempts(u64),
    /// The server refused rather than queue the work (password checks, git processes).
    #[error("The server is busy. Try again in a moment.")]
    Busy,
    /// The request did not reach the server or its answer could not be read.
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 400,
            AppError::Unauthenticated => 401,
            AppError::Forbidden => 403,
            AppError::NotFound => 404,
            AppError::TooManyAttempts(_) => 429,
            AppError::Busy => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }

    /// The `Retry-After` seconds of an answer that asks to come back later.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyAttempts(s) => Some(*s),
            AppError::Busy => Some(1),
            _ => None,
        }
    }
}

impl From<crate::names::NameError> for AppError {
    fn from(e: crate::names::NameError) -> Self {
        AppError::Invalid(e.to_string())
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::MissingArg(msg) => AppError::Invalid(msg),
            ServerFnErrorErr::Request(msg) | ServerFnErrorErr::Response(msg) => AppError::Transport(msg),
            _ => AppError::Internal,
        }
    }
}
