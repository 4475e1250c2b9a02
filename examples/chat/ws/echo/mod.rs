//! The echo module's controllers.

mod echo_controller;

pub use echo_controller::EchoController;
