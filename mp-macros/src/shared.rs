//! `#[mp::shared]`: a struct that can live in shared memory (`Value`, `Array`, ...).
//!
//! Adds `#[repr(C)]` and `Clone, Copy`, proves that every field is plain data (each field type
//! must implement `Shareable`; the error is spanned on the field's type), and computes the
//! layout hash from the struct's name, size, and each field's name, offset and type layout.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Item, ItemStruct, Type};

use crate::attr::{Args, Errors};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, "mp::shared", &["crate"], &mut errors);
    let krate = args.krate(&mut errors);
    let parsed: Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(_) => {
            errors.spanned(Span::call_site(), "`#[mp::shared]` goes on a struct");
            let errs = errors.to_compile_errors();
            return quote!(#errs #item);
        }
    };
    match parsed {
        Item::Struct(s) => expand_struct(s, krate, errors),
        Item::Enum(e) => {
            errors.spanned(
                e.enum_token.span(),
                "`#[mp::shared]` goes on a struct, not an enum: a discriminant written by \
                 another process could be invalid; use an integer field instead",
            );
            let errs = errors.to_compile_errors();
            quote!(#errs #e)
        }
        Item::Union(u) => {
            errors.spanned(
                u.union_token.span(),
                "`#[mp::shared]` goes on a struct, not a union",
            );
            let errs = errors.to_compile_errors();
            quote!(#errs #u)
        }
        other => {
            errors.spanned(other.span(), "`#[mp::shared]` goes on a struct");
            let errs = errors.to_compile_errors();
            quote!(#errs #other)
        }
    }
}

/// Types that point into one process's heap, with the hint to give.
const HEAP_TYPES: &[(&str, &str)] = &[
    (
        "String",
        "a fixed-size byte string, `mp::sharedctypes::FixedBytes<N>`",
    ),
    (
        "Vec",
        "a fixed-size array `[T; N]` (or a separate `mp::Array<T>`)",
    ),
    ("Box", "the value itself"),
    ("Rc", "the value itself"),
    ("Arc", "the value itself"),
    ("Cow", "the value itself"),
    (
        "CString",
        "a fixed-size byte string, `mp::sharedctypes::FixedBytes<N>`",
    ),
    (
        "OsString",
        "a fixed-size byte string, `mp::sharedctypes::FixedBytes<N>`",
    ),
    (
        "PathBuf",
        "a fixed-size byte string, `mp::sharedctypes::FixedBytes<N>`",
    ),
    ("HashMap", "a fixed-size array of entries"),
    ("BTreeMap", "a fixed-size array of entries"),
    ("HashSet", "a fixed-size array"),
    ("BTreeSet", "a fixed-size array"),
    ("VecDeque", "a fixed-size array"),
];

/// Reports a field type that is certainly not plain data, with a tailored message.
fn check_field(ty: &Type, errors: &mut Errors) -> bool {
    let what = "a field of a `#[mp::shared]` struct";
    let msg = match ty {
        Type::Reference(_) => Some(format!(
            "{what} cannot be a reference: it points into one process's memory, which another \
             process cannot see; store the value itself"
        )),
        Type::Ptr(_) => Some(format!(
            "{what} cannot be a raw pointer: an address means nothing in another process"
        )),
        Type::BareFn(_) => Some(format!(
            "{what} cannot be a fn pointer: code addresses differ between processes; store a \
             `mp::TaskRef`'s name or an index instead"
        )),
        Type::TraitObject(_) | Type::ImplTrait(_) => Some(format!(
            "{what} cannot be a trait object: name a concrete plain-data type"
        )),
        Type::Slice(_) => Some(format!(
            "{what} cannot be an unsized slice: use a fixed-size array `[T; N]`"
        )),
        Type::Tuple(t) if !t.elems.is_empty() => Some(format!(
            "{what} cannot be a tuple: tuples have no fixed layout; use a `#[mp::shared]` struct \
             or an array"
        )),
        Type::Paren(p) => return check_field(&p.elem, errors),
        Type::Group(g) => return check_field(&g.elem, errors),
        Type::Array(a) => return check_field(&a.elem, errors),
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().and_then(|seg| {
            HEAP_TYPES
                .iter()
                .find(|(name, _)| seg.ident == name)
                .map(|(name, hint)| {
                    format!(
                        "{what} cannot be a `{name}`: it points into one process's heap, which \
                         another process cannot see; use {hint}"
                    )
                })
        }),
        _ => None,
    };
    match msg {
        Some(m) => {
            errors.spanned(ty.span(), m);
            false
        }
        None => true,
    }
}

fn has_repr_c(s: &ItemStruct) -> bool {
    s.attrs.iter().any(|a| {
        a.path().is_ident("repr") && {
            let mut found = false;
            let _ = a.parse_nested_meta(|m| {
                if m.path.is_ident("C") {
                    found = true;
                }
                // Skip `align(N)`, `packed(N)` arguments.
                if m.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in m.input);
                    let _: TokenStream = content.parse()?;
                }
                Ok(())
            });
            found
        }
    })
}

