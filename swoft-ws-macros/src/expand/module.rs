//! `#[ws_module(...)]` on a struct (the module), or `#[ws_module]` on an `impl` block (its
//! hooks, `hooks.rs`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Item, ItemStruct, LitStr};

use super::{dummy, fallback, hooks, shim};
use crate::ast::Module;
use crate::attr::{self, LimitArgs, ModuleArgs, ParserArg};
use crate::check;
use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, input: &TokenStream) -> TokenStream {
    match syn::parse2::<Item>(input.clone()) {
        Ok(Item::Struct(s)) => module(args, &s),
        Ok(Item::Impl(i)) => hooks::expand(args, i),
        Ok(other) => {
            let err = syn::Error::new_spanned(
                check::first_tokens(&quote!(#other)),
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

/// The struct: parse, check, then `impl Module` and its submission (or the fallback).
fn module(args: TokenStream, item: &ItemStruct) -> TokenStream {
    let cx = Ctxt::new();
    let module = Module {
        item,
        args: ModuleArgs::parse(args, &cx),
    };
    check::module(&cx, &module);
    let sw = attr::private_path(&module.args.krate);
    match cx.check() {
        Ok(()) => module_impl(&module, &sw),
        Err(e) => fallback::module(item, &e.to_compile_error(), &sw),
    }
}

fn module_impl(m: &Module<'_>, sw: &TokenStream) -> TokenStream {
    let (item, args) = (m.item, &m.args);
    let ident = &item.ident;
    let path = check::normal_path(&args.path.as_ref().map(LitStr::value).unwrap_or_default());
    let params = args.params.iter().flatten().map(|(name, re)| {
        let name = name.to_string();
        quote!((#name, #re))
    });
    let name = ident.to_string();
    let protocols = args.protocols.iter().flatten();
    let opcode = match &args.opcode {
        Some(op) => attr::opcode_tokens(op, sw),
        None => quote!(#sw::Opcode::Text),
    };
    let label = match &args.name {
        Some(l) => quote!(#sw::Some(#l)),
        None => quote!(#sw::None),
    };
    let controllers = args
        .controllers
        .iter()
        .flatten()
        .map(|c| quote_spanned!(c.span()=> <#c as #sw::Controller>::DEF));
    let parser = parser(args, sw);
    let opt = |l: &Option<LitStr>| match l {
        Some(l) => quote!(#sw::Some(#l)),
        None => quote!(#sw::None),
    };
    let default_command = opt(&args.default_command);
    let default_prefix = opt(&args.default_prefix);
    let middleware = shim::middleware_refs(args.middleware.as_deref().unwrap_or_default(), sw);
    let concurrency = args.concurrency.unwrap_or(1);
    let limits = limits(&args.limits, sw);
    let loc = shim::location(ident.span(), sw);
    let (make, make_fn) = make(item, sw);
    let body = quote! {
        #[automatically_derived]
        impl #sw::Module for #ident {
            const DEF: &'static #sw::ModuleDef = &#sw::ModuleDef {
                name: #name,
                path: #path,
                params: &[#(#params),*],
                label: #label,
                protocols: &[#(#protocols),*],
                opcode: #opcode,
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
    let wrapped = dummy::wrap(&body);
    quote!(#item #wrapped)
}

/// How the module is made: a unit struct by its name, any other through `Default`.
fn make(item: &ItemStruct, sw: &TokenStream) -> (TokenStream, TokenStream) {
    let ident = &item.ident;
    if matches!(item.fields, Fields::Unit) {
        let make_fn = quote! {
            fn __swoft_make() -> #sw::Instance {
                #sw::Arc::new(#ident)
            }
        };
        (quote!(__swoft_make), make_fn)
    } else {
        (
            quote_spanned!(ident.span()=> #sw::make_default::<#ident>),
            quote!(),
        )
    }
}

/// The module's parser: JSON unless told otherwise.
fn parser(args: &ModuleArgs, sw: &TokenStream) -> TokenStream {
    match &args.parser {
        None | Some((ParserArg::Json, _)) => quote!(#sw::parser::<#sw::JsonParser>),
        Some((ParserArg::Raw, _)) => quote!(#sw::parser::<#sw::RawParser>),
        Some((ParserArg::TokenText, _)) => quote!(#sw::parser::<#sw::TokenTextParser>),
        Some((ParserArg::Custom(p), span)) => quote_spanned!(*span=> #sw::parser::<#p>),
    }
}

/// `ModuleLimits::NONE.max_connections(..)...` for the options given.
fn limits(l: &LimitArgs, sw: &TokenStream) -> TokenStream {
    let mut t = quote!(#sw::ModuleLimits::NONE);
    if let Some(n) = l.max_connections {
        let n = n as usize;
        t = quote!(#t.max_connections(#n));
    }
    if let Some(list) = &l.origins {
        t = quote!(#t.origins(&[#(#list),*]));
    }
    if l.rate_limit.is_some() || l.rate_burst.is_some() {
        let rate = l.rate_limit.unwrap_or(0);
        let burst = l.rate_burst.unwrap_or(rate);
        t = quote!(#t.rate_limit(#sw::RateLimit::new(#rate, #burst)));
    }
    if let Some(ms) = l.handler_timeout_ms {
        t = if ms == 0 {
            quote!(#t.no_handler_timeout())
        } else {
            quote!(#t.handler_timeout(::core::time::Duration::from_millis(#ms)))
        };
    }
    if let Some(n) = l.max_message_size {
        let n = n as usize;
        t = quote!(#t.max_message_size(#n));
    }
    if let Some(n) = l.max_rooms_per_connection {
        let n = n as usize;
        t = quote!(#t.max_rooms_per_connection(#n));
    }
    if let Some(r) = &l.recovery {
        let mut settings = quote!(#sw::Recovery::DEFAULT);
        if let Some(n) = r.window_secs {
            settings = quote!(#settings.window(::core::time::Duration::from_secs(#n)));
        }
        if let Some(n) = r.max_messages {
            let n = n as usize;
            settings = quote!(#settings.max_messages(#n));
        }
        if let Some(n) = r.max_bytes {
            let n = n as usize;
            settings = quote!(#settings.max_bytes(#n));
        }
        t = quote!(#t.recovery(#settings));
    }
    if let Some(id) = &l.backpressure {
        let v = if id == "drop_newest" {
            quote!(DropNewest)
        } else {
            quote!(Disconnect)
        };
        t = quote!(#t.backpressure(#sw::Backpressure::#v));
    }
    if let Some(c) = &l.compression {
        let c = crate::compression::tokens(c, sw);
        t = quote!(#t.compression(#c));
    }
    t
}
