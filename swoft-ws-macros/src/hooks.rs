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

    /// What each argument (after `&self`) must be, in order.
    fn params(self) -> &'static [&'static str] {
        match self {
            Kind::Handshake => &["req: &HandshakeRequest"],
            Kind::Open => &["conn: &Connection"],
            Kind::Close => &["conn: &Connection", "info: &CloseInfo"],
            Kind::Message => &[],
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
        // Fixed arguments: passed in order, each through a local trait implemented only for
        // the reference the runtime lends, so a wrong type is reported at the type the user
        // wrote, saying what to write instead.
        let typed = |sources: &[(&str, TokenStream)]| -> Vec<TokenStream> {
            m.args
                .iter()
                .zip(sources.iter().zip(kind.params()))
                .enumerate()
                .map(|(i, (ty, ((src, src_ty), param)))| {
                    let tr = format_ident!("__SwoftHookArg{}", i);
                    let at = ty.span();
                    let src = syn::Ident::new(src, at);
                    let msg = format!("`#[{}]` passes `{param}` here, not `{{Self}}`", kind.attr());
                    let label = format!("write `{param}`");
                    quote_spanned! {at=> {
                        #[diagnostic::on_unimplemented(message = #msg, label = #label)]
                        trait #tr<'x> {
                            fn __swoft_lend(v: &'x #src_ty) -> Self;
                        }
                        impl<'x> #tr<'x> for &'x #src_ty {
                            fn __swoft_lend(v: &'x #src_ty) -> Self {
                                v
                            }
                        }
                        <#ty as #tr<'_>>::__swoft_lend(#src)
                    }}
                })
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
                let call = m.call(self_ty, &typed(&[("req", quote!(#sw::HandshakeRequest))]));
                let out = m.output_span();
                // The value is bound to a name spanned on the return type, so a type that is no
                // decision is reported there.
                let decide = |v: TokenStream| quote_spanned!(out=> { let __swoft_out = #v; #sw::IntoHandshake::into_handshake(__swoft_out) });
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
                let call = m.call(
                    self_ty,
                    &typed(&[
                        ("conn", quote!(#sw::Connection)),
                        ("info", quote!(#sw::CloseInfo)),
                    ]),
                );
                let out = m.output_span();
                let done = |v: TokenStream| quote_spanned!(out=> { let __swoft_out = #v; #sw::HookOutput::done(__swoft_out, #name) });
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
            let mut typed = f
                .sig
                .inputs
                .iter()
                .filter(|a| matches!(a, syn::FnArg::Typed(_)));
            // The fixed arguments are lent to the hook: a type that is not a reference cannot
            // be right (the compiler checks the rest).
            for (ty, param) in method.args.iter().zip(kind.params()) {
                if !matches!(ty, syn::Type::Reference(_)) {
                    errors.at(
                        ty,
                        format!(
                            "`#[{}]` borrows this argument: write `{param}`",
                            kind.attr()
                        ),
                    );
                }
            }
            if let Some(first_extra) = typed.nth(max) {
                errors.at(
                    first_extra,
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
