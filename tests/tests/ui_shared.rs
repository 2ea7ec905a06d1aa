//! Compile-time checks of `#[mp::shared]` (trybuild). The workspace-wide `tests/ui.rs` driver,
//! once merged, globs these same cases; this driver runs just the shared ones.

#[test]
fn ui_shared() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/shared/*.rs");
    t.compile_fail("ui/fail/shared/*.rs");
}
