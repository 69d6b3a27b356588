//! `#[derive(Module)]` for Borel, re-exported as `borel::nn::Module` (and in `borel::prelude`):
//! a struct of layers becomes a `Module` whose parameters are its fields' parameters, in field
//! order, and whose `forward` is the struct's own inherent `forward`. See `borel_nn::Module`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Field, Index, Path, Type, parse_macro_input};

/// Implements `Params` (the fields' parameters, in order) and `Module` (the inherent `forward`,
/// and those parameters) for a struct.
///
/// Attributes: `#[module(float = f64)]` on the struct for a module of another float type than
/// `f32`; `#[module(crate = borel_nn)]` where the `borel` facade is not a dependency;
/// `#[module(skip)]` on a field that holds no parameters (a width, a flag).
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// What the struct's `#[module(..)]` attribute says.
struct Options {
    float: Type,
    krate: Path,
}

fn options(input: &DeriveInput) -> syn::Result<Options> {
    let mut options = Options {
        float: syn::parse_quote!(f32),
        krate: syn::parse_quote!(::borel::nn),
    };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("float") {
                options.float = meta.value()?.parse()?;
            } else if meta.path.is_ident("crate") {
                options.krate = meta.value()?.parse()?;
            } else {
                return Err(meta.error("expected `float = <type>` or `crate = <path>`"));
            }
            Ok(())
        })?;
    }
    Ok(options)
}

/// Whether the field is marked `#[module(skip)]`.
fn skipped(field: &Field) -> syn::Result<bool> {
    let mut skip = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error("expected `skip`"))
            }
        })?;
    }
    Ok(skip)
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Module)] takes a struct",
        ));
    };
    let Options { float, krate } = options(input)?;
    let mut collect = Vec::new();
    for (i, field) in data.fields.iter().enumerate() {
        if skipped(field)? {
            continue;
        }
        let member = match &field.ident {
            Some(name) => quote!(#name),
            None => {
                let index = Index::from(i);
                quote!(#index)
            }
        };
        collect.push(quote_spanned! {field.ty.span()=>
            #krate::Params::collect_params(&self.#member, ids);
        });
    }
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #krate::Params for #name #type_generics #where_clause {
            fn collect_params(&self, ids: &mut ::std::vec::Vec<#krate::ParamId>) {
                #(#collect)*
            }
        }
        impl #impl_generics #krate::Module<#float> for #name #type_generics #where_clause {
            fn forward<'t>(
                &self,
                fw: &#krate::ForwardPass<'t, #float>,
                x: #krate::Var<'t, #float>,
            ) -> #krate::Var<'t, #float> {
                // The struct's inherent `forward`, which wins over any trait's. Without one,
                // this trait's method makes the call ambiguous (or mistyped): a compile error
                // naming it, instead of a `forward` that calls itself.
                trait DeriveModuleNeedsAnInherentForwardFn {
                    fn forward(&self) {}
                }
                impl<T: ?Sized> DeriveModuleNeedsAnInherentForwardFn for T {}
                Self::forward(self, fw, x)
            }
            fn params(&self) -> ::std::vec::Vec<#krate::ParamId> {
                let mut ids = ::std::vec::Vec::new();
                #krate::Params::collect_params(self, &mut ids);
                ids
            }
        }
    })
}
