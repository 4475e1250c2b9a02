//! The grammar of the attributes' arguments, parsed with `parse_nested_meta`: unknown keys
//! and keys given twice are errors at the key, with the closest key suggested. The simple
//! checks of a value (a path's or a command's grammar, from `check.rs`) run as it is parsed, so
//! errors come out in the order of the source.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{LitBool, LitStr, Path, Token};

use crate::ast::RecoveryArgs;
use crate::check;
use crate::ctxt::Ctxt;

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
    /// Swoft's `cmd:body` text protocol.
    TokenText,
    Custom(Path),
}

/// `#[ws_module(path = "/chat", controllers = [A, B], parser = json, default_command = "...",
/// default_prefix = "...", crate = path)]`
#[derive(Default)]
pub(crate) struct ModuleArgs {
    pub(crate) path: Option<LitStr>,
    /// `name = "chat"`: the module's name in logs, metrics and stats.
    pub(crate) name: Option<LitStr>,
    /// `opcode = binary`: the frame kind of replies (Swoft's `defaultOpcode`).
    pub(crate) opcode: Option<syn::Ident>,
    /// `protocols = ["v2", "v1"]`: subprotocols, preferred first.
    pub(crate) protocols: Option<Vec<LitStr>>,
    /// `params(id = r"\d+")`: a regular expression per path variable.
    pub(crate) params: Option<Vec<(syn::Ident, LitStr)>>,
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
/// `max_message_size = N`, `backpressure = disconnect | drop_newest`,
/// `max_rooms_per_connection = N`, `compression = off | deflate | deflate(..)`, `recovery` or
/// `recovery(window_secs = N, max_messages = N, max_bytes = N)`.
#[derive(Default)]
pub(crate) struct LimitArgs {
    pub(crate) max_connections: Option<u64>,
    pub(crate) origins: Option<Vec<LitStr>>,
    pub(crate) rate_limit: Option<u32>,
    pub(crate) rate_burst: Option<u32>,
    pub(crate) handler_timeout_ms: Option<u64>,
    pub(crate) max_message_size: Option<u64>,
    pub(crate) backpressure: Option<syn::Ident>,
    pub(crate) max_rooms_per_connection: Option<u64>,
    pub(crate) recovery: Option<RecoveryArgs>,
    pub(crate) compression: Option<crate::compression::Compression>,
}

/// `recovery` alone, or `recovery(window_secs = N, ...)` with each at least 1.
fn recovery(meta: &ParseNestedMeta<'_>) -> syn::Result<RecoveryArgs> {
    let mut r = RecoveryArgs::default();
    if meta.input.peek(Token![=]) {
        let e =
            "`recovery` takes its options in parentheses (`recovery(window_secs = 120)`), or none";
        return Err(meta.error(e));
    }
    if !meta.input.peek(syn::token::Paren) {
        return Ok(r);
    }
    meta.parse_nested_meta(|m| {
        let key = path_str(&m.path);
        let keys = "`window_secs`, `max_messages`, `max_bytes`";
        let slot = match key.as_str() {
            "window_secs" => &mut r.window_secs,
            "max_messages" => &mut r.max_messages,
            "max_bytes" => &mut r.max_bytes,
            _ => return Err(m.error(unknown_key("recovery", &m.path, keys))),
        };
        let lit: syn::LitInt = m.value()?.parse()?;
        match lit.base10_parse::<u64>()? {
            0 => Err(syn::Error::new(
                lit.span(),
                format!("`{key}` must be at least 1"),
            )),
            n => set_once(slot, &m, &key, n),
        }
    })?;
    Ok(r)
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
            "max_rooms_per_connection" => {
                int(meta).and_then(|n| set_once(&mut self.max_rooms_per_connection, meta, &key, n))
            }
            "compression" => crate::compression::parse(meta)
                .and_then(|c| set_once(&mut self.compression, meta, &key, c)),
            "origins" => (|| {
                let value = meta.value()?;
                let content;
                syn::bracketed!(content in value);
                let list = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                set_once(&mut self.origins, meta, &key, list.into_iter().collect())
            })(),
            "recovery" => recovery(meta).and_then(|r| set_once(&mut self.recovery, meta, &key, r)),
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
}

const MODULE_KEYS: &str = "`path`, `name`, `params`, `protocols`, `opcode`, `controllers`, `parser`, `default_command`, `default_prefix`, `middleware`, `concurrency`, `max_connections`, `origins`, `rate_limit`, `rate_burst`, `handler_timeout_ms`, `max_message_size`, `backpressure`, `max_rooms_per_connection`, `recovery`, `compression`, `crate`";

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

impl ModuleArgs {
    pub(crate) fn parse(tokens: TokenStream, cx: &Ctxt) -> Self {
        let mut args = ModuleArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("path") {
                let lit = checked_lit(&meta, cx, check::path)?;
                set_once(&mut args.path, &meta, "path", lit)
            } else if meta.path.is_ident("name") {
                let lit = checked_lit(&meta, cx, check::module_name)?;
                set_once(&mut args.name, &meta, "name", lit)
            } else if meta.path.is_ident("opcode") {
                let op = opcode(&meta, &["text", "binary"])?;
                set_once(&mut args.opcode, &meta, "opcode", op)
            } else if meta.path.is_ident("protocols") {
                let list = protocols(&meta, cx)?;
                set_once(&mut args.protocols, &meta, "protocols", list)
            } else if meta.path.is_ident("params") {
                let list = params(&meta, cx)?;
                set_once(&mut args.params, &meta, "params", list)
            } else if meta.path.is_ident("controllers") {
                let list = controllers(&meta, cx)?;
                set_once(&mut args.controllers, &meta, "controllers", list)
            } else if meta.path.is_ident("middleware") {
                let list = path_list(&meta, "middleware", "Auth")?;
                set_once(&mut args.middleware, &meta, "middleware", list)
            } else if meta.path.is_ident("concurrency") {
                let n = concurrency(&meta, cx)?;
                set_once(&mut args.concurrency, &meta, "concurrency", n)
            } else if meta.path.is_ident("parser") {
                let parser = parser_arg(&meta, cx)?;
                set_once(&mut args.parser, &meta, "parser", parser)
            } else if meta.path.is_ident("default_command") {
                let lit = checked_lit(&meta, cx, check::command)?;
                set_once(&mut args.default_command, &meta, "default_command", lit)
            } else if meta.path.is_ident("default_prefix") {
                let lit = checked_lit(&meta, cx, check::prefix)?;
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
            cx.syn_error(e);
        }
        args
    }
}

/// `key = "..."`, the string checked by `rule` (an error at the string, which is kept).
fn checked_lit(
    meta: &ParseNestedMeta<'_>,
    cx: &Ctxt,
    rule: fn(&str) -> Result<(), String>,
) -> syn::Result<LitStr> {
    let lit: LitStr = meta.value()?.parse()?;
    if let Err(msg) = rule(&lit.value()) {
        cx.error_spanned_by(&lit, msg);
    }
    Ok(lit)
}

/// `opcode = binary`: one of `allowed` (an error at the value otherwise).
fn opcode(meta: &ParseNestedMeta<'_>, allowed: &[&str]) -> syn::Result<syn::Ident> {
    let id: syn::Ident = meta.value()?.parse()?;
    if !allowed.iter().any(|a| id == a) {
        let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        let msg = if id == "ping" || id == "pong" {
            format!(
                "a module's replies go in {} frames; a control frame (`{id}`) is for one mapping: `#[message_mapping(\"..\", opcode = {id})]`",
                list.join(" or ")
            )
        } else {
            format!("unknown opcode `{id}`: expected {}", list.join(", "))
        };
        return Err(syn::Error::new(id.span(), msg));
    }
    Ok(id)
}

/// The `Opcode` variant of an `opcode = ..` value.
pub(crate) fn opcode_tokens(id: &syn::Ident, sw: &TokenStream) -> TokenStream {
    let variant = match id.to_string().as_str() {
        "binary" => quote!(Binary),
        "ping" => quote!(Ping),
        "pong" => quote!(Pong),
        _ => quote!(Text),
    };
    quote!(#sw::Opcode::#variant)
}

/// `protocols = ["v2", "v1"]`: each a token (RFC 6455 section 4.1), each once.
fn protocols(meta: &ParseNestedMeta<'_>, cx: &Ctxt) -> syn::Result<Vec<LitStr>> {
    let value = meta.value()?;
    if !value.peek(syn::token::Bracket) {
        return Err(value.error(
            "`protocols` takes a list in square brackets, even for one: write `protocols = [\"v1\"]`",
        ));
    }
    let content;
    syn::bracketed!(content in value);
    let list: Vec<LitStr> = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?
        .into_iter()
        .collect();
    for (i, lit) in list.iter().enumerate() {
        if let Err(msg) = check::protocol(&lit.value()) {
            cx.error_spanned_by(lit, msg);
        } else if list[..i].iter().any(|l| l.value() == lit.value()) {
            cx.error_spanned_by(
                lit,
                format!("subprotocol `{}` is listed twice", lit.value()),
            );
        }
    }
    Ok(list)
}

/// `params(id = r"\d+", name = "[a-z]+")`: each regex checked where it is written.
fn params(meta: &ParseNestedMeta<'_>, cx: &Ctxt) -> syn::Result<Vec<(syn::Ident, LitStr)>> {
    let mut list: Vec<(syn::Ident, LitStr)> = Vec::new();
    meta.parse_nested_meta(|inner| {
        let Some(name) = inner.path.get_ident().cloned() else {
            return Err(inner.error("expected a path variable's name: `params(id = r\"\\d+\")`"));
        };
        let re: LitStr = inner.value()?.parse()?;
        if let Err(msg) = check::param_regex(&re.value()) {
            cx.error_spanned_by(&re, msg);
        }
        if list.iter().any(|(n, _)| *n == name) {
            return Err(inner.error(format!("`{name}` is given twice: keep one")));
        }
        list.push((name, re));
        Ok(())
    })?;
    Ok(list)
}

/// `controllers = [A, B]`: each listed once (an error at the second).
fn controllers(meta: &ParseNestedMeta<'_>, cx: &Ctxt) -> syn::Result<Vec<Path>> {
    let list = path_list(meta, "controllers", "ChatController")?;
    let text = |p: &Path| quote!(#p).to_string();
    for (i, c) in list.iter().enumerate() {
        if list[..i].iter().any(|earlier| text(earlier) == text(c)) {
            cx.error_spanned_by(
                c,
                format!(
                    "`{}` is listed twice in `controllers`: list each controller once",
                    path_str(c)
                ),
            );
        }
    }
    Ok(list)
}

/// `concurrency = N`, from 1 to 1024.
fn concurrency(meta: &ParseNestedMeta<'_>, cx: &Ctxt) -> syn::Result<u16> {
    let lit: syn::LitInt = meta.value()?.parse()?;
    Ok(match lit.base10_parse::<u16>() {
        Ok(n @ 1..=1024) => n,
        _ => {
            cx.error_spanned_by(&lit, "concurrency is how many messages of one connection may be handled at once: a number from 1 (in order, the default) to 1024");
            1
        }
    })
}

/// `parser = json`, `parser = raw`, `parser = token_text` or `parser = path::To::Type`.
fn parser_arg(meta: &ParseNestedMeta<'_>, cx: &Ctxt) -> syn::Result<(ParserArg, Span)> {
    let p: Path = meta.value()?.parse()?;
    let span = syn::spanned::Spanned::span(&p);
    let arg = if p.is_ident("json") {
        ParserArg::Json
    } else if p.is_ident("raw") {
        ParserArg::Raw
    } else if p.is_ident("token_text") {
        ParserArg::TokenText
    } else if let Some(id) = p
        .get_ident()
        .filter(|id| id.to_string().starts_with(|c: char| c.is_ascii_lowercase()))
    {
        // A lowercase word is a misspelt built-in, not a parser type.
        cx.error_spanned_by(
            &p,
            format!("unknown parser `{id}`: write `parser = json` (the default), `parser = raw` (every frame to #[on_message] as it is), `parser = token_text` (`cmd:body` text frames), or the path of a type that implements `swoft_ws::protocol::Parser + Default`"),
        );
        ParserArg::Json
    } else {
        ParserArg::Custom(p)
    };
    Ok((arg, span))
}

/// `#[ws_controller(prefix = "room")]`, `#[ws_controller("room")]` or `#[ws_controller]`.
#[derive(Default)]
pub(crate) struct ControllerArgs {
    pub(crate) prefix: Option<LitStr>,
    pub(crate) middleware: Option<Vec<Path>>,
    pub(crate) krate: Option<Path>,
}

impl ControllerArgs {
    pub(crate) fn parse(tokens: TokenStream, cx: &Ctxt) -> Self {
        let mut args = ControllerArgs::default();
        // The short form: a lone string literal.
        if let Ok(lit) = syn::parse2::<LitStr>(tokens.clone()) {
            check_prefix(&lit, cx);
            args.prefix = Some(lit);
            return args;
        }
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("prefix") {
                let lit: LitStr = meta.value()?.parse()?;
                check_prefix(&lit, cx);
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
            cx.syn_error(e);
        }
        args
    }
}

fn check_prefix(lit: &LitStr, cx: &Ctxt) {
    if let Err(msg) = check::prefix(&lit.value()) {
        cx.error_spanned_by(lit, msg);
    }
}

/// `#[ws_module]` on an impl block (its hooks) takes nothing but an optional `crate = path`.
pub(crate) fn hook_block_args(tokens: TokenStream, cx: &Ctxt) -> Option<Path> {
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            krate = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "the module's arguments (`path`, `controllers`, ...) go on its struct; on an impl block of hooks write `#[ws_module]` alone",
            ))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
        cx.syn_error(e);
    }
    krate
}

