//! The typed contract of a handler (`RouteContract`): a fn giving its payload type (the `T` of
//! its `Data<T>` argument) and one giving its reply type (from the return type), each found by
//! autoref specialization on `__private::Probe` so that a type without a schema is "any" rather
//! than a compile error, plus the declared `errors = [..]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ReturnType;

use crate::ast::Method;

/// `__swoft_payload_N` and `__swoft_reply_N` of the handler at index `i`.
pub(super) fn route_fns(i: usize, m: &Method, sw: &TokenStream) -> TokenStream {
    let payload = format_ident!("__swoft_payload_{}", i);
    let reply = format_ident!("__swoft_reply_{}", i);
    let probes = m.args.iter().map(|ty| {
        quote! {
            if let #sw::Some(t) = (&&&#sw::Probe::<#ty>::new()).__swoft_payload() {
                return #sw::Some(t);
            }
        }
    });
    let reply_body = match &m.output {
        ReturnType::Default => quote!(#sw::None),
        ReturnType::Type(_, ty) if mentions_impl(ty) => {
            let name = quote!(#ty).to_string();
            quote!(#sw::Some(#sw::TypeInfo { name: #name, schema: #sw::None }))
        }
        ReturnType::Type(_, ty) => quote! {{
            use #sw::{ReplyViaAny as _, ReplyViaNone as _, ReplyViaResultAny as _};
            use #sw::{ReplyViaResultSchema as _, ReplyViaSchema as _};
            (&&&&&#sw::Probe::<#ty>::new()).__swoft_reply()
        }},
    };
    quote! {
        fn #payload() -> #sw::Option<#sw::TypeInfo> {
            #[allow(unused_imports)]
            use #sw::{PayloadViaAny as _, PayloadViaNone as _, PayloadViaSchema as _};
            #(#probes)*
            #sw::None
        }
        fn #reply() -> #sw::Option<#sw::TypeInfo> {
            #reply_body
        }
    }
}

/// The `RouteContract` of the handler at index `i` (its fns from [`route_fns`]).
pub(super) fn route_contract(i: usize, errors: &[String], sw: &TokenStream) -> TokenStream {
    let payload = format_ident!("__swoft_payload_{}", i);
    let reply = format_ident!("__swoft_reply_{}", i);
    quote! {
        #sw::RouteContract { payload: #payload, reply: #reply, errors: &[#(#errors),*] }
    }
}

/// `impl Trait` somewhere in the type: not nameable as a type argument.
fn mentions_impl(ty: &syn::Type) -> bool {
    quote!(#ty).to_string().contains("impl ")
}
