//! The code shared by handlers and hooks: the dispatch arm that extracts, calls and replies,
//! the reply specialization, the typed instance, source locations, middleware lists.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, Type};

use crate::ast::Method;
use crate::attr::path_str;

/// `this.name(args)` or `<Type>::name(args)`.
pub(super) fn call(self_ty: &Type, m: &Method, args: &[TokenStream]) -> TokenStream {
    let ident = &m.ident;
    if m.receiver {
        quote!(this.#ident(#(#args),*))
    } else {
        quote!(<#self_ty>::#ident(#(#args),*))
    }
}

/// The body of a handler's dispatch arm: extract each argument from `cx` (an extraction
/// error is the reply), call the method, turn its return value into a `Reply`.
///
/// Expects `this` (the typed instance, when the method takes `&self`) and `cx: &'a Context` in
/// scope; evaluates to `MaybeReady<'a, Reply>`.
pub(super) fn handler_arm(self_ty: &Type, m: &Method, sw: &TokenStream) -> TokenStream {
    let vars: Vec<TokenStream> = (0..m.args.len())
        .map(|i| {
            let var = format_ident!("__swoft_arg{}", i);
            quote!(#var)
        })
        .collect();
    let extracts = m.args.iter().zip(&vars).map(|(ty, var)| {
        quote_spanned! {ty.span()=>
            let #var = match <#ty as #sw::FromContext<'_>>::from_context(cx) {
                #sw::Ok(v) => v,
                #sw::Err(e) => return #sw::reject(e),
            };
        }
    });
    let call = call(self_ty, m, &vars);
    let reply = quote_spanned! {m.output_span()=>
        (&&&&__swoft_probe(&__swoft_ret)).__swoft_kind().reply(__swoft_ret)
    };
    let run = if m.is_async {
        quote_spanned! {m.ident.span()=>
            #sw::MaybeReady::boxed(async move {
                let __swoft_ret = #call.await;
                #reply
            })
        }
    } else {
        quote! {{
            let __swoft_ret = #call;
            #sw::MaybeReady::ready(#reply)
        }}
    };
    quote! {{
        #(#extracts)*
        #run
    }}
}

/// `fn name(need)`: reports the state each of the method's arguments needs
/// (`FromContext::required_state`), for the build's check of `State<T>`.
pub(super) fn needs_fn(name: &syn::Ident, m: &Method, sw: &TokenStream) -> TokenStream {
    let calls = m.args.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            <#ty as #sw::FromContext<'_>>::required_state(need);
        }
    });
    quote! {
        fn #name(need: &mut dyn ::core::ops::FnMut(#sw::RequiredState)) {
            let _ = &need;
            #(#calls)*
        }
    }
}

/// `let this: &'a T = downcast(this);` when any method needs it.
pub(super) fn bind_this(self_ty: &Type, needed: bool, sw: &TokenStream) -> TokenStream {
    if needed {
        quote!(let this: &#self_ty = #sw::downcast::<#self_ty>(this);)
    } else {
        quote!(let _ = this;)
    }
}

/// The reply conversion by autoref specialization, as items local to the dispatch function:
/// `(&&&&__swoft_probe(&ret)).__swoft_kind().reply(ret)` picks `IntoReply` first; then any
/// other `Result`, whose kind asks for an error type that is `Into<WsError>` (so a `Result` is
/// always "reply or error reply", never serialized as `{"Ok": ..}`/`{"Err": ..}`, and a wrong
/// `E` is a compile error at the return type saying what to do); then `Serialize`; and last a
/// fallback that asks for `IntoReply` again, so a type that is none of these is reported by
/// `IntoReply`'s own message ("cannot be a handler's reply", with what to return) at the return
/// type, instead of as an unresolved method.
pub(super) fn reply_imports(sw: &TokenStream) -> TokenStream {
    quote! {
        #[allow(dead_code)]
        struct __SwoftProbe<T>(::core::marker::PhantomData<T>);
        #[allow(dead_code)]
        fn __swoft_probe<T>(_: &T) -> __SwoftProbe<T> {
            __SwoftProbe(::core::marker::PhantomData)
        }
        #[allow(dead_code)]
        trait __SwoftViaIntoReply {
            fn __swoft_kind(&self) -> #sw::IntoReplyKind;
        }
        impl<T: #sw::IntoReply> __SwoftViaIntoReply for &&&__SwoftProbe<T> {
            fn __swoft_kind(&self) -> #sw::IntoReplyKind {
                #sw::IntoReplyKind
            }
        }
        #[allow(dead_code)]
        trait __SwoftViaResult {
            fn __swoft_kind(&self) -> #sw::ResultKind;
        }
        impl<T, E> __SwoftViaResult for &&__SwoftProbe<#sw::Result<T, E>> {
            fn __swoft_kind(&self) -> #sw::ResultKind {
                #sw::ResultKind
            }
        }
        #[allow(dead_code)]
        trait __SwoftViaSerialize {
            fn __swoft_kind(&self) -> #sw::SerializeKind;
        }
        impl<T> __SwoftViaSerialize for &__SwoftProbe<T>
        where
            #sw::ReplyWrap<T>: #sw::ViaSerialize,
        {
            fn __swoft_kind(&self) -> #sw::SerializeKind {
                #sw::SerializeKind
            }
        }
        #[allow(dead_code)]
        trait __SwoftViaNeither {
            fn __swoft_kind(&self) -> #sw::IntoReplyKind;
        }
        impl<T> __SwoftViaNeither for __SwoftProbe<T> {
            fn __swoft_kind(&self) -> #sw::IntoReplyKind {
                #sw::IntoReplyKind
            }
        }
    }
}

/// `file!()`/`line!()` of a token in the user's source.
pub(super) fn location(span: Span, sw: &TokenStream) -> TokenStream {
    quote_spanned! {span=>
        #sw::Location { file: ::core::file!(), line: ::core::line!() }
    }
}

/// The last segment of a type path, for names in errors and logs.
pub(super) fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => quote!(#ty).to_string(),
    }
}

/// `&[MiddlewareRef, ...]` for a list of middleware types, each spanned on its path.
pub(super) fn middleware_refs(list: &[Path], sw: &TokenStream) -> TokenStream {
    let refs = list.iter().map(|p| {
        let name = path_str(p);
        quote_spanned! {p.span()=>
            #sw::MiddlewareRef {
                type_id: #sw::type_id::<#p>,
                name: #name,
                make: #sw::make_middleware::<#p>,
            }
        }
    });
    quote!(&[#(#refs),*])
}
