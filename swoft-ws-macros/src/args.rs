//! The arguments of the attributes, parsed with `parse_nested_meta`: unknown keys and keys
//! given twice are errors at the key.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{LitStr, Path, Token};

use crate::errors::Errors;
use crate::validate;

/// Where the generated code finds the runtime: `::swoft_ws::__private`, or `<crate>::__private`.
pub(crate) fn private_path(krate: &Option<Path>) -> TokenStream {
    match krate {
        Some(p) => quote!(#p::__private),
        None => quote!(::swoft_ws::__private),
    }
}

fn set_once<T>(
    slot: &mut Option<T>,
    meta: &ParseNestedMeta<'_>,
    name: &str,
    value: T,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("`{name}` is given twice: keep one")));
    }
    *slot = Some(value);
    Ok(())
}

/// The parser a module uses.
pub(crate) enum ParserArg {
    Json,
    Raw,
    Custom(Path),
}

/// `#[ws_module(path = "/chat", controllers = [A, B], parser = json, default_command = "...",
/// default_prefix = "...", crate = path)]`
#[derive(Default)]
pub(crate) struct ModuleArgs {
    pub(crate) path: Option<LitStr>,
    pub(crate) controllers: Option<Vec<Path>>,
    pub(crate) parser: Option<(ParserArg, Span)>,
    pub(crate) default_command: Option<LitStr>,
    pub(crate) default_prefix: Option<LitStr>,
    pub(crate) middleware: Option<Vec<Path>>,
    pub(crate) concurrency: Option<u16>,
    pub(crate) limits: LimitArgs,
    pub(crate) krate: Option<Path>,
}

/// The limit options of `#[ws_module]`: `max_connections = N`, `origins = ["https://a"]`,
/// `rate_limit = N` (per second; 0: off), `rate_burst = N`, `handler_timeout_ms = N` (0: none),
/// `max_message_size = N`, `backpressure = disconnect | drop_newest`.
#[derive(Default)]
pub(crate) struct LimitArgs {
    max_connections: Option<u64>,
    origins: Option<Vec<LitStr>>,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
    handler_timeout_ms: Option<u64>,
    max_message_size: Option<u64>,
    backpressure: Option<syn::Ident>,
}

impl LimitArgs {
    /// Parses `meta` if it is a limit option (`None` if it is not one).
    fn parse(&mut self, meta: &ParseNestedMeta<'_>) -> Option<syn::Result<()>> {
        fn int<T: std::str::FromStr>(meta: &ParseNestedMeta<'_>) -> syn::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            let lit: syn::LitInt = meta.value()?.parse()?;
            lit.base10_parse::<T>()
        }
        let key = meta.path.get_ident()?.to_string();
        Some(match key.as_str() {
            "max_connections" => {
                int(meta).and_then(|n| set_once(&mut self.max_connections, meta, &key, n))
            }
            "rate_limit" => int(meta).and_then(|n| set_once(&mut self.rate_limit, meta, &key, n)),
            "rate_burst" => int(meta).and_then(|n| set_once(&mut self.rate_burst, meta, &key, n)),
            "handler_timeout_ms" => {
                int(meta).and_then(|n| set_once(&mut self.handler_timeout_ms, meta, &key, n))
            }
            "max_message_size" => {
                int(meta).and_then(|n| set_once(&mut self.max_message_size, meta, &key, n))
            }
            "origins" => (|| {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                let list = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                set_once(&mut self.origins, meta, &key, list.into_iter().collect())
            })(),
            "backpressure" => (|| {
                let id: syn::Ident = meta.value()?.parse()?;
                if id != "disconnect" && id != "drop_newest" {
                    return Err(syn::Error::new(
                        id.span(),
                        "expected `disconnect` or `drop_newest`",
                    ));
                }
                set_once(&mut self.backpressure, meta, &key, id)
            })(),
            _ => return None,
        })
    }

