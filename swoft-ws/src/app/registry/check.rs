//! The validation half of a build: every problem of the records, found before anything is
//! built and reported together, in a stable order (paths; then, module by module, commands
//! mapped twice, hooks given twice, an unknown default command; then, when discovering, what
//! no module uses).

use std::any::TypeId;
use std::collections::{HashMap, HashSet};

use crate::app::registry::error::Problem;
use crate::app::registry::paths;
use crate::app::registry::records::{
    ControllerDef, ControllerEntry, Hook, HooksDef, Location, ModuleDef, NeedsFn, full_command,
};

/// Every problem of `sorted` (the app's modules, sorted by path) and the hook blocks.
pub(super) fn problems(
    sorted: &[&'static ModuleDef],
    hook_blocks: &[&'static HooksDef],
    discovered: bool,
    has_state: &dyn Fn(TypeId) -> bool,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if sorted.is_empty() {
        problems.push(Problem::NoModules);
    }
    paths::problems(sorted, &mut problems);
    for m in sorted {
        let commands = commands(m, &mut problems);
        let has_on_message = hooks(m, hook_blocks, &mut problems);
        default_command(m, &commands, has_on_message, &mut problems);
        states(m, hook_blocks, has_state, &mut problems);
    }
    if discovered {
        orphans(sorted, hook_blocks, &mut problems);
    }
    problems
}

/// The module's controllers, each once (one controller named twice, through two paths to one
/// type, serves its commands once; the macro already refuses the same path twice).
pub(super) fn controllers(m: &ModuleDef) -> Vec<&'static ControllerDef> {
    let mut listed: Vec<&'static ControllerDef> = Vec::with_capacity(m.controllers.len());
    for c in m.controllers {
        if !listed.iter().any(|l| (l.type_id)() == (c.type_id)()) {
            listed.push(c);
        }
    }
    listed
}

/// The commands the module serves (with the short forms its default prefix adds); a command
/// mapped twice is a problem at its second mapping.
fn commands(m: &ModuleDef, problems: &mut Vec<Problem>) -> HashSet<String> {
    let mut first_at: HashMap<String, Location> = HashMap::new();
    for c in controllers(m) {
        for r in c.routes {
            let command = full_command(c.prefix, r);
            match first_at.get(&command) {
                Some(first) => problems.push(Problem::DuplicateCommand {
                    module: m.name.into(),
                    command,
                    first_at: *first,
                    second_at: r.location,
                }),
                None => {
                    first_at.insert(command, r.location);
                }
            }
        }
    }
    let mut commands: HashSet<String> = first_at.into_keys().collect();
    if let Some(prefix) = m.default_prefix {
        let dotted = format!("{prefix}.");
        let short: Vec<String> = commands
            .iter()
            .filter_map(|k| k.strip_prefix(&dotted))
            .filter(|s| !s.contains('.'))
            .map(str::to_owned)
            .collect();
        commands.extend(short);
    }
    commands
}

/// Handlers and `#[on_message]` hooks that take `State<T>` for a `T` the app lacks.
fn states(
    m: &ModuleDef,
    hook_blocks: &[&'static HooksDef],
    has_state: &dyn Fn(TypeId) -> bool,
    problems: &mut Vec<Problem>,
) {
    let mut check = |handler: &dyn Fn() -> String, needs: NeedsFn, at: Location| {
        needs(&mut |need| {
            if !has_state(need.type_id) {
                problems.push(Problem::MissingState {
                    handler: handler(),
                    state: need.type_name.to_owned(),
                    at,
                });
            }
        });
    };
    for c in controllers(m) {
        for r in c.routes {
            check(&|| full_command(c.prefix, r), r.needs, r.location);
        }
    }
    for h in hook_blocks.iter().filter(|h| (h.module)() == (m.type_id)()) {
        if let Some(hook) = h.message {
            check(
                &|| format!("#[on_message] of {}", m.name),
                hook.needs,
                hook.location,
            );
        }
    }
}

/// Two hooks of one kind for the module; whether it has an `#[on_message]`.
fn hooks(m: &ModuleDef, hook_blocks: &[&'static HooksDef], problems: &mut Vec<Problem>) -> bool {
    let mut seen: [Option<Location>; 4] = [None; 4];
    for h in hook_blocks.iter().filter(|h| (h.module)() == (m.type_id)()) {
        once(m, "on_handshake", h.handshake, &mut seen[0], problems);
        once(m, "on_open", h.open, &mut seen[1], problems);
        once(m, "on_message", h.message, &mut seen[2], problems);
        once(m, "on_close", h.close, &mut seen[3], problems);
    }
    seen[2].is_some()
}

fn once<F>(
    m: &ModuleDef,
    kind: &'static str,
    hook: Option<Hook<F>>,
    seen: &mut Option<Location>,
    problems: &mut Vec<Problem>,
) {
    let Some(hook) = hook else { return };
    match seen {
        Some(first_at) => problems.push(Problem::DuplicateHook {
            module: m.name.into(),
            hook: kind,
            first_at: *first_at,
            second_at: hook.location,
        }),
        None => *seen = Some(hook.location),
    }
}

/// A `default_command` that no handler serves (fine when `#[on_message]` takes it).
fn default_command(
    m: &ModuleDef,
    commands: &HashSet<String>,
    has_on_message: bool,
    problems: &mut Vec<Problem>,
) {
    if let Some(cmd) = m.default_command {
        if !commands.contains(cmd) && !has_on_message {
            problems.push(Problem::UnknownDefaultCommand {
                module: m.name.into(),
                command: cmd.into(),
                at: m.location,
            });
        }
    }
}

/// Controllers no module lists, and hooks of modules that are not in the app.
fn orphans(
    sorted: &[&'static ModuleDef],
    hook_blocks: &[&'static HooksDef],
    problems: &mut Vec<Problem>,
) {
    let listed: Vec<TypeId> = sorted
        .iter()
        .flat_map(|m| m.controllers.iter().map(|c| (c.type_id)()))
        .collect();
    let mut orphans: Vec<&ControllerDef> = inventory::iter::<ControllerEntry>
        .into_iter()
        .map(|e| e.0)
        .filter(|c| !listed.contains(&(c.type_id)()))
        .collect();
    orphans.sort_by_key(|c| c.location);
    for c in orphans {
        problems.push(Problem::OrphanController {
            controller: c.name.into(),
            at: c.location,
        });
    }
    let modules: Vec<TypeId> = sorted.iter().map(|m| (m.type_id)()).collect();
    for h in hook_blocks
        .iter()
        .filter(|h| !modules.contains(&(h.module)()))
    {
        problems.push(Problem::OrphanHooks {
            module: h.module_name.into(),
            at: first_hook_location(h),
        });
    }
}

/// Where a hook block is: its first hook.
pub(super) fn first_hook_location(h: &HooksDef) -> Location {
    [
        h.handshake.map(|x| x.location),
        h.open.map(|x| x.location),
        h.message.map(|x| x.location),
        h.close.map(|x| x.location),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(Location { file: "", line: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::{STUB_CONTROLLER, STUB_MODULE, type_id};
    use crate::app::registry::records::RouteDef;

    const fn at(line: u32) -> Location {
        Location {
            file: "app.rs",
            line,
        }
    }

    const fn route(action: &'static str, line: u32) -> RouteDef {
        RouteDef {
            action,
            root: false,
            opcode: None,
            index: 0,
            middleware: &[],
            location: at(line),
            needs: crate::app::registry::no_needs,
            contract: crate::contract::RouteContract::NONE,
        }
    }

    /// An app that has every state.
    const ALL_STATE: fn(TypeId) -> bool = |_| true;

    fn needs_u32(need: &mut dyn FnMut(crate::extract::RequiredState)) {
        need(crate::extract::RequiredState::of::<u32>());
    }

    static COUNTER: ControllerDef = ControllerDef {
        name: "CounterController",
        prefix: "count",
        type_id: type_id::<u64>,
        routes: &[RouteDef {
            needs: needs_u32,
            ..route("add", 30)
        }],
        ..STUB_CONTROLLER
    };
    static COUNTING: ModuleDef = ModuleDef {
        name: "CountModule",
        path: "/count",
        type_id: type_id::<u128>,
        controllers: &[&COUNTER],
        location: at(6),
        ..STUB_MODULE
    };

    #[test]
    fn state_a_handler_takes_but_the_app_lacks_is_a_problem_at_the_handler() {
        assert_eq!(
            problems(&[&COUNTING], &[], false, &|t| t != TypeId::of::<u32>()),
            [Problem::MissingState {
                handler: "count.add".into(),
                state: "u32".into(),
                at: at(30),
            }]
        );
        assert!(problems(&[&COUNTING], &[], false, &ALL_STATE).is_empty());
    }

    static ROOM: ControllerDef = ControllerDef {
        name: "RoomController",
        prefix: "room",
        type_id: type_id::<u8>,
        routes: &[route("join", 10), route("leave", 11)],
        ..STUB_CONTROLLER
    };
    static ROOM_AGAIN: ControllerDef = ControllerDef {
        name: "OtherController",
        prefix: "",
        type_id: type_id::<u16>,
        routes: &[route("room.join", 20)],
        ..STUB_CONTROLLER
    };
    static CHAT: ModuleDef = ModuleDef {
        name: "ChatModule",
        path: "/chat",
        type_id: type_id::<i8>,
        controllers: &[&ROOM, &ROOM_AGAIN],
        location: at(1),
        ..STUB_MODULE
    };
    static CHAT_TWIN: ModuleDef = ModuleDef {
        name: "TwinModule",
        path: "/chat",
        type_id: type_id::<i16>,
        location: at(2),
        ..STUB_MODULE
    };
    static NO_SLASH: ModuleDef = ModuleDef {
        name: "EchoModule",
        path: "echo",
        type_id: type_id::<i32>,
        location: at(3),
        ..STUB_MODULE
    };
    static SHORT_DEFAULT: ModuleDef = ModuleDef {
        name: "RoomModule",
        path: "/rooms",
        type_id: type_id::<i64>,
        controllers: &[&ROOM],
        default_prefix: Some("room"),
        default_command: Some("join"),
        location: at(4),
        ..STUB_MODULE
    };
    static UNKNOWN_DEFAULT: ModuleDef = ModuleDef {
        name: "LostModule",
        path: "/lost",
        type_id: type_id::<i128>,
        controllers: &[&ROOM],
        default_command: Some("room.shout"),
        location: at(5),
        ..STUB_MODULE
    };

    #[test]
    fn an_app_without_modules_is_one_problem() {
        assert_eq!(problems(&[], &[], false, &ALL_STATE), [Problem::NoModules]);
    }

    #[test]
    fn a_path_without_its_slash_means_the_path_with_one_and_two_modules_on_one_path_are_problems() {
        let found = problems(&[&CHAT, &CHAT_TWIN, &NO_SLASH], &[], false, &ALL_STATE);
        assert!(
            !found
                .iter()
                .any(|p| matches!(p, Problem::InvalidPath { .. })),
            "{found:?}"
        );
        assert!(found.contains(&Problem::DuplicatePath {
            path: "/chat".into(),
            first: "ChatModule".into(),
            first_at: at(1),
            second: "TwinModule".into(),
            second_at: at(2),
        }));
    }

    #[test]
    fn a_command_mapped_by_two_controllers_is_a_problem_at_the_second_mapping() {
        assert_eq!(
            problems(&[&CHAT], &[], false, &ALL_STATE),
            [Problem::DuplicateCommand {
                module: "ChatModule".into(),
                command: "room.join".into(),
                first_at: at(10),
                second_at: at(20),
            }]
        );
    }

    #[test]
    fn a_default_command_may_be_a_short_form_of_the_default_prefix_but_must_be_served() {
        assert_eq!(problems(&[&SHORT_DEFAULT], &[], false, &ALL_STATE), []);
        assert_eq!(
            problems(&[&UNKNOWN_DEFAULT], &[], false, &ALL_STATE),
            [Problem::UnknownDefaultCommand {
                module: "LostModule".into(),
                command: "room.shout".into(),
                at: at(5),
            }]
        );
    }
}
