//! A binary that registers no module: discovery finds none and says why, in one problem.

use swoft_ws::App;
use swoft_ws::error::Problem;

#[test]
fn discovery_without_any_module_fails_with_a_hint() {
    let err = App::discover().expect_err("no modules are registered in this binary");
    assert_eq!(err.problems(), [Problem::NoModules]);
    let text = err.to_string();
    assert!(text.contains("no ws modules are registered"), "{text}");
    assert!(text.contains("#[ws_module(path = \"/...\")]"), "{text}");
    assert!(text.contains("use my_modules as _;"), "{text}");
}

#[test]
fn an_explicit_builder_given_no_module_fails_the_same_way() {
    let err = App::builder().build().expect_err("no modules named");
    assert_eq!(err.problems(), [Problem::NoModules]);
}
