//! Why an app could not be built.

use crate::app::registry::records::Location;

/// Why an app could not be built: every problem found, each with the place it comes from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct BuildError {
    problems: Vec<Problem>,
}

impl BuildError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        BuildError { problems }
    }

    /// The problems, in a stable order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

fn render(problems: &[Problem]) -> String {
    let mut s = format!(
        "swoft-ws: the app could not be built ({} problem{}):",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str("\n  - ");
        s.push_str(&p.to_string());
    }
    s
}

/// One problem found while building an app.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A handler (or `#[on_message]` hook) takes `State<T>` for a `T` the app never registered
    /// with `AppBuilder::state`: every call would fail.
    #[error(
        "{handler} ({at}) takes `State<{state}>`, but the app has no `{state}`: register it with \
         `App::builder().state(..)`, or take `Option<State<{state}>>` if it may be absent"
    )]
    MissingState {
        /// The command (or `#[on_message] of Module`).
        handler: String,
        /// The state's type.
        state: String,
        /// Where the handler is.
        at: Location,
    },
    /// A module with resumable sessions (`recovery`) whose parser is not the JSON one: the
    /// `$session` frame and the pushes' `off` are JSON.
    #[error(
        "module {module} ({at}) has `recovery`, which needs the JSON parser, but its parser is \
         `{parser}`"
    )]
    RecoveryNeedsJson {
        /// The module's type name.
        module: String,
        /// Its parser's name.
        parser: String,
        /// Where it is.
        at: Location,
    },
    /// No modules at all.
    #[error(
        "no ws modules are registered: annotate a struct with #[ws_module(path = \"/...\")]; \
         modules in a library crate are only linked if the binary uses that crate \
         (`use my_modules as _;`), and two versions of swoft-ws have two registries \
         (`cargo tree -d`)"
    )]
    NoModules,
    /// Two modules on one path.
    #[error("two modules serve path `{path}`: {first} ({first_at}) and {second} ({second_at})")]
    DuplicatePath {
        /// The path both serve.
        path: String,
        /// The first module's type name.
        first: String,
        /// Where it is.
        first_at: Location,
        /// The second module's type name.
        second: String,
        /// Where it is.
        second_at: Location,
    },
    /// A module path whose `params` name no variable of it, or whose constraint is not a
    /// valid regex (the macro refuses both; a record written by hand may hold them).
    #[error("module {module} ({at}): path `{path}`: {reason}")]
    InvalidPath {
        /// The module's type name.
        module: String,
        /// The path as written in `#[ws_module(path = ...)]`.
        path: String,
        /// What is wrong.
        reason: String,
        /// Where it is.
        at: Location,
    },
    /// Two module paths one request path could match (`/rooms/{id}` and `/rooms/new`, unless
    /// `id`'s constraint refuses `new`), or that axum's router cannot hold together (variables
    /// named differently at one place: `/a/{x}/b` and `/a/{y}/c`).
    #[error(
        "the paths of {first} (`{first_path}`, {first_at}) and {second} (`{second_path}`, {second_at}) overlap: one request path could be served by both; give a constraint (`params(id = r\"\\d+\")`) or another path"
    )]
    OverlappingPaths {
        /// The first module's type name.
        first: String,
        /// Its path.
        first_path: String,
        /// Where it is.
        first_at: Location,
        /// The second module's type name.
        second: String,
        /// Its path.
        second_path: String,
        /// Where it is.
        second_at: Location,
    },
    /// Two handlers for one command in one module.
    #[error("module {module} maps command `{command}` twice: {first_at} and {second_at}")]
    DuplicateCommand {
        /// The module's type name.
        module: String,
        /// The full command (`prefix.action`) mapped twice.
        command: String,
        /// Where the first `#[message_mapping]` of it is (the one kept).
        first_at: Location,
        /// Where the second is.
        second_at: Location,
    },
    /// Two hooks of one kind for one module.
    #[error("module {module} has two #[{hook}] hooks: {first_at} and {second_at}")]
    DuplicateHook {
        /// The module's type name.
        module: String,
        /// The hook kind (`on_open`, ...).
        hook: &'static str,
        /// Where the first hook of that kind is.
        first_at: Location,
        /// Where the second is.
        second_at: Location,
    },
    /// A `default_command` that no handler serves.
    #[error(
        "module {module} ({at}): default_command `{command}` is mapped by no controller and \
         the module has no #[on_message]"
    )]
    UnknownDefaultCommand {
        /// The module's type name.
        module: String,
        /// The `default_command` as written.
        command: String,
        /// Where the module is.
        at: Location,
    },
    /// A controller that no module lists (discovery only).
    #[error("controller {controller} ({at}) is listed in no module's `controllers = [...]`")]
    OrphanController {
        /// The controller's type name.
        controller: String,
        /// Where it is.
        at: Location,
    },
    /// Hooks for a module that is not part of the app.
    #[error("hooks for {module} ({at}) but {module} is not a module of this app")]
    OrphanHooks {
        /// The module type's name.
        module: String,
        /// Where the hooks are.
        at: Location,
    },
}
