//! Who may do what, as pure rules over who the caller is: their user id, whether they are an
//! org admin, and the group memberships the decision needs (looked up by the use case with
//! consistent reads, never from a cache).
//!
//! | action | who may |
//! |---|---|
//! | review a request (approve, deny) | an org admin or a member of the request's reviewer group, never its requester |
//! | cancel a request | its requester |
//! | see a request | its requester, whoever may review it, the resource's admins |
//! | administer a resource (Users tab, add, remove, retry a filing, sync now) | an org admin or a member of the resource's admin group |
//! | add a user by hand | a resource admin, for anyone but themself |
//! | change a resource's admin group, reviewers or auto-approval | an org admin |
//! | administer the org (directory, catalog, settings, integrations) | an org admin |
//!
//! An org admin is a user the directory marks so, or one the deployment's bootstrap list names.

use crate::domain::{AccessRequest, Email, GroupId, User, UserId};
use crate::store::{Store, StoreResult};
use std::collections::BTreeSet;
use thiserror::Error;

/// The caller as the front door identified them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The directory user.
    pub user_id: UserId,
    /// An org admin (by the directory, or by the bootstrap list).
    pub org_admin: bool,
    /// The front door, when it is not the API or the console (`slack`): recorded on decisions.
    pub via: Option<&'static str>,
    /// The groups the user belongs to, when the front door read them with the user (from the
    /// user's directory item, in the same read); `None` has each group asked about looked up.
    pub groups: Option<BTreeSet<GroupId>>,
}

/// A principal with the memberships a decision needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// Groups the user is a member of: at least those of the groups asked about that they are
    /// in (all their groups, when the front door read them with the user).
    pub groups: BTreeSet<GroupId>,
}

impl Actor {
    /// Whether `principal` belongs to each of `groups`: from the groups the principal carries
    /// (read with the user for this call), else looked up consistently; an org admin needs
    /// neither.
    pub async fn resolve(store: &Store, principal: &Principal, groups: &[Option<&GroupId>]) -> StoreResult<Self> {
        let mut member = BTreeSet::new();
        if !principal.org_admin {
            for group in groups.iter().flatten() {
                let belongs = match &principal.groups {
                    Some(known) => known.contains(*group),
                    None => !member.contains(*group) && store.is_member(group, &principal.user_id).await?,
                };
                if belongs {
                    member.insert((*group).clone());
                }
            }
        }
        Ok(Self {
            principal: principal.clone(),
            groups: member,
        })
    }

    fn member_of(&self, group: Option<&GroupId>) -> bool {
        group.is_some_and(|g| self.groups.contains(g))
    }

    fn is(&self, user: &UserId) -> bool {
        &self.principal.user_id == user
    }
}

/// Why the caller may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Refusal {
    /// A requester reviewing their own request.
    #[error("a requester cannot review their own request")]
    OwnRequest,
    /// Not an org admin nor in the reviewer group.
    #[error("only the resource's reviewers or org admins may review this request")]
    NotReviewer,
    /// Canceling someone else's request.
    #[error("only the requester can cancel a request")]
    NotRequester,
    /// Not involved with the request at all.
    #[error("only the requester, its reviewers and admins may see this request")]
    NotInvolved,
    /// Not an org admin nor in the resource's admin group.
    #[error("only the resource's admins or org admins may do this")]
    NotResourceAdmin,
    /// Not an org admin.
    #[error("only org admins may do this")]
    NotOrgAdmin,
    /// A resource admin changing who administers or reviews the resource.
    #[error("only org admins may change a resource's admin group, reviewers or auto-approval")]
    NotGovernor,
    /// An admin adding themself by hand.
    #[error("nobody adds themself by hand; request access like anyone else")]
    GrantSelf,
}

/// Whether `user` is an org admin: by the directory, or because the deployment names their
/// e-mail address among its bootstrap admins.
pub fn org_admin(user: &User, bootstrap_admins: &[Email]) -> bool {
    user.is_admin || bootstrap_admins.contains(&user.email)
}

/// Approving or denying `request`.
pub fn review(actor: &Actor, request: &AccessRequest) -> Result<(), Refusal> {
    if actor.is(&request.requester_id) {
        return Err(Refusal::OwnRequest);
    }
    if actor.principal.org_admin || actor.member_of(request.reviewer_group_id.as_ref()) {
        Ok(())
    } else {
        Err(Refusal::NotReviewer)
    }
}

