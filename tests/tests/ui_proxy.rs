//! Compile-time checks of `#[mp::proxy]` (trybuild): what it accepts, and the errors (with
//! their spans) for what it refuses.

#[test]
fn ui_proxy() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/proxy/*.rs");
    t.compile_fail("ui/fail/proxy/*.rs");
}
