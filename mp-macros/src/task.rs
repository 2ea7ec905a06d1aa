//! `#[mp::task]`: registration of a free fn, or of a `Run` implementation.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Item, ItemFn, ItemImpl, ReturnType, Type};

use crate::attr::{Args, Errors};
use crate::types::{check_owned, is_result};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, "mp::task", &["crate"], &mut errors);
    let krate = args.krate(&mut errors);
    let parsed: Item = match syn::parse2(item.clone()) {
        Ok(i) => i,
        Err(_) => {
            errors.spanned(
                Span::call_site(),
                "`#[mp::task]` goes on a free `fn` or on an `impl mp::Run for Type` block",
            );
            let errs = errors.to_compile_errors();
            return quote!(#errs #item);
        }
    };
    match parsed {
        Item::Fn(f) => expand_fn(f, krate, errors),
        Item::Impl(i) => expand_impl(i, krate, errors),
        other => {
            errors.spanned(
                other.span(),
                "`#[mp::task]` goes on a free `fn` or on an `impl mp::Run for Type` block",
            );
            let errs = errors.to_compile_errors();
            quote!(#errs #other)
        }
    }
}

fn validate_fn(f: &ItemFn, errors: &mut Errors) {
    let sig = &f.sig;
    if let Some(a) = &sig.asyncness {
        errors.spanned(
            a.span(),
            "`#[mp::task]` fn cannot be `async`: a child runs it as a plain call; start an async \
             runtime inside the task (for example `tokio::runtime::Runtime::new()?.block_on(..)`)",
        );
    }
    if let Some(u) = &sig.unsafety {
        errors.spanned(
            u.span(),
            "`#[mp::task]` fn cannot be `unsafe`: the process that runs it cannot uphold its \
             safety contract",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi.span(), "`#[mp::task]` fn cannot have an explicit ABI");
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v.span(), "`#[mp::task]` fn cannot be variadic");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            sig.generics.span(),
            "`#[mp::task]` fn cannot be generic: a child process finds a task by name, so its \
             types must be fixed; write one non-generic task per type",
        );
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => errors.spanned(
                r.span(),
                "`#[mp::task]` fn cannot take `self`: a task is a free fn; to run a value's \
                 method in a child, implement `mp::Run` for its type and use \
                 `Process::from_run`",
            ),
            FnArg::Typed(pt) => check_owned(&pt.ty, "a task argument", errors),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_owned(ty, "a task's return type", errors);
    }
}

