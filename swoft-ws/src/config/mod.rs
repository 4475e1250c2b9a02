//! What can be set, as plain data.

pub mod limits;
