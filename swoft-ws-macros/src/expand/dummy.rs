//! The one wrapper of generated items: `const _: () = { ... };`, so that nothing the macros
//! define is nameable from the user's code, under a short list of allowed lints.

use proc_macro2::TokenStream;
use quote::quote;

/// `#[doc(hidden)] const _: () = { #body };`
pub(super) fn wrap(body: &TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, non_snake_case, clippy::all, clippy::pedantic)]
        const _: () = {
            #body
        };
    }
}
