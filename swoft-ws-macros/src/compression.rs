//! `#[ws_module(compression = ...)]`: permessage-deflate (RFC 7692) for a module. Its grammar
//! and the checks of its values (each an error at the value), and the `Compression` it
//! expands to.
//!
//! ```text
//! compression = off
//! compression = deflate
//! compression = deflate(level = 6, min_size = 512, server_no_context_takeover = false,
//!                       client_no_context_takeover = true, server_max_window_bits = 12,
//!                       client_max_window_bits = 15)
//! ```

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::meta::ParseNestedMeta;

/// The options of `deflate(...)`, with the span of each value given.
#[derive(Default)]
pub(crate) struct Deflate {
    level: Option<u8>,
    min_size: Option<u64>,
    server_no_context_takeover: Option<bool>,
    client_no_context_takeover: Option<bool>,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
}

/// A module's `compression = ...`.
pub(crate) enum Compression {
    Off,
    Deflate(Deflate),
}

const KEYS: &str = "`level`, `min_size`, `server_no_context_takeover`, `client_no_context_takeover`, `server_max_window_bits`, `client_max_window_bits`";

/// Parses the value of `compression = ...`.
pub(crate) fn parse(meta: &ParseNestedMeta<'_>) -> syn::Result<Compression> {
    let value = meta.value()?;
    let kind: syn::Ident = value.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected `off`, `deflate` or `deflate(level = 6, ...)`",
        )
    })?;
    if kind == "off" {
        return Ok(Compression::Off);
    }
    if kind != "deflate" {
        return Err(syn::Error::new(
            kind.span(),
            format!(
                "unknown compression `{kind}`: expected `off`, `deflate` or `deflate(level = 6, ...)` (permessage-deflate, RFC 7692)"
            ),
        ));
    }
    let mut d = Deflate::default();
    if value.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in value);
        let list =
            syn::punctuated::Punctuated::<syn::MetaNameValue, syn::Token![,]>::parse_terminated(
                &content,
            )?;
        for nv in list {
            d.set(&nv)?;
        }
    }
    Ok(Compression::Deflate(d))
}

impl Deflate {
    fn set(&mut self, nv: &syn::MetaNameValue) -> syn::Result<()> {
        let key = nv
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let span = nv
            .path
            .get_ident()
            .map_or_else(Span::call_site, syn::Ident::span);
        let twice = || syn::Error::new(span, format!("`{key}` is given twice: keep one"));
        match key.as_str() {
            "level" => {
                let n = int(
                    &nv.value,
                    0,
                    9,
                    "the deflate level is 0 (stored) to 9 (smallest)",
                )?;
                once(&mut self.level, n as u8).ok_or_else(twice)
            }
            "min_size" => {
                let n = int(&nv.value, 0, u64::MAX, "min_size is a number of bytes")?;
                once(&mut self.min_size, n).ok_or_else(twice)
            }
            "server_max_window_bits" | "client_max_window_bits" => {
                let n = int(
                    &nv.value,
                    9,
                    15,
                    "window bits are 9 to 15 (RFC 7692 section 7.1.2; zlib's raw deflate has no 8-bit window)",
                )? as u8;
                let slot = if key == "server_max_window_bits" {
                    &mut self.server_max_window_bits
                } else {
                    &mut self.client_max_window_bits
                };
                once(slot, n).ok_or_else(twice)
            }
            "server_no_context_takeover" | "client_no_context_takeover" => {
                let b = boolean(&nv.value)?;
                let slot = if key == "server_no_context_takeover" {
                    &mut self.server_no_context_takeover
                } else {
                    &mut self.client_no_context_takeover
                };
                once(slot, b).ok_or_else(twice)
            }
            _ => Err(syn::Error::new(
                span,
                format!("unknown `deflate` option `{key}`: expected one of {KEYS}"),
            )),
        }
    }
}

/// Sets `slot` unless it is set already (`None` then).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// An integer literal in `min..=max`, else `msg` at the value.
fn int(e: &syn::Expr, min: u64, max: u64, msg: &str) -> syn::Result<u64> {
    let n = match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i.base10_parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(syn::Error::new_spanned(e, msg)),
    }
}

/// `true` or `false`, else an error at the value.
fn boolean(e: &syn::Expr) -> syn::Result<bool> {
    match e {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(b),
            ..
        }) => Ok(b.value),
        _ => Err(syn::Error::new_spanned(e, "expected `true` or `false`")),
    }
}

/// The `Compression` value of the option.
pub(crate) fn tokens(c: &Compression, sw: &TokenStream) -> TokenStream {
    let d = match c {
        Compression::Off => return quote!(#sw::Compression::OFF),
        Compression::Deflate(d) => d,
    };
    let mut t = quote!(#sw::Compression::deflate());
    if let Some(n) = d.level {
        t = quote!(#t.level(#n));
    }
    if let Some(n) = d.min_size {
        let n = n as usize;
        t = quote!(#t.min_size(#n));
    }
    if let Some(b) = d.server_no_context_takeover {
        t = quote!(#t.server_no_context_takeover(#b));
    }
    if let Some(b) = d.client_no_context_takeover {
        t = quote!(#t.client_no_context_takeover(#b));
    }
    if let Some(n) = d.server_max_window_bits {
        t = quote!(#t.server_max_window_bits(#n));
    }
    if let Some(n) = d.client_max_window_bits {
        t = quote!(#t.client_max_window_bits(#n));
    }
    t
}
