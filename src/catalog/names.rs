//! Column and table names: the documented rule that gives every attribute, whatever its
//! spelling, a name Athena can query.
//!
//! Athena (through Glue and the Hive metastore) knows column names in lower case only, and its
//! OpenX JSON SerDe matches a column to a JSON key by name, lower-casing keys unless
//! `case.insensitive` is `false`. The catalog therefore turns `case.insensitive` off and gives a
//! column whose name is not exactly its key a `mapping.<column>` SerDe property naming the key
//! (Athena User Guide, "OpenX JSON SerDe", properties `case.insensitive` and `mapping`). Rows
//! keep attribute names exactly as the contract says.

/// Glue's limit on a `Parameters` key is 255 characters; `mapping.` and a collision suffix must
/// fit beside the name.
pub const MAX_COLUMN_NAME_CHARS: usize = 200;

/// The name an attribute's column starts from: ASCII letters lower-cased, every character other
/// than `a`–`z`, `0`–`9` and `_` (blanks, `.`, `-`, any non-ASCII letter) replaced by `_`, cut to
/// [`MAX_COLUMN_NAME_CHARS`]. `Url` → `url`, `first name` → `first_name`, `a.b` → `a_b`,
/// `größe` → `gr__e`. [`next_free`] then settles collisions.
pub fn base_column_name(key: &str) -> String {
    key.chars()
        .take(MAX_COLUMN_NAME_CHARS)
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// `base` if `taken` says it is free, else the first free of `base_2`, `base_3`, ….
pub fn next_free(base: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(base) {
        return base.to_owned();
    }
    (2u64..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| !taken(name))
        .unwrap_or_else(|| base.to_owned())
}

/// A key the SerDe can match to a struct field without a mapping: struct fields are lower case
/// in Hive, and a mapping would apply to every field of that name at any depth. Also a name
/// Athena's type syntax reads without quoting: `[a-z_][a-z0-9_]*`, at most
/// [`MAX_COLUMN_NAME_CHARS`].
pub fn is_struct_field_name(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && key.len() <= MAX_COLUMN_NAME_CHARS
}

/// The Glue table of a source table: its name lower-cased, other characters than `a`–`z`,
/// `0`–`9`, `_` as `_`, then `_changes` (`orders` → `orders_changes`, `Sessions-2024` →
/// `sessions_2024_changes`), as the stacks name the sample table's.
pub fn glue_table_base_name(source_table: &str) -> String {
    format!("{}_changes", base_column_name(source_table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_ascii_words() {
        for (key, name) in [
            ("pk", "pk"),
            ("Url", "url"),
            ("URL", "url"),
            ("first name", "first_name"),
            ("a.b", "a_b"),
            ("x-y", "x_y"),
            ("2fa", "2fa"),
            ("größe", "gr__e"),
            ("数据", "__"),
            ("_event_name", "_event_name"),
            ("table", "table"),
        ] {
            assert_eq!(base_column_name(key), name, "{key}");
        }
        assert_eq!(base_column_name(&"A".repeat(300)), "a".repeat(200));
    }

    #[test]
    fn collisions_take_the_next_numbered_name() {
        let taken = ["url", "url_2", "year"];
        let is_taken = |n: &str| taken.contains(&n);
        assert_eq!(next_free("url", is_taken), "url_3");
        assert_eq!(next_free("year", is_taken), "year_2");
        assert_eq!(next_free("status", is_taken), "status");
    }

    #[test]
    fn struct_fields_need_no_mapping() {
        for ok in ["sku", "_x", "a1_b"] {
            assert!(is_struct_field_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Sku",
            "1a",
            "unit price",
            "a.b",
            "größe",
            &"a".repeat(201),
        ] {
            assert!(!is_struct_field_name(bad), "{bad}");
        }
    }

    #[test]
    fn glue_table_names() {
        assert_eq!(glue_table_base_name("orders"), "orders_changes");
        assert_eq!(
            glue_table_base_name("Sessions-2024.v1"),
            "sessions_2024_v1_changes"
        );
    }
}
