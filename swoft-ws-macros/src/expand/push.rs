//! `#[push("room.message", module = ChatModule)]` on a struct or enum: the type as written, and
//! a `PushDef` submitted to the runtime's push list, so that `App::describe` lists the push
//! (its commands and the type's schema). One small pipeline in one file: the arguments (one or
//! more command literals, `module = Type`, `crate = path`), the checks (valid commands, each
//! once; a type not generic over types), the code.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericParam, LitStr, Path, Token};

use super::{dummy, shim};
use crate::check;

const SHAPE: &str = "expected the pushed commands, then optional keys: `#[push(\"room.message\")]`, `#[push(\"room.joined\", \"room.left\", module = ChatModule)]`";

/// The parsed arguments.
struct Args {
    commands: Vec<LitStr>,
    module: Option<Path>,
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
            let keys: Punctuated<syn::MetaNameValue, Token![,]> =
                Punctuated::parse_terminated(input)?;
            for kv in keys {
                let slot = if kv.path.is_ident("module") {
                    &mut out.module
                } else if kv.path.is_ident("crate") {
                    &mut out.krate
                } else {
                    return Err(syn::Error::new_spanned(
                        &kv.path,
                        "unknown push argument; expected `module = Type` or `crate = path`",
                    ));
                };
                if slot.is_some() {
                    return Err(syn::Error::new_spanned(&kv.path, "given twice"));
                }
                *slot = Some(match kv.value {
                    syn::Expr::Path(p) => p.path,
                    other => return Err(syn::Error::new_spanned(other, "expected a path")),
                });
            }
            Ok(())
        },
        args,
    )?;
    Ok(out)
}

/// Every misuse, combined: no command, a command that is not one, one given twice, type
/// parameters.
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
    match errors {
        Some(e) => Err(e),
        None => Ok(a),
    }
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
    let body = quote! {
        fn __swoft_push_type() -> #sw::Option<#sw::TypeInfo> {
            use #sw::{TypeViaAny as _, TypeViaSchema as _};
            (&&#sw::Probe::<#ty>::new()).__swoft_type()
        }
        #sw::inventory::submit! {
            #sw::PushEntry(&#sw::PushDef {
                commands: &[#(#commands),*],
                module: #module,
                payload: __swoft_push_type,
                location: #at,
            })
        }
    };
    let wrapped = dummy::wrap(&body);
    quote!(#input #wrapped)
}
