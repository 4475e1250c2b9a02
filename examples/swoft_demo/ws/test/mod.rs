//! The controllers of `/test`.

pub(crate) mod test_controller;
