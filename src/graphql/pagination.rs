//! One way to page through a list: keyset pagination behind opaque cursors.
//!
//! Every connection of the API goes through [`page`]: it checks `first` (1 to 100, default 20),
//! decodes `after`, asks the service for one row more than the page holds (to know whether a
//! next page exists), and builds the connection. A cursor is the base64 (URL-safe, unpadded) of
//! the list's name and the row's sort key in JSON, so the service can resume with a `WHERE` on
//! the sort key, never with an `OFFSET`: rows inserted, removed or moved elsewhere in the list
//! between two pages neither shift nor repeat the others. A cursor is opaque to clients; one
//! that this API did not give, or gave for another list, is `BAD_USER_INPUT`.
//!
//! The subscriptions' `after` (a notification or message id) is another thing: see
//! `subscription.rs`.

use std::fmt;
use std::future::Future;

use async_graphql::OutputType;
use async_graphql::connection::{self, Connection, CursorType, Edge};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error;
use crate::services::ServiceError;

/// Page size when `first` is not given.
const DEFAULT_PAGE: i32 = 20;
/// Largest page.
const MAX_PAGE: i32 = 100;

/// The sort key of a list, carried by its cursors: the service resumes after it.
pub trait SortKey: Serialize + DeserializeOwned + Send + Sync {
    /// The list's name, written in its cursors: a cursor of another list is refused.
    const LIST: &'static str;
}

/// An opaque cursor over a list sorted by `K`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<K>(pub K);

/// A cursor this API did not give for this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedCursor;

impl fmt::Display for MalformedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`after` is not a cursor this API gave for this list")
    }
}

impl<K: SortKey> CursorType for Cursor<K> {
    type Error = MalformedCursor;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| MalformedCursor)?;
        let key = bytes
            .strip_prefix(K::LIST.as_bytes())
            .and_then(|rest| rest.strip_prefix(b":"))
            .ok_or(MalformedCursor)?;
        serde_json::from_slice(key)
            .map(Cursor)
            .map_err(|_| MalformedCursor)
    }

    fn encode_cursor(&self) -> String {
        // Sort keys are plain structs of integers, booleans and timestamps.
        let key = serde_json::to_string(&self.0).expect("a sort key serializes to JSON");
        URL_SAFE_NO_PAD.encode(format!("{}:{key}", K::LIST))
    }
}

/// Reads `first` and checks its bounds.
fn page_size(first: Option<i32>) -> async_graphql::Result<u64> {
    match first.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n as u64),
        _ => Err(error::bad_user_input(format!(
            "`first` must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// One page of a list sorted by `K`, after the cursor `after`.
///
/// `fetch(after, limit)` reads at most `limit` rows that sort after the key `after` (from the
/// start without one), in the list's order; `key_of` gives a row's sort key and `node_of` the
/// node shown for it. `hasPreviousPage` is true when the page starts after a cursor.
///
/// The connection's cursors are the encoded [`Cursor`]s, as strings: two lists of the same
/// node (the patient's threads and the inbox) sort by different keys, and async-graphql names
/// a connection after its node only.
pub async fn page<K, Row, Node, Fetch, Rows>(
    first: Option<i32>,
    after: Option<String>,
    fetch: Fetch,
    key_of: impl Fn(&Row) -> K,
    node_of: impl Fn(Row) -> async_graphql::Result<Node>,
) -> async_graphql::Result<Connection<String, Node>>
where
    K: SortKey,
    Node: OutputType,
    Fetch: FnOnce(Option<K>, u64) -> Rows,
    Rows: Future<Output = Result<Vec<Row>, ServiceError>>,
{
    let size = page_size(first)?;
    let built = connection::query_with(
        after,
        None,
        None,
        None,
        |after: Option<Cursor<K>>, _, _, _| async move {
            let has_previous = after.is_some();
            let mut rows = fetch(after.map(|c| c.0), size + 1).await?;
            let has_next = rows.len() as u64 > size;
            rows.truncate(size as usize);
            let mut connection = Connection::new(has_previous, has_next);
            for row in rows {
                let cursor = Cursor(key_of(&row)).encode_cursor();
                connection.edges.push(Edge::new(cursor, node_of(row)?));
            }
            Ok::<_, async_graphql::Error>(connection)
        },
    )
    .await;
    // `connection::query_with` reports a cursor that does not decode as a bare error; every other
    // error (the service's, a node's) already carries its code.
    built.map_err(|err| match err.extensions {
        None => error::bad_user_input(err.message),
        Some(_) => err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct ById {
        id: i64,
    }

    impl SortKey for ById {
        const LIST: &'static str = "things";
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Other {
        id: i64,
    }

    impl SortKey for Other {
        const LIST: &'static str = "others";
    }

    #[test]
    fn a_cursor_decodes_to_the_key_it_encodes() {
        let encoded = Cursor(ById { id: 42 }).encode_cursor();
        assert!(!encoded.contains("42"), "opaque: {encoded}");
        assert_eq!(
            Cursor::<ById>::decode_cursor(&encoded),
            Ok(Cursor(ById { id: 42 }))
        );
    }

    #[test]
    fn a_cursor_of_another_list_or_garbage_is_refused() {
        let other = Cursor(Other { id: 42 }).encode_cursor();
        assert_eq!(Cursor::<ById>::decode_cursor(&other), Err(MalformedCursor));
        for garbage in ["", "abc", "42", "!!!", &URL_SAFE_NO_PAD.encode("things:{}")] {
            assert_eq!(
                Cursor::<ById>::decode_cursor(garbage),
                Err(MalformedCursor),
                "{garbage}"
            );
        }
    }

    /// A key shaped like the inbox's: a flag, a timestamp and an id.
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Timed {
        unread: bool,
        at: chrono::DateTime<chrono::Utc>,
        id: i64,
    }

    impl SortKey for Timed {
        const LIST: &'static str = "timed";
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_decodes_or_is_refused_without_panicking(text in ".{0,64}") {
            let _ = Cursor::<ById>::decode_cursor(&text);
            let _ = Cursor::<Timed>::decode_cursor(&text);
        }

        #[test]
        fn any_bytes_after_the_list_name_decode_or_are_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut raw = b"things:".to_vec();
            raw.extend(bytes);
            let _ = Cursor::<ById>::decode_cursor(&URL_SAFE_NO_PAD.encode(&raw));
        }

        #[test]
        fn cursors_round_trip(
            id in proptest::prelude::any::<i64>(),
            unread in proptest::prelude::any::<bool>(),
            seconds in -62_000_000_000i64..250_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let at = chrono::DateTime::from_timestamp(seconds, nanos).expect("in chrono's range");
            let key = Timed { unread, at, id };
            let encoded = Cursor(key).encode_cursor();
            proptest::prop_assert_eq!(
                Cursor::<Timed>::decode_cursor(&encoded),
                Ok(Cursor(Timed { unread, at, id }))
            );
            proptest::prop_assert_eq!(
                Cursor::<ById>::decode_cursor(&Cursor(ById { id }).encode_cursor()),
                Ok(Cursor(ById { id }))
            );
            // Never a cursor of another list.
            proptest::prop_assert!(Cursor::<ById>::decode_cursor(&encoded).is_err());
        }
    }

    #[test]
    fn page_size_is_one_to_a_hundred() {
        assert_eq!(page_size(None).ok(), Some(20));
        assert_eq!(page_size(Some(1)).ok(), Some(1));
        assert_eq!(page_size(Some(100)).ok(), Some(100));
        for bad in [0, -1, 101] {
            assert!(page_size(Some(bad)).is_err(), "{bad}");
        }
    }
}
