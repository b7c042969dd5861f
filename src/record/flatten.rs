//! Flattening an item image into columns: nested maps (`M`) become one column per leaf, named by
//! the path of keys joined with the separator; every other value is one column, written by
//! [`crate::record::typed_json`]. Column names are checked for collisions as they are made, so a name can
//! never silently overwrite another.

use crate::config::{Config, ListMode};
use crate::limits::MAX_NESTED_CONTAINERS;
use crate::record::json_out::write_json_str;
use crate::record::typed_json::{end_of_value, fail, next_tag, write_tagged_value, ItemError, Tag};
use hashbrown::{DefaultHashBuilder, HashTable};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use std::fmt;
use std::hash::BuildHasher;

/// Reusable state for flattening images, one row at a time. Its buffers are kept between rows so
/// a batch allocates them once.
pub struct Flattener {
    separator: String,
    list_mode: ListMode,
    /// Columns may not grow past this (see [`crate::limits::Limits::max_row_bytes`]).
    max_bytes: usize,
    /// Column names an attribute may not take (the metadata columns). The same for every row,
    /// so they are checked apart from `used` rather than added to it for each row.
    reserved: Vec<String>,
    /// The first bytes of the reserved names: most columns are told apart by it alone.
    reserved_first_bytes: [bool; 256],
    /// Column names already used in the current row.
    used: ColumnNames,
    /// The column name being built, key by key.
    path: String,
    /// Holds an array while it is written as a JSON string (`LIST_MODE=json_string`).
    scratch: Vec<u8>,
    /// The typed reason behind a parser unwind (see [`crate::record::typed_json::fail`]).
    error: Option<ItemError>,
    /// An image is being read: a parser error now is the image's fault.
    in_image: bool,
}

impl Flattener {
    /// `reserved` lists the column names the row already has (its metadata columns).
    pub fn new(config: &Config, reserved: Vec<String>) -> Flattener {
        let mut reserved_first_bytes = [false; 256];
        for name in &reserved {
            if let Some(&b) = name.as_bytes().first() {
                reserved_first_bytes[usize::from(b)] = true;
            }
        }
        Flattener {
            separator: config.separator.clone(),
            list_mode: config.list_mode,
            max_bytes: config.limits.max_row_bytes(),
            reserved,
            reserved_first_bytes,
            used: ColumnNames::default(),
            path: String::new(),
            scratch: Vec::new(),
            error: None,
            in_image: false,
        }
    }

    /// Appends the attributes of `image` (a JSON map of typed values) to `out` as columns, each
    /// preceded by a comma, so they can follow a row's first columns.
    pub fn write_columns(&mut self, image: &str, out: &mut Vec<u8>) -> Result<(), ItemError> {
        let mut de = serde_json::Deserializer::from_str(image);
        let written = self
            .image_seed(out)
            .deserialize(&mut de)
            .and_then(|()| de.end());
        written.map_err(|e| self.take_failure(&e).unwrap_or(ItemError::WrongShape))
    }

    /// A seed that flattens the image the parser is at, as [`Flattener::write_columns`] does;
    /// it lets a change record's image be flattened while the record itself is read.
    pub fn image_seed<'f>(&'f mut self, out: &'f mut Vec<u8>) -> ImageSeed<'f> {
        ImageSeed { f: self, out }
    }

    /// After a parser error: the image's reason for it, if it came from inside an image.
    pub fn take_failure(&mut self, e: &serde_json::Error) -> Option<ItemError> {
        let inside = std::mem::take(&mut self.in_image);
        match self.error.take() {
            Some(reason) => Some(reason),
            // Valid JSON of the wrong shape inside an image; a syntax error is the payload's.
            None if inside && e.is_data() => Some(ItemError::WrongShape),
            None => None,
        }
    }

    /// Claims the current path as a column name and writes `,"name":`.
    fn begin_column<E: de::Error>(&mut self, out: &mut Vec<u8>) -> Result<(), E> {
        // Checked per column, before the name is stored twice more, so a row stops growing
        // within one value of the limit.
        if out.len() + self.path.len() > self.max_bytes {
            return Err(fail(&mut self.error, ItemError::RowTooLarge));
        }
        if self.is_reserved(&self.path) || !self.used.insert(&self.path) {
            return Err(fail(&mut self.error, ItemError::ColumnCollision));
        }
        out.push(b',');
        write_json_str(out, &self.path);
        out.push(b':');
        Ok(())
    }

