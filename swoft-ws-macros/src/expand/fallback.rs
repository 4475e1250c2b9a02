//! What is emitted when the checks fail: the item (helper attributes stripped), the errors,
//! and a stub impl of the trait the runtime and other macros expect, so that only the real
//! error shows and not a cascade of "`Module` is not implemented" (thiserror's fallback).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemImpl, ItemStruct};

use super::dummy;

/// A module struct: `impl Module` with the stub definition (none for a generic struct, which
/// would be one more, confusing, error).
pub(super) fn module(item: &ItemStruct, errors: &TokenStream, sw: &TokenStream) -> TokenStream {
    if !item.generics.params.is_empty() {
        return quote!(#item #errors);
    }
    let ident = &item.ident;
    let stub = dummy::wrap(&quote! {
        #[automatically_derived]
        impl #sw::Module for #ident {
            const DEF: &'static #sw::ModuleDef = &#sw::STUB_MODULE;
        }
    });
    quote!(#item #errors #stub)
}

/// A controller: `impl Controller` with the stub definition (none for a generic impl or a type
/// that is not a path).
pub(super) fn controller(item: &ItemImpl, errors: &TokenStream, sw: &TokenStream) -> TokenStream {
    let self_ty = &item.self_ty;
    if !item.generics.params.is_empty() || !matches!(&**self_ty, syn::Type::Path(_)) {
        return quote!(#item #errors);
    }
    let stub = dummy::wrap(&quote! {
        #[automatically_derived]
        impl #sw::Controller for #self_ty {
            const DEF: &'static #sw::ControllerDef = &#sw::STUB_CONTROLLER;
        }
    });
    quote!(#item #errors #stub)
}

/// A block of hooks: nothing to stub (nothing refers to it).
pub(super) fn hook_block(item: &ItemImpl, errors: &TokenStream) -> TokenStream {
    quote!(#item #errors)
}
