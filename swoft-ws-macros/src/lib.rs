//! Attribute macros of [swoft-ws](https://docs.rs/swoft-ws). Use them through `swoft_ws`
//! (`use swoft_ws::prelude::*;`), never from this crate directly: the generated code refers to
//! `::swoft_ws::__private`.
//!
//! Each macro runs the same pipeline (serde_derive's shape): `attr.rs` parses the arguments,
//! `ast.rs` builds the model of the item, `check.rs` reports every misuse into a `Ctxt`
//! (`ctxt.rs`), each error spanned on the user's token, and `expand/` generates the code. On
//! error the item is still emitted (with the helper attributes stripped, plus stub trait impls,
//! `expand/fallback.rs`) so that only the real error shows.

use proc_macro::TokenStream;

mod ast;
mod attr;
mod check;
mod compression;
mod ctxt;
mod expand;

const MISPLACED_HOOK: &str = "lifecycle hooks (`#[on_handshake]`, `#[on_open]`, `#[on_message]`, `#[on_close]`) must be on methods inside a `#[ws_module] impl ModuleType { ... }` block";

/// See `swoft_ws::ws_module`.
#[proc_macro_attribute]
pub fn ws_module(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module::expand(args.into(), &input.into()).into()
}

/// See `swoft_ws::ws_controller`.
#[proc_macro_attribute]
pub fn ws_controller(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::controller::expand(args.into(), &input.into()).into()
}

/// See `swoft_ws::ws_listener`.
#[proc_macro_attribute]
pub fn ws_listener(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::listener::expand(args.into(), &input.into()).into()
}

/// See `swoft_ws::push`.
#[proc_macro_attribute]
pub fn push(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::push::expand(args.into(), &input.into()).into()
}

/// See `swoft_ws::message_mapping`.
#[proc_macro_attribute]
pub fn message_mapping(args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced(
        args,
        input,
        "`#[message_mapping]` must be on a method inside a `#[ws_controller(prefix = \"...\")] impl` block",
    )
}

/// See `swoft_ws::middleware`.
#[proc_macro_attribute]
pub fn middleware(args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced(
        args,
        input,
        "`#[middleware(..)]` must be on a `#[message_mapping]` method inside a `#[ws_controller] impl` block; for a whole module or controller use their `middleware = [..]` argument",
    )
}

/// See `swoft_ws::on_handshake`.
#[proc_macro_attribute]
pub fn on_handshake(args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced(args, input, MISPLACED_HOOK)
}

/// See `swoft_ws::on_open`.
#[proc_macro_attribute]
pub fn on_open(args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced(args, input, MISPLACED_HOOK)
}

/// See `swoft_ws::on_message`.
#[proc_macro_attribute]
pub fn on_message(args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced(args, input, MISPLACED_HOOK)
}

/// See `swoft_ws::on_close`.
#[proc_macro_attribute]
pub fn on_close(args: TokenStream, input: TokenStream) -> TokenStream {
    misplaced(args, input, MISPLACED_HOOK)
}

/// A helper attribute used on its own: the error, at the item's name, and the item unchanged.
fn misplaced(_args: TokenStream, input: TokenStream, msg: &str) -> TokenStream {
    let input2: proc_macro2::TokenStream = input.into();
    let span = match syn::parse2::<syn::Item>(input2.clone()) {
        Ok(syn::Item::Fn(f)) => f.sig.ident.span(),
        _ => proc_macro2::Span::call_site(),
    };
    let err = syn::Error::new(span, msg).into_compile_error();
    quote::quote!(#err #input2).into()
}
