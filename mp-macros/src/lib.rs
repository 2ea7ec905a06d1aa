//! Procedural macros of [mp](https://docs.rs/mp). Use them through `mp`: `#[mp::main]`,
//! `#[mp::task]`, `#[mp::test]`, `#[mp::shared]`, `#[mp::proxy]`.
//!
//! Each entry point converts its input and hands it to the expansion in its own module; the
//! expansions always emit something (the user's item next to the errors), so that one mistake
//! gives one error.

use proc_macro::TokenStream;

// Shared parsing helpers (`key = "value"` arguments, error collection) and type checks.
mod attr;
mod types;

// One module per macro, each with an `expand(args, item) -> TokenStream` that always emits
// something. A new macro (`#[mp::shared]`, `#[mp::proxy]`...) adds its module here and a
// one-line entry point below.
mod main_attr;
mod proxy;
mod shared;
mod task;
mod test_attr;

/// The `__main__` guard: Python's `if __name__ == '__main__':`.
///
/// Put it on `fn main`. In a child started by the spawn or forkserver method, the child's task
/// runs before `main` does and the child exits with the task's exit code; in the main process
/// the body runs, and when the process exits the daemonic children still running are
/// terminated and the others joined, as CPython does at interpreter exit.
///
/// Works on `fn main()`, on `fn main() -> Result<..>`, and with `#[tokio::main]` in either
/// order. Optional arguments: `start_method = "spawn"` (sets the default start method first)
/// and `crate = "path"` (where `mp` is, if renamed).
///
/// # Python
///
/// ```python
/// if __name__ == '__main__':
///     p = Process(target=f, args=('bob',))
///     p.start(); p.join()
/// ```
///
/// # With the macro
///
/// ```ignore
/// #[mp::main]
/// fn main() -> mp::Result<()> {
///     let p = mp::Process::new(f, ("bob".to_string(),));
///     p.start()?;
///     p.join()
/// }
/// ```
///
/// # Equivalent code without the macro
///
/// ```ignore
/// fn main() -> mp::Result<()> {
///     mp::init();
///     let p = mp::Process::new(f, ("bob".to_string(),));
///     p.start()?;
///     p.join()
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main_attr::expand(args.into(), item.into()).into()
}

/// Registers a function as a task that child processes, pool workers and task references can
/// run by name.
///
/// On a free fn, `#[mp::task] fn square(x: u64) -> u64` keeps `square(3)` working and makes
/// `square` usable as a target under every start method: `Process::new(square, (3,))`,
/// `pool.map(square, 0..100)`. The argument tuple is checked against the parameters at
/// compile time; argument and return types must be serializable and owned. A fn returning
/// `Result<T, E>` gives callers in other processes `T`, and `E`'s message as an error.
///
/// On `impl mp::Run for T`, registers `T` for `Process::from_run` (Python's subclassing of
/// `Process`).
///
/// # Python
///
/// ```python
/// def f(name):          # module-level, so that children can import it
///     print('hello', name)
/// ```
///
/// # With the macro
///
/// ```ignore
/// #[mp::task]
/// fn f(name: String) {
///     println!("hello {name}");
/// }
/// ```
///
/// # Equivalent code without the macro
///
/// There is none that is public: the macro generates the registry entry (name, argument
/// decoder, return-value encoder) that a child looks the task up by.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(args.into(), item.into()).into()
}

/// A test whose children can be started with every start method.
///
/// Expands to a `#[test]` (unless another test attribute such as `#[tokio::test]` is present)
/// that first runs the guard. A test binary re-executed as a spawn or forkserver child
/// dispatches to its task before the test harness starts, so no libtest flags are forwarded
/// and it works under both `cargo test` and `cargo nextest run`.
///
/// # With the macro
///
/// ```ignore
/// #[mp::test]
/// fn child_runs() {
///     let p = mp::get_context("spawn").unwrap().process(f, ("x".to_string(),));
///     p.start().unwrap();
///     p.join().unwrap();
///     assert_eq!(p.exitcode(), Some(0));
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).into()
}

