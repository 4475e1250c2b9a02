//! Start-up errors of the registry: one `BuildError` lists every problem of an app together,
//! each with the `file:line` of its culprit.
//!
//! The deliberately broken modules live here, because each test file is its own binary with its
//! own registry. Every culprit carries a `culprit: NAME` comment on the line the error must
//! name; [`line_of`] finds it in this file's source, so the expected lines follow edits.
//!
//! Two misuses of the list cannot reach start-up, because they do not compile (see
//! `tests/ui/fail`): a controller listed in `controllers = [...]` but not annotated
//! (`not_annotated.rs`) and hooks on a type that is not a module (`hooks_without_module.rs`).
//! Zero modules is in `tests/no_modules.rs`, a binary that registers none.

use swoft_ws::BuildError;
use swoft_ws::error::{Location, Problem};
use swoft_ws::prelude::*;

/// The line of this file that ends in `// culprit: {name}` (or `/* culprit: {name} */ {`).
fn line_of(name: &str) -> u32 {
    let marker = format!("culprit: {name}");
    let found: Vec<usize> = include_str!("registry_errors.rs")
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_end();
            let l = l.strip_suffix('{').unwrap_or(l).trim_end();
            let l = l.strip_suffix("*/").unwrap_or(l).trim_end();
            l.ends_with(&marker)
        })
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(found.len(), 1, "exactly one line marked `{marker}`");
    u32::try_from(found[0]).unwrap()
}

/// Asserts that `at` is this file at the line marked `name`.
#[track_caller]
fn assert_at(at: Location, name: &str) {
    assert!(
        at.file.ends_with("registry_errors.rs"),
        "{name}: located in {}, not in this file",
        at.file
    );
    assert_eq!(at.line, line_of(name), "{name}: wrong line in {at}");
}

// ---- two modules on one path ------------------------------------------------------------

#[ws_module(path = "/dup")]
pub struct FirstOnDup; // culprit: FirstOnDup

#[ws_module(path = "/dup")]
pub struct SecondOnDup; // culprit: SecondOnDup

// ---- one command mapped by two controllers of one module --------------------------------

#[ws_module(path = "/rooms", controllers = [JoinA, JoinB])]
pub struct Rooms;

#[derive(Default)]
pub struct JoinA;

#[ws_controller(prefix = "room")]
impl JoinA {
    #[message_mapping("join")] // culprit: JoinA.join
    fn join() {}

    #[message_mapping("leave")]
    fn leave() {}
}

#[derive(Default)]
pub struct JoinB;

#[ws_controller]
impl JoinB {
    #[message_mapping("room.join")] // culprit: JoinB.join
    fn join() {}
}

// ---- two hook blocks giving one module the same hook ------------------------------------

#[ws_module(path = "/hooked")]
pub struct Hooked;

#[ws_module]
impl Hooked {
    #[on_open]
    fn open(&self) {} // culprit: Hooked.open.first
}

#[ws_module]
impl Hooked {
    #[on_open]
    fn open_again(&self) {} // culprit: Hooked.open.second

    #[on_close]
    fn close(&self) {}
}

// ---- a default command that nothing serves ----------------------------------------------

#[ws_module(path = "/defaulted", controllers = [Pinger], default_command = "ping.pong")]
pub struct Defaulted; // culprit: Defaulted

#[derive(Default)]
pub struct Pinger;

#[ws_controller(prefix = "ping")]
impl Pinger {
    #[message_mapping("ping")]
    fn ping() {}
}

// ---- a controller no module lists (an error under discovery only) -----------------------

#[derive(Default)]
pub struct Stray;

#[ws_controller(prefix = "stray")]
impl Stray /* culprit: Stray */ {
    #[message_mapping("x")]
    fn x() {}
}

// ---- a sound module, to show it is not reported -----------------------------------------

#[ws_module(path = "/fine", controllers = [Pinger])]
pub struct Fine;

/// One controller through two paths: its commands are registered once, not reported twice.
#[ws_module(path = "/aliased", controllers = [Pinger, self::Pinger])]
pub struct Aliased;

fn explicit_app() -> Result<App, BuildError> {
    App::builder()
        .module::<Fine>()
        .module::<FirstOnDup>()
        .module::<SecondOnDup>()
        .module::<Rooms>()
        .module::<Hooked>()
        .module::<Defaulted>()
        .build()
}

