//! DynamoDB's typed JSON (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`, ...) read as a stream and
//! written as plain JSON values, with no tree in between. Used for scalar columns and for every
//! element of lists and sets; the flattening of maps into columns is in [`crate::record::flatten`].

use crate::limits::MAX_NESTED_CONTAINERS;
use crate::record::json_out::{write_json_str, write_json_str_unescaped};
use crate::record::number::write_json_number;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use thiserror::Error;

/// Why an item's typed JSON cannot be turned into a row. Never carries item contents.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ItemError {
    #[error("a value has no type tag")]
    NoTypeTag,
    #[error("a value has more than one type tag")]
    SeveralTypeTags,
    #[error("a value has an unknown type tag (expected one of S N B BOOL NULL M L SS NS BS)")]
    UnknownTypeTag,
    #[error("an N value is not a decimal number")]
    BadNumber,
    #[error("maps and lists nest deeper than DynamoDB allows (32 levels, the item being the first: at most {MAX_NESTED_CONTAINERS} nested M/L in an attribute value)")]
    TooDeep,
    #[error("column collision: two attributes flatten to the same column name, or an attribute is named like a metadata column")]
    ColumnCollision,
    #[error("an image is not a map of typed values, or a typed value has the wrong JSON type")]
    WrongShape,
    #[error("the row would be larger than a response may hold (MAX_RESPONSE_BYTES)")]
    RowTooLarge,
}

/// The ten type tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    S,
    N,
    B,
    Bool,
    Null,
    M,
    L,
    SS,
    NS,
    BS,
}

/// Reads the next key of a typed value as a tag. Unknown tags stop the item right away.
pub fn next_tag<'de, A: MapAccess<'de>>(
    map: &mut A,
    error: &mut Option<ItemError>,
) -> Result<Tag, A::Error> {
    match map.next_key_seed(TagSeed)? {
        Some(Some(tag)) => Ok(tag),
        Some(None) => Err(fail(error, ItemError::UnknownTypeTag)),
        None => Err(fail(error, ItemError::NoTypeTag)),
    }
}

/// Checks that a typed value holds nothing after its one tag.
pub fn end_of_value<'de, A: MapAccess<'de>>(
    map: &mut A,
    error: &mut Option<ItemError>,
) -> Result<(), A::Error> {
    match map.next_key::<IgnoredAny>()? {
        Some(_) => Err(fail(error, ItemError::SeveralTypeTags)),
        None => Ok(()),
    }
}

/// Records the typed reason in `slot` and returns a serde error that unwinds the parser; the
/// caller reads the reason back from the slot. (serde errors can only carry text.)
pub fn fail<E: de::Error>(slot: &mut Option<ItemError>, reason: ItemError) -> E {
    *slot = Some(reason);
    E::custom(reason_text(slot))
}

fn reason_text(slot: &Option<ItemError>) -> String {
    slot.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Writes the value under `tag` (already read from `map`) as plain JSON into `out`.
/// `depth` is the nesting level of this value (a top-level attribute is 1): an `M` or `L` here
/// is the `depth`-th container of its attribute.
pub fn write_tagged_value<'de, A: MapAccess<'de>>(
    tag: Tag,
    map: &mut A,
    out: &mut Vec<u8>,
    error: &mut Option<ItemError>,
    depth: u32,
) -> Result<(), A::Error> {
    match tag {
        Tag::S | Tag::B => map.next_value_seed(JsonString { out }),
        Tag::N => map.next_value_seed(JsonNumber { out, error }),
        Tag::Bool => {
            let b: bool = map.next_value()?;
            out.extend_from_slice(if b { b"true" } else { b"false" });
            Ok(())
        }
        Tag::Null => {
            // DynamoDB always writes `true`; any boolean still means null.
            let _: bool = map.next_value()?;
            out.extend_from_slice(b"null");
            Ok(())
        }
        Tag::M | Tag::L if depth > MAX_NESTED_CONTAINERS => Err(fail(error, ItemError::TooDeep)),
        Tag::M => map.next_value_seed(PlainMap { out, error, depth }),
        Tag::L => map.next_value_seed(Array {
            out,
            error,
            depth,
            element: Element::Typed,
        }),
        Tag::SS | Tag::BS => map.next_value_seed(Array {
            out,
            error,
            depth,
            element: Element::String,
        }),
        Tag::NS => map.next_value_seed(Array {
            out,
            error,
            depth,
            element: Element::Number,
        }),
    }
}

/// A whole typed value (`{"TAG": ...}`) written as plain JSON.
pub struct PlainValue<'s> {
    pub out: &'s mut Vec<u8>,
    pub error: &'s mut Option<ItemError>,
    pub depth: u32,
}

