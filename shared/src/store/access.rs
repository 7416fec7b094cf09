//! Requests, grants, access changes and the per-resource Users tab.
//!
//! A resource-user entry (`RES#rid` / `USER#uid`) points at the user's latest grant on the
//! resource and says whether it is active. Starting a grant claims that entry, on the
//! condition that no grant is active, so one user can never hold two grants on one resource.

use super::{keys, Page, PageRequest, Store, StoreError, StoreResult, Versioned, Write};
use crate::domain::{
    AccessChange, AccessRequest, AuditEvent, ChangeId, Grant, GrantId, GrantStatus, GroupId, RequestId, RequestStatus,
    ResourceId, User, UserId,
};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const REQUEST: &str = "request";
const GRANT: &str = "grant";
const CHANGE: &str = super::tickets::ACCESS_CHANGE;
const RESOURCE_USER: &str = "resource_user";

/// Most pending requests read for one reviewer across their groups.
const MAX_PENDING_FOR_REVIEWER: usize = 1_000;

#[derive(Serialize, Deserialize)]
struct ResourceUserEntry {
    resource_id: ResourceId,
    user_id: UserId,
    grant_id: GrantId,
    active: bool,
    /// The grant as written with this entry, at `grant_version`: every write of a grant
    /// writes its entry in the same transaction, so this is the grant item's copy. Entries
    /// written before they carried it have neither, and the grant is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<Grant>,
    #[serde(default)]
    grant_version: u64,
}

impl ResourceUserEntry {
    /// The grant the entry carries, at its version.
    fn grant(&self) -> Option<Versioned<Grant>> {
        self.grant
            .clone()
            .filter(|g| g.id == self.grant_id && self.grant_version > 0)
            .map(|value| Versioned {
                version: self.grant_version,
                value,
            })
    }
}

/// One line of a resource's Users tab: the user, their latest grant and its latest change.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceUser {
    /// The user (absent only if the directory lost them).
    pub user: Option<User>,
    /// Their latest grant on the resource.
    pub grant: Grant,
    /// The grant's latest access change (the add, or the remove once it ended).
    pub change: Option<AccessChange>,
}

/// An approval to record atomically: the request's new state, its grant and the add change.
pub struct ApprovalWrite<'a> {
    /// The request as approved.
    pub request: &'a AccessRequest,
    /// The version the request was read at; 0 when it is approved as it is created.
    pub request_version: u64,
    /// The grant the approval starts.
    pub grant: &'a Grant,
    /// The add change.
    pub change: &'a AccessChange,
    /// Audit events to record with it (the request's opening, for auto-approval, and its approval).
    pub events: &'a [AuditEvent],
}

fn request_keys(request: &AccessRequest) -> keys::Keys {
    let pending = (request.status == RequestStatus::Pending).then_some(request.reviewer_group_id.as_ref());
    keys::request(&request.id, &request.requester_id, pending)
}

fn grant_keys(grant: &Grant) -> keys::Keys {
    let expiring = if grant.status == GrantStatus::Active {
        grant.expires_at.as_ref()
    } else {
        None
    };
    keys::grant(&grant.id, expiring)
}

