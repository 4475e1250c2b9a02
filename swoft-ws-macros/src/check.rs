//! What the macros accept: the grammar of paths, prefixes and commands (used while the
//! arguments are parsed), and the rules on the model (the shape of the impl, the methods'
//! signatures, each command mapped once, one hook of a kind).
//!
//! The checks walk the model in source order and report every error into the `Ctxt`, so the
//! user sees them all, in the order of the source.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{FnArg, ItemImpl, Signature, Type};

use crate::ast::{Controller, Hook, HookBlock, Module};
use crate::attr::MappingArgs;
use crate::ctxt::Ctxt;

/// `#[ws_module(...)]` on a struct: a path, and no generics.
pub(crate) fn module(cx: &Ctxt, m: &Module<'_>) {
    if m.args.path.is_none() && !cx.has_errors() {
        cx.error_spanned_by(
            &m.item.ident,
            "#[ws_module] needs a path: `#[ws_module(path = \"/chat\")]`",
        );
    }
    if let (Some(path), Some(params)) = (&m.args.path, &m.args.params) {
        let path = path.value();
        for (name, _) in params {
            if !path_vars(&path).any(|v| name == v) {
                cx.error_spanned_by(
                    name,
                    format!("`{name}` is not a variable of the path `{path}`: write it in the path as `{{{name}}}`"),
                );
            }
        }
    }
    if !m.item.generics.params.is_empty() {
        cx.error_spanned_by(
            &m.item.generics.params,
            "a ws module cannot be generic: the registry holds one concrete type",
        );
    }
}

/// `#[ws_controller]`: the impl's shape, then each method in order.
pub(crate) fn controller(cx: &Ctxt, c: &Controller) {
    impl_shape(cx, &c.item, "ws_controller");
    let prefix = c.prefix();
    if c.args.prefix.is_none() {
        if let Err(msg) = self::prefix(&prefix) {
            cx.error_spanned_by(
                &c.item.self_ty,
                format!("the prefix taken from the type's name is not valid ({msg}): write one, `#[ws_controller(prefix = \"room\")]`"),
            );
        }
    }
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut handlers = 0usize;
    for r in &c.routes {
        for e in r.middleware.iter().filter_map(|m| m.as_ref().err()) {
            cx.syn_error(e.clone());
        }
        let Some(command) = &r.command else {
            cx.error_spanned_by(
                &r.middleware_attrs[0],
                "`#[middleware(..)]` goes on a `#[message_mapping]` method",
            );
            continue;
        };
        for extra in &r.extra_mappings {
            cx.error_spanned_by(
                extra,
                "a method has one `#[message_mapping]`; to serve two commands, write a second method that calls this one",
            );
        }
        match command {
            Err(e) => {
                cx.syn_error(e.clone());
                continue;
            }
            // The method's name is the action: it must be a command too.
            Ok(MappingArgs { command: None, .. }) => {
                if let Err(msg) = self::command(&r.sig.ident.to_string()) {
                    cx.error_spanned_by(&r.sig.ident, msg);
                    continue;
                }
            }
            Ok(_) => {}
        }
        let full = r.command(&prefix);
        let (_, span) = r.action();
        if let Some(first) = seen.get(&full) {
            duplicate_command(cx, &full, span, *first);
            continue;
        }
        seen.insert(full, span);
        signature(cx, &r.sig, "message handler");
        handlers += 1;
    }
    if handlers > usize::from(u16::MAX) {
        cx.error_at(c.item.self_ty.span(), "too many handlers in one controller");
    }
}

/// The second mapping of a command, with a note at the first.
fn duplicate_command(cx: &Ctxt, command: &str, second: Span, first: Span) {
    let mut e = syn::Error::new(
        second,
        format!("duplicate command `{command}`: another method of this controller maps it"),
    );
    e.combine(syn::Error::new(
        first,
        format!("`{command}` is first mapped here"),
    ));
    cx.syn_error(e);
}

/// `#[ws_module]` on an impl block: the impl's shape, then each hook in order.
pub(crate) fn hook_block(cx: &Ctxt, b: &HookBlock) {
    impl_shape(cx, &b.item, "ws_module");
    for (i, h) in b.hooks.iter().enumerate() {
        for extra in &h.extra {
            cx.error_spanned_by(extra, "a method can be one hook only");
        }
        let name = h.kind.attr();
        if !matches!(h.attr.meta, syn::Meta::Path(_)) {
            cx.error_spanned_by(&h.attr, format!("`#[{name}]` takes no arguments"));
        }
        if let Some(first) = b.hooks[..i].iter().find(|f| f.kind == h.kind) {
            let mut e = syn::Error::new_spanned(
                &h.attr,
                format!("a module has one `#[{name}]` hook; this is the second"),
            );
            e.combine(syn::Error::new(first.span(), "the first is here"));
            cx.syn_error(e);
            continue;
        }
        signature(cx, &h.sig, &format!("#[{name}] hook"));
        hook_arguments(cx, h);
    }
}