/// `#[message_mapping("join")]`, `#[message_mapping("room.join")]`,
/// `#[message_mapping("help", root = true)]` or `#[message_mapping]` (the method's name is the
/// action).
#[derive(Default)]
pub(crate) struct MappingArgs {
    pub(crate) command: Option<LitStr>,
    /// `root = true`: the command is served as written, without the controller's prefix
    /// (Swoft's `@MessageMapping(root=true)`).
    pub(crate) root: Option<LitBool>,
    /// `opcode = binary`: the frame kind of its replies (Swoft's mapping `opcode`).
    pub(crate) opcode: Option<syn::Ident>,
    /// `errors = ["forbidden"]`: the error codes the handler declares it may answer with (the
    /// typed contract; nothing checks them at run time).
    pub(crate) errors: Option<Vec<LitStr>>,
}

impl MappingArgs {
    pub(crate) fn is_root(&self) -> bool {
        self.root.as_ref().is_some_and(LitBool::value)
    }
}

const MAPPING_KEYS: &str = "`root`, `opcode`, `errors`";
const MAPPING_SHAPE: &str = "expected one string literal: `#[message_mapping(\"join\")]` or `#[message_mapping(\"room.join\")]` (or `#[message_mapping]` alone to map the method's name)";

/// Parses a `#[message_mapping(..)]`; the first error stops it (a method's mapping is small).
pub(crate) fn mapping_args(attr: &syn::Attribute) -> syn::Result<MappingArgs> {
    let list = match &attr.meta {
        syn::Meta::Path(_) => return Ok(MappingArgs::default()),
        syn::Meta::List(list) => list,
        syn::Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(
                nv,
                "write the command in parentheses: `#[message_mapping(\"join\")]`",
            ));
        }
    };
    // Empty parentheses have no token of their own: point at the attribute.
    if list.tokens.is_empty() {
        return Err(syn::Error::new_spanned(attr, MAPPING_SHAPE));
    }
    let mut args = MappingArgs::default();
    list.parse_args_with(|input: syn::parse::ParseStream<'_>| {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            if let Err(msg) = check::command(&lit.value()) {
                return Err(syn::Error::new_spanned(&lit, msg));
            }
            args.command = Some(lit);
            if input.is_empty() {
                return Ok(());
            }
            input.parse::<Token![,]>()?;
        } else if !(input.peek(syn::Ident) && input.peek2(Token![=])) {
            let rest: TokenStream = input.parse()?;
            return Err(syn::Error::new_spanned(rest, MAPPING_SHAPE));
        }
        let rest: TokenStream = input.parse()?;
        let keys = syn::meta::parser(|meta| {
            if meta.path.is_ident("root") {
                let b: LitBool = meta.value()?.parse()?;
                set_once(&mut args.root, &meta, "root", b)
            } else if meta.path.is_ident("opcode") {
                let op = opcode(&meta, &["text", "binary", "ping", "pong"])?;
                set_once(&mut args.opcode, &meta, "opcode", op)
            } else if meta.path.is_ident("errors") {
                let list = error_codes(&meta)?;
                set_once(&mut args.errors, &meta, "errors", list)
            } else {
                Err(meta.error(unknown_key("message_mapping", &meta.path, MAPPING_KEYS)))
            }
        });
        syn::parse::Parser::parse2(keys, rest)
    })?;
    if let (true, Some(lit)) = (args.is_root(), &args.command) {
        if lit.value().contains('.') {
            return Err(syn::Error::new_spanned(
                lit,
                format!(
                    "a root command is one name without `.` (`root = true` serves it as written, without the prefix); write `#[message_mapping(\"{}\")]` without `root` for a full command",
                    lit.value()
                ),
            ));
        }
    }
    Ok(args)
}

/// `errors = ["forbidden", "not_found"]`: error codes, each a code (`check::error_code`),
/// each once; the first error stops it.
fn error_codes(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<LitStr>> {
    let value = meta.value()?;
    if !value.peek(syn::token::Bracket) {
        return Err(value.error(
            "`errors` takes a list of codes in square brackets, even for one: write `errors = [\"forbidden\"]`",
        ));
    }
    let content;
    syn::bracketed!(content in value);
    let list: Vec<LitStr> = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?
        .into_iter()
        .collect();
    for (i, lit) in list.iter().enumerate() {
        check::error_code(&lit.value()).map_err(|msg| syn::Error::new_spanned(lit, msg))?;
        if list[..i].iter().any(|l| l.value() == lit.value()) {
            return Err(syn::Error::new_spanned(
                lit,
                format!("error code `{}` is listed twice", lit.value()),
            ));
        }
    }
    Ok(list)
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
