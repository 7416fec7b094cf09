//! The DynamoDB store: one table, every access pattern a GetItem, Query, BatchGetItem or
//! transaction (never a Scan), every write conditional.
//!
//! Records carry a `version`. Creating a record requires that its key is free; replacing one
//! requires that its version is still the one that was read. So a retry, a duplicate delivery
//! or two admins racing can never apply a transition twice: the loser gets
//! [`StoreError::Conflict`].

mod access;
mod catalog;
mod directory;
mod filing;
mod integrations;
pub mod keys;
pub mod read_set;
mod settings;
pub mod table;
mod tickets;
mod work;

pub use access::{ApprovalWrite, ResourceUser};
pub use directory::{Member, MAX_GROUP_MEMBERS, MAX_MEMBER_CHANGES};
pub use filing::{FilingClaim, FilingMemory};
pub use work::{KeptWork, MAX_REDRIVES};

pub use tickets::{MarkerClaim, OpenTicket, ProviderAccount, SyncCursor, OPEN_TICKETS_PAGE};

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keys::Keys;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// An item as the SDK sees it.
pub type Item = HashMap<String, AttributeValue>;

/// What can go wrong talking to the table.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A conditional write lost: the record exists already, or changed since it was read.
    /// Which condition failed is typed, so callers decide on it, never on message text.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// A write larger than one transaction can hold.
    #[error("{0}")]
    TooLarge(String),
    /// A pagination token that this store did not issue.
    #[error("the next_token is not valid")]
    InvalidToken,
    /// DynamoDB failed or answered with something unreadable.
    #[error("{operation}: {message}")]
    Dynamo {
        /// What the store was doing.
        operation: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Which condition of a conditional write failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// The user already has an active grant on the resource: their Users tab entry is held.
    AccessAlreadyActive {
        /// The user.
        user: crate::domain::UserId,
        /// The resource.
        resource: crate::domain::ResourceId,
    },
    /// The named record already exists, or changed since it was read (or another
    /// transaction holds it right now).
    Changed(String),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AccessAlreadyActive { user, resource } => {
                write!(f, "user {user} already has active access to resource {resource}")
            }
            Self::Changed(what) => f.write_str(what),
        }
    }
}

impl StoreError {
    /// A conflict on the named record.
    pub fn changed(what: impl Into<String>) -> Self {
        Self::Conflict(Conflict::Changed(what.into()))
    }

    fn dynamo(operation: &'static str, message: impl std::fmt::Display) -> Self {
        Self::Dynamo {
            operation,
            message: message.to_string(),
        }
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// A record together with the version it was read at, for a later conditional write.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    /// The version read; 0 means the record does not exist yet.
    pub version: u64,
    /// The record.
    pub value: T,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// Where a list starts and how much of it to return.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// At most this many records (1..=100; 50 when unset).
    pub limit: Option<i32>,
    /// A token from a previous page.
    pub next_token: Option<String>,
}

impl PageRequest {
    /// The largest page.
    pub const MAX_LIMIT: i32 = 100;
    const DEFAULT_LIMIT: i32 = 50;

    fn limit(&self) -> i32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT)
    }
}

/// Signs and checks pagination tokens. A token is the page's last key (base64url JSON) and an
/// HMAC-SHA256 tag over it and the list it belongs to, keyed with a random key the table holds
/// (created once), so a forged, altered or foreign token is refused before any query runs.
#[derive(Clone, Debug, Default)]
struct TokenSigner {
    key: std::sync::Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

/// Bytes of the tag kept in a token (128 bits).
const TAG_BYTES: usize = 16;

impl TokenSigner {
    fn mac(key: &[u8], list: &str, payload: &str) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(list.as_bytes());
        mac.update(b"\n");
        mac.update(payload.as_bytes());
        mac
    }

    fn encode(key: &[u8], list: &str, last: &Item) -> Option<String> {
        use hmac::Mac;
        let plain: BTreeMap<&str, &str> = last
            .iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
            .collect();
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).ok()?);
        let tag = Self::mac(key, list, &payload).finalize().into_bytes();
        Some(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])))
    }

    fn decode(key: &[u8], list: &str, token: &str) -> StoreResult<Item> {
        use hmac::Mac;
        let (payload, tag) = token.split_once('.').ok_or(StoreError::InvalidToken)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| StoreError::InvalidToken)?;
        if tag.len() != TAG_BYTES {
            return Err(StoreError::InvalidToken);
        }
        Self::mac(key, list, payload)
            .verify_truncated_left(&tag)
            .map_err(|_| StoreError::InvalidToken)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| StoreError::InvalidToken)?;
        let key: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidToken)?;
        if key.is_empty() || key.len() > 4 {
            return Err(StoreError::InvalidToken);
        }
        Ok(key.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
    }
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    pk: &'a str,
    sk: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<&'a str>,
    kind: &'a str,
    version: u64,
    #[serde(flatten)]
    data: &'a T,
}

