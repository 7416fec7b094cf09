//! Users, the e-mail claims that keep addresses unique, groups and their members.
//!
//! A user's item also holds the ids of the groups they belong to (`group_ids`, a string set),
//! written in the same transaction as each membership item, so who the caller is and which
//! groups they are in is one read. Likewise a group's item holds its members' ids
//! (`member_ids`). Users and groups recorded before that (`groups_on_record`,
//! `members_on_record` absent) have theirs listed from the membership items instead.

use super::{keys, Page, PageRequest, Store, StoreError, StoreResult, Versioned, Write};
use crate::domain::{Email, Group, GroupId, User, UserId};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

const USER: &str = "user";
const EMAIL: &str = "email_claim";
const GROUP: &str = "group";
const MEMBER: &str = "group_member";

/// Most members one call may add or remove: a transaction holds at most 100 writes, one is
/// the group's own version check, and each member is two (the membership and the user's
/// group ids).
pub const MAX_MEMBER_CHANGES: usize = 49;

/// Most members a group has: its item holds their ids (well under DynamoDB's 400 KB an item).
pub const MAX_GROUP_MEMBERS: usize = 5_000;

/// A user's item as the directory reads it.
#[derive(Deserialize)]
struct UserItem {
    #[serde(flatten)]
    user: User,
    #[serde(default)]
    group_ids: BTreeSet<GroupId>,
    #[serde(default)]
    groups_on_record: bool,
}

/// A new user's item: they belong to no group yet, and their item says so.
#[derive(Serialize)]
struct NewUserItem<'a> {
    #[serde(flatten)]
    user: &'a User,
    groups_on_record: bool,
}

/// A directory user with the groups they belong to: all authorization needs of who they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The user, at the version read.
    pub user: Versioned<User>,
    /// The groups they are a member of.
    pub groups: BTreeSet<GroupId>,
}

#[derive(Serialize, Deserialize)]
struct EmailClaim {
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
struct Membership {
    group_id: GroupId,
    user_id: UserId,
}

impl Store {
    /// Adds a user; [`StoreError::Conflict`] if the e-mail address is taken.
    pub async fn create_user(&self, user: &User) -> StoreResult<()> {
        let writes = vec![
            Write::create(
                &self.table,
                &keys::user(&user.id, &user.email),
                USER,
                &NewUserItem {
                    user,
                    groups_on_record: true,
                },
                "user",
            )?,
            Write::create(
                &self.table,
                &keys::email_claim(&user.email),
                EMAIL,
                &EmailClaim {
                    user_id: user.id.clone(),
                },
                format!("a user with e-mail {}", user.email),
            )?,
        ];
        self.transact(writes, "creating user").await?;
        self.facts().remember_user(&user.email, &user.id);
        Ok(())
    }

    /// A user by id.
    pub async fn user(&self, id: &UserId) -> StoreResult<Option<User>> {
        Ok(self
            .get::<User>(&keys::user_key(id), "reading user")
            .await?
            .map(|v| v.value))
    }

    /// A user by e-mail address.
    pub async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        Ok(self.user_record_by_email(email).await?.map(|v| v.value))
    }

    /// A user by e-mail address, with the version read (for [`Store::replace_user`]).
    pub async fn user_record_by_email(&self, email: &Email) -> StoreResult<Option<Versioned<User>>> {
        let Some(id) = self.user_id_by_email(email).await? else {
            return Ok(None);
        };
        self.user_record(&id).await
    }

    /// The id of the user with this e-mail address: remembered by the process once read (an
    /// address is never moved to another user), else one read of its claim.
    pub async fn user_id_by_email(&self, email: &Email) -> StoreResult<Option<UserId>> {
        if let Some(id) = self.facts().user_of(email) {
            return Ok(Some(id));
        }
        let claim = self
            .get::<EmailClaim>(&keys::email_claim(email), "reading e-mail claim")
            .await?;
        if let Some(claim) = &claim {
            self.facts().remember_user(email, &claim.value.user_id);
        }
        Ok(claim.map(|c| c.value.user_id))
    }

    /// A user with the groups they belong to: one read (two for a user recorded before their
    /// item held their groups).
    pub async fn member(&self, id: &UserId) -> StoreResult<Option<Member>> {
        let Some(found) = self.get::<UserItem>(&keys::user_key(id), "reading user").await? else {
            return Ok(None);
        };
        let UserItem {
            user,
            group_ids,
            groups_on_record,
        } = found.value;
        let groups = if groups_on_record {
            group_ids
        } else {
            self.groups_of(id).await?.into_iter().collect()
        };
        Ok(Some(Member {
            user: Versioned {
                version: found.version,
                value: user,
            },
            groups,
        }))
    }

