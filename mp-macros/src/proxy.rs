//! `#[mp::proxy]`: a shared type's server-side dispatch and its typed proxies.
//!
//! ```text
//! #[mp::proxy]                                   // FooProxy exposing the public methods
//! #[mp::proxy(pub FooProxy)]                     // its visibility
//! #[mp::proxy(Foo1Proxy, Foo2Proxy(g, _h))]      // two proxies, the second exposing g and _h
//! #[mp::proxy(crate = "::mp")]                   // where mp is
//! impl Foo { fn f(&self) {..} fn g(&mut self, x: i64) -> i64 {..} fn _h(&self) {..} }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, PathArguments,
    ReturnType, Token, Type, Visibility,
};

use crate::attr::Errors;
use crate::types::{check_owned, is_result};

const ATTR: &str = "mp::proxy";

/// One proxy type to generate.
struct ProxySpec {
    vis: Visibility,
    name: Ident,
    /// `None`: the default (methods whose name does not start with `_`).
    exposed: Option<Vec<Ident>>,
}

enum Arg {
    Crate(LitStr),
    Proxy(ProxySpec),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Arg> {
        if input.peek(Token![crate]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            return Ok(Arg::Crate(input.parse()?));
        }
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a proxy type name (`FooProxy`), optionally with its exposed methods \
                 (`FooProxy(f, g)`), or `crate = \"..\"`",
            )
        })?;
        if input.peek(Token![=]) {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "unknown `{ATTR}` argument `{name}`; expected `crate = \"..\"` or a proxy type name"
                ),
            ));
        }
        let exposed = if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            let list = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
            Some(list.into_iter().collect())
        } else {
            None
        };
        Ok(Arg::Proxy(ProxySpec { vis, name, exposed }))
    }
}