#[derive(Deserialize)]
struct Stored<T> {
    version: u64,
    #[serde(flatten)]
    data: T,
}

/// Builds the item for `data` under `keys`, at `version`.
fn to_item<T: Serialize>(keys: &Keys, kind: &str, version: u64, data: &T) -> StoreResult<Item> {
    let envelope = Envelope {
        pk: &keys.pk,
        sk: &keys.sk,
        gsi1pk: keys.gsi1.as_ref().map(|(pk, _)| pk.as_str()),
        gsi1sk: keys.gsi1.as_ref().map(|(_, sk)| sk.as_str()),
        gsi2pk: keys.gsi2.as_ref().map(|(pk, _)| pk.as_str()),
        gsi2sk: keys.gsi2.as_ref().map(|(_, sk)| sk.as_str()),
        gsi3pk: keys.gsi3.as_ref().map(|(pk, _)| pk.as_str()),
        gsi3sk: keys.gsi3.as_ref().map(|(_, sk)| sk.as_str()),
        kind,
        version,
        data,
    };
    let item: Item = serde_dynamo::to_item(&envelope).map_err(|e| StoreError::dynamo("encoding item", e))?;
    if let Some(path) = empty_collection(&item) {
        // DynamoDB Local's stream images carry an empty map or list in a shape the SDK cannot
        // read, which would stop the outbox; absence means the same, so none is ever stored.
        return Err(StoreError::dynamo(
            "encoding item",
            format!("a {kind} record holds an empty map or list at {path}; skip it when empty"),
        ));
    }
    // A record with a field named like an envelope attribute would silently overwrite it.
    match item.get("kind") {
        Some(AttributeValue::S(written)) if written == kind => Ok(item),
        _ => Err(StoreError::dynamo(
            "encoding item",
            format!("a {kind} record overwrites the envelope's attributes"),
        )),
    }
}

/// The path of the first empty map or list in `item`, if any.
fn empty_collection(item: &Item) -> Option<String> {
    fn walk(path: String, value: &AttributeValue) -> Option<String> {
        match value {
            AttributeValue::M(map) if map.is_empty() => Some(path),
            AttributeValue::L(list) if list.is_empty() => Some(path),
            AttributeValue::M(map) => map.iter().find_map(|(k, v)| walk(format!("{path}.{k}"), v)),
            AttributeValue::L(list) => list
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(format!("{path}[{i}]"), v)),
            _ => None,
        }
    }
    item.iter().find_map(|(k, v)| walk(k.clone(), v))
}

/// A query's page of records and the key to read the next page from.
fn page_of<T: DeserializeOwned>(
    out: aws_sdk_dynamodb::operation::query::QueryOutput,
) -> StoreResult<(Vec<Versioned<T>>, Option<Item>)> {
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((items, out.last_evaluated_key))
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<Versioned<T>> {
    let stored: Stored<T> = serde_dynamo::from_item(item).map_err(|e| StoreError::dynamo("decoding item", e))?;
    Ok(Versioned {
        version: stored.version,
        value: stored.data,
    })
}

/// `keys` without repeats (by primary key), in order.
fn distinct<'a>(keys: impl Iterator<Item = &'a Keys>) -> Vec<&'a Keys> {
    let mut unique: Vec<&Keys> = Vec::new();
    for k in keys {
        if !unique.iter().any(|u| u.pk == k.pk && u.sk == k.sk) {
            unique.push(k);
        }
    }
    unique
}

fn key_of(keys: &Keys) -> Item {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(keys.pk.clone())),
        (keys::SK.to_owned(), AttributeValue::S(keys.sk.clone())),
    ])
}

/// One write of a transaction, with the conflict its condition failing means.
struct Write {
    conflict: Conflict,
    item: TransactWriteItem,
}

