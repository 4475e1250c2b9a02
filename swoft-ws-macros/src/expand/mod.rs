//! Code generation, run only on a model that passed the checks (`fallback.rs` covers the
//! rest). Generated code names the runtime only through `__private` (see `attr::private_path`)
//! and `::core`, and sits in one `const _` (`dummy.rs`).

mod contract;
pub(crate) mod controller;
mod dummy;
mod fallback;
mod hooks;
pub(crate) mod listener;
pub(crate) mod module;
pub(crate) mod push;
mod shim;
