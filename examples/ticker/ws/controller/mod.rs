//! Every controller of the app, whatever module lists it.

mod ticker_controller;

pub(crate) use ticker_controller::TickerController;
