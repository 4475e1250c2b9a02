//! `#[ws_listener(event = "open.after")]` on a plain `fn name(ev: &Event)`: the fn as written,
//! and its record submitted to the runtime's listener list. One small pipeline in one file:
//! the arguments (`event = "..."`, `crate = path`), the checks (a known event; a fn that is not
//! async, not generic, with one argument), the code.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr, Path};

use super::{dummy, shim};

/// The events and their variants of `WsEvent`, as the runtime names them.
const EVENTS: [(&str, &str); 12] = [
    ("handshake.before", "HandshakeBefore"),
    ("handshake.after", "HandshakeAfter"),
    ("handshake.error", "HandshakeError"),
    ("open.before", "OpenBefore"),
    ("open.after", "OpenAfter"),
    ("open.error", "OpenError"),
    ("message.before", "MessageBefore"),
    ("message.after", "MessageAfter"),
    ("message.error", "MessageError"),
    ("close.before", "CloseBefore"),
    ("close.after", "CloseAfter"),
    ("close.error", "CloseError"),
];

pub(crate) fn expand(args: TokenStream, input: &TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(input.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[ws_listener(event = \"...\")]` must be on a plain `fn name(ev: &Event)`",
            );
            let err = e.to_compile_error();
            return quote!(#input #err);
        }
    };
    match model(args, &item) {
        Ok((variant, krate)) => code(&item, &variant, krate.as_ref()),
        Err(e) => {
            let err = e.to_compile_error();
            quote!(#item #err)
        }
    }
}

/// The event's variant and the `crate = path`, or every error found.
fn model(args: TokenStream, item: &ItemFn) -> syn::Result<(syn::Ident, Option<Path>)> {
    let mut event: Option<LitStr> = None;
    let mut krate: Option<Path> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("event") {
            if event.is_some() {
                return Err(meta.error("`event` is given twice"));
            }
            event = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            krate = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument: `#[ws_listener]` takes `event = \"...\"` (and `crate = path`)",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    let mut errors: Option<syn::Error> = None;
    let mut add = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let variant = match &event {
        None => {
            add(syn::Error::new(
                item.sig.ident.span(),
                "`#[ws_listener]` needs `event = \"...\"`, e.g. `event = \"open.after\"`",
            ));
            None
        }
        Some(lit) => {
            let name = lit.value();
            match EVENTS.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => Some(format_ident!("{}", v, span = lit.span())),
                None => {
                    let known: Vec<&str> = EVENTS.iter().map(|(n, _)| *n).collect();
                    add(syn::Error::new(
                        lit.span(),
                        format!(
                            "unknown event `{name}`; the events are {}",
                            known.join(", ")
                        ),
                    ));
                    None
                }
            }
        }
    };
    let sig = &item.sig;
    if let Some(a) = &sig.asyncness {
        add(syn::Error::new(
            a.span(),
            "a listener is a plain `fn`, not `async`: it runs in the connection's task and must not wait",
        ));
    }
    if !sig.generics.params.is_empty() {
        add(syn::Error::new(
            sig.generics.span(),
            "a listener cannot be generic",
        ));
    }
    if sig.inputs.len() != 1 {
        add(syn::Error::new(
            sig.inputs.span(),
            "a listener takes one argument: `ev: &Event`",
        ));
    }
    match (errors, variant) {
        (Some(e), _) => Err(e),
        (None, Some(v)) => Ok((v, krate)),
        (None, None) => Err(syn::Error::new(sig.ident.span(), "no event")),
    }
}

fn code(item: &ItemFn, variant: &syn::Ident, krate: Option<&Path>) -> TokenStream {
    let sw = match krate {
        Some(p) => quote!(#p::__private),
        None => quote!(::swoft_ws::__private),
    };
    let name = &item.sig.ident;
    let at = shim::location(name.span(), &sw);
    // The fn coerces to the listener type here, so a wrong signature is reported at it.
    let call = quote_spanned!(item.sig.span()=> #name);
    let body = quote! {
        #sw::inventory::submit! {
            #sw::ListenerEntry(&#sw::ListenerDef {
                event: #sw::WsEvent::#variant,
                call: #call,
                location: #at,
            })
        }
    };
    let wrapped = dummy::wrap(&body);
    quote!(#item #wrapped)
}
