//! `#[mp::test]`: a test whose children can use every start method.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::attr::{Args, Errors, is_runtime_attr};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, "mp::test", &["crate"], &mut errors);
    let krate = args.krate(&mut errors);
    let mut f: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            errors.spanned(Span::call_site(), "`#[mp::test]` goes on a test `fn`");
            let errs = errors.to_compile_errors();
            return quote!(#errs #item);
        }
    };
    let has_test_attr = f
        .attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "test"));
    // Errors that leave no test fn rustc would accept: the test becomes a stub beside them.
    let mut stub = false;
    if !f.sig.inputs.is_empty() {
        errors.new_spanned(&f.sig.inputs, "a test fn takes no arguments");
        stub = true;
    }
    if let Some(a) = &f.sig.asyncness {
        if !f.attrs.iter().any(is_runtime_attr) {
            errors.spanned(
                a.span(),
                "an `async` test needs a runtime: add `#[tokio::test]` (or your runtime's \
                 attribute) below `#[mp::test]`",
            );
            stub = true;
        }
    }
    if stub {
        let errs = errors.to_compile_errors();
        let name = &f.sig.ident;
        return quote!(#errs #[::core::prelude::v1::test] fn #name() {});
    }
    let body = &f.block;
    let new_body: syn::Block = syn::parse_quote!({
        #krate::__private::test_guard();
        #body
    });
    *f.block = new_body;
    let test_attr = if has_test_attr {
        quote!()
    } else {
        quote!(#[::core::prelude::v1::test])
    };
    let errs = errors.to_compile_errors();
    quote!(#errs #test_attr #f)
}
