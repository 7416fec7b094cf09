//! Who may do what, asked of the use cases themselves, without HTTP: for each action, each of
//! the five roles (reviewer, resource admin, org admin, requester, stranger) is let through or
//! refused with the rule's own refusal, and a refused action writes nothing.
//!
//! The roles are distinct people: Rae reviews "My Role" (its reviewer group), Riley
//! administers it (the app's admin group), the bootstrap admin is the org admin, Josh requests
//! and Sam is in no group.

use grantdesk::domain::{
    DurationMinutes, GrantStatus, PropagationStatus, RequestId, RequestStatus, ResourceId, UserId,
};
use grantdesk::store::PageRequest;
use grantdesk::usecases::access::{AccessError, ResourceAccess};
use grantdesk::usecases::authorization::{Principal, Refusal};
use grantdesk::usecases::resource::ResourceError;
use grantdesk::usecases::review::{ReviewError, Reviews};
use grantdesk::usecases::sync::{request_sync, SyncNowError};
use grantdesk_e2e::{eventually, Demo, TestStack, ADMIN, JOSH};
use serde_json::json;

/// The five roles, as principals whose groups the use cases look up.
struct Roles {
    reviewer: Principal,
    resource_admin: Principal,
    org_admin: Principal,
    requester: Principal,
    stranger: Principal,
}

