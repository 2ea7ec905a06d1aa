//! `#[mp::main]`: the `__main__` guard.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::attr::{Args, Errors};

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
    if !f.sig.inputs.is_empty() {
        errors.spanned(f.sig.inputs.span(), "`fn main` takes no arguments");
    }
    if let Some(a) = &f.sig.asyncness {
        if f.attrs.is_empty() {
            errors.spanned(
                a.span(),
                "`async fn main` needs a runtime: add `#[tokio::main]` (or your runtime's \
                 attribute) below `#[mp::main]`",
            );
        }
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