impl Write {
    /// Creates a record whose key must be free.
    fn create<T: Serialize>(
        table: &str,
        keys: &Keys,
        kind: &str,
        data: &T,
        label: impl Into<String>,
    ) -> StoreResult<Self> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(to_item(keys, kind, 1, data)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::dynamo("building put", e))?;
        Ok(Self {
            conflict: Conflict::Changed(label.into()),
            item: TransactWriteItem::builder().put(put).build(),
        })
    }

    /// Replaces a record read at `expected` (0: it must not exist yet).
    fn replace<T: Serialize>(
        table: &str,
        keys: &Keys,
        kind: &str,
        expected: u64,
        data: &T,
        label: impl Into<String>,
    ) -> StoreResult<Self> {
        let mut put = Put::builder()
            .table_name(table)
            .set_item(Some(to_item(keys, kind, expected + 1, data)?));
        put = if expected == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        let put = put.build().map_err(|e| StoreError::dynamo("building put", e))?;
        Ok(Self {
            conflict: Conflict::Changed(label.into()),
            item: TransactWriteItem::builder().put(put).build(),
        })
    }

    fn raw(item: TransactWriteItem, conflict: Conflict) -> Self {
        Self { conflict, item }
    }
}

/// The table and a client for it. Cheap to clone; build one per process.
///
/// A store made by [`Store::prefetch`] also holds the records one call read up front in a
/// single `BatchGetItem`: its reads of those keys are answered from them (they were read
/// consistently moments before, within the same call), and any write it makes forgets them,
/// so nothing it reads after a write is older than the write.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    tokens: TokenSigner,
    facts: std::sync::Arc<read_set::Facts>,
    reads: Option<std::sync::Arc<read_set::ReadSet>>,
}