/// Checks that `problems` holds exactly the four problems of the explicit app, each located.
fn assert_the_four_problems(problems: &[Problem]) {
    let mut seen = [false; 4];
    for p in problems {
        match p {
            Problem::DuplicatePath {
                path,
                first,
                first_at,
                second,
                second_at,
            } => {
                assert_eq!(path, "/dup");
                assert_eq!(
                    (first.as_str(), second.as_str()),
                    ("FirstOnDup", "SecondOnDup")
                );
                assert_at(*first_at, "FirstOnDup");
                assert_at(*second_at, "SecondOnDup");
                seen[0] = true;
            }
            Problem::DuplicateCommand {
                module,
                command,
                first_at,
                second_at,
            } => {
                assert_eq!((module.as_str(), command.as_str()), ("Rooms", "room.join"));
                assert_at(*first_at, "JoinA.join");
                assert_at(*second_at, "JoinB.join");
                seen[1] = true;
            }
            Problem::DuplicateHook {
                module,
                hook,
                first_at,
                second_at,
            } => {
                assert_eq!((module.as_str(), *hook), ("Hooked", "on_open"));
                assert_at(*first_at, "Hooked.open.first");
                assert_at(*second_at, "Hooked.open.second");
                seen[2] = true;
            }
            Problem::UnknownDefaultCommand {
                module,
                command,
                at,
            } => {
                assert_eq!(
                    (module.as_str(), command.as_str()),
                    ("Defaulted", "ping.pong")
                );
                assert_at(*at, "Defaulted");
                seen[3] = true;
            }
            Problem::OrphanController { .. } => {}
            other => panic!("unexpected problem: {other}"),
        }
    }
    assert_eq!(
        seen, [true; 4],
        "duplicate path, duplicate command, duplicate hook, unknown default command: {problems:#?}"
    );
}

#[test]
fn one_build_error_lists_every_problem_of_the_named_modules_with_file_and_line() {
    let err = explicit_app().expect_err("the app is broken four ways");
    assert_eq!(err.problems().len(), 4, "{err}");
    assert_the_four_problems(err.problems());

    // The message says how many problems there are, then one line each, naming the places.
    let text = err.to_string();
    assert!(
        text.starts_with("swoft-ws: the app could not be built (4 problems):"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 5, "{text}");
    for name in [
        "FirstOnDup",
        "SecondOnDup",
        "JoinA.join",
        "JoinB.join",
        "Hooked.open.first",
        "Hooked.open.second",
        "Defaulted",
    ] {
        let place = format!("registry_errors.rs:{}", line_of(name));
        assert!(
            text.contains(&place),
            "{name} ({place}) is named in:\n{text}"
        );
    }
}

#[test]
fn discovery_also_reports_a_controller_that_no_module_lists() {
    let err = App::builder().discover().build().expect_err("broken");
    assert_eq!(err.problems().len(), 5, "{err}");
    assert_the_four_problems(err.problems());
    let stray: Vec<_> = err
        .problems()
        .iter()
        .filter_map(|p| match p {
            Problem::OrphanController { controller, at } => Some((controller.as_str(), *at)),
            _ => None,
        })
        .collect();
    assert_eq!(stray.len(), 1, "{err}");
    assert_eq!(stray[0].0, "Stray");
    assert_at(stray[0].1, "Stray");
    assert!(err.to_string().contains("controller Stray"), "{err}");
}

#[test]
fn the_same_errors_come_in_the_same_order_every_time() {
    let a = explicit_app().unwrap_err();
    let b = explicit_app().unwrap_err();
    assert_eq!(a, b);
}

#[test]
fn sound_modules_build_and_naming_a_module_or_controller_twice_is_not_an_error() {
    let app = App::builder()
        .module::<Fine>()
        .module::<Fine>()
        .build()
        .expect("a sound module builds");
    assert_eq!(app.server().module_paths(), ["/fine"]);
    let app = App::builder()
        .module::<Aliased>()
        .build()
        .expect("a controller named through two paths is registered once");
    assert_eq!(app.server().module_paths(), ["/aliased"]);
    // A controller shared by two modules is fine too; only one module per path is checked.
    let app = App::builder()
        .module::<Fine>()
        .module::<Defaulted>()
        .build()
        .unwrap_err();
    assert_eq!(
        app.problems().len(),
        1,
        "only the unknown default command: {app}"
    );
}