/// The fixed arguments of a hook: each borrowed, and no more than it is given.
fn hook_arguments(cx: &Ctxt, h: &Hook) {
    let Some((max, list)) = h.kind.max_args() else {
        return;
    };
    let name = h.kind.attr();
    // The fixed arguments are lent to the hook: a type that is not a reference cannot be right
    // (the compiler checks the rest).
    for (ty, param) in h.method.args.iter().zip(h.kind.params()) {
        if !matches!(ty, Type::Reference(_)) {
            cx.error_spanned_by(
                ty,
                format!("`#[{name}]` borrows this argument: write `{param}`"),
            );
        }
    }
    let mut typed = h.sig.inputs.iter().filter(|a| matches!(a, FnArg::Typed(_)));
    if let Some(first_extra) = typed.nth(max) {
        cx.error_spanned_by(
            first_extra,
            format!(
                "`#[{name}]` takes at most {max} argument{} after `&self`: {list}",
                if max == 1 { "" } else { "s" }
            ),
        );
    }
}

/// What a handler or hook (`what`) cannot be: generic, const, unsafe, extern, variadic, taking
/// `self` other than by `&self`, or taking `impl Trait`.
pub(crate) fn signature(cx: &Ctxt, sig: &Signature, what: &str) {
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics.params,
            format!("a {what} cannot be generic: swoft-ws registers it as one function at start-up; use concrete types (and elided lifetimes)"),
        );
    }
    if let Some(wc) = &sig.generics.where_clause {
        cx.error_spanned_by(wc, format!("a {what} cannot have a where clause"));
    }
    if let Some(c) = &sig.constness {
        cx.error_spanned_by(c, format!("a {what} cannot be a `const fn`"));
    }
    if let Some(u) = &sig.unsafety {
        cx.error_spanned_by(u, format!("a {what} cannot be `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, format!("a {what} cannot have an `extern` ABI"));
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, format!("a {what} cannot be variadic"));
    }
    for input in &sig.inputs {
        argument(cx, input, what);
    }
}

/// One argument of a handler or hook.
fn argument(cx: &Ctxt, input: &FnArg, what: &str) {
    match input {
        FnArg::Receiver(r) => {
            if r.colon_token.is_some() {
                cx.error_spanned_by(r, format!("a {what} takes `&self` or no receiver"));
            } else if r.reference.is_none() {
                cx.error_spanned_by(
                    r,
                    format!("a {what} cannot take `self` by value: one instance serves every connection; take `&self`"),
                );
            } else if let Some(m) = &r.mutability {
                cx.error_spanned_by(
                    m,
                    format!("a {what} cannot take `&mut self`: one instance serves every connection at once; take `&self` (and keep mutable state in a Mutex or an atomic)"),
                );
            }
        }
        FnArg::Typed(pt) => {
            if let Type::ImplTrait(it) = &*pt.ty {
                cx.error_spanned_by(
                    it,
                    format!("a {what}'s arguments need concrete types, not `impl Trait`"),
                );
            }
        }
    }
}

/// An inherent, non-generic, safe impl of a named type.
pub(crate) fn impl_shape(cx: &Ctxt, item: &ItemImpl, attr: &str) {
    if let Some((_, path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            format!("#[{attr}] must be placed on an inherent impl (`impl Type {{ ... }}`), not a trait impl"),
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(
            &item.generics.params,
            format!("#[{attr}] cannot be used on a generic impl: the registry holds one concrete type; wrap the generic type in a concrete one"),
        );
    }
    if let Some(u) = &item.unsafety {
        cx.error_spanned_by(u, format!("#[{attr}] cannot be used on an `unsafe impl`"));
    }
    if !matches!(&*item.self_ty, Type::Path(_)) {
        cx.error_spanned_by(&item.self_ty, format!("#[{attr}] needs a named type"));
    }
}

/// The first few tokens of an item, for an error that points at it (not at the whole item).
pub(crate) fn first_tokens(input: &TokenStream) -> TokenStream {
    input.clone().into_iter().take(2).collect()
}

/// A module path: `/`, or segments of `[A-Za-z0-9_.~-]` or `{name}` (a path variable, Swoft's
/// `@WsModule("/rooms/{id}")`), each after a `/`; no empty segment, no trailing `/`. The
/// leading `/` may be left out, as Swoft allows: `"echo"` is `/echo` ([`normal_path`]).
pub(crate) fn path(p: &str) -> Result<(), String> {
    let p = normal_path(p);
    if p == "/" {
        return Ok(());
    }
    let normal: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    let normal = format!("/{}", normal.join("/"));
    if p.ends_with('/') || p.contains("//") {
        return Err(format!(
            "module path has an empty segment: write `\"{normal}\"`"
        ));
    }
    let mut vars: Vec<&str> = Vec::new();
    for seg in p.split('/').skip(1) {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(format!(
                    "invalid path variable `{{{name}}}`: a variable is a name of letters, digits and `_` (`{{id}}`), the whole segment"
                ));
            }
            if vars.contains(&name) {
                return Err(format!("path variable `{name}` is used twice"));
            }
            vars.push(name);
        } else if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~')))
        {
            return Err(format!(
                "module path may only hold letters, digits and `_ - . ~` between slashes, or a variable `{{name}}` as a whole segment; `{c}` is not allowed"
            ));
        }
    }
    Ok(())
}

