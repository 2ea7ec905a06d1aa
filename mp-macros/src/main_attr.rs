//! `#[mp::main]`: the `__main__` guard.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::attr::{Args, Errors, is_runtime_attr};

const METHODS: [&str; 3] = ["fork", "spawn", "forkserver"];

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, "mp::main", &["start_method", "crate"], &mut errors);
    let krate = args.krate(&mut errors);
    let mut f: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            errors.spanned(Span::call_site(), "`#[mp::main]` goes on `fn main`");
            let errs = errors.to_compile_errors();
            return quote!(#errs #item);
        }
    };
    if f.sig.ident != "main" {
        errors.spanned(
            f.sig.ident.span(),
            format!(
                "`#[mp::main]` goes on `fn main`, not on `{}`; to run a function in child \
                 processes, mark it `#[mp::task]`",
                f.sig.ident
            ),
        );
    }
    // Errors that leave no `fn main` rustc would accept: emit a stub `main` beside them so
    // that rustc adds no error of its own.
    let mut stub = false;
    if !f.sig.inputs.is_empty() {
        errors.new_spanned(
            &f.sig.inputs,
            "`fn main` takes no arguments; read them with `std::env::args()`",
        );
        stub = true;
    }
    if let Some(a) = &f.sig.asyncness {
        if !f.attrs.iter().any(is_runtime_attr) {
            errors.spanned(
                a.span(),
                "`async fn main` needs a runtime: add `#[tokio::main]` (or your runtime's \
                 attribute) below `#[mp::main]`",
            );
            stub = true;
        }
    }
    if stub {
        let errs = errors.to_compile_errors();
        return quote!(#errs fn main() {});
    }
    let set_method = match args.get("start_method") {
        Some(lit) => {
            let m = lit.value();
            if METHODS.contains(&m.as_str()) {
                quote! {
                    let _ = #krate::set_start_method(#lit, true);
                }
            } else {
                errors.spanned(
                    lit.span(),
                    format!(
                        "`start_method` expects one of \"fork\", \"spawn\", \"forkserver\", found {:?}",
                        m
                    ),
                );
                quote!()
            }
        }
        None => quote!(),
    };
    let body = &f.block;
    let new_body: syn::Block = syn::parse_quote!({
        #krate::__private::main_guard();
        #set_method
        #body
    });
    *f.block = new_body;
    let errs = errors.to_compile_errors();
    quote!(#errs #f)
}
