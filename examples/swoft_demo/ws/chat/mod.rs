//! The controllers of `/chat`.

pub(crate) mod home_controller;