/// Canceling `request`.
pub fn cancel(actor: &Actor, request: &AccessRequest) -> Result<(), Refusal> {
    if actor.is(&request.requester_id) {
        Ok(())
    } else {
        Err(Refusal::NotRequester)
    }
}

/// Seeing `request`, whose resource's admins are `resource_admins`.
pub fn see_request(actor: &Actor, request: &AccessRequest, resource_admins: Option<&GroupId>) -> Result<(), Refusal> {
    if actor.is(&request.requester_id)
        || review(actor, request).is_ok()
        || administer_resource(actor, resource_admins).is_ok()
    {
        Ok(())
    } else {
        Err(Refusal::NotInvolved)
    }
}

/// The Users tab and its actions on a resource whose admins are `resource_admins`.
pub fn administer_resource(actor: &Actor, resource_admins: Option<&GroupId>) -> Result<(), Refusal> {
    if actor.principal.org_admin || actor.member_of(resource_admins) {
        Ok(())
    } else {
        Err(Refusal::NotResourceAdmin)
    }
}

/// Adding `user` by hand to a resource whose admins are `resource_admins`: its admins, never
/// for themselves (they request access like anyone else, so someone else approves it).
pub fn add_by_hand(actor: &Actor, resource_admins: Option<&GroupId>, user: &UserId) -> Result<(), Refusal> {
    administer_resource(actor, resource_admins)?;
    if actor.is(user) {
        return Err(Refusal::GrantSelf);
    }
    Ok(())
}

/// Changing who administers a resource, who reviews its requests and whether they are
/// reviewed at all: org admins only, or a resource admin could approve themself.
pub fn govern_resource(actor: &Actor) -> Result<(), Refusal> {
    if actor.principal.org_admin {
        Ok(())
    } else {
        Err(Refusal::NotGovernor)
    }
}