impl Store {
    /// A store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            tokens: TokenSigner::default(),
            facts: std::sync::Arc::default(),
            reads: None,
        }
    }

    /// This store with `keys` read in one `BatchGetItem` (up to 100; a record absent from the
    /// table is remembered as absent): reads of them through the store returned cost nothing
    /// more until it writes.
    pub async fn prefetch(&self, keys: &[Keys]) -> StoreResult<Store> {
        let unique = distinct(keys.iter());
        let found = self.batch_get_items(&unique, "reading the call's records").await?;
        let reads = read_set::ReadSet::new(unique.iter().map(|k| (k.pk.clone(), k.sk.clone())), found);
        Ok(Store {
            reads: Some(std::sync::Arc::new(reads)),
            ..self.clone()
        })
    }

    /// This store, with those of `keys` its read set does not hold yet read in one
    /// `BatchGetItem` (none when it holds them all).
    pub async fn prefetch_missing(&self, keys: &[Keys]) -> StoreResult<Store> {
        let missing: Vec<Keys> = keys.iter().filter(|k| self.read(k).is_none()).cloned().collect();
        if missing.is_empty() {
            return Ok(self.clone());
        }
        let fresh = self.prefetch(&missing).await?;
        // Keep what this store had read too.
        if let (Some(had), Some(new)) = (&self.reads, &fresh.reads) {
            new.absorb(had);
        }
        Ok(fresh)
    }

    /// What this store's prefetch read for `keys`: `Some(None)` for a record it found absent,
    /// `None` if it did not read the key.
    fn read(&self, keys: &Keys) -> Option<Option<Item>> {
        self.reads.as_ref().and_then(|r| r.get(&keys.pk, &keys.sk))
    }

    /// The facts that never change once recorded (which user an e-mail address names, which
    /// app a resource belongs to, which resource a request is for), remembered per process.
    pub fn facts(&self) -> &read_set::Facts {
        &self.facts
    }

    /// Forgets what [`Store::prefetch`] read: called before a write whose keys it does not
    /// name.
    pub(super) fn forget_reads(&self) {
        if let Some(reads) = &self.reads {
            reads.clear();
        }
    }

    /// Forgets what [`Store::prefetch`] read of the records `writes` change.
    fn forget_written<'a>(&self, writes: impl Iterator<Item = &'a TransactWriteItem>) {
        let Some(reads) = &self.reads else { return };
        for write in writes {
            let key = write
                .put
                .as_ref()
                .map(|p| &p.item)
                .or(write.update.as_ref().map(|u| &u.key))
                .or(write.delete.as_ref().map(|d| &d.key))
                .or(write.condition_check.as_ref().map(|c| &c.key));
            let text = |name: &str| key.and_then(|k| k.get(name)).and_then(|v| v.as_s().ok());
            match (text(keys::PK), text(keys::SK)) {
                (Some(pk), Some(sk)) => reads.forget(pk, sk),
                _ => reads.clear(),
            }
        }
    }

    /// The key pagination tokens are signed with: read from the table once per process, and
    /// created there (conditionally, so concurrent first calls agree) if it is not there yet.
    async fn token_key(&self) -> StoreResult<&[u8]> {
        #[derive(Serialize, Deserialize)]
        struct TokenKey {
            key: String,
        }
        let key = self
            .tokens
            .key
            .get_or_try_init(|| async {
                let keys = keys::pagination_key();
                for _ in 0..2 {
                    if let Some(found) = self.get::<TokenKey>(&keys, "reading the pagination key").await? {
                        return URL_SAFE_NO_PAD
                            .decode(&found.value.key)
                            .map_err(|e| StoreError::dynamo("reading the pagination key", e));
                    }
                    let fresh: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                        .iter()
                        .flat_map(|u| u.into_bytes())
                        .collect();
                    let item = TokenKey {
                        key: URL_SAFE_NO_PAD.encode(&fresh),
                    };
                    let write = Write::create(&self.table, &keys, "pagination_key", &item, "the pagination key")?;
                    match self.write_one(write, "creating the pagination key").await {
                        Ok(()) => return Ok(fresh),
                        Err(StoreError::Conflict(_)) => continue,
                        Err(err) => return Err(err),
                    }
                }
                Err(StoreError::dynamo(
                    "creating the pagination key",
                    "it was created and is unreadable",
                ))
            })
            .await?;
        Ok(key.as_slice())
    }

    /// Where a page starts: `None` for the first page; a token this table did not sign is
    /// [`StoreError::InvalidToken`].
    /// `list` names the index and partition the page is of.
    async fn start_key(&self, list: &str, page: &PageRequest) -> StoreResult<Option<Item>> {
        match &page.next_token {
            None => Ok(None),
            Some(token) => Ok(Some(TokenSigner::decode(self.token_key().await?, list, token)?)),
        }
    }

    /// The token for the page of `list` after one that ended at `last`.
    async fn next_token(&self, list: &str, last: Option<&Item>) -> StoreResult<Option<String>> {
        match last {
            None => Ok(None),
            Some(last) => Ok(TokenSigner::encode(self.token_key().await?, list, last)),
        }
    }

    /// The table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    async fn get<T: DeserializeOwned>(
        &self,
        keys: &Keys,
        operation: &'static str,
    ) -> StoreResult<Option<Versioned<T>>> {
        if let Some(known) = self.read(keys) {
            return known.map(from_item).transpose();
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(keys)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo(operation, DisplayErrorContext(e)))?;
        out.item.map(from_item).transpose()
    }

    /// Reads many records by key (up to 100 per call, chunked), in no particular order; keys
    /// a prefetch already read cost nothing.
    async fn batch_get<T: DeserializeOwned>(&self, keys: &[Keys], operation: &'static str) -> StoreResult<Vec<T>> {
        let mut found = Vec::with_capacity(keys.len());
        let mut unread = Vec::with_capacity(keys.len());
        for k in distinct(keys.iter()) {
            match self.read(k) {
                Some(known) => found.extend(known),
                None => unread.push(k),
            }
        }
        found.extend(self.batch_get_items(&unread, operation).await?);
        found.into_iter().map(|item| Ok(from_item::<T>(item)?.value)).collect()
    }

    /// The items of `keys` that exist, read consistently in batches of 100.
    async fn batch_get_items(&self, keys: &[&Keys], operation: &'static str) -> StoreResult<Vec<Item>> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(|k| key_of(k)).collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::dynamo(operation, e))?,
            );
            // DynamoDB may return part of a batch as unprocessed; ask again, a bounded number of times.
            for _attempt in 0..8 {
                let Some(request) = pending.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo(operation, DisplayErrorContext(e)))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
            if pending.is_some() {
                return Err(StoreError::dynamo(
                    operation,
                    "DynamoDB left keys unprocessed after 8 attempts",
                ));
            }
        }
        Ok(found)
    }

    /// Queries one partition of the table (`index` None) or of an index, in key order
    /// (`forward`), optionally restricted to sort keys starting with `prefix`.
    async fn query<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        partition: &str,
        prefix: Option<&str>,
        forward: bool,
        page: &PageRequest,
        operation: &'static str,
    ) -> StoreResult<Page<Versioned<T>>> {
        let list = format!("{}|{partition}|{}", index.unwrap_or("table"), prefix.unwrap_or(""));
        let start = self.start_key(&list, page).await?;
        let (items, last) = self
            .query_from(index, partition, prefix, forward, page.limit(), start, operation)
            .await?;
        Ok(Page {
            items,
            next_token: self.next_token(&list, last.as_ref()).await?,
        })
    }

    /// One Query call from `start`: the records and the key to go on from.
    #[allow(clippy::too_many_arguments)]
    async fn query_from<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        partition: &str,
        prefix: Option<&str>,
        forward: bool,
        limit: i32,
        start: Option<Item>,
        operation: &'static str,
    ) -> StoreResult<(Vec<Versioned<T>>, Option<Item>)> {
        let (pk, sk) = match index {
            Some(name) => (format!("{name}pk"), format!("{name}sk")),
            None => (keys::PK.to_owned(), keys::SK.to_owned()),
        };
        let mut condition = "#pk = :pk".to_owned();
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .scan_index_forward(forward)
            // What a base-table query finds decides behaviour (group members, a ticket's
            // owner): read what was last written. Indexes cannot be read consistently.
            .consistent_read(index.is_none())
            .limit(limit)
            .set_exclusive_start_key(start);
        if let Some(prefix) = prefix {
            condition.push_str(" AND begins_with(#sk, :prefix)");
            q = q
                .expression_attribute_names("#sk", sk)
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()));
        }
        let out = q
            .key_condition_expression(condition)
            .send()
            .await
            .map_err(|e| StoreError::dynamo(operation, DisplayErrorContext(e)))?;
        page_of(out)
    }

    /// Reads one page of up to `limit` records of an index partition whose sort key sorts after
    /// `after` (from its start without), in order, with the key to read the next page from.
    async fn query_after<T: DeserializeOwned>(
        &self,
        index: &str,
        partition: &str,
        after: Option<&str>,
        limit: i32,
        start: Option<Item>,
        operation: &'static str,
    ) -> StoreResult<(Vec<Versioned<T>>, Option<Item>)> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .expression_attribute_names("#pk", format!("{index}pk"))
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .limit(limit.max(1))
            .set_exclusive_start_key(start);
        q = match after {
            Some(after) => q
                .key_condition_expression("#pk = :pk AND #sk > :after")
                .expression_attribute_names("#sk", format!("{index}sk"))
                .expression_attribute_values(":after", AttributeValue::S(after.to_owned())),
            None => q.key_condition_expression("#pk = :pk"),
        };
        let out = q
            .send()
            .await
            .map_err(|e| StoreError::dynamo(operation, DisplayErrorContext(e)))?;
        page_of(out)
    }

    /// Reads up to `limit` records of an index partition whose sort key sorts before `below`,
    /// in order (for time-keyed work queues).
    async fn query_before<T: DeserializeOwned>(
        &self,
        index: &str,
        partition: &str,
        below: &str,
        limit: i32,
        operation: &'static str,
    ) -> StoreResult<Vec<Versioned<T>>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk AND #sk < :below")
            .expression_attribute_names("#pk", format!("{index}pk"))
            .expression_attribute_names("#sk", format!("{index}sk"))
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .expression_attribute_values(":below", AttributeValue::S(below.to_owned()))
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| StoreError::dynamo(operation, DisplayErrorContext(e)))?;
        out.items.unwrap_or_default().into_iter().map(from_item).collect()
    }

    /// Reads every page of a query, up to `cap` records; more than that is an error rather
    /// than a silent truncation.
    async fn query_all<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        partition: &str,
        prefix: Option<&str>,
        cap: usize,
        operation: &'static str,
    ) -> StoreResult<Vec<Versioned<T>>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let (items, last) = self
                .query_from::<T>(index, partition, prefix, true, PageRequest::MAX_LIMIT, start, operation)
                .await?;
            all.extend(items);
            if all.len() > cap {
                return Err(StoreError::dynamo(operation, format!("more than {cap} records")));
            }
            match last {
                Some(last) => start = Some(last),
                None => return Ok(all),
            }
        }
    }

    /// Writes a single record conditionally (a plain PutItem: half the cost of a transaction).
    async fn write_one(&self, write: Write, operation: &'static str) -> StoreResult<()> {
        self.forget_written(std::iter::once(&write.item));
        let Write { conflict, item } = write;
        if let Some(update) = item.update {
            return self.update_one(update, conflict, operation).await;
        }
        let Some(put) = item.put else {
            return self.transact(vec![Write { conflict, item }], operation).await;
        };
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        Self::single_write(result, conflict, operation)
    }

    /// Applies a single conditional update (a plain UpdateItem).
    async fn update_one(
        &self,
        update: aws_sdk_dynamodb::types::Update,
        conflict: Conflict,
        operation: &'static str,
    ) -> StoreResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        Self::single_write(result, conflict, operation)
    }

    /// What a single conditional write's answer means: a failed condition, or the record inside
    /// another request's transaction right now (that one wins), is `conflict`.
    fn single_write<T, E>(
        result: Result<T, SdkError<E>>,
        conflict: Conflict,
        operation: &'static str,
    ) -> StoreResult<()>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service)) => {
                let err = service.into_err();
                match err.code() {
                    Some("ConditionalCheckFailedException" | "TransactionConflictException") => {
                        Err(StoreError::Conflict(conflict))
                    }
                    _ => Err(StoreError::dynamo(operation, DisplayErrorContext(err))),
                }
            }
            Err(other) => Err(StoreError::dynamo(operation, DisplayErrorContext(other))),
        }
    }

    /// The conflict that failed conditions mean: a specific one if any says more than "changed",
    /// else the changed records named together.
    fn conflict_of(failed: &[&Conflict]) -> Option<Conflict> {
        if let Some(specific) = failed.iter().find(|c| !matches!(c, Conflict::Changed(_))) {
            return Some((*specific).clone());
        }
        let names: Vec<String> = failed.iter().map(|c| c.to_string()).collect();
        (!names.is_empty()).then(|| Conflict::Changed(names.join(", ")))
    }

    /// Writes all of `writes` or none of them.
    async fn transact(&self, writes: Vec<Write>, operation: &'static str) -> StoreResult<()> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        self.forget_written(writes.iter().map(|w| &w.item));
        let conflicts: Vec<Conflict> = writes.iter().map(|w| w.conflict.clone()).collect();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes.into_iter().map(|w| w.item).collect()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                TransactWriteItemsError::TransactionCanceledException(cancel) => {
                    let reasons = cancel.cancellation_reasons();
                    // A condition that failed, or a record another transaction holds right now
                    // (`TransactionConflict`): either way a concurrent writer got there first.
                    let failed: Vec<&Conflict> = reasons
                        .iter()
                        .zip(&conflicts)
                        .filter(|(r, _)| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict")))
                        .map(|(_, conflict)| conflict)
                        .collect();
                    Err(match Self::conflict_of(&failed) {
                        Some(conflict) => StoreError::Conflict(conflict),
                        None => StoreError::dynamo(operation, format!("transaction canceled: {cancel}")),
                    })
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    let all: Vec<&Conflict> = conflicts.iter().collect();
                    Err(StoreError::Conflict(
                        Self::conflict_of(&all).unwrap_or_else(|| Conflict::Changed(operation.into())),
                    ))
                }
                other => Err(StoreError::dynamo(operation, DisplayErrorContext(other))),
            },
            Err(other) => Err(StoreError::dynamo(operation, DisplayErrorContext(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_transaction_names_the_specific_conflict_before_stale_records() {
        let active = Conflict::AccessAlreadyActive {
            user: crate::domain::UserId::generate(),
            resource: crate::domain::ResourceId::generate(),
        };
        let request = Conflict::Changed("request".into());
        let grant = Conflict::Changed("grant".into());
        assert_eq!(Store::conflict_of(&[&request, &active, &grant]), Some(active));
        assert_eq!(
            Store::conflict_of(&[&request, &grant]),
            Some(Conflict::Changed("request, grant".into()))
        );
        assert_eq!(Store::conflict_of(&[]), None, "no failed condition is not a conflict");
    }

    #[test]
    fn an_empty_map_or_list_is_never_written() {
        let keys = keys::marker("test");
        let nested = serde_json::json!({"settings": {"overrides": {}}});
        let err = to_item(&keys, "thing", 1, &nested).unwrap_err();
        assert!(err.to_string().contains("settings.overrides"), "{err}");
        let list = serde_json::json!({"members": []});
        assert!(to_item(&keys, "thing", 1, &list)
            .unwrap_err()
            .to_string()
            .contains("members"));
        let fine = serde_json::json!({"settings": {"overrides": {"Won't Do": "canceled"}}, "members": ["a"]});
        assert!(to_item(&keys, "thing", 1, &fine).is_ok());
    }
}
