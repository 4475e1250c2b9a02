//! `#[ws_module(...)]` on a struct (the module), or `#[ws_module]` on an `impl` block (its
//! hooks).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Item, ItemStruct};

use crate::args::{self, ModuleArgs};
use crate::errors::Errors;
use crate::handler;

pub(crate) fn expand(args: TokenStream, input: &TokenStream) -> TokenStream {
    match syn::parse2::<Item>(input.clone()) {
        Ok(Item::Struct(s)) => expand_struct(args, &s),
        Ok(Item::Impl(i)) => crate::hooks::expand(args, i),
        Ok(other) => {
            let err = syn::Error::new_spanned(
                crate::controller::first_tokens(&quote!(#other)),
                "#[ws_module] must be placed on a struct (`#[ws_module(path = \"/chat\")] pub struct ChatModule;`) or on an `impl` block of that struct (its hooks)",
            )
            .into_compile_error();
            quote!(#err #other)
        }
        Err(e) => {
            let err = e.into_compile_error();
            quote!(#err #input)
        }
    }
}

fn expand_struct(args: TokenStream, item: &ItemStruct) -> TokenStream {
    let mut errors = Errors::default();
    let args = ModuleArgs::parse(args, &mut errors);
    let sw = args::private_path(&args.krate);
    if args.path.is_none() && errors.is_empty() {
        errors.at(
            &item.ident,
            "#[ws_module] needs a path: `#[ws_module(path = \"/chat\")]`",
        );
    }
    if !item.generics.params.is_empty() {
        errors.at(
            &item.generics.params,
            "a ws module cannot be generic: the registry holds one concrete type",
        );
    }
    let ident = &item.ident;
    if !errors.is_empty() {
        let errs = errors.to_compile_errors();
        if !item.generics.params.is_empty() {
            // A stub impl for a generic type would be one more (confusing) error.
            return quote!(#item #errs);
        }
        return quote! {
            #item
            #errs
            const _: () = {
                #[automatically_derived]
                impl #sw::Module for #ident {
                    const DEF: &'static #sw::ModuleDef = &#sw::STUB_MODULE;
                }
            };
        };
    }

    let path = args.path.as_ref().map(|l| l.value()).unwrap_or_default();
    let name = ident.to_string();
    let controllers = args
        .controllers
        .iter()
        .flatten()
        .map(|c| quote_spanned!(c.span()=> <#c as #sw::Controller>::DEF));
    let parser = args.parser_tokens(&sw);
    let opt = |l: &Option<syn::LitStr>| match l {
        Some(l) => quote!(#sw::Some(#l)),
        None => quote!(#sw::None),
    };
    let default_command = opt(&args.default_command);
    let default_prefix = opt(&args.default_prefix);
    let middleware = args::middleware_refs(args.middleware.as_deref().unwrap_or_default(), &sw);
    let concurrency = args.concurrency.unwrap_or(1);
    let limits = args.limits.tokens(&sw);
    let loc = handler::location(ident.span(), &sw);
    let (make, make_fn) = if matches!(item.fields, Fields::Unit) {
        (
            quote!(__swoft_make),
            quote! {
                fn __swoft_make() -> #sw::Instance {
                    #sw::Arc::new(#ident)
                }
            },
        )
    } else {
        (
            quote_spanned!(ident.span()=> #sw::make_default::<#ident>),
            quote!(),
        )
    };
    quote! {
        #item
        #[doc(hidden)]
        #[allow(non_upper_case_globals, non_snake_case, clippy::all, clippy::pedantic)]
        const _: () = {
            #[automatically_derived]
            impl #sw::Module for #ident {
                const DEF: &'static #sw::ModuleDef = &#sw::ModuleDef {
                    name: #name,
                    path: #path,
                    type_id: #sw::type_id::<#ident>,
                    make: #make,
                    controllers: &[#(#controllers),*],
                    parser: #parser,
                    default_command: #default_command,
                    default_prefix: #default_prefix,
                    middleware: #middleware,
                    concurrency: #concurrency,
                    limits: #limits,
                    location: #loc,
                };
            }

            #make_fn

            #sw::inventory::submit! {
                #sw::ModuleEntry(<#ident as #sw::Module>::DEF)
            }
        };
    }
}
