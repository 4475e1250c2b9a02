//! A handler that takes `State<T>` for a `T` the app never registered is a build problem at
//! the handler's `file:line` (not an `internal` error reply at every call); `Option<State<T>>`
//! is not. The same for an `#[on_message]` hook.

use swoft_ws::error::Problem;
use swoft_ws::prelude::*;

/// Registered in one app, missing in the other.
pub struct Counter(pub u64);

/// Never registered.
pub struct Settings;

#[ws_module(path = "/counted", controllers = [CountController])]
pub struct Counted;

#[ws_module]
impl Counted {
    #[on_message]
    fn other(_s: State<Settings>) {} // culprit: on_message
}

#[derive(Default)]
pub struct CountController;

#[ws_controller(prefix = "count")]
impl CountController {
    #[message_mapping("get")] // culprit: count.get
    fn get(State(c): State<Counter>) -> u64 {
        c.0
    }

    #[message_mapping("maybe")]
    fn maybe(s: Option<State<Settings>>) -> bool {
        s.is_some()
    }
}

fn line_of(name: &str) -> u32 {
    let marker = format!("// culprit: {name}");
    let i = include_str!("missing_state.rs")
        .lines()
        .position(|l| l.trim_end().ends_with(&marker))
        .expect("marked line");
    u32::try_from(i + 1).unwrap()
}

#[test]
fn state_no_one_registered_is_a_build_problem_at_each_handler_that_takes_it() {
    let err = App::builder()
        .module::<Counted>()
        .build()
        .expect_err("Counter and Settings are missing");
    let found: Vec<(String, String, u32)> = err
        .problems()
        .iter()
        .map(|p| match p {
            Problem::MissingState { handler, state, at } => {
                assert!(at.file.ends_with("missing_state.rs"), "{at}");
                (handler.clone(), state.clone(), at.line)
            }
            other => panic!("unexpected problem: {other}"),
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "count.get".to_owned(),
                "missing_state::Counter".to_owned(),
                line_of("count.get")
            ),
            (
                "#[on_message] of Counted".to_owned(),
                "missing_state::Settings".to_owned(),
                line_of("on_message")
            ),
        ],
        "{err}"
    );
    assert!(
        err.to_string().contains(".state("),
        "says what to do: {err}"
    );
}

#[test]
fn with_the_state_registered_the_app_builds() {
    let err = App::builder()
        .module::<Counted>()
        .state(Counter(1))
        .build()
        .expect_err("Settings is still missing for #[on_message]");
    assert_eq!(err.problems().len(), 1, "{err}");
    App::builder()
        .module::<Counted>()
        .state(Counter(1))
        .state(Settings)
        .build()
        .expect("everything registered");
}