    /// `name` is one of the reserved names.
    fn is_reserved(&self, name: &str) -> bool {
        match name.as_bytes().first() {
            Some(&b) if self.reserved_first_bytes[usize::from(b)] => {
                self.reserved.iter().any(|r| r == name)
            }
            Some(_) => false,
            None => self.reserved.iter().any(String::is_empty),
        }
    }
}

/// A set of column names that allocates nothing per name once warmed up: the names' text sits
/// in one arena, and the table holds indexes of their spans. (A `HashSet<String>` cost an
/// allocation and a SipHash per column: a tenth of the whole transformation.)
#[derive(Default)]
struct ColumnNames {
    arena: String,
    spans: Vec<(usize, usize)>,
    table: HashTable<usize>,
    hasher: DefaultHashBuilder,
}

impl ColumnNames {
    fn clear(&mut self) {
        self.arena.clear();
        self.spans.clear();
        self.table.clear();
    }

    /// Adds `name`; `false` if it was there already.
    fn insert(&mut self, name: &str) -> bool {
        let hash = self.hasher.hash_one(name);
        let (arena, spans) = (&self.arena, &self.spans);
        let name_of = |i: usize| &arena[spans[i].0..spans[i].1];
        if self.table.find(hash, |&i| name_of(i) == name).is_some() {
            return false;
        }
        let start = self.arena.len();
        self.arena.push_str(name);
        self.spans.push((start, self.arena.len()));
        let (arena, spans, hasher) = (&self.arena, &self.spans, &self.hasher);
        self.table.insert_unique(hash, spans.len() - 1, |&i| {
            hasher.hash_one(&arena[spans[i].0..spans[i].1])
        });
        true
    }
}

/// Flattens one image (see [`Flattener::image_seed`]).
pub struct ImageSeed<'f> {
    f: &'f mut Flattener,
    out: &'f mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for ImageSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let f = self.f;
        f.used.clear();
        f.path.clear();
        f.error = None;
        f.in_image = true;
        Attributes {
            f: &mut *f,
            out: self.out,
            depth: 1,
        }
        .deserialize(d)?;
        f.in_image = false;
        Ok(())
    }
}

/// A map of attributes (the image itself, or the body of an `M`) at nesting level `depth`: its
/// values sit inside `depth - 1` containers of their attribute.
struct Attributes<'a> {
    f: &'a mut Flattener,
    out: &'a mut Vec<u8>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for Attributes<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Attributes<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of typed DynamoDB values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(parent_len) = map.next_key_seed(PathKey {
            f: self.f,
            depth: self.depth,
        })? {
            map.next_value_seed(Column {
                f: self.f,
                out: self.out,
                depth: self.depth,
            })?;
            self.f.path.truncate(parent_len);
        }
        Ok(())
    }
}

/// Extends the path with one key; returns the parent path's length to truncate back to.
struct PathKey<'a> {
    f: &'a mut Flattener,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for PathKey<'_> {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PathKey<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an attribute name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        let parent_len = self.f.path.len();
        if self.depth > 1 {
            self.f.path.push_str(&self.f.separator);
        }
        self.f.path.push_str(key);
        Ok(parent_len)
    }
}

