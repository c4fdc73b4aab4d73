//! Reading and writing plain JS values by hand, for the codecs of the page's
//! requests and replies ([`crate::codec`]) and of the worker's bus.
//!
//! Why by hand: serde-wasm-bindgen's visitors were the largest part of the
//! worker's WASM after its own logic, and its error path (which names an
//! unexpected number) brings in Rust's float formatting. These readers know
//! the few shapes the messages use, fail with `None`, and format nothing.

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A whole number from 0 to `max`.
fn whole(value: &JsValue, max: f64) -> Option<f64> {
    let number = value.as_f64()?;
    (number >= 0.0 && number <= max && number.fract() == 0.0).then_some(number)
}

/// A whole number that a `u64` holds and a JS number holds exactly.
pub fn u64_of(value: &JsValue) -> Option<u64> {
    whole(value, MAX_SAFE_INTEGER).map(|number| number as u64)
}

/// A whole number that a `u32` holds.
pub fn u32_of(value: &JsValue) -> Option<u32> {
    whole(value, f64::from(u32::MAX)).map(|number| number as u32)
}

/// A whole number that a `u16` holds.
pub fn u16_of(value: &JsValue) -> Option<u16> {
    whole(value, f64::from(u16::MAX)).map(|number| number as u16)
}

/// The items of an array, each read by `item`; `None` if it is not an array
/// or any item does not read.
pub fn list_of<T>(value: &JsValue, item: impl Fn(&JsValue) -> Option<T>) -> Option<Vec<T>> {
    let array = value.dyn_ref::<Array>()?;
    array.iter().map(|value| item(&value)).collect()
}

thread_local! {
    /// The JS strings of the names the codecs read and write (see [`name`]).
    static NAMES: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// `name` (a property name or a variant) as a JS string, made once: making
/// one from a Rust string runs the engine's `TextDecoder`, which every
/// relayed message would pay for its tags.
pub fn name(name: &'static str) -> JsValue {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, made)) = names.iter().find(|(known, _)| *known == name) {
            return made.clone();
        }
        let made = JsValue::from_str(name);
        names.push((name, made.clone()));
        made
    })
}

/// The properties of a plain object, read one by one.
#[derive(Debug)]
pub struct Fields(JsValue);

impl Fields {
    /// The fields of `value`, if it is an object (not `null`, not a function).
    pub fn of(value: &JsValue) -> Option<Fields> {
        (value.is_object() && !value.is_null()).then(|| Fields(value.clone()))
    }

    /// The property `key` (`undefined` where it is missing).
    pub fn get(&self, key: &'static str) -> JsValue {
        Reflect::get(&self.0, &name(key)).unwrap_or(JsValue::UNDEFINED)
    }

    /// A string property.
    pub fn string(&self, key: &'static str) -> Option<String> {
        self.get(key).as_string()
    }

    /// A boolean property.
    pub fn bool(&self, key: &'static str) -> Option<bool> {
        self.get(key).as_bool()
    }

    /// A property that may be missing (`undefined` or `null`, as serde reads
    /// an `Option`), else read by `read`: `Some(None)` when missing, `None`
    /// when present and unreadable.
    pub fn optional<T>(
        &self,
        key: &'static str,
        read: impl Fn(&JsValue) -> Option<T>,
    ) -> Option<Option<T>> {
        let value = self.get(key);
        if value.is_undefined() || value.is_null() {
            Some(None)
        } else {
            read(&value).map(Some)
        }
    }
}

/// A plain object, written property by property.
#[derive(Debug)]
pub struct ObjectWriter(Object);

impl ObjectWriter {
    /// An empty object.
    pub fn new() -> Self {
        ObjectWriter(Object::new())
    }

    /// Sets `key` to `value`.
    pub fn set(self, key: &'static str, value: impl Into<JsValue>) -> Self {
        // Setting a property of a plain object cannot fail.
        let _ = Reflect::set(&self.0, &name(key), &value.into());
        self
    }

    /// The object.
    pub fn done(self) -> JsValue {
        self.0.into()
    }
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// `{ [variant]: content }`: an enum variant with content, as serde tags it
/// (externally); a variant without content is its name as a string.
pub fn tagged(variant: &'static str, content: impl Into<JsValue>) -> JsValue {
    ObjectWriter::new().set(variant, content).done()
}

/// The variant name and content of an externally tagged enum value: a string
/// is a variant without content (`undefined`), an object of one property a
/// variant with it.
pub fn variant_of(value: &JsValue) -> Option<(String, JsValue)> {
    if let Some(name) = value.as_string() {
        return Some((name, JsValue::UNDEFINED));
    }
    let object = value.dyn_ref::<Object>()?;
    let keys = Object::keys(object);
    if keys.length() != 1 {
        return None;
    }
    let name = keys.get(0);
    let content = Reflect::get(object, &name).ok()?;
    Some((name.as_string()?, content))
}
