//! The model the macros work on: a module struct, a controller and its routes, a block of
//! hooks, and the methods they call.
//!
//! Building it strips the helper attributes (`#[message_mapping]`, `#[middleware]`,
//! `#[on_*]`) from the item and parses their arguments, but reports nothing: a parse error is
//! kept in the model, and `check.rs` reports it in source order along with the rules.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, ItemStruct, Path};
use syn::{LitStr, ReturnType, Signature, Type};

use crate::attr::{self, ControllerArgs, MappingArgs, ModuleArgs};

/// `#[ws_module(...)]` on a struct.
pub(crate) struct Module<'a> {
    pub(crate) item: &'a ItemStruct,
    pub(crate) args: ModuleArgs,
}

/// `#[ws_controller(...)]` on an impl block.
pub(crate) struct Controller {
    /// The impl block, helper attributes stripped: what is emitted, whatever happens.
    pub(crate) item: ItemImpl,
    pub(crate) args: ControllerArgs,
    /// Every method with a `#[message_mapping]` or a `#[middleware]`, in source order.
    pub(crate) routes: Vec<Route>,
}

/// A method of a controller that carries its helper attributes.
pub(crate) struct Route {
    /// The first `#[message_mapping]`'s arguments (without a command when the method's name
    /// is the action). `None` on a method with only `#[middleware]`.
    pub(crate) command: Option<syn::Result<MappingArgs>>,
    /// Every `#[message_mapping]` after the first.
    pub(crate) extra_mappings: Vec<Attribute>,
    pub(crate) middleware_attrs: Vec<Attribute>,
    /// The lists of `middleware_attrs`, parsed.
    pub(crate) middleware: Vec<syn::Result<Vec<Path>>>,
    pub(crate) sig: Signature,
    pub(crate) method: Method,
}

/// `#[ws_module]` on an impl block: the module's lifecycle hooks.
pub(crate) struct HookBlock {
    /// The impl block, hook attributes stripped.
    pub(crate) item: ItemImpl,
    pub(crate) krate: Option<Path>,
    /// Every method with a hook attribute, in source order.
    pub(crate) hooks: Vec<Hook>,
}

/// A method with an `#[on_*]` attribute.
pub(crate) struct Hook {
    pub(crate) kind: Kind,
    /// The first hook attribute, and those after it.
    pub(crate) attr: Attribute,
    pub(crate) extra: Vec<Attribute>,
    pub(crate) sig: Signature,
    pub(crate) method: Method,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Handshake,
    Open,
    Message,
    Close,
}

/// A method as the generated shim sees it.
pub(crate) struct Method {
    pub(crate) ident: Ident,
    pub(crate) receiver: bool,
    pub(crate) is_async: bool,
    pub(crate) args: Vec<Type>,
    pub(crate) output: ReturnType,
}

impl Controller {
    pub(crate) fn from_syn(mut item: ItemImpl, args: ControllerArgs) -> Self {
        let routes = item
            .items
            .iter_mut()
            .filter_map(|it| match it {
                ImplItem::Fn(f) => Route::take(f),
                _ => None,
            })
            .collect();
        Controller { item, args, routes }
    }

    /// The command prefix: the one written, else the one the type's name gives (see
    /// [`prefix_from_type`]).
    pub(crate) fn prefix(&self) -> String {
        match &self.args.prefix {
            Some(lit) => lit.value(),
            None => prefix_from_type(&self.item.self_ty),
        }
    }

    /// The mapped routes (after the check: every one valid).
    pub(crate) fn mapped(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().filter(|r| r.command.is_some())
    }
}

