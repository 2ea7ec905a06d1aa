//! `#[mp::test]`: a test whose children can use every start method.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::attr::{Args, Errors};

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
    if !f.sig.inputs.is_empty() {
        errors.spanned(f.sig.inputs.span(), "a test fn takes no arguments");
    }
    let has_test_attr = f
        .attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "test"));
    if let Some(a) = &f.sig.asyncness {
        if !has_test_attr {
            errors.spanned(
                a.span(),
                "an `async` test needs a runtime: add `#[tokio::test]` (or your runtime's \
                 attribute) below `#[mp::test]`",
            );
        }
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
