//! The JSON Schema side of the contract: the generator the described types write their schemas
//! with (`schemars`, feature `schema`), and the probes generated code uses to find a type's
//! schema when it has one (autoref specialization: a type without `JsonSchema` falls through to
//! "any" instead of failing to compile).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde_json::Value;

/// The schema generator described types write into (wraps `schemars::SchemaGenerator` with
/// the `schema` feature: JSON Schema draft 07, as AsyncAPI 3.0's default schema format reads
/// it, with named types under `#/components/schemas/`). Not constructible outside swoft-ws.
#[derive(Debug)]
pub struct SchemaGen {
    #[cfg(feature = "schema")]
    inner: schemars::SchemaGenerator,
    _private: (),
}

impl SchemaGen {
    pub(crate) fn new() -> Self {
        SchemaGen {
            #[cfg(feature = "schema")]
            inner: schemars::generate::SchemaSettings::draft07()
                .with(|s| {
                    s.definitions_path = "/components/schemas".into();
                    s.meta_schema = None;
                })
                .into_generator(),
            _private: (),
        }
    }

    /// The named types' schemas written so far, by name.
    pub(crate) fn into_definitions(self) -> BTreeMap<String, Value> {
        #[cfg(feature = "schema")]
        {
            let mut inner = self.inner;
            inner.take_definitions(true).into_iter().collect()
        }
        #[cfg(not(feature = "schema"))]
        {
            let _ = self;
            BTreeMap::new()
        }
    }
}

#[cfg(feature = "schema")]
fn schema_of<T: schemars::JsonSchema + ?Sized>(g: &mut SchemaGen) -> Value {
    g.inner.subschema_for::<T>().to_value()
}

fn with_schema<T: ?Sized>(schema: Option<super::SchemaFn>) -> Option<TypeInfo> {
    Some(TypeInfo {
        name: std::any::type_name::<T>(),
        schema,
    })
}

/// A type as the macros recorded it (macro ABI; see [`Shape`](super::Shape) for the described form).
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    /// `std::any::type_name` of the type.
    pub name: &'static str,
    /// Its schema, when it has one (the `schema` feature and a `JsonSchema` impl).
    pub schema: Option<SchemaFn>,
}

/// Writes a type's schema (a `$ref` for a named type) with the given generator.
pub type SchemaFn = fn(&mut SchemaGen) -> Value;

/// Gives the type of a payload, a reply or a push; `None` when there is none.
pub type TypeFn = fn() -> Option<TypeInfo>;

/// The contract of one `#[message_mapping]` (macro ABI).
#[derive(Debug, Clone, Copy)]
pub struct RouteContract {
    /// The payload type (`Data<T>`'s `T`).
    pub payload: TypeFn,
    /// The reply type.
    pub reply: TypeFn,
    /// `errors = [..]` of the mapping.
    pub errors: &'static [&'static str],
}

/// The payload of a handler without a `Data<T>` argument.
pub fn no_payload() -> Option<TypeInfo> {
    None
}

impl RouteContract {
    /// No payload, no reply, no declared errors (records written by hand).
    pub const NONE: RouteContract = RouteContract {
        payload: no_payload,
        reply: no_payload,
        errors: &[],
    };
}

/// The probe generated code calls methods on (`(&&&Probe::<T>::new()).__swoft_payload()`):
/// the method found depends on which impl applies to `T`, the most specific first.
#[derive(Debug)]
pub struct Probe<T: ?Sized>(PhantomData<fn() -> PhantomData<T>>);

