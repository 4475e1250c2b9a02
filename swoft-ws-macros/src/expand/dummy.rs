//! The one wrapper of generated items: `const _: () = { ... };`, so that nothing the macros
//! define is nameable from the user's code.
//!
//! The allow list is short on purpose, so that a real lint in the expansion shows in the user's
//! build (`tests/tests/macro_lints.rs` denies `clippy::pedantic` and every warning over every
//! feature of the macros; CI lints it with `-D warnings`). Each lint allowed, and why:
//! - `clippy::let_unit_value`: a hook's value is bound to a name spanned on its return type, so
//!   a type the runtime cannot take is reported there; most `#[on_open]`/`#[on_close]` hooks
//!   return `()`.

use proc_macro2::TokenStream;
use quote::quote;

/// `#[doc(hidden)] const _: () = { #body };`
pub(super) fn wrap(body: &TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(clippy::let_unit_value)]
        const _: () = {
            #body
        };
    }
}