    /// `ModuleLimits::NONE.max_connections(..)...` for the options given.
    pub(crate) fn tokens(&self, sw: &TokenStream) -> TokenStream {
        let mut t = quote!(#sw::ModuleLimits::NONE);
        if let Some(n) = self.max_connections {
            let n = n as usize;
            t = quote!(#t.max_connections(#n));
        }
        if let Some(list) = &self.origins {
            t = quote!(#t.origins(&[#(#list),*]));
        }
        if self.rate_limit.is_some() || self.rate_burst.is_some() {
            let rate = self.rate_limit.unwrap_or(0);
            let burst = self.rate_burst.unwrap_or(rate);
            t = quote!(#t.rate_limit(#sw::RateLimit::new(#rate, #burst)));
        }
        if let Some(ms) = self.handler_timeout_ms {
            t = if ms == 0 {
                quote!(#t.no_handler_timeout())
            } else {
                quote!(#t.handler_timeout(::core::time::Duration::from_millis(#ms)))
            };
        }
        if let Some(n) = self.max_message_size {
            let n = n as usize;
            t = quote!(#t.max_message_size(#n));
        }
        if let Some(id) = &self.backpressure {
            let v = if id == "drop_newest" {
                quote!(DropNewest)
            } else {
                quote!(Disconnect)
            };
            t = quote!(#t.backpressure(#sw::Backpressure::#v));
        }
        t
    }
}

const MODULE_KEYS: &str = "`path`, `controllers`, `parser`, `default_command`, `default_prefix`, `middleware`, `concurrency`, `max_connections`, `origins`, `rate_limit`, `rate_burst`, `handler_timeout_ms`, `max_message_size`, `backpressure`, `crate`";

/// `[A, B]`: a bracketed list of type paths (`key = [Example]` is what the error suggests).
fn path_list(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<Vec<Path>> {
    let value = meta.value()?;
    if !value.peek(syn::token::Bracket) {
        return Err(value.error(format!(
            "`{key}` takes a list in square brackets, even for one: write `{key} = [{example}]`"
        )));
    }
    let content;
    syn::bracketed!(content in value);
    let list = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
    Ok(list.into_iter().collect())
}

/// `[ MiddlewareRef, ... ]` for a list of middleware types, each spanned on its path.
pub(crate) fn middleware_refs(list: &[Path], sw: &TokenStream) -> TokenStream {
    let refs = list.iter().map(|p| {
        let name = path_str(p);
        quote_spanned! {p.span()=>
            #sw::MiddlewareRef {
                type_id: #sw::type_id::<#p>,
                name: #name,
                make: #sw::make_middleware::<#p>,
            }
        }
    });
    quote!(&[#(#refs),*])
}

impl ModuleArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = ModuleArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("path") {
                let lit: LitStr = meta.value()?.parse()?;
                if let Err(msg) = validate::path(&lit.value()) {
                    errors.at(&lit, msg);
                }
                set_once(&mut args.path, &meta, "path", lit)
            } else if meta.path.is_ident("controllers") {
                let list = path_list(&meta, "controllers", "ChatController")?;
                let text = |p: &Path| quote!(#p).to_string();
                for (i, c) in list.iter().enumerate() {
                    if list[..i].iter().any(|earlier| text(earlier) == text(c)) {
                        errors.at(
                            c,
                            format!(
                                "`{}` is listed twice in `controllers`: list each controller once",
                                path_str(c)
                            ),
                        );
                    }
                }
                set_once(&mut args.controllers, &meta, "controllers", list)
            } else if meta.path.is_ident("middleware") {
                let list = path_list(&meta, "middleware", "Auth")?;
                set_once(&mut args.middleware, &meta, "middleware", list)
            } else if meta.path.is_ident("concurrency") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                let n = match lit.base10_parse::<u16>() {
                    Ok(n @ 1..=1024) => n,
                    _ => {
                        errors.at(&lit, "concurrency is how many messages of one connection may be handled at once: a number from 1 (in order, the default) to 1024");
                        1
                    }
                };
                set_once(&mut args.concurrency, &meta, "concurrency", n)
            } else if meta.path.is_ident("parser") {
                let p: Path = meta.value()?.parse()?;
                let span = syn::spanned::Spanned::span(&p);
                let arg = if p.is_ident("json") {
                    ParserArg::Json
                } else if p.is_ident("raw") {
                    ParserArg::Raw
                } else if let Some(id) = p
                    .get_ident()
                    .filter(|id| id.to_string().starts_with(|c: char| c.is_ascii_lowercase()))
                {
                    // A lowercase word is a misspelt built-in, not a parser type.
                    errors.at(
                        &p,
                        format!("unknown parser `{id}`: write `parser = json` (the default), `parser = raw` (every frame to #[on_message] as it is), or the path of a type that implements `swoft_ws::Parser + Default`"),
                    );
                    ParserArg::Json
                } else {
                    ParserArg::Custom(p)
                };
                set_once(&mut args.parser, &meta, "parser", (arg, span))
            } else if meta.path.is_ident("default_command") {
                let lit: LitStr = meta.value()?.parse()?;
                if let Err(msg) = validate::command(&lit.value()) {
                    errors.at(&lit, msg);
                }
                set_once(&mut args.default_command, &meta, "default_command", lit)
            } else if meta.path.is_ident("default_prefix") {
                let lit: LitStr = meta.value()?.parse()?;
                if let Err(msg) = validate::prefix(&lit.value()) {
                    errors.at(&lit, msg);
                }
                set_once(&mut args.default_prefix, &meta, "default_prefix", lit)
            } else if meta.path.is_ident("crate") {
                let p: Path = meta.value()?.parse()?;
                set_once(&mut args.krate, &meta, "crate", p)
            } else if let Some(r) = args.limits.parse(&meta) {
                r
            } else {
                Err(meta.error(unknown_key("ws_module", &meta.path, MODULE_KEYS)))
            }
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(e);
        }
        args
    }

    pub(crate) fn parser_tokens(&self, sw: &TokenStream) -> TokenStream {
        match &self.parser {
            None | Some((ParserArg::Json, _)) => quote!(#sw::parser::<#sw::JsonParser>),
            Some((ParserArg::Raw, _)) => quote!(#sw::parser::<#sw::RawParser>),
            Some((ParserArg::Custom(p), span)) => quote_spanned!(*span=> #sw::parser::<#p>),
        }
    }
}

/// `#[ws_controller(prefix = "room")]`, `#[ws_controller("room")]` or `#[ws_controller]`.
#[derive(Default)]
pub(crate) struct ControllerArgs {
    pub(crate) prefix: Option<LitStr>,
    pub(crate) middleware: Option<Vec<Path>>,
    pub(crate) krate: Option<Path>,
}

impl ControllerArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = ControllerArgs::default();
        // The short form: a lone string literal.
        if let Ok(lit) = syn::parse2::<LitStr>(tokens.clone()) {
            args.check_prefix(&lit, errors);
            args.prefix = Some(lit);
            return args;
        }
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("prefix") {
                let lit: LitStr = meta.value()?.parse()?;
                args.check_prefix(&lit, errors);
                set_once(&mut args.prefix, &meta, "prefix", lit)
            } else if meta.path.is_ident("middleware") {
                let list = path_list(&meta, "middleware", "Auth")?;
                set_once(&mut args.middleware, &meta, "middleware", list)
            } else if meta.path.is_ident("crate") {
                let p: Path = meta.value()?.parse()?;
                set_once(&mut args.krate, &meta, "crate", p)
            } else {
                Err(meta.error(unknown_key(
                    "ws_controller",
                    &meta.path,
                    "`prefix`, `middleware`, `crate`",
                )))
            }
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(e);
        }
        args
    }

    fn check_prefix(&self, lit: &LitStr, errors: &mut Errors) {
        if let Err(msg) = validate::prefix(&lit.value()) {
            errors.at(lit, msg);
        }
    }

    pub(crate) fn prefix(&self) -> String {
        self.prefix.as_ref().map(LitStr::value).unwrap_or_default()
    }
}

/// `#[message_mapping("join")]`, `#[message_mapping("room.join")]` or `#[message_mapping]` (the
/// method's name is the action).
pub(crate) fn mapping_command(attr: &syn::Attribute) -> syn::Result<Option<LitStr>> {
    match &attr.meta {
        syn::Meta::Path(_) => Ok(None),
        syn::Meta::List(list) => {
            let lit: LitStr = syn::parse2(list.tokens.clone()).map_err(|_| {
                let msg = "expected one string literal: `#[message_mapping(\"join\")]` or `#[message_mapping(\"room.join\")]` (or `#[message_mapping]` alone to map the method's name)";
                // Empty parentheses have no token of their own: point at the attribute.
                if list.tokens.is_empty() {
                    syn::Error::new_spanned(attr, msg)
                } else {
                    syn::Error::new_spanned(&list.tokens, msg)
                }
            })?;
            if let Err(msg) = validate::command(&lit.value()) {
                return Err(syn::Error::new_spanned(&lit, msg));
            }
            Ok(Some(lit))
        }
        syn::Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "write the command in parentheses: `#[message_mapping(\"join\")]`",
        )),
    }
}

/// `#[middleware(A, B)]` on a handler method.
pub(crate) fn method_middleware(attr: &syn::Attribute) -> syn::Result<Vec<Path>> {
    match &attr.meta {
        syn::Meta::List(list) => {
            let parsed = list.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)?;
            Ok(parsed.into_iter().collect())
        }
        other => Err(syn::Error::new_spanned(
            other,
            "expected a list of middleware types: `#[middleware(Auth, Timing)]`",
        )),
    }
}

/// "unknown ws_module argument `paht`: did you mean `path`?" when a key is at most two edits
/// away; otherwise every key is listed.
fn unknown_key(attr: &str, key: &Path, keys: &str) -> String {
    let got = path_str(key);
    let closest = keys
        .split(", ")
        .map(|k| k.trim_matches('`'))
        .map(|k| (edit_distance(&got, k), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    match closest {
        Some((_, k)) => format!("unknown {attr} argument `{got}`: did you mean `{k}`?"),
        None => format!("unknown {attr} argument `{got}`; expected one of: {keys}"),
    }
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

pub(crate) fn path_str(p: &Path) -> String {
    p.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_suggest_the_closest_one() {
        let key: Path = syn::parse_quote!(paht);
        let msg = unknown_key("ws_module", &key, MODULE_KEYS);
        assert!(msg.contains("did you mean `path`?"), "{msg}");
        let key: Path = syn::parse_quote!(colour);
        let msg = unknown_key("ws_module", &key, MODULE_KEYS);
        assert!(!msg.contains("did you mean"), "{msg}");
        assert_eq!(edit_distance("prefx", "prefix"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
