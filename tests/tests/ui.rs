//! Compile-time behaviour of mp's macros: every promised compile error (one case per file,
//! with the expected rustc output beside it) and the forms that must compile and run.
//!
//! Regenerate the `.stderr` snapshots with `TRYBUILD=overwrite cargo test -p mp-tests --test
//! ui` and review the diff like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.pass("ui/pass/*/*.rs");
    t.compile_fail("ui/fail/*/*.rs");
}
