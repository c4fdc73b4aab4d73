//! gloo-worker's envelope around the messages between page and worker, read
//! and written by hand.
//!
//! gloo-worker passes its `ToWorker` and `FromWorker` through the codec's
//! serde `Deserializer` and `Serializer`. serde-wasm-bindgen's would do, but
//! its error path (which names an unexpected number) alone brings Rust's
//! float formatting into the WASM (about 20 KB), and its serializer is 5 KB
//! where this one is 1. These know
//! the envelopes' few shapes and format nothing; the message inside stays a
//! JS value ([`JsMessage`]) for the hand-written codec (`codec.rs`).

use std::cell::RefCell;
use std::fmt;

use js_sys::Array;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{self, Impossible, SerializeTupleVariant};
use serde::{forward_to_deserialize_any, Deserialize, Deserializer, Serialize, Serializer};
use wasm_bindgen::{JsCast, JsValue};

use crate::js::{name, tagged, u32_of, variant_of};
use crate::wire::JsMessage;

/// The page's message as gloo-worker's `ToWorker` shapes it:
/// `{ Connected: id }`, `{ ProcessInput: [id, message] }`,
/// `{ Disconnected: id }` or `"Destroy"`.
#[derive(Debug)]
pub(crate) struct Envelope {
    variant: Option<String>,
    id: Option<usize>,
    message: Option<JsValue>,
}

impl Envelope {
    /// The envelope, if `value` has one of its shapes.
    pub(crate) fn read(value: &JsValue) -> Option<Envelope> {
        let (variant, content) = variant_of(value)?;
        let (id, message) = match content.dyn_ref::<Array>() {
            Some(pair) if pair.length() == 2 => (pair.get(0), Some(pair.get(1))),
            _ => (content, None),
        };
        Some(Envelope {
            variant: Some(variant),
            id: u32_of(&id).map(|id| id as usize),
            message,
        })
    }
}

/// A failure to decode or encode, without a message: formatting one is what
/// this module avoids. The codec throws its own.
#[derive(Debug)]
pub(crate) struct Unusable;

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an envelope of gloo-worker's")
    }
}

impl std::error::Error for Unusable {}

impl de::Error for Unusable {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unusable
    }
}

impl ser::Error for Unusable {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unusable
    }
}

impl<'de> Deserializer<'de> for Envelope {
    type Error = Unusable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusable> {
        visitor.visit_enum(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> EnumAccess<'de> for Envelope {
    type Error = Unusable;
    type Variant = Envelope;

    fn variant_seed<V: DeserializeSeed<'de>>(
        mut self,
        seed: V,
    ) -> Result<(V::Value, Envelope), Unusable> {
        let variant = self.variant.take().ok_or(Unusable)?;
        Ok((seed.deserialize(variant.into_deserializer())?, self))
    }
}

impl<'de> VariantAccess<'de> for Envelope {
    type Error = Unusable;

