//! gloo-worker's envelope around the page's messages, read by hand.
//!
//! gloo-worker decodes its `ToWorker` through the codec's serde
//! `Deserializer`. serde-wasm-bindgen's would do, but its error path (which
//! names an unexpected number) alone brings Rust's float formatting into the
//! WASM. This one knows the envelope's four shapes and formats nothing; the
//! message inside it stays a JS value ([`JsMessage`]) for the hand-written
//! codec (`codec.rs`).

use std::cell::RefCell;
use std::fmt;

use js_sys::Array;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, SeqAccess, VariantAccess, Visitor,
};
use serde::{forward_to_deserialize_any, Deserialize, Deserializer};
use wasm_bindgen::{JsCast, JsValue};

use crate::js::{u32_of, variant_of};
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

/// A failure to decode, without a message: formatting one is what this
/// module avoids. The codec throws its own.
#[derive(Debug)]
pub(crate) struct Unreadable;

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unreadable")
    }
}

impl std::error::Error for Unreadable {}

impl de::Error for Unreadable {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unreadable
    }
}

impl<'de> Deserializer<'de> for Envelope {
    type Error = Unreadable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_enum(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> EnumAccess<'de> for Envelope {
    type Error = Unreadable;
    type Variant = Envelope;

    fn variant_seed<V: DeserializeSeed<'de>>(
        mut self,
        seed: V,
    ) -> Result<(V::Value, Envelope), Unreadable> {
        let variant = self.variant.take().ok_or(Unreadable)?;
        Ok((seed.deserialize(variant.into_deserializer())?, self))
    }
}

impl<'de> VariantAccess<'de> for Envelope {
    type Error = Unreadable;

    fn unit_variant(self) -> Result<(), Unreadable> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Unreadable> {
        seed.deserialize(Id(self.id.ok_or(Unreadable)?))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_seq(self)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Unreadable> {
        Err(Unreadable)
    }
}

/// `ProcessInput`'s content: the id, then the message.
impl<'de> SeqAccess<'de> for Envelope {
    type Error = Unreadable;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Unreadable> {
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
    type Error = Unreadable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
        visitor.visit_u64(self.0 as u64)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unreadable> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

thread_local! {
    /// The message of the envelope being decoded, on its way to
    /// [`JsMessage`]'s `Deserialize`: serde's data model has no JS value, and
    /// only this module's deserializer puts one here.
    static IN_TRANSIT: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The message inside the envelope.
struct Message(JsValue);

impl<'de> Deserializer<'de> for Message {
    type Error = Unreadable;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unreadable> {
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
