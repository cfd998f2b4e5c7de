//! A JSON object read as a map that refuses a key given twice, for the map fields of the
//! generated messages (`build.rs` puts it where pbjson reads a map). A repeated key in one
//! object is a mistake the sender should hear of, as Go's protojson tells it; serde's own map
//! keeps the last value in silence. It inserts each entry once, as that map does, so a call
//! pays nothing more for the check.

use std::{
    collections::{BTreeMap, btree_map::Entry},
    fmt,
    marker::PhantomData,
};

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};

/// The map, once every key was found only once.
#[derive(Debug)]
pub struct UniqueKeys<K, V>(pub BTreeMap<K, V>);

impl<'de, K, V> Deserialize<'de> for UniqueKeys<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Debug,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UniqueKeysVisitor(PhantomData))
    }
}

struct UniqueKeysVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K, V> Visitor<'de> for UniqueKeysVisitor<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Debug,
    V: Deserialize<'de>,
{
    type Value = UniqueKeys<K, V>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((key, value)) = entries.next_entry::<K, V>()? {
            match map.entry(key) {
                Entry::Vacant(vacant) => {
                    vacant.insert(value);
                }
                Entry::Occupied(occupied) => {
                    return Err(A::Error::custom(format!("duplicate key {:?}", occupied.key())));
                }
            }
        }
        Ok(UniqueKeys(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_is_refused_and_distinct_keys_are_kept_in_order() {
        let map: UniqueKeys<String, String> = serde_json::from_str(r#"{"b":"2","a":"1"}"#).unwrap();
        assert_eq!(
            map.0.into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        let error =
            serde_json::from_str::<UniqueKeys<String, String>>(r#"{"a":"1","a":"2"}"#).unwrap_err();
        assert!(error.to_string().starts_with(r#"duplicate key "a""#), "{error}");
    }
}