/// One typed value at the current path: a map recurses, anything else is a column.
struct Column<'a> {
    f: &'a mut Flattener,
    out: &'a mut Vec<u8>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for Column<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Column<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a typed DynamoDB value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Column { f, out, depth } = self;
        let tag = next_tag(&mut map, &mut f.error)?;
        let is_list = matches!(tag, Tag::L | Tag::SS | Tag::NS | Tag::BS);
        if tag == Tag::M {
            if depth > MAX_NESTED_CONTAINERS {
                return Err(fail(&mut f.error, ItemError::TooDeep));
            }
            map.next_value_seed(Attributes {
                f: &mut *f,
                out,
                depth: depth + 1,
            })?;
        } else if is_list && f.list_mode == ListMode::JsonString {
            f.begin_column(out)?;
            let mut array = std::mem::take(&mut f.scratch);
            array.clear();
            let written = write_tagged_value(tag, &mut map, &mut array, &mut f.error, depth);
            if written.is_ok() {
                // Only valid UTF-8 was written into `array`, so this cannot fail.
                let text = std::str::from_utf8(&array)
                    .map_err(|_| fail(&mut f.error, ItemError::WrongShape))?;
                write_json_str(out, text);
            }
            f.scratch = array;
            written?;
        } else {
            f.begin_column(out)?;
            write_tagged_value(tag, &mut map, out, &mut f.error, depth)?;
        }
        end_of_value(&mut map, &mut f.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns of `image` as a JSON object text, after one metadata column `_m`.
    fn row_with(config: &Config, image: &str) -> Result<String, ItemError> {
        let mut f = Flattener::new(config, vec!["_m".to_owned()]);
        let mut out = br#"{"_m":0"#.to_vec();
        f.write_columns(image, &mut out)?;
        out.push(b'}');
        Ok(String::from_utf8(out).unwrap())
    }

    fn row(image: &str) -> Result<String, ItemError> {
        row_with(&Config::default(), image)
    }

    #[test]
    fn nested_maps_become_path_columns_in_image_order() {
        let image = r#"{"id":{"S":"o-1"},"address":{"M":{"geo":{"M":{"lat":{"N":"47.6"},"lng":{"N":"-122.3"}}},"city":{"S":"Zürich"}}},"empty":{"M":{}},"n":{"N":"1"}}"#;
        assert_eq!(
            row(image).unwrap(),
            r#"{"_m":0,"id":"o-1","address_geo_lat":47.6,"address_geo_lng":-122.3,"address_city":"Zürich","n":1}"#
        );
    }

    #[test]
    fn separator_is_configurable_and_names_keep_spaces_and_unicode() {
        let config = Config {
            separator: ".".into(),
            ..Config::default()
        };
        let image = r#"{"a b":{"M":{"größe":{"S":"x"}}},"a":{"M":{"b":{"BOOL":true}}}}"#;
        assert_eq!(
            row_with(&config, image).unwrap(),
            r#"{"_m":0,"a b.größe":"x","a.b":true}"#
        );
    }

    #[test]
    fn lists_and_sets_as_arrays_or_json_strings() {
        let image = r#"{"l":{"L":[{"N":"1"},{"M":{"k":{"S":"v"}}}]},"ss":{"SS":["a"]},"ns":{"NS":["1","2"]},"bs":{"BS":["AA=="]},"m":{"M":{"l":{"L":[]}}}}"#;
        assert_eq!(
            row(image).unwrap(),
            r#"{"_m":0,"l":[1,{"k":"v"}],"ss":["a"],"ns":[1,2],"bs":["AA=="],"m_l":[]}"#
        );
        let config = Config {
            list_mode: ListMode::JsonString,
            ..Config::default()
        };
        assert_eq!(
            row_with(&config, image).unwrap(),
            r#"{"_m":0,"l":"[1,{\"k\":\"v\"}]","ss":"[\"a\"]","ns":"[1,2]","bs":"[\"AA==\"]","m_l":"[]"}"#
        );
    }

    #[test]
    fn collisions_fail_instead_of_overwriting() {
        for image in [
            r#"{"a_b":{"S":"x"},"a":{"M":{"b":{"S":"y"}}}}"#,
            r#"{"a":{"M":{"b":{"S":"y"}}},"a_b":{"S":"x"}}"#,
            r#"{"_m":{"S":"x"}}"#,
            r#"{"x":{"M":{"m":{"S":"x"}}},"_m":{"N":"1"}}"#,
            r#"{"a":{"S":"x"},"a":{"S":"y"}}"#,
        ] {
            assert_eq!(row(image), Err(ItemError::ColumnCollision), "{image}");
        }
        // Reserved names are checked whole: a name sharing their first byte is fine.
        let mut f = Flattener::new(&Config::default(), vec!["_m".into(), "_event_id".into()]);
        for (image, ok) in [
            (r#"{"_n":{"S":"x"},"_":{"S":"x"},"_mm":{"S":"x"}}"#, true),
            (r#"{"_n":{"S":"x"},"_event_id":{"S":"x"}}"#, false),
            (r#"{"":{"S":"x"}}"#, true),
        ] {
            let mut out = Vec::new();
            assert_eq!(f.write_columns(image, &mut out).is_ok(), ok, "{image}");
        }
        // A map whose leaves do not clash is fine, and buffers reset between rows.
        let mut f = Flattener::new(&Config::default(), vec![]);
        let mut out = b"{\"m\":0".to_vec();
        f.write_columns(r#"{"a":{"S":"x"}}"#, &mut out).unwrap();
        f.write_columns(r#"{"a":{"S":"x"}}"#, &mut out).unwrap();
    }

    #[test]
    fn a_row_stops_growing_at_the_size_a_response_can_hold() {
        // A long key above many leaves: every column name repeats it.
        let key = "k".repeat(5000);
        let leaves: Vec<String> = (0..2000).map(|i| format!(r#""a{i}":{{"S":""}}"#)).collect();
        let image = format!(r#"{{"{key}":{{"M":{{{}}}}}}}"#, leaves.join(","));
        let config = Config {
            limits: crate::limits::Limits {
                max_response_bytes: 1_000_000,
                ..Default::default()
            },
            ..Config::default()
        };
        assert_eq!(row_with(&config, &image), Err(ItemError::RowTooLarge));
        let small = format!(r#"{{"{key}":{{"M":{{{}}}}}}}"#, leaves[..10].join(","));
        assert!(row_with(&config, &small).is_ok());
    }

    #[test]
    fn column_names_set_finds_every_duplicate() {
        let mut names = ColumnNames::default();
        let all: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
        for n in &all {
            assert!(names.insert(n));
        }
        for n in &all {
            assert!(!names.insert(n));
        }
        names.clear();
        assert!(names.insert("c0") && names.insert("") && !names.insert(""));
    }

    #[test]
    fn bad_values_fail_the_row() {
        assert_eq!(row(r#"{"a":{"X":"1"}}"#), Err(ItemError::UnknownTypeTag));
        assert_eq!(row(r#"{"a":{"M":{"b":{}}}}"#), Err(ItemError::NoTypeTag));
        assert_eq!(
            row(r#"{"a":{"M":{},"S":"x"}}"#),
            Err(ItemError::SeveralTypeTags)
        );
        assert_eq!(row(r#"{"a":{"N":"1,5"}}"#), Err(ItemError::BadNumber));
        assert_eq!(row(r#"[]"#), Err(ItemError::WrongShape));
        assert_eq!(row(r#"{"a":"plain"}"#), Err(ItemError::WrongShape));
    }

    #[test]
    fn an_attribute_value_holds_at_most_31_nested_maps_or_lists() {
        // The item is DynamoDB's first level of 32: 31 maps below it are accepted, 32 refused.
        let nest = |levels: usize| {
            format!(
                r#"{{"a":{}{{"S":"x"}}{}}}"#,
                r#"{"M":{"a":"#.repeat(levels),
                "}}".repeat(levels)
            )
        };
        let a31 = format!("a{}", "_a".repeat(31));
        assert_eq!(
            row(&nest(31)).unwrap(),
            format!(r#"{{"_m":0,"{a31}":"x"}}"#)
        );
        assert_eq!(row(&nest(32)), Err(ItemError::TooDeep));
        // Lists below maps count too: 30 maps and one list is 31 containers, two lists 32.
        let with_lists = |lists: usize| {
            format!(
                r#"{{"a":{}{}{{"S":"x"}}{}{}}}"#,
                r#"{"M":{"a":"#.repeat(30),
                r#"{"L":["#.repeat(lists),
                "]}".repeat(lists),
                "}}".repeat(30)
            )
        };
        assert!(row(&with_lists(1)).is_ok());
        assert_eq!(row(&with_lists(2)), Err(ItemError::TooDeep));
        for mode in [ListMode::Array, ListMode::JsonString] {
            let config = Config {
                list_mode: mode,
                ..Config::default()
            };
            assert!(row_with(&config, &with_lists(1)).is_ok());
            assert_eq!(row_with(&config, &with_lists(2)), Err(ItemError::TooDeep));
        }
        assert!(row(&nest(50_000)).is_err());
    }
}