impl<'de> DeserializeSeed<'de> for PlainValue<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PlainValue<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a typed DynamoDB value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let tag = next_tag(&mut map, self.error)?;
        write_tagged_value(tag, &mut map, self.out, self.error, self.depth)?;
        end_of_value(&mut map, self.error)
    }
}

/// The body of an `M` inside a list: a plain nested object, keys kept as given.
struct PlainMap<'s> {
    out: &'s mut Vec<u8>,
    error: &'s mut Option<ItemError>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for PlainMap<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PlainMap<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of typed DynamoDB values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let mut first = true;
        while map
            .next_key_seed(JsonKey {
                out: self.out,
                first,
            })?
            .is_some()
        {
            first = false;
            map.next_value_seed(PlainValue {
                out: self.out,
                error: self.error,
                depth: self.depth + 1,
            })?;
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// What the elements of an array are: typed values (`L`) or bare strings/numbers (sets).
#[derive(Clone, Copy)]
enum Element {
    Typed,
    String,
    Number,
}

struct Array<'s> {
    out: &'s mut Vec<u8>,
    error: &'s mut Option<ItemError>,
    depth: u32,
    element: Element,
}

impl<'de> DeserializeSeed<'de> for Array<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Array<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            // The comma goes in before the element; it is taken back if the list has ended.
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            let more = match self.element {
                Element::Typed => seq.next_element_seed(PlainValue {
                    out: self.out,
                    error: self.error,
                    depth: self.depth + 1,
                })?,
                Element::String => seq.next_element_seed(JsonString { out: self.out })?,
                Element::Number => seq.next_element_seed(JsonNumber {
                    out: self.out,
                    error: self.error,
                })?,
            };
            if more.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }
}

/// A JSON string value, re-escaped into `out`.
pub struct JsonString<'s> {
    pub out: &'s mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for JsonString<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for JsonString<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        write_json_str(self.out, s);
        Ok(())
    }
    /// Borrowed means the input spelled it without escapes: it can be copied as it is.
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<(), E> {
        write_json_str_unescaped(self.out, s);
        Ok(())
    }
}

/// A map key written as `"key":` (with a leading comma unless first).
struct JsonKey<'s> {
    out: &'s mut Vec<u8>,
    first: bool,
}

impl<'de> DeserializeSeed<'de> for JsonKey<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for JsonKey<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        if !self.first {
            self.out.push(b',');
        }
        write_json_str(self.out, s);
        self.out.push(b':');
        Ok(())
    }
}

/// An `N` string written as an exact JSON number.
struct JsonNumber<'s> {
    out: &'s mut Vec<u8>,
    error: &'s mut Option<ItemError>,
}

impl<'de> DeserializeSeed<'de> for JsonNumber<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for JsonNumber<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number written as a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        write_json_number(self.out, s).ok_or_else(|| fail(self.error, ItemError::BadNumber))
    }
}

/// Reads a tag key without allocating; `None` for a key that is not one of the ten tags.
struct TagSeed;

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Option<Tag>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Tag>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TagSeed {
    type Value = Option<Tag>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a type tag")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<Tag>, E> {
        Ok(Some(match s {
            "S" => Tag::S,
            "N" => Tag::N,
            "B" => Tag::B,
            "BOOL" => Tag::Bool,
            "NULL" => Tag::Null,
            "M" => Tag::M,
            "L" => Tag::L,
            "SS" => Tag::SS,
            "NS" => Tag::NS,
            "BS" => Tag::BS,
            _ => return Ok(None),
        }))
    }
}