/// Makes a struct storable in shared memory: in a [`Value`], an [`Array`] or a
/// `RawValue`/`RawArray`, like a ctypes `Structure` in Python's `sharedctypes`.
///
/// Adds `#[repr(C)]` and `#[derive(Clone, Copy)]` (unless present), checks at compile time
/// that every field is plain data (a number, `bool`, an array, `FixedBytes<N>`, or another
/// `#[mp::shared]` struct; a `String`, `Vec`, `Box`, reference or pointer is an error on the
/// field's type), and implements `mp::sharedctypes::Shareable` with a layout hash (the struct's
/// name and size, each field's name, offset and type) that another process checks when it
/// attaches the memory. The struct cannot be generic. Optional argument: `crate = "path"`.
///
/// [`Value`]: https://docs.rs/mp/latest/mp/struct.Value.html
/// [`Array`]: https://docs.rs/mp/latest/mp/struct.Array.html
///
/// # Python
///
/// ```python
/// class Point(Structure):
///     _fields_ = [('x', c_double), ('y', c_double)]
///
/// A = Array(Point, [(1.875, -6.25), (-5.75, 2.0)], lock=lock)
/// ```
///
/// # With the macro
///
/// ```ignore
/// #[mp::shared]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
///
/// let a = mp::Array::builder(vec![Point { x: 1.875, y: -6.25 }, Point { x: -5.75, y: 2.0 }])
///     .lock(lock)
///     .build()?;
/// ```
///
/// # Equivalent code without the macro
///
/// ```ignore
/// #[repr(C)]
/// #[derive(Clone, Copy)]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
///
/// // SAFETY: repr(C), Copy, every field is Shareable.
/// unsafe impl mp::sharedctypes::Shareable for Point {
///     const LAYOUT: u64 = 0x1234; // must change whenever the layout does
/// }
/// ```
#[proc_macro_attribute]
pub fn shared(args: TokenStream, item: TokenStream) -> TokenStream {
    shared::expand(args.into(), item.into()).into()
}

/// Makes a type shareable through a manager: Python's `BaseManager.register(typeid, Class)`
/// on the server side, and the typed proxy on the client side.
///
/// Put it on an inherent `impl` block. It implements `mp::managers::Referent` for the type
/// (the server-side dispatch of its methods by name) and generates a proxy type,
/// `<Type>Proxy` by default, with one method per exposed method of the block, taking the
/// same arguments and returning `mp::Result<R>` (`mp::Result<T>` for a method returning
/// `Result<T, E>`; a method returning `Shared<X>` returns `X`'s proxy). Methods taking
/// `&self` run concurrently in the manager; methods taking `&mut self` one at a time.
/// Associated fns without `self` (constructors) are left alone.
///
/// Arguments: a list of proxy types to generate, each optionally with a visibility and
/// with the methods it exposes in parentheses (default: every method whose name does not
/// start with `_`, as in Python); `crate = "path"` if `mp` is renamed. A method outside a
/// proxy's exposed set does not exist on that proxy type: calling it is a compile error.
///
/// # Python
///
/// ```python
/// class Foo:
///     def f(self): ...
///     def g(self): ...
///     def _h(self): ...
/// MyManager.register('Foo1', Foo)
/// MyManager.register('Foo2', Foo, exposed=('g', '_h'))
/// ```
///
/// # With the macro
///
/// ```ignore
/// #[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))]
/// impl Foo {
///     fn f(&self) { println!("you called Foo.f()") }
///     fn g(&self) { println!("you called Foo.g()") }
///     fn _h(&self) { println!("you called Foo._h()") }
/// }
/// // Foo1Proxy has f() and g(); Foo2Proxy has g() and _h().
/// ```
///
/// # Equivalent code without the macro
///
/// Implement `mp::managers::Referent` for the type (a `dispatch` matching method names and
/// converting arguments and results with `from_value`/`to_value`) and `mp::managers::Proxy`
/// for a struct wrapping a `BaseProxy` whose methods call `base.call_method(name, args)`.
#[proc_macro_attribute]
pub fn proxy(args: TokenStream, item: TokenStream) -> TokenStream {
    proxy::expand(args.into(), item.into()).into()
}
