//! Parsing of the `key = "value"` arguments the attributes take.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Error, LitStr, Token};

/// One `key = "value"` pair.
pub(crate) struct Pair {
    pub(crate) key: syn::Ident,
    pub(crate) value: LitStr,
}

impl Parse for Pair {
    fn parse(input: ParseStream<'_>) -> syn::Result<Pair> {
        let key = if input.peek(Token![crate]) {
            let k: Token![crate] = input.parse()?;
            syn::Ident::new("crate", k.span)
        } else {
            input.parse()?
        };
        input.parse::<Token![=]>()?;
        let value = input.parse()?;
        Ok(Pair { key, value })
    }
}

/// Whether an attribute is an async runtime's entry attribute (`#[tokio::main]`,
/// `#[tokio::test]`, `#[async_std::main]`, `#[actix_rt::test]`...), which makes an `async fn`
/// acceptable under mp's attributes.
pub(crate) fn is_runtime_attr(a: &syn::Attribute) -> bool {
    let segs = &a.path().segments;
    segs.len() >= 2
        && segs
            .last()
            .is_some_and(|s| s.ident == "main" || s.ident == "test")
}

/// The arguments of an attribute: each known key at most once.
pub(crate) struct Args {
    pairs: Vec<Pair>,
}

impl Args {
    /// Parses the arguments and checks them against `known`; errors are collected.
    pub(crate) fn parse(
        tokens: TokenStream,
        attr: &str,
        known: &[&str],
        errors: &mut Errors,
    ) -> Args {
        let parser = Punctuated::<Pair, Token![,]>::parse_terminated;
        let pairs = match syn::parse::Parser::parse2(parser, tokens) {
            Ok(p) => p.into_iter().collect::<Vec<_>>(),
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        let mut seen: Vec<String> = Vec::new();
        let mut kept = Vec::new();
        for p in pairs {
            let k = p.key.to_string();
            if !known.contains(&k.as_str()) {
                let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                errors.push(Error::new(
                    p.key.span(),
                    format!(
                        "unknown `{attr}` argument `{k}`; expected one of {}",
                        list.join(", ")
                    ),
                ));
            } else if seen.contains(&k) {
                errors.push(Error::new(
                    p.key.span(),
                    format!("duplicate `{attr}` argument `{k}`"),
                ));
            } else {
                seen.push(k);
                kept.push(p);
            }
        }
        Args { pairs: kept }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&LitStr> {
        self.pairs.iter().find(|p| p.key == key).map(|p| &p.value)
    }

    /// The path to the `mp` crate (`::mp` unless `crate = "..."` says otherwise).
    pub(crate) fn krate(&self, errors: &mut Errors) -> TokenStream {
        match self.get("crate") {
            Some(lit) => match lit.parse::<syn::Path>() {
                Ok(p) => quote!(#p),
                Err(_) => {
                    errors.push(Error::new(
                        lit.span(),
                        "`crate` expects a path such as \"::mp\"",
                    ));
                    quote!(::mp)
                }
            },
            None => quote!(::mp),
        }
    }
}

/// Collected errors, reported together.
#[derive(Default)]
pub(crate) struct Errors {
    list: Vec<Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, e: Error) {
        self.list.push(e);
    }

    pub(crate) fn spanned(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.list.push(Error::new(span, msg));
    }

    /// An error spanning all of `tokens` (first to last token), not only the first one.
    pub(crate) fn new_spanned(
        &mut self,
        tokens: impl quote::ToTokens,
        msg: impl std::fmt::Display,
    ) {
        self.list.push(Error::new_spanned(tokens, msg));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.list.iter().map(Error::to_compile_error).collect()
    }
}
