//! `#[ws_module]` on an `impl` block: one shim per hook, a compile-time check that the type is
//! a module, and the submission of the hooks.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemImpl, Type};

use super::{dummy, fallback, shim};
use crate::ast::{Hook, HookBlock, Kind, Method};
use crate::attr;
use crate::check;
use crate::ctxt::Ctxt;

pub(super) fn expand(args: TokenStream, item: ItemImpl) -> TokenStream {
    let cx = Ctxt::new();
    let krate = attr::hook_block_args(args, &cx);
    let block = HookBlock::from_syn(item, krate);
    check::hook_block(&cx, &block);
    match cx.check() {
        Ok(()) => hooks_impl(&block),
        Err(e) => fallback::hook_block(&block.item, &e.to_compile_error()),
    }
}

fn hooks_impl(b: &HookBlock) -> TokenStream {
    let sw = attr::private_path(&b.krate);
    let sw = &sw;
    let item = &b.item;
    let self_ty = &*item.self_ty;
    // The hooks belong to a module: checked here, at the type, at compile time.
    let is_module = quote_spanned! {self_ty.span()=>
        const _: &#sw::ModuleDef = <#self_ty as #sw::Module>::DEF;
    };
    let mut shims = Vec::new();
    let mut fields = Vec::new();
    for kind in Kind::ALL {
        let field = format_ident!("{}", &kind.attr()[3..]);
        let Some(h) = b.hook(kind) else {
            fields.push(quote!(#field: #sw::None));
            continue;
        };
        let shim = format_ident!("__swoft_{}", kind.attr());
        let loc = shim::location(h.span(), sw);
        let needs = if matches!(kind, Kind::Message) {
            let needs = format_ident!("__swoft_{}_needs", kind.attr());
            shims.push(shim::needs_fn(&needs, &h.method, sw));
            quote!(#needs)
        } else {
            quote!(#sw::no_needs)
        };
        fields.push(
            quote!(#field: #sw::Some(#sw::Hook { call: #shim, location: #loc, needs: #needs })),
        );
        let at = Shim {
            name: &shim,
            self_ty,
            sw,
        };
        shims.push(match kind {
            Kind::Handshake => on_handshake(&at, h),
            Kind::Open => on_open(&at, h),
            Kind::Message => on_message(&at, h),
            Kind::Close => on_close(&at, h),
        });
    }
    let name = shim::type_name(self_ty);
    let body = quote! {
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
    let wrapped = dummy::wrap(&body);
    quote!(#item #wrapped)
}

/// What every hook's shim needs: its name, the module type, the runtime path.
struct Shim<'a> {
    name: &'a syn::Ident,
    self_ty: &'a Type,
    sw: &'a TokenStream,
}

impl Shim<'_> {
    /// The type of the erased module instance the runtime passes.
    fn dyn_this(&self) -> TokenStream {
        let sw = self.sw;
        quote!(&'a (dyn #sw::Any + ::core::marker::Send + ::core::marker::Sync))
    }
}

/// `#[on_message]`: the same arm as a handler's (extract, call, reply).
fn on_message(at: &Shim<'_>, h: &Hook) -> TokenStream {
    let Shim { name, self_ty, sw } = at;
    let dyn_this = at.dyn_this();
    let imports = shim::reply_imports(sw);
    let bind_this = shim::bind_this(self_ty, h.method.receiver, sw);
    let body = shim::handler_arm(self_ty, &h.method, sw);
    quote! {
        fn #name<'a>(this: #dyn_this, _index: u16, cx: &'a #sw::Context)
            -> #sw::MaybeReady<'a, #sw::Reply> {
            #imports
            #bind_this
            #body
        }
    }
}

/// `#[on_handshake]`: the request lent, the value turned into a decision.
fn on_handshake(at: &Shim<'_>, h: &Hook) -> TokenStream {
    let Shim { name, self_ty, sw } = at;
    let m = &h.method;
    let dyn_this = at.dyn_this();
    let bind_this = shim::bind_this(self_ty, m.receiver, sw);
    let args = lent_args(h, &[("req", quote!(#sw::HandshakeRequest))]);
    let call = shim::call(self_ty, m, &args);
    let out = m.output_span();
    // The value is bound to a name spanned on the return type, so a type that is no decision
    // is reported there.
    let decide = |v: TokenStream| quote_spanned!(out=> { let __swoft_out = #v; #sw::IntoHandshake::into_handshake(__swoft_out) });
    let run = run(m, &call, decide, sw);
    quote! {
        fn #name<'a>(this: #dyn_this, req: &'a #sw::HandshakeRequest)
            -> #sw::MaybeReady<'a, #sw::HandshakeOutcome> {
            #bind_this
            let _ = req;
            #run
        }
    }
}

/// `#[on_open]`: the connection lent.
fn on_open(at: &Shim<'_>, h: &Hook) -> TokenStream {
    let Shim { name, self_ty, sw } = at;
    let dyn_this = at.dyn_this();
    let bind_this = shim::bind_this(self_ty, h.method.receiver, sw);
    let run = connection_hook_run(at, h, &[("conn", quote!(#sw::Connection))]);
    quote! {
        fn #name<'a>(this: #dyn_this, conn: &'a #sw::Connection)
            -> #sw::MaybeReady<'a, ()> {
            #bind_this
            let _ = conn;
            #run
        }
    }
}

/// `#[on_close]`: the connection and how it closed, lent.
fn on_close(at: &Shim<'_>, h: &Hook) -> TokenStream {
    let Shim { name, self_ty, sw } = at;
    let dyn_this = at.dyn_this();
    let bind_this = shim::bind_this(self_ty, h.method.receiver, sw);
    let run = connection_hook_run(
        at,
        h,
        &[
            ("conn", quote!(#sw::Connection)),
            ("info", quote!(#sw::CloseInfo)),
        ],
    );
    quote! {
        fn #name<'a>(this: #dyn_this, conn: &'a #sw::Connection, info: &'a #sw::CloseInfo)
            -> #sw::MaybeReady<'a, ()> {
            #bind_this
            let _ = conn;
            let _ = info;
            #run
        }
    }
}

/// The call of an open or close hook, its value checked to be `()` (or a logged error).
fn connection_hook_run(at: &Shim<'_>, h: &Hook, sources: &[(&str, TokenStream)]) -> TokenStream {
    let Shim { self_ty, sw, .. } = at;
    let m = &h.method;
    let name = h.kind.attr();
    let call = shim::call(self_ty, m, &lent_args(h, sources));
    let out = m.output_span();
    let done = |v: TokenStream| quote_spanned!(out=> { let __swoft_out = #v; #sw::HookOutput::done(__swoft_out, #name) });
    run(m, &call, done, sw)
}

/// The fixed arguments, passed in order, each through a local trait implemented only for the
/// reference the runtime lends, so a wrong type is reported at the type the user wrote, saying
/// what to write instead.
fn lent_args(h: &Hook, sources: &[(&str, TokenStream)]) -> Vec<TokenStream> {
    h.method
        .args
        .iter()
        .zip(sources.iter().zip(h.kind.params()))
        .enumerate()
        .map(|(i, (ty, ((src, src_ty), param)))| {
            let tr = format_ident!("__SwoftHookArg{}", i);
            let at = ty.span();
            let src = syn::Ident::new(src, at);
            let msg = format!(
                "`#[{}]` passes `{param}` here, not `{{Self}}`",
                h.kind.attr()
            );
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
}

/// Calls the hook (awaiting it if it is async) and passes its value through `finish`.
fn run(
    m: &Method,
    call: &TokenStream,
    finish: impl Fn(TokenStream) -> TokenStream,
    sw: &TokenStream,
) -> TokenStream {
    if m.is_async {
        let done = finish(quote!(#call.await));
        quote_spanned!(m.ident.span()=> #sw::MaybeReady::boxed(async move { #done }))
    } else {
        let done = finish(call.clone());
        quote!(#sw::MaybeReady::ready(#done))
    }
}