    fn unit_variant(self) -> Result<(), Unusable> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Unusable> {
        seed.deserialize(Id(self.id.ok_or(Unusable)?))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Unusable> {
        visitor.visit_seq(self)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Unusable> {
        Err(Unusable)
    }
}

/// `ProcessInput`'s content: the id, then the message.
impl<'de> SeqAccess<'de> for Envelope {
    type Error = Unusable;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Unusable> {
        if let Some(id) = self.id.take() {
            seed.deserialize(Id(id)).map(Some)
        } else if let Some(message) = self.message.take() {
            seed.deserialize(Message(message)).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A handler's id (gloo-worker's `HandlerId`, a newtype of `usize`).
struct Id(usize);

impl<'de> Deserializer<'de> for Id {
    type Error = Unusable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusable> {
        visitor.visit_u64(self.0 as u64)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unusable> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

thread_local! {
    /// The message of the envelope being decoded, on its way to
    /// [`JsMessage`]'s `Deserialize`, or being encoded, on its way from its
    /// `Serialize`: serde's data model has no JS value. Only this module's
    /// deserializer and `JsMessage`'s `Serialize` put one here.
    static IN_TRANSIT: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The message inside the envelope.
struct Message(JsValue);

impl<'de> Deserializer<'de> for Message {
    type Error = Unusable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unusable> {
        IN_TRANSIT.with(|slot| slot.replace(Some(self.0)));
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Takes the message the envelope's deserializer put in transit.
struct InTransit;

impl<'de> Visitor<'de> for InTransit {
    type Value = JsMessage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message of broadcast-websocket's page")
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsMessage, E> {
        let message = IN_TRANSIT.with(|slot| slot.take());
        message
            .map(JsMessage)
            .ok_or_else(|| E::custom("no message in transit"))
    }
}

/// Only [`Envelope`]'s deserializer brings one: the worker's codec reads its
/// messages with it.
impl<'de> Deserialize<'de> for JsMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsMessage, D::Error> {
        deserializer.deserialize_unit(InTransit)
    }
}

/// Writes gloo-worker's `FromWorker` as the page's bridge reads it:
/// `"WorkerLoaded"` or `{ ProcessOutput: [id, message] }`.
#[derive(Debug)]
pub(crate) struct EnvelopeWriter;

/// The serializer's methods for what an envelope never holds.
macro_rules! refuse {
    ($($method:ident($($argument:ty),*) -> $ok:ty;)*) => {
        $(fn $method(self, $(_: $argument),*) -> Result<$ok, Unusable> {
            Err(Unusable)
        })*
    };
}

impl Serializer for EnvelopeWriter {
    type Ok = JsValue;
    type Error = Unusable;
    type SerializeSeq = Impossible<JsValue, Unusable>;
    type SerializeTuple = Impossible<JsValue, Unusable>;
    type SerializeTupleStruct = Impossible<JsValue, Unusable>;
    type SerializeTupleVariant = TupleVariant;
    type SerializeMap = Impossible<JsValue, Unusable>;
    type SerializeStruct = Impossible<JsValue, Unusable>;
    type SerializeStructVariant = Impossible<JsValue, Unusable>;

    /// `WorkerLoaded`.
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<JsValue, Unusable> {
        Ok(name(variant))
    }

    /// `ProcessOutput(id, message)`.
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<TupleVariant, Unusable> {
        Ok(TupleVariant {
            variant,
            items: Array::new(),
        })
    }

    /// The id, a `HandlerId`.
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<JsValue, Unusable> {
        value.serialize(self)
    }

    /// The id's `usize`.
    fn serialize_u64(self, id: u64) -> Result<JsValue, Unusable> {
        Ok(JsValue::from_f64(id as f64))
    }

    /// The message: [`JsMessage`]'s `Serialize` put it in transit.
    fn serialize_unit_struct(self, _: &'static str) -> Result<JsValue, Unusable> {
        IN_TRANSIT.with(|slot| slot.take()).ok_or(Unusable)
    }

    refuse! {
        serialize_bool(bool) -> JsValue;
        serialize_i8(i8) -> JsValue;
        serialize_i16(i16) -> JsValue;
        serialize_i32(i32) -> JsValue;
        serialize_i64(i64) -> JsValue;
        serialize_u8(u8) -> JsValue;
        serialize_u16(u16) -> JsValue;
        serialize_u32(u32) -> JsValue;
        serialize_f32(f32) -> JsValue;
        serialize_f64(f64) -> JsValue;
        serialize_char(char) -> JsValue;
        serialize_str(&str) -> JsValue;
        serialize_bytes(&[u8]) -> JsValue;
        serialize_none() -> JsValue;
        serialize_unit() -> JsValue;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<JsValue, Unusable> {
        Err(Unusable)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<JsValue, Unusable> {
        Err(Unusable)
    }
}

/// `{ [variant]: [items] }`, item by item.
#[derive(Debug)]
pub(crate) struct TupleVariant {
    variant: &'static str,
    items: Array,
}

impl SerializeTupleVariant for TupleVariant {
    type Ok = JsValue;
    type Error = Unusable;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Unusable> {
        self.items.push(&value.serialize(EnvelopeWriter)?);
        Ok(())
    }

    fn end(self) -> Result<JsValue, Unusable> {
        Ok(tagged(self.variant, self.items))
    }
}

/// Only [`EnvelopeWriter`] takes one: the worker's codec writes its messages
/// with it.
impl Serialize for JsMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IN_TRANSIT.with(|slot| slot.replace(Some(self.0.clone())));
        serializer.serialize_unit_struct("JsMessage")
    }
}
