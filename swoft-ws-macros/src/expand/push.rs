//! `#[push("room.message", module = ChatModule)]` on a struct or enum: the type as written, and
//! a `PushDef` submitted to the runtime's push list, so that `App::describe` lists the push
//! (its commands and the type's schema). With `reply = Type` the push is a request the server
//! asks clients with (`conn.request(..)`, a room's `request(..)`) and `Type` the answer it
//! expects: the contract lists it as such. One small pipeline in one file: the arguments (one
//! or more command literals, `module = Type`, `reply = Type`, `crate = path`), the checks
//! (valid commands, each once; a type not generic over types; a reply type without
//! lifetimes), the code.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericParam, Ident, LitStr, Path, Token, Type};

use super::{dummy, shim};
use crate::check;

const SHAPE: &str = "expected the pushed commands, then optional keys: `#[push(\"room.message\")]`, `#[push(\"room.joined\", \"room.left\", module = ChatModule)]`, `#[push(\"poll.ask\", module = ChatModule, reply = PollAnswer)]`";

/// The parsed arguments.
struct Args {
    commands: Vec<LitStr>,
    module: Option<Path>,
    /// `reply = Type`: the push is a request, answered with a `Type`.
    reply: Option<Type>,
    krate: Option<Path>,
}

pub(crate) fn expand(args: TokenStream, input: &TokenStream) -> TokenStream {
    let item: DeriveInput = match syn::parse2(input.clone()) {
        Ok(i) => i,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "`#[push(\"...\")]` must be on the struct or enum a push carries as its data",
            );
            let err = e.to_compile_error();
            return quote!(#input #err);
        }
    };
    match parse(args).and_then(|a| checked(a, &item)) {
        Ok(a) => code(&item, &a, input),
        Err(e) => {
            let err = e.to_compile_error();
            quote!(#input #err)
        }
    }
}

fn parse(args: TokenStream) -> syn::Result<Args> {
    let mut out = Args {
        commands: Vec::new(),
        module: None,
        reply: None,
        krate: None,
    };
    if args.is_empty() {
        return Err(syn::Error::new(Span::call_site(), SHAPE));
    }
    syn::parse::Parser::parse2(
        |input: syn::parse::ParseStream<'_>| {
            while input.peek(LitStr) {
                out.commands.push(input.parse()?);
                if input.is_empty() {
                    return Ok(());
                }
                input.parse::<Token![,]>()?;
            }
            let keys = Punctuated::<Key, Token![,]>::parse_terminated(input)?;
            for key in keys {
                let taken = match key.value {
                    KeyValue::Module(p) => out.module.replace(p).is_some(),
                    KeyValue::Crate(p) => out.krate.replace(p).is_some(),
                    KeyValue::Reply(t) => out.reply.replace(t).is_some(),
                };
                if taken {
                    return Err(syn::Error::new_spanned(&key.name, "given twice"));
                }
            }
            Ok(())
        },
        args,
    )?;
    Ok(out)
}

/// One `key = value` of the arguments.
struct Key {
    name: Ident,
    value: KeyValue,
}

enum KeyValue {
    /// `module = Type`.
    Module(Path),
    /// `crate = path`.
    Crate(Path),
    /// `reply = Type`.
    Reply(Type),
}

impl syn::parse::Parse for Key {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        let key = name.to_string();
        if !matches!(key.as_str(), "module" | "reply" | "crate") {
            return Err(syn::Error::new_spanned(
                &name,
                "unknown push argument; expected `module = Type`, `reply = Type` or `crate = path`",
            ));
        }
        input.parse::<Token![=]>()?;
        let value = if key == "reply" {
            KeyValue::Reply(input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the type clients answer with: `reply = PollAnswer`",
                )
            })?)
        } else {
            let expr: syn::Expr = input.parse()?;
            match expr {
                syn::Expr::Path(p) if key == "module" => KeyValue::Module(p.path),
                syn::Expr::Path(p) => KeyValue::Crate(p.path),
                other => return Err(syn::Error::new_spanned(other, "expected a path")),
            }
        };
        Ok(Key { name, value })
    }
}

