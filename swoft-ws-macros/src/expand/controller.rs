//! `#[ws_controller]` on an `impl` block: `impl Controller` (its routes and their middleware),
//! the dispatch function, and the submission.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemImpl;
use syn::spanned::Spanned;

use super::{contract, dummy, fallback, shim};
use crate::ast::Controller;
use crate::attr::{self, ControllerArgs};
use crate::check;
use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, input: &TokenStream) -> TokenStream {
    let Ok(item) = syn::parse2::<ItemImpl>(input.clone()) else {
        let err = syn::Error::new_spanned(
            check::first_tokens(input),
            "#[ws_controller] must be placed on an `impl` block: `#[ws_controller(prefix = \"room\")] impl RoomController { ... }`",
        );
        let err = err.into_compile_error();
        return quote!(#err #input);
    };
    let cx = Ctxt::new();
    let args = ControllerArgs::parse(args, &cx);
    let controller = Controller::from_syn(item, args);
    check::controller(&cx, &controller);
    let sw = attr::private_path(&controller.args.krate);
    match cx.check() {
        Ok(()) => controller_impl(&controller, &sw),
        Err(e) => fallback::controller(&controller.item, &e.to_compile_error(), &sw),
    }
}

fn controller_impl(c: &Controller, sw: &TokenStream) -> TokenStream {
    let item = &c.item;
    let self_ty = &item.self_ty;
    let name = shim::type_name(self_ty);
    let prefix = c.prefix();
    let needs_fns = c
        .mapped()
        .enumerate()
        .map(|(i, r)| shim::needs_fn(&format_ident!("__swoft_needs_{}", i), &r.method, sw));
    let contract_fns = c
        .mapped()
        .enumerate()
        .map(|(i, r)| contract::route_fns(i, &r.method, sw));
    let route_defs = c.mapped().enumerate().map(|(i, r)| {
        let needs = format_ident!("__swoft_needs_{}", i);
        let contract = contract::route_contract(i, &r.errors(), sw);
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let (action, span) = r.action();
        let loc = shim::location(span, sw);
        let mw = shim::middleware_refs(&r.middleware(), sw);
        let root = r.is_root();
        let opcode = match r.opcode() {
            Some(op) => {
                let op = attr::opcode_tokens(op, sw);
                quote!(#sw::Some(#op))
            }
            None => quote!(#sw::None),
        };
        quote!(#sw::RouteDef {
            action: #action, root: #root, opcode: #opcode, index: #i, middleware: #mw, location: #loc, needs: #needs,
            contract: #contract
        })
    });
    let loc = shim::location(self_ty.span(), sw);
    let make = quote_spanned!(self_ty.span()=> #sw::make_default::<#self_ty>);
    let middleware = shim::middleware_refs(c.args.middleware.as_deref().unwrap_or_default(), sw);
    let dispatch = dispatch(c, sw);
    let body = quote! {
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

        #dispatch
        #(#needs_fns)*
        #(#contract_fns)*

        #sw::inventory::submit! {
            #sw::ControllerEntry(<#self_ty as #sw::Controller>::DEF)
        }
    };
    let wrapped = dummy::wrap(&body);
    quote!(#item #wrapped)
}

/// `__swoft_dispatch`: the route's index to its handler's arm.
fn dispatch(c: &Controller, sw: &TokenStream) -> TokenStream {
    let self_ty = &c.item.self_ty;
    let needs_this = c.mapped().any(|r| r.method.receiver);
    let bind_this = shim::bind_this(self_ty, needs_this, sw);
    let imports = shim::reply_imports(sw);
    let arms = c.mapped().enumerate().map(|(i, r)| {
        let i = u16::try_from(i).unwrap_or(u16::MAX);
        let body = shim::handler_arm(self_ty, &r.method, sw);
        quote!(#i => #body,)
    });
    quote! {
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
    }
}
