//! `/echo`: JSON commands, answered by [`EchoController`].

use swoft_ws::prelude::*;

use super::echo::EchoController;

/// Serves `/echo` with the JSON protocol.
#[ws_module(path = "/echo", controllers = [EchoController])]
#[derive(Debug)]
pub struct EchoModule;