fn derived(s: &ItemStruct, name: &str) -> bool {
    s.attrs.iter().any(|a| {
        a.path().is_ident("derive") && {
            let mut found = false;
            let _ = a.parse_nested_meta(|m| {
                if m.path.segments.last().is_some_and(|seg| seg.ident == name) {
                    found = true;
                }
                Ok(())
            });
            found
        }
    })
}

fn expand_struct(s: ItemStruct, krate: TokenStream, mut errors: Errors) -> TokenStream {
    if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
        errors.spanned(
            s.generics.span(),
            "a `#[mp::shared]` struct cannot be generic: its layout is checked by name in other \
             processes, so it must be fixed; write one struct per element type",
        );
    }
    let mut all_plain = true;
    for f in s.fields.iter() {
        all_plain &= check_field(&f.ty, &mut errors);
    }
    if !all_plain || !errors.is_empty() {
        // Emit the struct untouched so that its uses do not add errors of their own.
        let errs = errors.to_compile_errors();
        return quote!(#errs #s);
    }

    let name = &s.ident;
    let repr = if has_repr_c(&s) {
        quote!()
    } else {
        quote!(#[repr(C)])
    };
    let mut derives = Vec::new();
    if !derived(&s, "Clone") {
        derives.push(quote!(::core::clone::Clone));
    }
    if !derived(&s, "Copy") {
        derives.push(quote!(::core::marker::Copy));
    }
    let derive = if derives.is_empty() {
        quote!()
    } else {
        quote!(#[derive(#(#derives),*)])
    };

    let layout = quote!(#krate::__private::layout);
    let shareable = quote!(#krate::__private::Shareable);
    let feeds: Vec<TokenStream> = match &s.fields {
        Fields::Named(_) | Fields::Unnamed(_) => s
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let member = match &f.ident {
                    Some(id) => id.to_token_stream(),
                    None => syn::Index::from(i).to_token_stream(),
                };
                let field_name = member.to_string();
                let ty = &f.ty;
                let ty_layout = quote_spanned! {ty.span()=>
                    <#ty as #shareable>::LAYOUT
                };
                quote! {
                    let h = #layout::str(h, #field_name);
                    let h = #layout::u64(h, ::core::mem::offset_of!(#name, #member) as u64);
                    let h = #layout::u64(h, #ty_layout);
                }
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    let name_str = name.to_string();
    let errs = errors.to_compile_errors();
    quote! {
        #errs
        #repr
        #derive
        #s

        const _: () = {
            // SAFETY: `#[mp::shared]` checked that the struct is `repr(C)`, `Copy`, not generic,
            // and that every field implements `Shareable` (the `LAYOUT` below names each one).
            unsafe impl #shareable for #name {
                const LAYOUT: u64 = {
                    let h = #layout::str(#layout::START, #name_str);
                    let h = #layout::u64(h, ::core::mem::size_of::<#name>() as u64);
                    let h = #layout::u64(h, ::core::mem::align_of::<#name>() as u64);
                    #(#feeds)*
                    h
                };
            }
        };
    }
}