impl<T: ?Sized> Probe<T> {
    /// The probe of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// A `Data<T>` argument whose `T` has a schema.
pub trait PayloadViaSchema {
    /// The payload's type.
    fn __swoft_payload(&self) -> Option<TypeInfo>;
}
/// A `Data<T>` argument without a schema: "any".
pub trait PayloadViaAny {
    /// The payload's type.
    fn __swoft_payload(&self) -> Option<TypeInfo>;
}
/// Any other argument: not a payload.
pub trait PayloadViaNone {
    /// `None`.
    fn __swoft_payload(&self) -> Option<TypeInfo>;
}

/// The reply types that are no reply: `()` and `Result<(), E>`.
pub trait ReplyViaNone {
    /// `None`.
    fn __swoft_reply(&self) -> Option<TypeInfo>;
}
/// `Result<T, E>` where `T` has a schema.
pub trait ReplyViaResultSchema {
    /// The reply's type.
    fn __swoft_reply(&self) -> Option<TypeInfo>;
}
/// `Result<T, E>` without a schema.
pub trait ReplyViaResultAny {
    /// The reply's type.
    fn __swoft_reply(&self) -> Option<TypeInfo>;
}
/// A reply type with a schema.
pub trait ReplyViaSchema {
    /// The reply's type.
    fn __swoft_reply(&self) -> Option<TypeInfo>;
}
/// A reply type without one.
pub trait ReplyViaAny {
    /// The reply's type.
    fn __swoft_reply(&self) -> Option<TypeInfo>;
}

/// A pushed type with a schema.
pub trait TypeViaSchema {
    /// The type.
    fn __swoft_type(&self) -> Option<TypeInfo>;
}
/// A pushed type without one.
pub trait TypeViaAny {
    /// The type.
    fn __swoft_type(&self) -> Option<TypeInfo>;
}

// The `Data<T>` wrapper is the caller's business: `private` instantiates these probes with the
// extractor types (this layer does not know them); `W` is the wrapper, `T` what it holds.

/// Implemented for the extractor types that carry a payload (`Data<T>`, `Option<Data<T>>`).
pub trait PayloadWrapper {
    /// The payload type.
    type Payload: ?Sized;
}

#[cfg(feature = "schema")]
impl<W: PayloadWrapper> PayloadViaSchema for &&Probe<W>
where
    W::Payload: schemars::JsonSchema,
{
    fn __swoft_payload(&self) -> Option<TypeInfo> {
        with_schema::<W::Payload>(Some(schema_of::<W::Payload>))
    }
}

impl<W: PayloadWrapper> PayloadViaAny for &Probe<W> {
    fn __swoft_payload(&self) -> Option<TypeInfo> {
        with_schema::<W::Payload>(None)
    }
}

impl<T: ?Sized> PayloadViaNone for Probe<T> {
    fn __swoft_payload(&self) -> Option<TypeInfo> {
        None
    }
}

impl ReplyViaNone for &&&&Probe<()> {
    fn __swoft_reply(&self) -> Option<TypeInfo> {
        None
    }
}

impl<E> ReplyViaNone for &&&&Probe<Result<(), E>> {
    fn __swoft_reply(&self) -> Option<TypeInfo> {
        None
    }
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema, E> ReplyViaResultSchema for &&&Probe<Result<T, E>> {
    fn __swoft_reply(&self) -> Option<TypeInfo> {
        with_schema::<T>(Some(schema_of::<T>))
    }
}

impl<T, E> ReplyViaResultAny for &&Probe<Result<T, E>> {
    fn __swoft_reply(&self) -> Option<TypeInfo> {
        with_schema::<T>(None)
    }
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema + ?Sized> ReplyViaSchema for &Probe<T> {
    fn __swoft_reply(&self) -> Option<TypeInfo> {
        with_schema::<T>(Some(schema_of::<T>))
    }
}

impl<T: ?Sized> ReplyViaAny for Probe<T> {
    fn __swoft_reply(&self) -> Option<TypeInfo> {
        with_schema::<T>(None)
    }
}

#[cfg(feature = "schema")]
impl<T: schemars::JsonSchema + ?Sized> TypeViaSchema for &Probe<T> {
    fn __swoft_type(&self) -> Option<TypeInfo> {
        with_schema::<T>(Some(schema_of::<T>))
    }
}

impl<T: ?Sized> TypeViaAny for Probe<T> {
    fn __swoft_type(&self) -> Option<TypeInfo> {
        with_schema::<T>(None)
    }
}