/// The directory, the catalog, the settings and the integrations.
pub fn administer_org(actor: &Actor) -> Result<(), Refusal> {
    if actor.principal.org_admin {
        Ok(())
    } else {
        Err(Refusal::NotOrgAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccessRequest, GroupId, RequestStatus, ResourceId, UserId};

    struct World {
        request: AccessRequest,
        reviewers: GroupId,
        resource_admins: GroupId,
        requester: Actor,
        reviewer: Actor,
        resource_admin: Actor,
        org_admin: Actor,
        stranger: Actor,
    }

    fn actor(org_admin: bool, groups: &[&GroupId]) -> Actor {
        Actor {
            principal: Principal {
                user_id: UserId::generate(),
                org_admin,
                via: None,
                groups: None,
            },
            groups: groups.iter().map(|g| (*g).clone()).collect(),
        }
    }

    fn world() -> World {
        let reviewers = GroupId::generate();
        let resource_admins = GroupId::generate();
        let requester = actor(false, &[]);
        let request = AccessRequest {
            id: crate::domain::RequestId::generate(),
            resource_id: ResourceId::generate(),
            requester_id: requester.principal.user_id.clone(),
            reason: String::new(),
            duration_minutes: None,
            linked_ticket: None,
            status: RequestStatus::Pending,
            reviewer_group_id: Some(reviewers.clone()),
            decision: None,
            grant_id: None,
            audit: None,
            created_at: crate::domain::now(),
        };
        World {
            request,
            requester,
            reviewer: actor(false, &[&reviewers]),
            resource_admin: actor(false, &[&resource_admins]),
            org_admin: actor(true, &[]),
            stranger: actor(false, &[]),
            reviewers,
            resource_admins,
        }
    }

    #[test]
    fn reviewers_and_org_admins_review_but_never_the_requester() {
        let w = world();
        assert_eq!(review(&w.reviewer, &w.request), Ok(()));
        assert_eq!(review(&w.org_admin, &w.request), Ok(()));
        assert_eq!(review(&w.requester, &w.request), Err(Refusal::OwnRequest));
        assert_eq!(review(&w.resource_admin, &w.request), Err(Refusal::NotReviewer));
        assert_eq!(review(&w.stranger, &w.request), Err(Refusal::NotReviewer));
        // A reviewer who is also the requester is still refused.
        let mut own = w.request.clone();
        own.requester_id = w.reviewer.principal.user_id.clone();
        assert_eq!(review(&w.reviewer, &own), Err(Refusal::OwnRequest));
        // An org admin's own request is not theirs to review either.
        own.requester_id = w.org_admin.principal.user_id.clone();
        assert_eq!(review(&w.org_admin, &own), Err(Refusal::OwnRequest));
        // Without a reviewer group only org admins review.
        let mut no_group = w.request.clone();
        no_group.reviewer_group_id = None;
        assert_eq!(review(&w.reviewer, &no_group), Err(Refusal::NotReviewer));
        assert_eq!(review(&w.org_admin, &no_group), Ok(()));
        let _ = &w.reviewers;
    }

    #[test]
    fn only_the_requester_cancels() {
        let w = world();
        assert_eq!(cancel(&w.requester, &w.request), Ok(()));
        for other in [&w.reviewer, &w.resource_admin, &w.org_admin, &w.stranger] {
            assert_eq!(cancel(other, &w.request), Err(Refusal::NotRequester));
        }
    }

    #[test]
    fn a_request_is_seen_by_those_involved_only() {
        let w = world();
        let admins = Some(&w.resource_admins);
        for involved in [&w.requester, &w.reviewer, &w.resource_admin, &w.org_admin] {
            assert_eq!(see_request(involved, &w.request, admins), Ok(()));
        }
        assert_eq!(see_request(&w.stranger, &w.request, admins), Err(Refusal::NotInvolved));
        assert_eq!(
            see_request(&w.resource_admin, &w.request, None),
            Err(Refusal::NotInvolved),
            "a resource without an admin group has only org admins"
        );
    }

    #[test]
    fn resource_admins_and_org_admins_administer_a_resource() {
        let w = world();
        let admins = Some(&w.resource_admins);
        assert_eq!(administer_resource(&w.resource_admin, admins), Ok(()));
        assert_eq!(administer_resource(&w.org_admin, admins), Ok(()));
        for other in [&w.requester, &w.reviewer, &w.stranger] {
            assert_eq!(administer_resource(other, admins), Err(Refusal::NotResourceAdmin));
        }
        assert_eq!(
            administer_resource(&w.resource_admin, None),
            Err(Refusal::NotResourceAdmin)
        );
    }

    #[test]
    fn resource_admins_add_anyone_by_hand_but_themselves() {
        let w = world();
        let admins = Some(&w.resource_admins);
        let someone = UserId::generate();
        assert_eq!(add_by_hand(&w.resource_admin, admins, &someone), Ok(()));
        assert_eq!(add_by_hand(&w.org_admin, admins, &someone), Ok(()));
        for other in [&w.requester, &w.reviewer, &w.stranger] {
            assert_eq!(add_by_hand(other, admins, &someone), Err(Refusal::NotResourceAdmin));
        }
        for admin in [&w.resource_admin, &w.org_admin] {
            assert_eq!(
                add_by_hand(admin, admins, &admin.principal.user_id),
                Err(Refusal::GrantSelf)
            );
        }
        // A stranger naming themself is refused as a stranger, not told how adding works.
        assert_eq!(
            add_by_hand(&w.stranger, admins, &w.stranger.principal.user_id),
            Err(Refusal::NotResourceAdmin)
        );
    }

    #[test]
    fn the_directory_or_the_bootstrap_list_makes_an_org_admin() {
        let mut user = User {
            id: UserId::generate(),
            email: Email::parse("ada@example.com").unwrap(),
            name: "Ada".into(),
            is_admin: false,
            created_at: crate::domain::now(),
            identity: None,
        };
        let listed = [Email::parse("ada@example.com").unwrap()];
        let other = [Email::parse("bob@example.com").unwrap()];
        assert!(!org_admin(&user, &other));
        assert!(org_admin(&user, &listed));
        user.is_admin = true;
        assert!(org_admin(&user, &other));
    }

    #[test]
    fn only_org_admins_govern_a_resource() {
        let w = world();
        assert_eq!(govern_resource(&w.org_admin), Ok(()));
        for other in [&w.requester, &w.reviewer, &w.resource_admin, &w.stranger] {
            assert_eq!(govern_resource(other), Err(Refusal::NotGovernor));
        }
    }

    #[test]
    fn only_org_admins_administer_the_org() {
        let w = world();
        assert_eq!(administer_org(&w.org_admin), Ok(()));
        for other in [&w.requester, &w.reviewer, &w.resource_admin, &w.stranger] {
            assert_eq!(administer_org(other), Err(Refusal::NotOrgAdmin));
        }
    }
}
