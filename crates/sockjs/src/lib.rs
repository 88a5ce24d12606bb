//! SockJS server for axum (placeholder while the core lands).
