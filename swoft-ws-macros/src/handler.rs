//! Methods the macros call: their signature model, and the shim code that calls them.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ImplItemFn, ReturnType, Type};

use crate::errors::Errors;

/// A method as the generated shim sees it.
pub(crate) struct Method {
    pub(crate) ident: Ident,
    pub(crate) receiver: bool,
    pub(crate) is_async: bool,
    pub(crate) args: Vec<Type>,
    pub(crate) output: ReturnType,
}

impl Method {
    /// Reads a method's signature, reporting what a handler or hook cannot be.
    pub(crate) fn from_fn(f: &ImplItemFn, what: &str, errors: &mut Errors) -> Method {
        let sig = &f.sig;
        if !sig.generics.params.is_empty() {
            errors.at(
                &sig.generics.params,
                format!("a {what} cannot be generic: swoft-ws registers it as one function at start-up; use concrete types (and elided lifetimes)"),
            );
        }
        if let Some(wc) = &sig.generics.where_clause {
            errors.at(wc, format!("a {what} cannot have a where clause"));
        }
        if let Some(c) = &sig.constness {
            errors.at(c, format!("a {what} cannot be a `const fn`"));
        }
        if let Some(u) = &sig.unsafety {
            errors.at(u, format!("a {what} cannot be `unsafe`"));
        }
        if let Some(abi) = &sig.abi {
            errors.at(abi, format!("a {what} cannot have an `extern` ABI"));
        }
        if let Some(v) = &sig.variadic {
            errors.at(v, format!("a {what} cannot be variadic"));
        }
        let mut receiver = false;
        let mut args = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(r) => {
                    receiver = true;
                    if r.colon_token.is_some() {
                        errors.at(r, format!("a {what} takes `&self` or no receiver"));
                    } else if r.reference.is_none() {
                        errors.at(
                            r,
                            format!("a {what} cannot take `self` by value: one instance serves every connection; take `&self`"),
                        );
                    } else if let Some(m) = &r.mutability {
                        errors.at(
                            m,
                            format!("a {what} cannot take `&mut self`: one instance serves every connection at once; take `&self` (and keep mutable state in a Mutex or an atomic)"),
                        );
                    }
                }
                FnArg::Typed(pt) => {
                    if let Type::ImplTrait(it) = &*pt.ty {
                        errors.at(
                            it,
                            format!("a {what}'s arguments need concrete types, not `impl Trait`"),
                        );
                    }
                    args.push((*pt.ty).clone());
                }
            }
        }
        Method {
            ident: sig.ident.clone(),
            receiver,
            is_async: sig.asyncness.is_some(),
            args,
            output: sig.output.clone(),
        }
    }

    /// `this.name(args)` or `<Type>::name(args)`.
    pub(crate) fn call(&self, self_ty: &Type, args: &[TokenStream]) -> TokenStream {
        let ident = &self.ident;
        if self.receiver {
            quote!(this.#ident(#(#args),*))
        } else {
            quote!(<#self_ty>::#ident(#(#args),*))
        }
    }

    /// Where errors about the return value point.
    pub(crate) fn output_span(&self) -> Span {
        match &self.output {
            ReturnType::Default => self.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        }
    }
}

/// The body of a handler's dispatch arm: extract each argument from `cx` (an extraction
/// error is the reply), call the method, turn its return value into a `Reply`.
///
/// Expects `this` (the typed instance, when the method takes `&self`) and `cx: &'a Context` in
/// scope; evaluates to `MaybeReady<'a, Reply>`.
pub(crate) fn handler_arm(self_ty: &Type, m: &Method, sw: &TokenStream) -> TokenStream {
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
    let call = m.call(self_ty, &vars);
    let reply = quote_spanned! {m.output_span()=>
        (&&&__swoft_probe(&__swoft_ret)).__swoft_kind().reply(__swoft_ret)
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

/// `let this: &'a T = downcast(this);` when any method needs it.
pub(crate) fn bind_this(self_ty: &Type, needed: bool, sw: &TokenStream) -> TokenStream {
    if needed {
        quote!(let this: &#self_ty = #sw::downcast::<#self_ty>(this);)
    } else {
        quote!(let _ = this;)
    }
}

/// The reply conversion by autoref specialization, as items local to the dispatch function:
/// `(&&&__swoft_probe(&ret)).__swoft_kind().reply(ret)` picks `IntoReply` first, then
/// `Serialize`, and last a fallback that asks for `IntoReply` again, so a type that is neither
/// is reported by `IntoReply`'s own message ("cannot be a handler's reply", with what to return)
/// at the return type, instead of as an unresolved method.
pub(crate) fn reply_imports(sw: &TokenStream) -> TokenStream {
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
        impl<T: #sw::IntoReply> __SwoftViaIntoReply for &&__SwoftProbe<T> {
            fn __swoft_kind(&self) -> #sw::IntoReplyKind {
                #sw::IntoReplyKind
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
pub(crate) fn location(span: Span, sw: &TokenStream) -> TokenStream {
    quote_spanned! {span=>
        #sw::Location { file: ::core::file!(), line: ::core::line!() }
    }
}

/// The last segment of a type path, for names in errors and logs.
pub(crate) fn type_name(ty: &Type) -> String {
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