/// Every misuse, combined: no command, a command that is not one, one given twice, type
/// parameters, a reply type with a lifetime (the server decodes the answer into an owned value)
/// or `_`.
fn checked(a: Args, item: &DeriveInput) -> syn::Result<Args> {
    let mut errors: Option<syn::Error> = None;
    let mut add = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    if a.commands.is_empty() {
        add(syn::Error::new(Span::call_site(), SHAPE));
    }
    for (i, lit) in a.commands.iter().enumerate() {
        if let Err(msg) = check::command(&lit.value()) {
            add(syn::Error::new_spanned(lit, msg));
        } else if a.commands[..i].iter().any(|l| l.value() == lit.value()) {
            add(syn::Error::new_spanned(
                lit,
                format!("push `{}` is listed twice", lit.value()),
            ));
        }
    }
    for p in &item.generics.params {
        if !matches!(p, GenericParam::Lifetime(_)) {
            add(syn::Error::new(
                p.span(),
                "a push type cannot be generic over types or consts (lifetimes are fine): declare the push on a concrete type",
            ));
        }
    }
    if let Some(ty) = &a.reply {
        reply_checks(ty, &mut add);
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(a),
    }
}

/// A reply type is decoded from the client's answer: it owns its data (no lifetimes, no
/// references) and is named (no `_`, no `impl`). A walk of its tokens finds them all.
fn reply_checks(ty: &Type, add: &mut impl FnMut(syn::Error)) {
    use proc_macro2::{Spacing, TokenTree};
    fn walk(tokens: TokenStream, add: &mut impl FnMut(syn::Error)) {
        let mut iter = tokens.into_iter().peekable();
        while let Some(t) = iter.next() {
            match t {
                TokenTree::Group(g) => walk(g.stream(), add),
                TokenTree::Punct(p) if p.as_char() == '\'' && p.spacing() == Spacing::Joint => {
                    let mut lifetime = TokenStream::from(TokenTree::Punct(p));
                    if let Some(TokenTree::Ident(_)) = iter.peek() {
                        lifetime.extend(iter.next());
                    }
                    add(syn::Error::new_spanned(
                        lifetime,
                        "a reply type owns its data (the server decodes the client's answer into it): no lifetimes; write `String` for `&str`",
                    ));
                }
                TokenTree::Punct(p) if p.as_char() == '&' => {
                    let mut reference = TokenStream::from(TokenTree::Punct(p));
                    // `&'a T`: one error for the reference and its lifetime.
                    if matches!(iter.peek(), Some(TokenTree::Punct(q)) if q.as_char() == '\'') {
                        reference.extend(iter.next());
                        reference.extend(iter.next());
                    }
                    add(syn::Error::new_spanned(
                        reference,
                        "a reply type owns its data (the server decodes the client's answer into it): no references; write `String` for `&str`",
                    ));
                }
                TokenTree::Ident(i) if i == "_" || i == "impl" => add(syn::Error::new(
                    i.span(),
                    "name the reply type: `_` and `impl Trait` are not types here",
                )),
                _ => {}
            }
        }
    }
    walk(quote!(#ty), add);
}

fn code(item: &DeriveInput, a: &Args, input: &TokenStream) -> TokenStream {
    let sw = match &a.krate {
        Some(p) => quote!(#p::__private),
        None => quote!(::swoft_ws::__private),
    };
    let name = &item.ident;
    // Every lifetime of the type is 'static here: only the type's shape matters.
    let lifetimes = item.generics.params.iter().map(|_| quote!('static));
    let ty = if item.generics.params.is_empty() {
        quote!(#name)
    } else {
        quote!(#name<#(#lifetimes),*>)
    };
    let commands = a.commands.iter();
    let module = match &a.module {
        Some(m) => quote!(#sw::Some(#sw::module_id::<#m>)),
        None => quote!(#sw::None),
    };
    let at = shim::location(name.span(), &sw);
    // `reply = T`: its description, and a check (at the user's `T`) that an answer decodes
    // into it.
    let (reply_fn, reply) = match &a.reply {
        Some(r) => {
            let check = quote_spanned!(r.span()=> #sw::answer_type::<#r>);
            (
                quote! {
                    fn __swoft_push_reply() -> #sw::Option<#sw::TypeInfo> {
                        use #sw::{TypeViaAny as _, TypeViaSchema as _};
                        #check();
                        (&&#sw::Probe::<#r>::new()).__swoft_type()
                    }
                },
                quote!(#sw::Some(__swoft_push_reply)),
            )
        }
        None => (quote!(), quote!(#sw::None)),
    };
    let body = quote! {
        fn __swoft_push_type() -> #sw::Option<#sw::TypeInfo> {
            use #sw::{TypeViaAny as _, TypeViaSchema as _};
            (&&#sw::Probe::<#ty>::new()).__swoft_type()
        }
        #reply_fn
        #sw::inventory::submit! {
            #sw::PushEntry(&#sw::PushDef {
                commands: &[#(#commands),*],
                module: #module,
                payload: __swoft_push_type,
                reply: #reply,
                location: #at,
            })
        }
    };
    let wrapped = dummy::wrap(&body);
    quote!(#input #wrapped)
}
