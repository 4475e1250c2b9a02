//! `#[ws_module]` on an `impl` block: the module's lifecycle hooks.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl, Path};

use crate::errors::Errors;
use crate::handler::{self, Method};

pub(crate) const MISPLACED: &str = "lifecycle hooks (`#[on_handshake]`, `#[on_open]`, `#[on_message]`, `#[on_close]`) must be on methods inside a `#[ws_module] impl ModuleType { ... }` block";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handshake,
    Open,
    Message,
    Close,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Handshake, Kind::Open, Kind::Message, Kind::Close];

    fn attr(self) -> &'static str {
        match self {
            Kind::Handshake => "on_handshake",
            Kind::Open => "on_open",
            Kind::Message => "on_message",
            Kind::Close => "on_close",
        }
    }

    /// The most arguments (after `&self`) the hook takes, and what they are.
    fn max_args(self) -> Option<(usize, &'static str)> {
        match self {
            Kind::Handshake => Some((1, "`req: &HandshakeRequest`")),
            Kind::Open => Some((1, "`conn: &Connection`")),
            Kind::Close => Some((2, "`conn: &Connection, info: &CloseInfo`")),
            Kind::Message => None,
        }
    }
}

struct HookMethod {
    kind: Kind,
    span: Span,
    method: Method,
}