impl Store {
    /// The entry for `grant`, written at `grant_version` alongside it.
    fn entry_write(
        &self,
        grant: &Grant,
        grant_version: u64,
        condition: &str,
        values: HashMap<String, AttributeValue>,
    ) -> StoreResult<Write> {
        let entry = ResourceUserEntry {
            resource_id: grant.resource_id.clone(),
            user_id: grant.user_id.clone(),
            grant_id: grant.id.clone(),
            active: grant.status == GrantStatus::Active,
            grant: Some(grant.clone()),
            grant_version,
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(super::to_item(
                &keys::resource_user(&grant.resource_id, &grant.user_id),
                RESOURCE_USER,
                1,
                &entry,
            )?))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::dynamo("building put", e))?;
        Ok(Write::raw(
            TransactWriteItem::builder().put(put).build(),
            super::Conflict::AccessAlreadyActive {
                user: grant.user_id.clone(),
                resource: grant.resource_id.clone(),
            },
        ))
    }

    /// The writes that start a grant: the grant, the claim on the user's entry (refused while
    /// another grant is active) and the add change.
    fn start_grant_writes(&self, grant: &Grant, change: &AccessChange) -> StoreResult<Vec<Write>> {
        Ok(vec![
            Write::create(&self.table, &grant_keys(grant), GRANT, grant, "grant")?,
            self.entry_write(
                grant,
                1,
                "attribute_not_exists(pk) OR active = :inactive",
                HashMap::from([(":inactive".to_owned(), AttributeValue::Bool(false))]),
            )?,
            Write::create(
                &self.table,
                &keys::change_record(change),
                CHANGE,
                change,
                "access change",
            )?,
        ])
    }

    /// Records a new pending request with its audit events.
    pub async fn create_request(&self, request: &AccessRequest, events: &[AuditEvent]) -> StoreResult<()> {
        let mut writes = vec![Write::create(
            &self.table,
            &request_keys(request),
            REQUEST,
            request,
            "request",
        )?];
        writes.extend(self.audit_event_writes(events)?);
        self.transact(writes, "creating request").await?;
        self.facts().remember_resource(&request.id, &request.resource_id);
        Ok(())
    }

    /// A request and the version it was read at.
    pub async fn request(&self, id: &RequestId) -> StoreResult<Option<Versioned<AccessRequest>>> {
        let found = self
            .get::<AccessRequest>(&keys::request_key(id), "reading request")
            .await?;
        if let Some(request) = &found {
            self.facts().remember_resource(id, &request.value.resource_id);
        }
        Ok(found)
    }

    /// Saves a denial or cancellation of a request read at `expected_version`, with its audit
    /// events.
    pub async fn save_request(
        &self,
        expected_version: u64,
        request: &AccessRequest,
        events: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut writes = vec![Write::replace(
            &self.table,
            &request_keys(request),
            REQUEST,
            expected_version.max(1),
            request,
            "request",
        )?];
        writes.extend(self.audit_event_writes(events)?);
        self.transact(writes, "saving request").await
    }

    /// Records an approval in one transaction: the request, its grant, the user's entry and
    /// the add change. A second approval, or a grant already active, makes it a conflict.
    pub async fn approve(&self, approval: ApprovalWrite<'_>) -> StoreResult<()> {
        let mut writes = vec![Write::replace(
            &self.table,
            &request_keys(approval.request),
            REQUEST,
            approval.request_version,
            approval.request,
            "request",
        )?];
        writes.extend(self.start_grant_writes(approval.grant, approval.change)?);
        writes.extend(self.audit_event_writes(approval.events)?);
        // A linked ticket is watched from now on: its closing ends the grant.
        if let Some(linked) = &approval.grant.linked_ticket {
            writes.push(self.track_write(&crate::domain::TrackedTicket {
                provider: linked.provider,
                remote_id: linked.remote_id.clone(),
                key: linked.key.clone(),
                url: linked.url.clone(),
                purpose: crate::domain::TicketPurpose::Linked {
                    grant_id: approval.grant.id.clone(),
                },
                resource_id: Some(approval.grant.resource_id.clone()),
                state: linked.state,
                watching: true,
                last_synced_at: approval.grant.granted_at,
            })?);
        }
        self.transact(writes, "approving request").await?;
        self.facts()
            .remember_resource(&approval.request.id, &approval.request.resource_id);
        Ok(())
    }

    /// Records a grant made by hand with its add change.
    pub async fn start_grant(&self, grant: &Grant, change: &AccessChange) -> StoreResult<()> {
        self.transact(self.start_grant_writes(grant, change)?, "adding user")
            .await
    }

    /// Records the end of a grant read at `expected_version` (revoked or expired) with its
    /// remove change and audit events, in one transaction.
    pub async fn end_grant(
        &self,
        expected_version: u64,
        grant: &Grant,
        change: &AccessChange,
        events: &[AuditEvent],
    ) -> StoreResult<()> {
        let mut writes = vec![
            Write::replace(&self.table, &grant_keys(grant), GRANT, expected_version, grant, "grant")?,
            self.entry_write(
                grant,
                expected_version + 1,
                "grant_id = :grant",
                HashMap::from([(":grant".to_owned(), AttributeValue::S(grant.id.to_string()))]),
            )?,
            Write::create(
                &self.table,
                &keys::change_record(change),
                CHANGE,
                change,
                "access change",
            )?,
        ];
        writes.extend(self.audit_event_writes(events)?);
        self.transact(writes, "ending grant").await
    }

    /// A grant and the version it was read at.
    pub async fn grant(&self, id: &GrantId) -> StoreResult<Option<Versioned<Grant>>> {
        self.get(&keys::grant(id, None), "reading grant").await
    }

    /// Many grants by id; unknown ids are left out.
    pub async fn grants(&self, ids: &[GrantId]) -> StoreResult<Vec<Grant>> {
        let keys: Vec<_> = ids.iter().map(|id| keys::grant(id, None)).collect();
        self.batch_get(&keys, "reading grants").await
    }

    /// An access change and the version it was read at.
    pub async fn change(&self, id: &ChangeId) -> StoreResult<Option<Versioned<AccessChange>>> {
        self.get(&keys::change(id), "reading access change").await
    }

    /// The user's latest grant on the resource, active or not.
    pub async fn latest_grant(&self, resource: &ResourceId, user: &UserId) -> StoreResult<Option<Versioned<Grant>>> {
        let entry = self
            .get::<ResourceUserEntry>(&keys::resource_user(resource, user), "reading resource user")
            .await?;
        match entry {
            Some(entry) => match entry.value.grant() {
                Some(grant) => Ok(Some(grant)),
                None => self.grant(&entry.value.grant_id).await,
            },
            None => Ok(None),
        }
    }

    /// Whether `user` holds an active grant on `resource`: one read of their Users tab entry.
    pub async fn has_active_access(&self, resource: &ResourceId, user: &UserId) -> StoreResult<bool> {
        Ok(self
            .get::<ResourceUserEntry>(&keys::resource_user(resource, user), "reading resource user")
            .await?
            .is_some_and(|entry| entry.value.active))
    }

    /// Active grants whose end time is before `now`, earliest first (the sweeper's queue).
    pub async fn overdue_grants(&self, now: &crate::domain::Timestamp, limit: i32) -> StoreResult<Vec<Grant>> {
        let below = keys::sortable_time(now);
        let found: Vec<Versioned<Grant>> = self
            .query_before("gsi2", keys::EXPIRING, &below, limit, "listing overdue grants")
            .await?;
        Ok(found.into_iter().map(|v| v.value).collect())
    }

    /// Changes whose ticket has waited to be filed since before `before`, oldest first.
    pub async fn stuck_changes(&self, before: &crate::domain::Timestamp, limit: i32) -> StoreResult<Vec<AccessChange>> {
        let below = keys::sortable_time(before);
        let found: Vec<Versioned<AccessChange>> = self
            .query_before("gsi2", keys::PENDING_TICKETS, &below, limit, "listing stuck changes")
            .await?;
        Ok(found.into_iter().map(|v| v.value).collect())
    }

    /// A requester's requests, newest first.
    pub async fn requests_of(&self, requester: &UserId, page: &PageRequest) -> StoreResult<Page<AccessRequest>> {
        let got = self
            .query::<AccessRequest>(
                Some("gsi1"),
                &keys::requests_of(requester),
                None,
                false,
                page,
                "listing requests",
            )
            .await?;
        Ok(Page {
            items: got.items.into_iter().map(|v| v.value).collect(),
            next_token: got.next_token,
        })
    }

    /// Every pending request, for org admins (paged).
    pub async fn all_pending_reviews(&self, page: &PageRequest) -> StoreResult<Page<AccessRequest>> {
        let got = self
            .query::<AccessRequest>(
                Some("gsi2"),
                keys::PENDING_REVIEW,
                None,
                true,
                page,
                "listing pending reviews",
            )
            .await?;
        Ok(Page {
            items: got.items.into_iter().map(|v| v.value).collect(),
            next_token: got.next_token,
        })
    }

    /// The pending requests reviewed by any of `groups`, oldest first (one Query per group,
    /// at most [`MAX_PENDING_FOR_REVIEWER`] in all).
    pub async fn pending_reviews_for(&self, groups: &[GroupId]) -> StoreResult<Vec<AccessRequest>> {
        let mut all = Vec::new();
        for group in groups {
            let prefix = keys::pending_review_prefix(Some(group));
            let got = self
                .query_all::<AccessRequest>(
                    Some("gsi2"),
                    keys::PENDING_REVIEW,
                    Some(&prefix),
                    MAX_PENDING_FOR_REVIEWER,
                    "listing pending reviews",
                )
                .await?;
            all.extend(got.into_iter().map(|v| v.value));
            if all.len() > MAX_PENDING_FOR_REVIEWER {
                return Err(StoreError::dynamo(
                    "listing pending reviews",
                    format!("more than {MAX_PENDING_FOR_REVIEWER} pending requests"),
                ));
            }
        }
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// A resource's Users tab: each user's latest grant and its latest change, by user id.
    pub async fn resource_users(&self, resource: &ResourceId, page: &PageRequest) -> StoreResult<Page<ResourceUser>> {
        let pk = keys::resource(resource).pk;
        let entries = self
            .query::<ResourceUserEntry>(
                None,
                &pk,
                Some(keys::RESOURCE_USER_PREFIX),
                true,
                page,
                "listing resource users",
            )
            .await?;
        // Entries carry their grants (older ones name them, and those are read).
        let mut grants: Vec<Grant> = Vec::with_capacity(entries.items.len());
        let mut unread: Vec<keys::Keys> = Vec::new();
        for entry in &entries.items {
            match entry.value.grant() {
                Some(grant) => grants.push(grant.value),
                None => unread.push(keys::grant(&entry.value.grant_id, None)),
            }
        }
        grants.extend(self.batch_get::<Grant>(&unread, "reading grants").await?);
        // The users and the changes, in one batch.
        let change_keys: Vec<_> = grants.iter().map(|g| keys::change(&g.latest_change_id)).collect();
        let user_ids: Vec<UserId> = grants.iter().map(|g| g.user_id.clone()).collect();
        let mut wanted = change_keys.clone();
        wanted.extend(user_ids.iter().map(keys::user_key));
        let read = self.prefetch_missing(&wanted).await?;
        let mut changes: HashMap<ChangeId, AccessChange> = read
            .batch_get::<AccessChange>(&change_keys, "reading access changes")
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let mut users: HashMap<UserId, User> = read
            .users(&user_ids)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let mut by_id: HashMap<GrantId, Grant> = grants.into_iter().map(|g| (g.id.clone(), g)).collect();
        let items = entries
            .items
            .iter()
            .filter_map(|entry| by_id.remove(&entry.value.grant_id))
            .map(|grant| ResourceUser {
                user: users.remove(&grant.user_id),
                change: changes.remove(&grant.latest_change_id),
                grant,
            })
            .collect();
        Ok(Page {
            items,
            next_token: entries.next_token,
        })
    }
}
