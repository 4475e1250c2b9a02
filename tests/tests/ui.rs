//! Macro misuse is a compile error at the user's token, with a message that says what to write
//! instead (`tests/ui/fail/*.rs` with their `.stderr`), and the accepted forms compile and build
//! an app (`tests/ui/pass/*.rs`).
//!
//! Regenerate the `.stderr` files after a deliberate change of a message with
//! `TRYBUILD=overwrite cargo test -p swoft-ws-tests --test ui`, then read every one of them.

/// One `TestCases` so that trybuild builds every case in one batch.
#[test]
fn macro_misuse_fails_at_the_offending_token_and_accepted_forms_build() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
