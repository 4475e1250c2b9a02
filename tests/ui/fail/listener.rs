use swoft_ws::events::Event;
use swoft_ws::prelude::*;

#[ws_listener(event = "open.later")]
fn unknown_event(_ev: &Event) {}

#[ws_listener(event = "open.after")]
async fn not_plain(_ev: &Event<'_>) {}

#[ws_listener(event = "close.after")]
fn two_arguments(_ev: &Event, _n: u32) {}

#[ws_listener]
fn no_event(_ev: &Event) {}

#[ws_listener(event = "close.after")]
fn wrong_type(_ev: &str) {}

fn main() {}