impl Roles {
    fn all(&self) -> [(&'static str, &Principal); 5] {
        [
            ("reviewer", &self.reviewer),
            ("resource admin", &self.resource_admin),
            ("org admin", &self.org_admin),
            ("requester", &self.requester),
            ("stranger", &self.stranger),
        ]
    }
}

fn principal(id: &str, org_admin: bool) -> Principal {
    Principal {
        user_id: UserId::parse(id).unwrap(),
        org_admin,
        via: None,
        groups: None,
    }
}

/// The demo organisation with a reviewer group of its own for "My Role".
async fn world(stack: &TestStack) -> (Demo, Roles) {
    let demo = stack.demo().await;
    let rae = stack.user("rae@example.test", "Rae").await;
    let reviewers = stack
        .post(
            ADMIN,
            "/groups",
            json!({"name": "My Role reviewers", "member_ids": [rae]}),
        )
        .await;
    assert_eq!(reviewers.status, 201, "{:?}", reviewers.body);
    let patched = stack
        .call(
            ADMIN,
            reqwest::Method::PATCH,
            &format!("/resources/{}", demo.resource),
            Some(json!({"request_config": {"reviewer_group_id": reviewers.str("id")}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let admin = stack.get(ADMIN, "/me").await;
    let roles = Roles {
        reviewer: principal(&rae, false),
        resource_admin: principal(&demo.riley, false),
        org_admin: principal(&admin.str("id"), true),
        requester: principal(&demo.josh, false),
        stranger: principal(&demo.stranger, false),
    };
    (demo, roles)
}

async fn pending_request(stack: &TestStack, demo: &Demo) -> RequestId {
    let created = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "on-call", "duration_minutes": 60}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    RequestId::parse(&created.str("id")).unwrap()
}

fn refusal_of_review(err: ReviewError) -> Refusal {
    match err {
        ReviewError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn refusal_of_access(err: AccessError) -> Refusal {
    match err {
        AccessError::Resource(ResourceError::Refused(refusal)) | AccessError::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn reviewing_approving_denying_and_canceling_follow_the_rules() {
    let stack = TestStack::start_without_stream().await;
    let (demo, roles) = world(&stack).await;
    let reviews = Reviews::new(stack.stack.store.clone(), stack.stack.schedules.clone());

    // Approve and deny: the reviewer group and org admins, never the requester; the resource's
    // admins are not its reviewers.
    let expected: [(&str, &Principal, Option<Refusal>); 5] = [
        ("reviewer", &roles.reviewer, None),
        ("org admin", &roles.org_admin, None),
        ("requester", &roles.requester, Some(Refusal::OwnRequest)),
        ("resource admin", &roles.resource_admin, Some(Refusal::NotReviewer)),
        ("stranger", &roles.stranger, Some(Refusal::NotReviewer)),
    ];
    for (role, who, refusal) in expected {
        let request = pending_request(&stack, &demo).await;
        let before = stack.stack.store.request(&request).await.unwrap().unwrap().version;
        let approved = reviews.approve(who, &request, None).await;
        match refusal {
            None => {
                let decided = approved.unwrap_or_else(|e| panic!("{role} approves: {e:?}"));
                assert_eq!(decided.request.status, RequestStatus::Approved, "{role}");
                assert_eq!(decided.grant.map(|g| g.status), Some(GrantStatus::Active), "{role}");
                // Withdraw the access again so the next request is not refused as active.
                ResourceAccess::new(stack.stack.store.clone(), stack.stack.schedules.clone())
                    .remove(
                        &roles.org_admin,
                        &ResourceId::parse(&demo.resource).unwrap(),
                        &roles.requester.user_id,
                    )
                    .await
                    .unwrap();
            }
            Some(refusal) => {
                assert_eq!(refusal_of_review(approved.unwrap_err()), refusal, "{role} approves");
                let denied = reviews.deny(who, &request, Some("no".into())).await;
                assert_eq!(refusal_of_review(denied.unwrap_err()), refusal, "{role} denies");
                let still = stack.stack.store.request(&request).await.unwrap().unwrap();
                assert_eq!(
                    still.value.status,
                    RequestStatus::Pending,
                    "a refused {role} wrote nothing"
                );
                assert_eq!(still.version, before, "a refused {role} wrote nothing");
            }
        }
    }
    let request = pending_request(&stack, &demo).await;
    let denied = reviews
        .deny(&roles.reviewer, &request, Some("not now".into()))
        .await
        .unwrap();
    assert_eq!(denied.request.status, RequestStatus::Denied);

    // Cancel: the requester only.
    let request = pending_request(&stack, &demo).await;
    for (role, who) in roles.all() {
        if role == "requester" {
            continue;
        }
        let canceled = reviews.cancel(who, &request, None).await;
        assert_eq!(
            refusal_of_review(canceled.unwrap_err()),
            Refusal::NotRequester,
            "{role} cancels"
        );
    }
    let canceled = reviews.cancel(&roles.requester, &request, None).await.unwrap();
    assert_eq!(canceled.request.status, RequestStatus::Canceled);
}

#[tokio::test]
async fn only_a_resources_admins_and_org_admins_change_its_access_by_hand_or_sync_it() {
    let stack = TestStack::start_without_stream().await;
    let (demo, roles) = world(&stack).await;
    let store = stack.stack.store.clone();
    let access = ResourceAccess::new(store.clone(), stack.stack.schedules.clone());
    let resource = ResourceId::parse(&demo.resource).unwrap();
    let josh = roles.requester.user_id.clone();
    let hour = DurationMinutes::new(60).ok();
    let page = PageRequest::default();

    for (role, who) in [
        ("reviewer", &roles.reviewer),
        ("requester", &roles.requester),
        ("stranger", &roles.stranger),
    ] {
        let users = access.users(who, &resource, &page).await;
        assert_eq!(
            refusal_of_access(users.unwrap_err()),
            Refusal::NotResourceAdmin,
            "{role}: Users tab"
        );
        let added = access.add(who, &resource, &josh, hour).await;
        assert_eq!(
            refusal_of_access(added.unwrap_err()),
            Refusal::NotResourceAdmin,
            "{role} adds"
        );
        let removed = access.remove(who, &resource, &josh).await;
        assert_eq!(
            refusal_of_access(removed.unwrap_err()),
            Refusal::NotResourceAdmin,
            "{role} removes"
        );
        let retried = access.retry_filing(who, &resource, &josh).await;
        assert_eq!(
            refusal_of_access(retried.unwrap_err()),
            Refusal::NotResourceAdmin,
            "{role} retries"
        );
        match request_sync(&store, &stack.stack.events, who, &resource).await {
            Err(SyncNowError::Resource(ResourceError::Refused(refusal))) => {
                assert_eq!(refusal, Refusal::NotResourceAdmin, "{role} syncs")
            }
            other => panic!("{role} syncs: {other:?}"),
        }
    }
    assert!(
        store.latest_grant(&resource, &josh).await.unwrap().is_none(),
        "nothing was granted by the refused"
    );
    assert!(
        stack.stack.published.lock().unwrap().is_empty(),
        "no sync was queued by the refused"
    );

    for (role, who) in [
        ("resource admin", &roles.resource_admin),
        ("org admin", &roles.org_admin),
    ] {
        // Nobody adds themself by hand.
        let own = access.add(who, &resource, &who.user_id, hour).await;
        assert_eq!(
            refusal_of_access(own.unwrap_err()),
            Refusal::GrantSelf,
            "{role} adds themself"
        );

        let added = access.add(who, &resource, &josh, hour).await.unwrap();
        assert_eq!(added.grant.status, GrantStatus::Active, "{role} adds");
        let tab = access.users(who, &resource, &page).await.unwrap();
        assert_eq!(tab.items.len(), 1, "{role} sees the Users tab");
        assert_eq!(tab.items[0].grant.id, added.grant.id);
        // Nothing failed to file, so there is nothing to retry.
        let retried = access.retry_filing(who, &resource, &josh).await;
        assert!(
            matches!(retried, Err(AccessError::Domain(_))),
            "{role} retries: {retried:?}"
        );
        let removed = access.remove(who, &resource, &josh).await.unwrap();
        assert_eq!(removed.grant.status, GrantStatus::Revoked, "{role} removes");
        assert_eq!(removed.change.propagation, PropagationStatus::NotRequired);
    }

    // Sync now: once per window, whoever asks.
    request_sync(&store, &stack.stack.events, &roles.resource_admin, &resource)
        .await
        .unwrap();
    match request_sync(&store, &stack.stack.events, &roles.org_admin, &resource).await {
        Err(SyncNowError::TooSoon { retry_after }) => assert!((1..=30).contains(&retry_after)),
        other => panic!("a second sync within the window: {other:?}"),
    }
    let queued = eventually("the sync request on the bus", || async {
        let published = stack.stack.published.lock().unwrap();
        (!published.is_empty()).then(|| published.clone())
    })
    .await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].detail_type, "SyncRequested");
    assert_eq!(queued[0].detail["resource_id"], demo.resource);
}