/// The prefix of a controller written without one, as Swoft takes it from the class: the
/// type's last name without its `Controller` suffix, first letter lowercased (`HomeController`
/// → `home`, `ChatRoomController` → `chatRoom`, `Lobby` → `lobby`).
pub(crate) fn prefix_from_type(ty: &Type) -> String {
    let Type::Path(p) = ty else {
        return String::new();
    };
    let Some(last) = p.path.segments.last() else {
        return String::new();
    };
    let name = last.ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    let stem = match name.strip_suffix("Controller") {
        Some(s) if !s.is_empty() => s,
        _ => name,
    };
    let mut chars = stem.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

impl Route {
    /// Strips the method's `#[message_mapping]` and `#[middleware]` (`None` if it has neither).
    fn take(f: &mut ImplItemFn) -> Option<Route> {
        let mut mappings = Vec::new();
        let mut middleware_attrs = Vec::new();
        f.attrs.retain(|a| {
            if a.path().is_ident("message_mapping") {
                mappings.push(a.clone());
                false
            } else if a.path().is_ident("middleware") {
                middleware_attrs.push(a.clone());
                false
            } else {
                true
            }
        });
        if mappings.is_empty() && middleware_attrs.is_empty() {
            return None;
        }
        let mut mappings = mappings.into_iter();
        Some(Route {
            command: mappings.next().map(|a| attr::mapping_args(&a)),
            extra_mappings: mappings.collect(),
            middleware: middleware_attrs
                .iter()
                .map(attr::method_middleware)
                .collect(),
            middleware_attrs,
            sig: f.sig.clone(),
            method: Method::from_sig(&f.sig),
        })
    }

    /// The action, and where it is written: the literal, or the method's name.
    pub(crate) fn action(&self) -> (String, Span) {
        match &self.command {
            Some(Ok(MappingArgs {
                command: Some(lit), ..
            })) => (lit.value(), lit.span()),
            _ => (self.sig.ident.to_string(), self.sig.ident.span()),
        }
    }

    /// `opcode = ..` of the mapping.
    pub(crate) fn opcode(&self) -> Option<&syn::Ident> {
        match &self.command {
            Some(Ok(a)) => a.opcode.as_ref(),
            _ => None,
        }
    }

    /// `errors = [..]` of the mapping.
    pub(crate) fn errors(&self) -> Vec<String> {
        match &self.command {
            Some(Ok(a)) => a.errors.iter().flatten().map(LitStr::value).collect(),
            _ => Vec::new(),
        }
    }

    /// `root = true`: served without the prefix.
    pub(crate) fn is_root(&self) -> bool {
        matches!(&self.command, Some(Ok(a)) if a.is_root())
    }

    /// The full command (`prefix.action`; the action alone if it has a `.` already or the
    /// mapping is a root one).
    pub(crate) fn command(&self, prefix: &str) -> String {
        let (action, _) = self.action();
        if prefix.is_empty() || self.is_root() || action.contains('.') {
            action
        } else {
            format!("{prefix}.{action}")
        }
    }

    /// The middleware of every `#[middleware(..)]`, in order.
    pub(crate) fn middleware(&self) -> Vec<Path> {
        self.middleware
            .iter()
            .flatten()
            .flatten()
            .cloned()
            .collect()
    }
}

impl HookBlock {
    pub(crate) fn from_syn(mut item: ItemImpl, krate: Option<Path>) -> Self {
        let hooks = item
            .items
            .iter_mut()
            .filter_map(|it| match it {
                ImplItem::Fn(f) => Hook::take(f),
                _ => None,
            })
            .collect();
        HookBlock { item, krate, hooks }
    }

    /// The hook of a kind (after the check: at most one).
    pub(crate) fn hook(&self, kind: Kind) -> Option<&Hook> {
        self.hooks.iter().find(|h| h.kind == kind)
    }
}

impl Hook {
    /// Strips the method's hook attributes (`None` if it has none).
    fn take(f: &mut ImplItemFn) -> Option<Hook> {
        let mut found = Vec::new();
        f.attrs.retain(
            |a| match Kind::ALL.into_iter().find(|k| a.path().is_ident(k.attr())) {
                Some(k) => {
                    found.push((k, a.clone()));
                    false
                }
                None => true,
            },
        );
        let mut found = found.into_iter();
        let (kind, attr) = found.next()?;
        Some(Hook {
            kind,
            attr,
            extra: found.map(|(_, a)| a).collect(),
            sig: f.sig.clone(),
            method: Method::from_sig(&f.sig),
        })
    }

    /// Where the hook is: the method's name.
    pub(crate) fn span(&self) -> Span {
        self.sig.ident.span()
    }
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [Kind::Handshake, Kind::Open, Kind::Message, Kind::Close];

    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Handshake => "on_handshake",
            Kind::Open => "on_open",
            Kind::Message => "on_message",
            Kind::Close => "on_close",
        }
    }

    /// What each argument (after `&self`) must be, in order.
    pub(crate) fn params(self) -> &'static [&'static str] {
        match self {
            Kind::Handshake => &["req: &HandshakeRequest"],
            Kind::Open => &["conn: &Connection"],
            Kind::Close => &["conn: &Connection", "info: &CloseInfo"],
            Kind::Message => &[],
        }
    }

    /// The most arguments (after `&self`) the hook takes, and what they are.
    pub(crate) fn max_args(self) -> Option<(usize, &'static str)> {
        match self {
            Kind::Handshake => Some((1, "`req: &HandshakeRequest`")),
            Kind::Open => Some((1, "`conn: &Connection`")),
            Kind::Close => Some((2, "`conn: &Connection, info: &CloseInfo`")),
            Kind::Message => None,
        }
    }
}

impl Method {
    /// The parts of a signature the shim needs (`check::signature` says what it cannot be).
    pub(crate) fn from_sig(sig: &Signature) -> Method {
        let mut receiver = false;
        let mut args = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(_) => receiver = true,
                FnArg::Typed(pt) => args.push((*pt.ty).clone()),
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

    /// Where errors about the return value point.
    pub(crate) fn output_span(&self) -> Span {
        match &self.output {
            ReturnType::Default => self.ident.span(),
            ReturnType::Type(_, ty) => ty.span(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_from_type;

    #[test]
    fn a_prefix_from_the_type_name_drops_controller_and_lowers_the_first_letter() {
        let of = |ty: syn::Type| prefix_from_type(&ty);
        assert_eq!(of(syn::parse_quote!(HomeController)), "home");
        assert_eq!(
            of(syn::parse_quote!(crate::ws::ChatRoomController)),
            "chatRoom"
        );
        assert_eq!(of(syn::parse_quote!(Lobby)), "lobby");
        assert_eq!(of(syn::parse_quote!(Controller)), "controller");
    }
}

/// `recovery(...)`: an option left out keeps the runtime's default.
#[derive(Default)]
pub(crate) struct RecoveryArgs {
    pub(crate) window_secs: Option<u64>,
    pub(crate) max_messages: Option<u64>,
    pub(crate) max_bytes: Option<u64>,
}
