//! `#[ws_controller]` on an `impl` block.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl};

use crate::args::{self, ControllerArgs};
use crate::errors::Errors;
use crate::handler::{self, Method};

struct Route {
    middleware: Vec<syn::Path>,
    action: String,
    lit_span: proc_macro2::Span,
    method: Method,
}

pub(crate) fn expand(args: TokenStream, input: &TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = ControllerArgs::parse(args, &mut errors);
    let mut item: ItemImpl = match syn::parse2(input.clone()) {
        Ok(i) => i,
        Err(_) => {
            let err = syn::Error::new_spanned(
                first_tokens(input),
                "#[ws_controller] must be placed on an `impl` block: `#[ws_controller(prefix = \"room\")] impl RoomController { ... }`",
            );
            let err = err.into_compile_error();
            return quote!(#err #input);
        }
    };
    let sw = args::private_path(&args.krate);

    check_impl(&item, "ws_controller", &mut errors);
    let prefix = args.prefix();
    let routes = collect_routes(&mut item, &prefix, &mut errors);

    let self_ty = &item.self_ty;
    if !errors.is_empty() {
        let errs = errors.to_compile_errors();
        if !item.generics.params.is_empty() || !matches!(&**self_ty, syn::Type::Path(_)) {
            // A stub impl for such a type would be one more (confusing) error.
            return quote!(#item #errs);
        }
        return quote! {
            #item
            #errs
            const _: () = {
                #[automatically_derived]
                impl #sw::Controller for #self_ty {
                    const DEF: &'static #sw::ControllerDef = &#sw::STUB_CONTROLLER;
                }
            };
        };
    }

    let name = handler::type_name(self_ty);
    let needs_this = routes.iter().any(|r| r.method.receiver);
    let bind_this = handler::bind_this(self_ty, needs_this, &sw);
    let imports = handler::reply_imports(&sw);
    let arms = routes.iter().enumerate().map(|(i, r)| {
        let i = i as u16;
        let body = handler::handler_arm(self_ty, &r.method, &sw);
        quote!(#i => #body,)
    });
    let route_defs = routes.iter().enumerate().map(|(i, r)| {
        let i = i as u16;
        let action = &r.action;
        let loc = handler::location(r.lit_span, &sw);
        let mw = args::middleware_refs(&r.middleware, &sw);
        quote!(#sw::RouteDef { action: #action, index: #i, middleware: #mw, location: #loc })
    });
    let loc = handler::location(self_ty.span(), &sw);
    let make = quote_spanned!(self_ty.span()=> #sw::make_default::<#self_ty>);
    let middleware = args::middleware_refs(args.middleware.as_deref().unwrap_or_default(), &sw);
    quote! {
        #item
        #[doc(hidden)]
        #[allow(non_upper_case_globals, non_snake_case, clippy::all, clippy::pedantic)]
        const _: () = {
            #[automatically_derived]
            impl #sw::Controller for #self_ty {
                const DEF: &'static #sw::ControllerDef = &#sw::ControllerDef {
                    name: #name,
                    prefix: #prefix,
                    type_id: #sw::type_id::<#self_ty>,
                    make: #make,
                    routes: &[#(#route_defs),*],
                    middleware: #middleware,
                    dispatch: __swoft_dispatch,
                    location: #loc,
                };
            }

            fn __swoft_dispatch<'a>(
                this: &'a (dyn #sw::Any + ::core::marker::Send + ::core::marker::Sync),
                index: u16,
                cx: &'a #sw::Context,
            ) -> #sw::MaybeReady<'a, #sw::Reply> {
                #imports
                #bind_this
                match index {
                    #(#arms)*
                    _ => #sw::no_such_handler(),
                }
            }

            #sw::inventory::submit! {
                #sw::ControllerEntry(<#self_ty as #sw::Controller>::DEF)
            }
        };
    }
}

/// The first few tokens of an item, for an error that points at it (not at the whole item).
pub(crate) fn first_tokens(input: &TokenStream) -> TokenStream {
    input.clone().into_iter().take(2).collect()
}

/// An inherent, non-generic impl of a named type.
pub(crate) fn check_impl(item: &ItemImpl, attr: &str, errors: &mut Errors) {
    if let Some((_, path, _)) = &item.trait_ {
        errors.at(
            path,
            format!("#[{attr}] must be placed on an inherent impl (`impl Type {{ ... }}`), not a trait impl"),
        );
    }
    if !item.generics.params.is_empty() {
        errors.at(
            &item.generics.params,
            format!("#[{attr}] cannot be used on a generic impl: the registry holds one concrete type; wrap the generic type in a concrete one"),
        );
    }
    if let Some(u) = &item.unsafety {
        errors.at(u, format!("#[{attr}] cannot be used on an `unsafe impl`"));
    }
    if !matches!(&*item.self_ty, syn::Type::Path(_)) {
        errors.at(&item.self_ty, format!("#[{attr}] needs a named type"));
    }
}

/// Finds the mapped methods, strips every `#[message_mapping]`, and checks the commands.
fn collect_routes(item: &mut ItemImpl, prefix: &str, errors: &mut Errors) -> Vec<Route> {
    let mut routes = Vec::new();
    let mut seen: HashMap<String, proc_macro2::Span> = HashMap::new();
    for it in &mut item.items {
        let ImplItem::Fn(f) = it else { continue };
        let mut mappings = Vec::new();
        let mut middleware_attrs = Vec::new();
        f.attrs.retain(|a| {
            if a.path().is_ident("message_mapping") {
                mappings.push(a.clone());
                false
            } else if a.path().is_ident("middleware") {
                middleware_attrs.push(a.clone());
                false
            } else {
                true
            }
        });
        let mut middleware = Vec::new();
        for a in &middleware_attrs {
            match args::method_middleware(a) {
                Ok(list) => middleware.extend(list),
                Err(e) => errors.push(e),
            }
        }
        if mappings.is_empty() && !middleware_attrs.is_empty() {
            errors.at(
                &middleware_attrs[0],
                "`#[middleware(..)]` goes on a `#[message_mapping]` method",
            );
        }
        let Some(first) = mappings.first() else {
            continue;
        };
        for extra in &mappings[1..] {
            errors.at(
                extra,
                "a method has one `#[message_mapping]`; to serve two commands, write a second method that calls this one",
            );
        }
        let lit = match args::mapping_command(first) {
            Ok(l) => l,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let (action, lit_span) = match &lit {
            Some(l) => (l.value(), l.span()),
            None => (f.sig.ident.to_string(), f.sig.ident.span()),
        };
        if lit.is_none() {
            if let Err(msg) = crate::validate::command(&action) {
                errors.at(&f.sig.ident, msg);
                continue;
            }
        }
        let command = if prefix.is_empty() || action.contains('.') {
            action.clone()
        } else {
            format!("{prefix}.{action}")
        };
        if let Some(first_span) = seen.get(&command) {
            let mut e = syn::Error::new(
                lit_span,
                format!("duplicate command `{command}`: another method of this controller maps it"),
            );
            e.combine(syn::Error::new(
                *first_span,
                format!("`{command}` is first mapped here"),
            ));
            errors.push(e);
            continue;
        }
        seen.insert(command, lit_span);
        let method = Method::from_fn(f, "message handler", errors);
        routes.push(Route {
            middleware,
            action,
            lit_span,
            method,
        });
    }
    if routes.len() > u16::MAX as usize {
        errors.span(item.self_ty.span(), "too many handlers in one controller");
    }
    routes
}