/// A method of the impl block that proxies can call.
struct Method<'a> {
    original: &'a ImplItemFn,
    name: &'a Ident,
    mutable: bool,
    arg_tys: Vec<&'a Type>,
    ret: Option<&'a Type>,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let parsed_args =
        match syn::parse::Parser::parse2(Punctuated::<Arg, Token![,]>::parse_terminated, args) {
            Ok(p) => p.into_iter().collect::<Vec<_>>(),
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
    let imp: ItemImpl = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Impl(i)) => i,
        Ok(other) => {
            errors.spanned(
                first_token_span(&other),
                "`#[mp::proxy]` goes on an inherent `impl` block (`impl Foo { .. }`), whose \
                 methods the proxies call",
            );
            let errs = errors.to_compile_errors();
            return quote!(#errs #other);
        }
        Err(_) => {
            errors.spanned(
                Span::call_site(),
                "`#[mp::proxy]` goes on an inherent `impl` block (`impl Foo { .. }`)",
            );
            let errs = errors.to_compile_errors();
            return quote!(#errs #item);
        }
    };

    let mut krate = quote!(::mp);
    let mut specs: Vec<ProxySpec> = Vec::new();
    let mut crate_seen = false;
    for a in parsed_args {
        match a {
            Arg::Crate(lit) => {
                if crate_seen {
                    errors.spanned(lit.span(), format!("duplicate `{ATTR}` argument `crate`"));
                }
                crate_seen = true;
                match lit.parse::<syn::Path>() {
                    Ok(p) => krate = quote!(#p),
                    Err(_) => errors.spanned(lit.span(), "`crate` expects a path such as \"::mp\""),
                }
            }
            Arg::Proxy(p) => {
                if specs.iter().any(|s| s.name == p.name) {
                    errors.spanned(p.name.span(), format!("duplicate proxy type `{}`", p.name));
                } else {
                    specs.push(p);
                }
            }
        }
    }

    if let Some((_, path, _)) = &imp.trait_ {
        errors.spanned(
            path.span(),
            "`#[mp::proxy]` goes on an inherent `impl` block, not on a trait impl: write the \
             methods proxies call in `impl Foo { .. }`",
        );
    }
    if !imp.generics.params.is_empty() || imp.generics.where_clause.is_some() {
        errors.spanned(
            imp.generics.span(),
            "`#[mp::proxy]` cannot be used on a generic impl: a manager finds a type's methods \
             by name, so the type must be fixed",
        );
    }
    let ty_ident = match &*imp.self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    };
    let Some(ty_ident) = ty_ident else {
        errors.spanned(imp.self_ty.span(), "`#[mp::proxy]` needs a named type here");
        let errs = errors.to_compile_errors();
        return quote!(#errs #imp);
    };

    let methods = collect_methods(&imp, &mut errors);
    if specs.is_empty() {
        specs.push(ProxySpec {
            vis: Visibility::Inherited,
            name: format_ident!("{}Proxy", ty_ident),
            exposed: None,
        });
    }
    let all_names: Vec<String> = methods.iter().map(|m| m.name.to_string()).collect();
    for s in &specs {
        for e in s.exposed.iter().flatten() {
            if !all_names.contains(&e.to_string()) {
                let list: Vec<String> = all_names.iter().map(|n| format!("`{n}`")).collect();
                errors.spanned(
                    e.span(),
                    format!(
                        "`{e}` is not a method of this impl block taking `&self` or `&mut self`; \
                         expected one of {}",
                        if list.is_empty() {
                            "(none)".to_string()
                        } else {
                            list.join(", ")
                        }
                    ),
                );
            }
        }
    }

    if !errors.is_empty() {
        let errs = errors.to_compile_errors();
        return quote!(#errs #imp);
    }

    let self_ty = &imp.self_ty;
    let type_name = ty_ident.to_string();
    let m = quote!(#krate::managers::__macro);
    let dispatch_arms = methods.iter().map(|meth| dispatch_arm(meth, &m));
    let first = &specs[0].name;
    let proxies = specs
        .iter()
        .map(|s| proxy_type(s, &methods, self_ty, &krate, &m));

    quote! {
        #imp

        const _: () = {
            impl #krate::managers::Referent for #self_ty {
                type Proxy = #first;
                const TYPE_NAME: &'static str = #type_name;
                #[allow(unused_variables, clippy::let_unit_value, clippy::unit_arg)]
                fn dispatch(
                    this: &::std::sync::RwLock<Self>,
                    method: &str,
                    args: #krate::managers::Value,
                ) -> #krate::Result<#krate::managers::Value> {
                    match method {
                        #(#dispatch_arms)*
                        _ => ::core::result::Result::Err(#m::unknown_method(#type_name, method)),
                    }
                }
            }
        };

        #(#proxies)*
    }
}

fn first_token_span(item: &Item) -> Span {
    match item {
        Item::Fn(f) => f.sig.fn_token.span(),
        Item::Struct(s) => s.struct_token.span(),
        Item::Enum(e) => e.enum_token.span(),
        Item::Trait(t) => t.trait_token.span(),
        other => other.span(),
    }
}

fn collect_methods<'a>(imp: &'a ItemImpl, errors: &mut Errors) -> Vec<Method<'a>> {
    let mut out = Vec::new();
    for it in &imp.items {
        let ImplItem::Fn(f) = it else { continue };
        let sig = &f.sig;
        let Some(FnArg::Receiver(recv)) = sig.inputs.first() else {
            // Associated fns (constructors) are not methods of the shared object.
            continue;
        };
        let name = &sig.ident;
        if recv.reference.is_none() {
            errors.spanned(
                recv.span(),
                format!(
                    "the method `{name}` of a shared object cannot take `self` by value: the \
                     object stays in the manager; take `&self` or `&mut self`"
                ),
            );
            continue;
        }
        if let Some(a) = &sig.asyncness {
            errors.spanned(
                a.span(),
                format!("the method `{name}` of a shared object cannot be `async`"),
            );
        }
        if let Some(u) = &sig.unsafety {
            errors.spanned(
                u.span(),
                format!(
                    "the method `{name}` of a shared object cannot be `unsafe`: a remote caller \
                     cannot uphold its contract"
                ),
            );
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.spanned(
                sig.generics.span(),
                format!(
                    "the method `{name}` of a shared object cannot be generic: proxies call it \
                     by name, so its types must be fixed"
                ),
            );
        }
        if let Some(v) = &sig.variadic {
            errors.spanned(v.span(), "a proxied method cannot be variadic");
        }
        let mut arg_tys = Vec::new();
        for input in sig.inputs.iter().skip(1) {
            if let FnArg::Typed(pt) = input {
                check_owned(&pt.ty, "an argument of a proxied method", errors);
                arg_tys.push(&*pt.ty);
            }
        }
        let ret = match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => {
                check_owned(ty, "the return type of a proxied method", errors);
                Some(&**ty)
            }
        };
        out.push(Method {
            original: f,
            name,
            mutable: recv.mutability.is_some(),
            arg_tys,
            ret,
        });
    }
    out
}

