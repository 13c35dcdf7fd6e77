//! TODO
pub(crate) mod document;
pub mod error;
pub mod secret;
pub mod units;
