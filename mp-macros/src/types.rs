//! Checks on the types of task arguments and return values.

use quote::ToTokens;
use syn::visit::Visit;
use syn::{GenericArgument, PathArguments, Type};

use crate::attr::Errors;

/// Reports the first thing in `ty` that cannot cross a process boundary: a reference, a raw
/// pointer, `impl Trait`, a trait object or a lifetime.
pub(crate) fn check_owned(ty: &Type, what: &str, errors: &mut Errors) {
    match ty {
        Type::Reference(r) => {
            let hint = owned_hint(&r.elem);
            errors.new_spanned(
                ty,
                format!(
                    "{what} must be owned: a borrowed `{}` points into the parent's memory, which \
                     another process cannot see; {hint}",
                    tokens(ty)
                ),
            );
        }
        Type::Ptr(_) => errors.new_spanned(
            ty,
            format!("{what} cannot be a raw pointer: an address means nothing in another process"),
        ),
        Type::ImplTrait(_) => errors.new_spanned(
            ty,
            format!(
                "{what} cannot be `impl Trait`: a child process finds a task by name, so its \
                 types must be concrete"
            ),
        ),
        Type::TraitObject(_) => errors.new_spanned(
            ty,
            format!("{what} cannot be a trait object: name a concrete, serializable type"),
        ),
        Type::Paren(p) => check_owned(&p.elem, what, errors),
        Type::Group(g) => check_owned(&g.elem, what, errors),
        Type::Tuple(t) => t.elems.iter().for_each(|e| check_owned(e, what, errors)),
        Type::Array(a) => check_owned(&a.elem, what, errors),
        Type::Slice(_) => errors.new_spanned(
            ty,
            format!("{what} cannot be an unsized slice; take a `Vec` instead"),
        ),
        _ => {
            let mut v = Nested { found: None };
            v.visit_type(ty);
            if let Some((tokens, msg)) = v.found {
                errors.new_spanned(tokens, format!("{what} {msg}"));
            }
        }
    }
}

struct Nested {
    found: Option<(proc_macro2::TokenStream, String)>,
}

impl<'ast> Visit<'ast> for Nested {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        if self.found.is_none() {
            self.found = Some((
                r.to_token_stream(),
                format!(
                    "must be owned: `{}` borrows from the parent's memory, which another process \
                     cannot see; {}",
                    tokens(&Type::Reference(r.clone())),
                    owned_hint(&r.elem)
                ),
            ));
        }
    }

    fn visit_lifetime(&mut self, l: &'ast syn::Lifetime) {
        if self.found.is_none() && l.ident != "static" {
            self.found = Some((
                l.to_token_stream(),
                format!("must be owned: the lifetime `{l}` borrows from the parent's memory"),
            ));
        }
    }

    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        if self.found.is_none() {
            self.found = Some((t.to_token_stream(), "cannot contain `impl Trait`".into()));
        }
    }

    fn visit_type_ptr(&mut self, t: &'ast syn::TypePtr) {
        if self.found.is_none() {
            self.found = Some((t.to_token_stream(), "cannot contain a raw pointer".into()));
        }
    }
}

fn tokens(ty: &Type) -> String {
    quote::quote!(#ty)
        .to_string()
        .replace("& ", "&")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
}

fn owned_hint(elem: &Type) -> String {
    match elem {
        Type::Path(p) if p.path.is_ident("str") => "take `String` instead".into(),
        Type::Path(p) if p.path.is_ident("Path") => "take `PathBuf` instead".into(),
        Type::Slice(s) => {
            let inner = &s.elem;
            format!("take `Vec<{}>` instead", quote::quote!(#inner))
        }
        other => format!("take `{}` instead", quote::quote!(#other)),
    }
}

/// Whether `ty` is spelled as a `Result` (`Result<T, E>`, `io::Result<T>`, `mp::Result<T>`).
pub(crate) fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().is_some_and(|s| {
            s.ident == "Result"
                && matches!(&s.arguments, PathArguments::AngleBracketed(a)
                    if a.args.iter().any(|g| matches!(g, GenericArgument::Type(_))))
        }),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}