/// `X` if `ty` is spelled `Shared<X>`.
fn shared_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Shared" {
        return None;
    }
    let PathArguments::AngleBracketed(a) = &seg.arguments else {
        return None;
    };
    a.args.iter().find_map(|g| match g {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// The `Ok` type of a `Result` spelled with its arguments.
fn result_ok(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let PathArguments::AngleBracketed(a) = &seg.arguments else {
        return None;
    };
    a.args.iter().find_map(|g| match g {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn dispatch_arm(meth: &Method<'_>, m: &TokenStream) -> TokenStream {
    let name = meth.name;
    let name_str = name.to_string();
    let tys = &meth.arg_tys;
    let vars: Vec<Ident> = (0..tys.len())
        .map(|i| format_ident!("__mp_a{}", i))
        .collect();
    let guard = if meth.mutable {
        quote!(let mut __mp_guard = #m::write(this); let __mp_out = Self::#name(&mut *__mp_guard, #(#vars),*);)
    } else {
        quote!(let __mp_guard = #m::read(this); let __mp_out = Self::#name(&*__mp_guard, #(#vars),*);)
    };
    let ret = match meth.ret {
        Some(ty) if is_result(ty) => quote_spanned!(ty.span()=> #m::ret_result(__mp_out)),
        Some(ty) => quote_spanned!(ty.span()=> #m::ret(&__mp_out)),
        None => quote!(#m::ret(&__mp_out)),
    };
    quote! {
        #name_str => {
            let (#(#vars,)*): (#(#tys,)*) = #m::args(args, #name_str)?;
            #guard
            ::core::mem::drop(__mp_guard);
            #ret
        }
    }
}

fn client_ret(ret: Option<&Type>, krate: &TokenStream) -> TokenStream {
    match ret {
        None => quote!(()),
        Some(ty) if is_result(ty) => match result_ok(ty).and_then(shared_inner) {
            Some(inner) => quote!(<#inner as #krate::managers::Referent>::Proxy),
            None => quote!(<#ty as #krate::__private::ResultParts>::Ok),
        },
        Some(ty) => match shared_inner(ty) {
            Some(inner) => quote!(<#inner as #krate::managers::Referent>::Proxy),
            None => quote!(#ty),
        },
    }
}

fn proxy_type(
    spec: &ProxySpec,
    methods: &[Method<'_>],
    self_ty: &Type,
    krate: &TokenStream,
    m: &TokenStream,
) -> TokenStream {
    let vis = &spec.vis;
    let name = &spec.name;
    let name_str = name.to_string();
    let exposed: Vec<&Method<'_>> = methods
        .iter()
        .filter(|meth| match &spec.exposed {
            Some(list) => list.iter().any(|e| e == meth.name),
            None => !meth.name.to_string().starts_with('_'),
        })
        .collect();
    let exposed_names: Vec<String> = exposed.iter().map(|meth| meth.name.to_string()).collect();
    let fns = exposed.iter().map(|meth| {
        let mname = meth.name;
        let mname_str = mname.to_string();
        let mut docs: Vec<TokenStream> = meth
            .original
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .map(|a| quote!(#a))
            .collect();
        if docs.is_empty() {
            let d = format!(
                "Calls `{}::{mname}` on the shared object, in its manager.",
                quote!(#self_ty)
            );
            docs.push(quote!(#[doc = #d]));
        }
        let params: Vec<Ident> = (0..meth.arg_tys.len())
            .map(|i| format_ident!("__mp_a{}", i))
            .collect();
        let tys = &meth.arg_tys;
        let ret = client_ret(meth.ret, krate);
        let span = meth.ret.map_or(mname.span(), |t| t.span());
        let call = quote_spanned! {span=>
            #m::call::<#ret>(&self.base, #mname_str, ::std::vec![#(#m::arg(#params)?),*])
        };
        quote! {
            #(#docs)*
            #[allow(clippy::too_many_arguments)]
            pub fn #mname(&self, #(#params: #tys),*) -> #krate::Result<#ret> {
                #call
            }
        }
    });
    let doc = format!(
        "A proxy for a shared `{}`, exposing {}.",
        quote!(#self_ty),
        if exposed_names.is_empty() {
            "no methods".to_string()
        } else {
            exposed_names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code)]
        #vis struct #name {
            base: #krate::managers::BaseProxy,
        }

        const _: () = {
            impl #krate::managers::Proxy for #name {
                type Referent = #self_ty;
                const NAME: &'static str = #name_str;
                const EXPOSED: &'static [&'static str] = &[#(#exposed_names),*];
                fn from_base(base: #krate::managers::BaseProxy) -> Self {
                    #name { base }
                }
                fn base(&self) -> &#krate::managers::BaseProxy {
                    &self.base
                }
            }

            impl ::core::clone::Clone for #name {
                fn clone(&self) -> Self {
                    #name { base: ::core::clone::Clone::clone(&self.base) }
                }
            }

            impl ::core::fmt::Debug for #name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Debug::fmt(&self.base, f)
                }
            }

            impl ::core::fmt::Display for #name {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Display::fmt(&self.base, f)
                }
            }

            impl #m::serde::Serialize for #name {
                fn serialize<S: #m::serde::Serializer>(
                    &self,
                    s: S,
                ) -> ::core::result::Result<S::Ok, S::Error> {
                    #m::serde::Serialize::serialize(&self.base, s)
                }
            }

            impl<'de> #m::serde::Deserialize<'de> for #name {
                fn deserialize<D: #m::serde::Deserializer<'de>>(
                    d: D,
                ) -> ::core::result::Result<Self, D::Error> {
                    <#krate::managers::BaseProxy as #m::serde::Deserialize>::deserialize(d)
                        .map(|base| #name { base })
                }
            }

            impl ::core::convert::From<&#name> for #krate::managers::Value {
                fn from(p: &#name) -> #krate::managers::Value {
                    #krate::managers::Value::Proxy(p.base.to_ref())
                }
            }
        };

        #[allow(dead_code)]
        impl #name {
            /// The base proxy: the token, `call_method` (Python's `_callmethod`),
            /// `exposed` (`_exposed_`).
            pub fn base(&self) -> &#krate::managers::BaseProxy {
                &self.base
            }

            #(#fns)*
        }
    }
}