pub(crate) fn expand(args: TokenStream, mut item: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    let krate = parse_args(args, &mut errors);
    let sw = crate::args::private_path(&krate);
    crate::controller::check_impl(&item, "ws_module", &mut errors);
    let hooks = collect(&mut item, &mut errors);
    let self_ty = &item.self_ty;
    // The hooks belong to a module: checked here, at the type, at compile time.
    let is_module = quote_spanned! {self_ty.span()=>
        const _: &'static #sw::ModuleDef = <#self_ty as #sw::Module>::DEF;
    };
    if !errors.is_empty() {
        let errs = errors.to_compile_errors();
        return quote!(#item #errs);
    }

    let imports = handler::reply_imports(&sw);
    let mut shims = Vec::new();
    let mut fields = Vec::new();
    for kind in Kind::ALL {
        let field = format_ident!("{}", &kind.attr()[3..]);
        let Some(h) = hooks.iter().find(|h| h.kind == kind) else {
            fields.push(quote!(#field: #sw::None));
            continue;
        };
        let m = &h.method;
        let shim = format_ident!("__swoft_{}", kind.attr());
        let bind_this = handler::bind_this(self_ty, m.receiver, &sw);
        let loc = handler::location(h.span, &sw);
        fields.push(quote!(#field: #sw::Some(#sw::Hook { call: #shim, location: #loc })));
        let dyn_this = quote!(&'a (dyn #sw::Any + ::core::marker::Send + ::core::marker::Sync));
        // Fixed arguments: passed in order, each checked against the type the user wrote.
        let typed = |sources: &[TokenStream]| -> Vec<TokenStream> {
            m.args
                .iter()
                .zip(sources)
                .map(|(ty, src)| quote_spanned!(ty.span()=> { let a: #ty = #src; a }))
                .collect()
        };
        let shim_fn = match kind {
            Kind::Message => {
                let body = handler::handler_arm(self_ty, m, &sw);
                quote! {
                    fn #shim<'a>(this: #dyn_this, _index: u16, cx: &'a #sw::Context)
                        -> #sw::MaybeReady<'a, #sw::Reply> {
                        #imports
                        #bind_this
                        #body
                    }
                }
            }
            Kind::Handshake => {
                let call = m.call(self_ty, &typed(&[quote!(req)]));
                let out = m.output_span();
                let decide =
                    |v: TokenStream| quote_spanned!(out=> #sw::IntoHandshake::into_handshake(#v));
                let run = run(m, call, decide, &sw);
                quote! {
                    fn #shim<'a>(this: #dyn_this, req: &'a #sw::HandshakeRequest)
                        -> #sw::MaybeReady<'a, #sw::HandshakeOutcome> {
                        #bind_this
                        let _ = req;
                        #run
                    }
                }
            }
            Kind::Open | Kind::Close => {
                let name = kind.attr();
                let call = m.call(self_ty, &typed(&[quote!(conn), quote!(info)]));
                let out = m.output_span();
                let done = |v: TokenStream| quote_spanned!(out=> #sw::HookOutput::done(#v, #name));
                let run = run(m, call, done, &sw);
                let info = if kind == Kind::Close {
                    quote!(, info: &'a #sw::CloseInfo)
                } else {
                    quote!()
                };
                let use_info = if kind == Kind::Close {
                    quote!(let _ = info;)
                } else {
                    quote!()
                };
                quote! {
                    fn #shim<'a>(this: #dyn_this, conn: &'a #sw::Connection #info)
                        -> #sw::MaybeReady<'a, ()> {
                        #bind_this
                        let _ = conn;
                        #use_info
                        #run
                    }
                }
            }
        };
        shims.push(shim_fn);
    }
    let name = handler::type_name(self_ty);
    quote! {
        #item
        #[doc(hidden)]
        #[allow(non_upper_case_globals, non_snake_case, clippy::all, clippy::pedantic)]
        const _: () = {
            #is_module
            #(#shims)*
            #sw::inventory::submit! {
                #sw::HooksEntry(&#sw::HooksDef {
                    module: #sw::type_id::<#self_ty>,
                    module_name: #name,
                    #(#fields,)*
                })
            }
        };
    }
}

/// Calls the hook (awaiting it if it is async) and passes its value through `finish`.
fn run(
    m: &Method,
    call: TokenStream,
    finish: impl Fn(TokenStream) -> TokenStream,
    sw: &TokenStream,
) -> TokenStream {
    if m.is_async {
        let done = finish(quote!(#call.await));
        quote_spanned!(m.ident.span()=> #sw::MaybeReady::boxed(async move { #done }))
    } else {
        let done = finish(call);
        quote!(#sw::MaybeReady::ready(#done))
    }
}

/// On an impl block, `#[ws_module]` takes nothing but an optional `crate = path`.
fn parse_args(args: TokenStream, errors: &mut Errors) -> Option<Path> {
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
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        errors.push(e);
    }
    krate
}

fn collect(item: &mut ItemImpl, errors: &mut Errors) -> Vec<HookMethod> {
    let mut hooks: Vec<HookMethod> = Vec::new();
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let mut found = Vec::new();
        f.attrs.retain(
            |a| match Kind::ALL.into_iter().find(|k| a.path().is_ident(k.attr())) {
                Some(k) => {
                    found.push((k, a.clone()));
                    false
                }
                None => true,
            },
        );
        let Some((kind, attr)) = found.first().cloned() else {
            continue;
        };
        for (_, extra) in &found[1..] {
            errors.at(extra, "a method can be one hook only");
        }
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            errors.at(&attr, format!("`#[{}]` takes no arguments", kind.attr()));
        }
        if let Some(first) = hooks.iter().find(|h| h.kind == kind) {
            let mut e = syn::Error::new_spanned(
                &attr,
                format!(
                    "a module has one `#[{}]` hook; this is the second",
                    kind.attr()
                ),
            );
            e.combine(syn::Error::new(first.span, "the first is here"));
            errors.push(e);
            continue;
        }
        let what = format!("#[{}] hook", kind.attr());
        let method = Method::from_fn(f, &what, errors);
        if let Some((max, list)) = kind.max_args() {
            if method.args.len() > max {
                errors.at(
                    &f.sig.inputs,
                    format!(
                        "`#[{}]` takes at most {max} argument{} after `&self`: {list}",
                        kind.attr(),
                        if max == 1 { "" } else { "s" }
                    ),
                );
            }
        }
        hooks.push(HookMethod {
            kind,
            span: f.sig.ident.span(),
            method,
        });
    }
    hooks
}