    /// A user by id, with the version read.
    pub async fn user_record(&self, id: &UserId) -> StoreResult<Option<Versioned<User>>> {
        self.get::<User>(&keys::user_key(id), "reading user").await
    }

    /// Writes `user` over the record read as `read`, if nobody changed it since (its e-mail
    /// address stays the same: the claim is not moved). The groups the item holds are left as
    /// they are.
    pub async fn replace_user(&self, read: &Versioned<User>, user: &User) -> StoreResult<()> {
        if read.value.email != user.email || read.value.id != user.id {
            return Err(StoreError::dynamo(
                "replacing user",
                "a user's id and e-mail address cannot change",
            ));
        }
        let mut values = HashMap::from([
            (":name".to_owned(), AttributeValue::S(user.name.clone())),
            (":admin".to_owned(), AttributeValue::Bool(user.is_admin)),
            (":expected".to_owned(), AttributeValue::N(read.version.to_string())),
            (":next".to_owned(), AttributeValue::N((read.version + 1).to_string())),
        ]);
        let mut expression = "SET #name = :name, is_admin = :admin, version = :next".to_owned();
        match &user.identity {
            Some(identity) => {
                let value =
                    serde_dynamo::to_attribute_value(identity).map_err(|e| StoreError::dynamo("replacing user", e))?;
                values.insert(":identity".to_owned(), value);
                expression.push_str(", #identity = :identity");
            }
            None => expression.push_str(" REMOVE #identity"),
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::user_key(&user.id))))
            .update_expression(expression)
            .condition_expression("version = :expected")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#identity", "identity")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::dynamo("building update", e))?;
        let write = Write::raw(
            TransactWriteItem::builder().update(update).build(),
            super::Conflict::Changed(format!("user {}", user.id)),
        );
        self.write_one(write, "replacing user").await
    }

    /// The update adding `group` to (or removing it from) a user's group ids, bumping the
    /// user's version so a concurrent replacement of the user loses.
    fn user_groups_write(&self, user: &UserId, group: &GroupId, add: bool) -> StoreResult<Write> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::user_key(user))))
            .update_expression(if add {
                "ADD group_ids :group, version :one"
            } else {
                "DELETE group_ids :group ADD version :one"
            })
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":group", AttributeValue::Ss(vec![group.to_string()]))
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .build()
            .map_err(|e| StoreError::dynamo("building update", e))?;
        Ok(Write::raw(
            TransactWriteItem::builder().update(update).build(),
            super::Conflict::Changed(format!("user {user}")),
        ))
    }

    /// Many users by id; unknown ids are left out.
    pub async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        let keys: Vec<_> = ids.iter().map(keys::user_key).collect();
        self.batch_get(&keys, "reading users").await
    }

    /// The directory, ordered by e-mail address.
    pub async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        let got = self
            .query::<User>(Some("gsi1"), "USERS", None, true, page, "listing users")
            .await?;
        Ok(Page {
            items: got.items.into_iter().map(|v| v.value).collect(),
            next_token: got.next_token,
        })
    }

    /// Creates a group with its first members (at most [`MAX_MEMBER_CHANGES`]).
    pub async fn create_group(&self, group: &Group, members: &BTreeSet<UserId>) -> StoreResult<()> {
        if members.len() > MAX_MEMBER_CHANGES {
            return Err(StoreError::TooLarge(format!(
                "a group is created with at most {MAX_MEMBER_CHANGES} members"
            )));
        }
        let mut writes = vec![self.group_write(group, 0, members)?];
        for user in members {
            writes.push(self.member_write(&group.id, user)?);
            writes.push(self.user_groups_write(user, &group.id, true)?);
        }
        self.transact(writes, "creating group").await
    }

    /// The write of a group's item holding its members, over the version read (0: a new group).
    fn group_write(&self, group: &Group, expected: u64, members: &BTreeSet<UserId>) -> StoreResult<Write> {
        let mut item = super::to_item(&keys::group(&group.id), GROUP, expected + 1, group)?;
        if !members.is_empty() {
            item.insert(
                "member_ids".to_owned(),
                AttributeValue::Ss(members.iter().map(ToString::to_string).collect()),
            );
        }
        item.insert("members_on_record".to_owned(), AttributeValue::Bool(true));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item));
        let put = if expected == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        let put = put.build().map_err(|e| StoreError::dynamo("building put", e))?;
        Ok(Write::raw(
            TransactWriteItem::builder().put(put).build(),
            super::Conflict::Changed("group".into()),
        ))
    }

    fn member_write(&self, group: &GroupId, user: &UserId) -> StoreResult<Write> {
        let member = Membership {
            group_id: group.clone(),
            user_id: user.clone(),
        };
        // Membership items carry no state of their own, so re-adding one is harmless.
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(super::to_item(
                &keys::group_member(group, user),
                MEMBER,
                1,
                &member,
            )?))
            .build()
            .map_err(|e| StoreError::dynamo("building put", e))?;
        Ok(Write::raw(
            TransactWriteItem::builder().put(put).build(),
            super::Conflict::Changed(format!("member {user}")),
        ))
    }

    /// A group and the version it was read at.
    pub async fn group(&self, id: &GroupId) -> StoreResult<Option<Versioned<Group>>> {
        self.get(&keys::group(id), "reading group").await
    }

    /// Every group, in creation order.
    pub async fn list_groups(&self, page: &PageRequest) -> StoreResult<Page<Group>> {
        let got = self
            .query::<Group>(Some("gsi1"), "GROUPS", None, true, page, "listing groups")
            .await?;
        Ok(Page {
            items: got.items.into_iter().map(|v| v.value).collect(),
            next_token: got.next_token,
        })
    }

    /// A group's members.
    pub async fn group_members(&self, id: &GroupId) -> StoreResult<Vec<UserId>> {
        #[derive(Deserialize)]
        struct GroupItem {
            #[serde(default)]
            member_ids: BTreeSet<UserId>,
            #[serde(default)]
            members_on_record: bool,
        }
        // The group's item holds its members (one read, none when the call read it already);
        // a group written before it did has them listed from the membership items.
        if let Some(item) = self.get::<GroupItem>(&keys::group(id), "reading group").await? {
            if item.value.members_on_record {
                return Ok(item.value.member_ids.into_iter().collect());
            }
        }
        let pk = keys::group(id).pk;
        let members = self
            .query_all::<Membership>(None, &pk, Some(keys::MEMBER_PREFIX), 100_000, "listing group members")
            .await?;
        Ok(members.into_iter().map(|m| m.value.user_id).collect())
    }

    /// Whether `user` is in `group`: one read.
    pub async fn is_member(&self, group: &GroupId, user: &UserId) -> StoreResult<bool> {
        Ok(self
            .get::<Membership>(&keys::group_member(group, user), "checking group membership")
            .await?
            .is_some())
    }

    /// The groups `user` belongs to.
    pub async fn groups_of(&self, user: &UserId) -> StoreResult<Vec<GroupId>> {
        let members = self
            .query_all::<Membership>(
                Some("gsi1"),
                &keys::groups_of_user(user),
                None,
                10_000,
                "listing a user's groups",
            )
            .await?;
        Ok(members.into_iter().map(|m| m.value.group_id).collect())
    }

    /// Replaces a group's members with `members`, provided the group is still at the version
    /// it was read at (so two admins editing at once cannot interleave).
    pub async fn set_group_members(&self, group: &Versioned<Group>, members: &BTreeSet<UserId>) -> StoreResult<()> {
        let current: BTreeSet<UserId> = self.group_members(&group.value.id).await?.into_iter().collect();
        let added: Vec<&UserId> = members.difference(&current).collect();
        let removed: Vec<&UserId> = current.difference(members).collect();
        if added.len() + removed.len() > MAX_MEMBER_CHANGES {
            return Err(StoreError::TooLarge(format!(
                "at most {MAX_MEMBER_CHANGES} members may be added or removed per call"
            )));
        }
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(StoreError::TooLarge(format!(
                "a group has at most {MAX_GROUP_MEMBERS} members"
            )));
        }
        // Bumping the group's version makes a concurrent edit lose instead of interleaving.
        let mut writes = vec![self.group_write(&group.value, group.version, members)?];
        for user in added {
            writes.push(self.member_write(&group.value.id, user)?);
            writes.push(self.user_groups_write(user, &group.value.id, true)?);
        }
        for user in removed {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(super::key_of(&keys::group_member(&group.value.id, user))))
                .build()
                .map_err(|e| StoreError::dynamo("building delete", e))?;
            writes.push(Write::raw(
                TransactWriteItem::builder().delete(delete).build(),
                super::Conflict::Changed(format!("member {user}")),
            ));
            writes.push(self.user_groups_write(user, &group.value.id, false)?);
        }
        self.transact(writes, "setting group members").await
    }
}