/// Writes one typed value (a JSON text such as `{"L":[{"N":"1"}]}`) as plain JSON. Mainly for
/// tests; rows are built by [`crate::record::flatten`].
#[cfg(test)]
pub fn typed_to_plain(typed: &str) -> Result<Vec<u8>, ItemError> {
    let mut out = Vec::new();
    let mut error = None;
    let mut de = serde_json::Deserializer::from_str(typed);
    let result = PlainValue {
        out: &mut out,
        error: &mut error,
        depth: 1,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(out),
        Err(_) => Err(error.unwrap_or(ItemError::WrongShape)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(typed: &str) -> String {
        String::from_utf8(typed_to_plain(typed).unwrap()).unwrap()
    }

    #[test]
    fn every_type_becomes_plain_json() {
        assert_eq!(plain(r#"{"S":"héllo \"x\""}"#), r#""héllo \"x\"""#);
        assert_eq!(plain(r#"{"N":"-12.50"}"#), "-12.50");
        assert_eq!(plain(r#"{"B":"AAEC"}"#), r#""AAEC""#);
        assert_eq!(plain(r#"{"BOOL":true}"#), "true");
        assert_eq!(plain(r#"{"BOOL":false}"#), "false");
        assert_eq!(plain(r#"{"NULL":true}"#), "null");
        assert_eq!(plain(r#"{"SS":["a","b"]}"#), r#"["a","b"]"#);
        assert_eq!(plain(r#"{"NS":["1","2.5"]}"#), "[1,2.5]");
        assert_eq!(plain(r#"{"BS":["AA==","AQ=="]}"#), r#"["AA==","AQ=="]"#);
        assert_eq!(plain(r#"{"L":[]}"#), "[]");
        assert_eq!(plain(r#"{"M":{}}"#), "{}");
    }

    #[test]
    fn maps_inside_lists_stay_nested_in_order() {
        let typed = r#"{"L":[{"M":{"z":{"N":"1"},"a":{"L":[{"S":"x"},{"M":{"k":{"NULL":true}}}]}}},{"SS":["s"]}]}"#;
        assert_eq!(plain(typed), r#"[{"z":1,"a":["x",{"k":null}]},["s"]]"#);
    }

    #[test]
    fn malformed_typed_values_say_why() {
        let err = |t: &str| typed_to_plain(t).unwrap_err();
        assert_eq!(err(r#"{}"#), ItemError::NoTypeTag);
        assert_eq!(err(r#"{"S":"a","N":"1"}"#), ItemError::SeveralTypeTags);
        assert_eq!(err(r#"{"X":"a"}"#), ItemError::UnknownTypeTag);
        assert_eq!(err(r#"{"s":"a"}"#), ItemError::UnknownTypeTag);
        assert_eq!(err(r#"{"N":"one"}"#), ItemError::BadNumber);
        assert_eq!(err(r#"{"NS":["1","x"]}"#), ItemError::BadNumber);
        assert_eq!(err(r#"{"N":1}"#), ItemError::WrongShape);
        assert_eq!(err(r#"{"S":null}"#), ItemError::WrongShape);
        assert_eq!(err(r#"{"BOOL":"true"}"#), ItemError::WrongShape);
        assert_eq!(err(r#"{"SS":"a"}"#), ItemError::WrongShape);
        assert_eq!(err(r#"{"L":[{"S":"a"},"b"]}"#), ItemError::WrongShape);
        assert_eq!(err(r#"["S","a"]"#), ItemError::WrongShape);
    }

    #[test]
    fn nesting_is_limited_to_31_containers_in_a_value() {
        let nest = |levels: usize, open: &str, close: &str| {
            format!(
                "{}{}{}",
                open.repeat(levels),
                r#"{"S":"x"}"#,
                close.repeat(levels)
            )
        };
        let lists = |levels| nest(levels, r#"{"L":["#, "]}");
        let maps = |levels| nest(levels, r#"{"M":{"k":"#, "}}");
        assert!(typed_to_plain(&lists(31)).is_ok());
        assert_eq!(typed_to_plain(&lists(32)).unwrap_err(), ItemError::TooDeep);
        assert!(typed_to_plain(&maps(31)).is_ok());
        assert_eq!(typed_to_plain(&maps(32)).unwrap_err(), ItemError::TooDeep);
        // Maps and lists count alike, and a set inside the last container is a leaf.
        let mixed = |levels: usize| {
            let mut v = r#"{"SS":["x"]}"#.to_owned();
            for i in 0..levels {
                v = if i % 2 == 0 {
                    format!(r#"{{"L":[{v}]}}"#)
                } else {
                    format!(r#"{{"M":{{"k":{v}}}}}"#)
                };
            }
            v
        };
        assert!(typed_to_plain(&mixed(31)).is_ok());
        assert_eq!(typed_to_plain(&mixed(32)).unwrap_err(), ItemError::TooDeep);
        // Far deeper than anything: refused, never a stack overflow.
        assert!(typed_to_plain(&lists(100_000)).is_err());
    }
}
