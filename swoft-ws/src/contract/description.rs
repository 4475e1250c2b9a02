//! The contract as data: [`Description`] and its parts, what `App::describe` returns.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The error codes any command of a JSON module can be answered with, whatever its handler
/// declares (`bad_message`, `unknown_command`, `invalid_data`, `rate_limited`, `timeout`,
/// `internal`; see [`protocol::codes`](crate::protocol::codes)).
pub const COMMON_ERRORS: &[&str] = &[
    crate::protocol::codes::BAD_MESSAGE,
    crate::protocol::codes::UNKNOWN_COMMAND,
    crate::protocol::codes::INVALID_DATA,
    crate::protocol::codes::RATE_LIMITED,
    crate::protocol::codes::TIMEOUT,
    crate::protocol::codes::INTERNAL,
];

/// Everything an app serves: its modules, in path order, and the named schemas they refer to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Description {
    /// The modules, sorted by path.
    pub modules: Vec<ModuleDescription>,
    /// The named types' JSON Schemas (draft 2020-12 as `schemars` writes them), by name; the
    /// shapes refer to them as `#/components/schemas/NAME`. Empty without the `schema` feature.
    pub schemas: BTreeMap<String, Value>,
}

/// One `#[ws_module]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleDescription {
    /// Its name: `name = "..."` of the module, else the type's name.
    pub name: String,
    /// The module type's name (`ChatModule`).
    pub type_name: String,
    /// The path it serves, with its leading `/` (`/rooms/{id}`).
    pub path: String,
    /// The path's variables, in order.
    pub variables: Vec<Variable>,
    /// The parser's name (`json`, `raw`, `token_text`, or a custom parser's).
    pub parser: String,
    /// Its commands, sorted by name.
    pub commands: Vec<CommandDescription>,
    /// The pushes (and requests to its clients) declared for it, sorted by command.
    pub pushes: Vec<PushDescription>,
    /// Its resumable sessions (`#[ws_module(recovery)]`), with the bounds the app resolved
    /// (the module's, a builder's override, clamped to the outbound queue); `None` when it
    /// keeps none. Such a module sends a [`SESSION_COMMAND`] frame first, puts an `"off"` on
    /// every push and takes `resume` and `off` in the handshake's query (README, "Reconnects
    /// and missed messages").
    pub recovery: Option<RecoveryDescription>,
}

/// The command of the frame a recovery module sends first on every connection:
/// `{"cmd":"$session","data":{"token","resumed","replayed"?,"reason"?}}`.
pub const SESSION_COMMAND: &str = "$session";

/// Why a resume was not honoured: the `reason` of a `$session` frame with `"resumed":false`
/// (`unknown`, `expired`, `evicted`).
pub const RESUME_REASONS: &[&str] = &["unknown", "expired", "evicted"];

/// A module's resumable sessions: the bounds of its `Recovery` settings, as the app resolved
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecoveryDescription {
    /// How long a dropped session stays resumable, in milliseconds (later: `expired`).
    pub window_ms: u64,
    /// The most pushes the module's history keeps (a resume that missed more: `evicted`).
    pub max_messages: usize,
    /// The most bytes of pushes the module's history keeps (likewise).
    pub max_bytes: usize,
}

/// A path variable (`{id}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// The regular expression its values must match whole (`params(id = r"\d+")`), if any.
    pub pattern: Option<String>,
}

/// One command a module serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandDescription {
    /// The full command (`room.join`).
    pub command: String,
    /// The payload type; `None` when the handler takes no `Data<T>`.
    pub payload: Option<Shape>,
    /// The reply type; `None` when the handler answers nothing (`()`).
    pub reply: Option<Shape>,
    /// The error codes declared with `errors = [..]` (beside [`COMMON_ERRORS`]), sorted.
    pub errors: Vec<String>,
}

/// One declared push, or request when it expects a reply (`#[push("poll.ask", reply = T)]`:
/// the server asks with `request(..)` and the client answers with a `$ack`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushDescription {
    /// Its command (`room.message`).
    pub command: String,
    /// Its data's type.
    pub payload: Shape,
    /// The type of the client's answer when the push is a request (`reply = T`); `None` for a
    /// plain push.
    pub reply: Option<Shape>,
}

/// A described type: its name and, when it has one, its schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shape {
    /// The type's name as Rust writes it, without module paths (`Members`, `Vec<String>`).
    pub name: String,
    /// Its JSON Schema (a `{"$ref": "#/components/schemas/NAME"}` for a named type); `None`
    /// means "any": no `schema` feature, or a type without a `JsonSchema` impl.
    pub schema: Option<Value>,
}

/// The name of a type as `type_name` gives it, without module paths and lifetimes:
/// `alloc::vec::Vec<my_app::Members>` → `Vec<Members>`, `my_app::Presence<'_>` → `Presence`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut s = without_paths(full);
    for lifetime in ["'_", "'static"] {
        s = s
            .replace(&format!("<{lifetime}>"), "")
            .replace(&format!("{lifetime}, "), "");
    }
    s
}

fn without_paths(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            out.push(c);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_names_drop_module_paths() {
        assert_eq!(
            short_type_name("alloc::vec::Vec<my_app::Members>"),
            "Vec<Members>"
        );
        assert_eq!(short_type_name("&str"), "&str");
        assert_eq!(short_type_name("a::B<'_, c::D>"), "B<D>");
        assert_eq!(short_type_name("a::P<'_>"), "P");
    }
}