/// The path with its leading `/` (Swoft accepts `"echo"` for `/echo`).
pub(crate) fn normal_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// The names of a path's variables (`/rooms/{id}` → `id`).
pub(crate) fn path_vars(p: &str) -> impl Iterator<Item = &str> {
    p.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// A path variable's constraint: a regular expression (the `regex` crate's syntax), matched
/// against the whole segment.
pub(crate) fn param_regex(re: &str) -> Result<(), String> {
    regex_syntax::Parser::new()
        .parse(re)
        .map(|_| ())
        .map_err(|e| format!("invalid regular expression for a path variable: {e}"))
}

/// A subprotocol: an HTTP token (RFC 6455 section 4.1, RFC 7230 section 3.2.6).
pub(crate) fn protocol(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("empty subprotocol: a subprotocol is a token like `\"v1\"`".to_owned());
    }
    match p
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
    {
        Some(c) => Err(format!(
            "invalid subprotocol `{p}`: `{c}` is not allowed in a token (RFC 6455 section 4.1)"
        )),
        None => Ok(()),
    }
}

/// A module's `name`: letters, digits and `_ - .` (it is a metrics label value and a log
/// field).
pub(crate) fn module_name(n: &str) -> Result<(), String> {
    if n.is_empty() {
        return Err("empty module name: leave `name` out to use the type's name".to_owned());
    }
    match n
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        Some(c) => Err(format!(
            "invalid module name `{n}`: `{c}` is not allowed (use letters, digits, `_`, `-` and `.`)"
        )),
        None => Ok(()),
    }
}

/// One name: a command prefix or a segment of a command.
fn segment(s: &str, what: &str, whole: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("invalid {what} `{whole}`: empty segment"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err(format!(
            "invalid {what} `{whole}`: `{c}` is not allowed (use letters, digits, `_` and `-`)"
        ));
    }
    Ok(())
}

/// A controller prefix: one segment.
pub(crate) fn prefix(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err(
            "empty prefix: map a command without a prefix with `#[message_mapping(\"help\", root = true)]` (without a prefix, `#[ws_controller]` takes it from the type's name)"
                .to_owned(),
        );
    }
    if p.contains('.') {
        return Err(format!(
            "invalid prefix `{p}`: a prefix is one name without `.` (the command is `prefix.action`)"
        ));
    }
    segment(p, "prefix", p)
}

/// An action (`join`) or a full command (`room.join`).
pub(crate) fn command(c: &str) -> Result<(), String> {
    if c.is_empty() {
        return Err("invalid command ``: empty; write an action like `\"join\"` or a full command like `\"room.join\"`".to_owned());
    }
    if c.split('.').any(str::is_empty) {
        let parts: Vec<&str> = c.split('.').filter(|s| !s.is_empty()).collect();
        return Err(format!(
            "invalid command `{c}`: empty segment; write `\"{}\"`",
            parts.join(".")
        ));
    }
    c.split('.').try_for_each(|s| segment(s, "command", c))
}

/// An error code: 1–64 characters of `a-z`, `0-9`, `_`, `.` and `-`, starting with a letter
/// (the codes of `swoft_ws::protocol::codes` and the TypeScript string-literal union).
pub(crate) fn error_code(c: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&c.len())
        && c.starts_with(|ch: char| ch.is_ascii_lowercase())
        && c.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid error code `{c}`: write 1-64 characters of `a-z`, `0-9`, `_`, `.` and `-`, starting with a letter, like `\"not_found\"`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(path("/").is_ok());
        assert!(path("/chat").is_ok());
        assert!(path("/a/b-c_d.e").is_ok());
        assert!(path("chat").is_ok());
        assert_eq!(normal_path("chat"), "/chat");
        assert!(path("/a//b").unwrap_err().contains("\"/a/b\""));
        assert!(path("/a/").is_err());
        assert!(path("/a/{id}").is_ok());
        assert!(path("/a/{id}/b/{id}").unwrap_err().contains("twice"));
        assert!(path("/a/x{id}").is_err());
        assert!(path("/a/{1d}").is_err());
        assert_eq!(
            path_vars("/a/{id}/b/{name}").collect::<Vec<_>>(),
            ["id", "name"]
        );
        assert!(param_regex(r"\d+").is_ok());
        assert!(param_regex(r"(\d+").is_err());
    }

    #[test]
    fn commands() {
        assert!(command("join").is_ok());
        assert!(command("room.join").is_ok());
        assert!(command("room..join").unwrap_err().contains("empty segment"));
        assert!(command("").is_err());
        assert!(command("a b").is_err());
        assert!(prefix("room").is_ok());
        assert!(prefix("a.b").is_err());
        assert!(prefix("").unwrap_err().contains("root = true"));
        assert!(command(".join").unwrap_err().contains("`\"join\"`"));
    }
}