fn expand_fn(f: ItemFn, krate: TokenStream, mut errors: Errors) -> TokenStream {
    validate_fn(&f, &mut errors);
    if !errors.is_empty() {
        let errs = errors.to_compile_errors();
        // Keep the fn so that its uses do not add errors of their own.
        return quote!(#errs #f);
    }
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = f;
    let name = &sig.ident;
    let (mut cfgs, mut docs, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for a in attrs {
        if a.path().is_ident("cfg") {
            cfgs.push(a);
        } else if a.path().is_ident("doc") {
            docs.push(a);
        } else {
            rest.push(a);
        }
    }
    let arg_tys: Vec<&Type> = sig
        .inputs
        .iter()
        .filter_map(|i| match i {
            FnArg::Typed(pt) => Some(&*pt.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let arg_names: Vec<_> = (0..arg_tys.len())
        .map(|i| format_ident!("__mp_arg{}", i))
        .collect();
    let (ret, ret_span) = match &sig.output {
        ReturnType::Default => (quote!(()), sig.ident.span()),
        ReturnType::Type(_, ty) => (quote!(#ty), ty.span()),
    };
    let fallible = matches!(&sig.output, ReturnType::Type(_, ty) if is_result(ty));
    let (value_ty, into_value, value_checks) = if fallible {
        (
            quote!(<#ret as #krate::__private::ResultParts>::Ok),
            quote!(#krate::__private::split_result(out)),
            quote_spanned! {ret_span=>
                #krate::__private::assert_portable::<<#ret as #krate::__private::ResultParts>::Ok>();
                #krate::__private::assert_task_error::<<#ret as #krate::__private::ResultParts>::Err>();
            },
        )
    } else {
        (
            ret.clone(),
            quote!(::core::result::Result::Ok(out)),
            quote_spanned! {ret_span=> #krate::__private::assert_portable::<#ret>(); },
        )
    };
    let arg_checks = arg_tys.iter().map(|ty| {
        quote_spanned! {ty.span()=> #krate::__private::assert_portable::<#ty>(); }
    });
    let mut impl_sig = sig.clone();
    impl_sig.ident = format_ident!("__mp_task_impl");
    let arg_tuple = quote!((#(#arg_tys,)*));
    let fn_ptr = quote!(fn(#(#arg_tys),*) -> #ret);
    quote! {
        #(#cfgs)*
        #[allow(non_camel_case_types)]
        #[doc(hidden)]
        #[derive(::core::clone::Clone, ::core::marker::Copy)]
        #vis struct #name {}

        #(#cfgs)*
        #(#docs)*
        #[allow(non_upper_case_globals)]
        #vis const #name: #name = #name {};

        #(#cfgs)*
        const _: () = {
            #(#rest)*
            #impl_sig #block

            const _: () = {
                #(#arg_checks)*
                #value_checks
            };

            impl ::core::fmt::Debug for #name {
                fn fmt(&self, __mp_f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    __mp_f.write_str(<Self as #krate::__private::Task>::NAME)
                }
            }

            impl ::core::ops::Deref for #name {
                type Target = #fn_ptr;
                fn deref(&self) -> &Self::Target {
                    static __MP_FN: #fn_ptr = __mp_task_impl;
                    &__MP_FN
                }
            }

            impl #krate::__private::Target<#arg_tuple> for #name {
                type Output = #ret;
                fn call(self, args: #arg_tuple) -> #ret {
                    <Self as #krate::__private::Task>::run(args)
                }
                fn task_name(&self) -> ::core::option::Option<&'static str> {
                    ::core::option::Option::Some(<Self as #krate::__private::Task>::NAME)
                }
            }

            impl #krate::__private::Task for #name {
                type Args = #arg_tuple;
                type Output = #ret;
                type Value = #value_ty;
                const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name));
                #[allow(unused_variables, clippy::unused_unit)]
                fn run(args: #arg_tuple) -> #ret {
                    let (#(#arg_names,)*) = args;
                    __mp_task_impl(#(#arg_names),*)
                }
                fn into_value(out: #ret) -> ::core::result::Result<#value_ty, ::std::string::String> {
                    #into_value
                }
            }

            #[#krate::__private::linkme::distributed_slice(#krate::__private::MP_TASK_REGISTRY)]
            #[linkme(crate = #krate::__private::linkme)]
            static __MP_TASK_ENTRY: #krate::__private::TaskEntry =
                #krate::__private::TaskEntry::of::<#name>(::core::file!(), ::core::line!());
        };
    }
}

fn expand_impl(mut imp: ItemImpl, krate: TokenStream, mut errors: Errors) -> TokenStream {
    let is_run = imp
        .trait_
        .as_ref()
        .and_then(|(bang, path, _)| {
            if bang.is_none() {
                path.segments.last()
            } else {
                None
            }
        })
        .is_some_and(|s| s.ident == "Run");
    if !is_run {
        errors.spanned(
            imp.impl_token.span(),
            "`#[mp::task]` on an `impl` block registers an `impl mp::Run for Type`; other impl \
             blocks cannot be tasks (put `#[mp::task]` on a free fn instead)",
        );
    }
    if !imp.generics.params.is_empty() {
        errors.spanned(
            imp.generics.span(),
            "`#[mp::task]` cannot register a generic `Run` impl: a child process finds it by \
             name, so the type must be fixed",
        );
    }
    let self_ty = imp.self_ty.clone();
    let ty_name = match &*self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    };
    let Some(ty_name) = ty_name else {
        errors.spanned(self_ty.span(), "`#[mp::task]` needs a named type here");
        let errs = errors.to_compile_errors();
        return quote!(#errs #imp);
    };
    if !errors.is_empty() {
        let errs = errors.to_compile_errors();
        return quote!(#errs #imp);
    }
    let name_expr = quote!(::core::concat!(
        ::core::module_path!(),
        "::",
        ::core::stringify!(#ty_name)
    ));
    imp.items.push(syn::parse_quote! {
        #[doc(hidden)]
        const __MP_TASK_NAME: ::core::option::Option<&'static str> =
            ::core::option::Option::Some(#name_expr);
    });
    quote! {
        #imp

        const _: () = {
            #[#krate::__private::linkme::distributed_slice(#krate::__private::MP_TASK_REGISTRY)]
            #[linkme(crate = #krate::__private::linkme)]
            static __MP_TASK_ENTRY: #krate::__private::TaskEntry =
                #krate::__private::TaskEntry::of_run::<#self_ty>(#name_expr, ::core::file!(), ::core::line!());
        };
    }
}
