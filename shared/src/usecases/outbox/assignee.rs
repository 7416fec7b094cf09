//! Who a propagation ticket is assigned to.
//!
//! `admin_rules`: an admin who changed access by hand gets the ticket; a change caused by a
//! request, expiry or a closed linked ticket goes to a random member of the resource's admin
//! group who may be assigned tickets in the target project (looked up by e-mail, cached for a
//! day; Jira: `user/assignable/search` in the project); if nobody
//! has one, or the admin has none, the ticket is unassigned. `unassigned`: never assigned.
//! Whatever the policy, the user whose access the change is about is never the assignee.
//!
//! A table or provider failure is the caller's to handle (the filer retries on one that may
//! pass and files unassigned on a provider's refusal); only writing the look-up cache is
//! best-effort.

use super::FilerError;
use crate::domain::{self, AccessChange, App, AssigneePolicy, ChangeCause, Email, Resource, TicketTarget};
use crate::providers::TicketProvider;
use crate::store::{ProviderAccount, Store};

/// How long a look-up is trusted.
const CACHE_HOURS: i64 = 24;
/// Most admins tried for one ticket.
const MAX_CANDIDATES: usize = 25;

/// The provider account to assign, if any.
pub async fn choose(
    store: &Store,
    client: &impl TicketProvider,
    target: &TicketTarget,
    change: &AccessChange,
    resource: &Resource,
    app: &App,
) -> Result<Option<String>, FilerError> {
    if target.assignee_policy == AssigneePolicy::Unassigned {
        return Ok(None);
    }
    // An admin who changes their own access by hand is treated like any other cause: the
    // ticket is never assigned to the person whose access it changes.
    if let ChangeCause::Manual { admin_id } = &change.cause {
        if admin_id != &change.user_id {
            return match store.user(admin_id).await? {
                Some(admin) => account(store, client, target, &admin.email).await,
                None => Ok(None),
            };
        }
    }
    let Some(group) = resource.effective_admin_group(app) else {
        return Ok(None);
    };
    let mut members = store.group_members(group).await?;
    members.retain(|member| member != &change.user_id);
    shuffle(&mut members);
    for member in members.into_iter().take(MAX_CANDIDATES) {
        let Some(user) = store.user(&member).await? else {
            continue;
        };
        if let Some(id) = account(store, client, target, &user.email).await? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

async fn account(
    store: &Store,
    client: &impl TicketProvider,
    target: &TicketTarget,
    email: &Email,
) -> Result<Option<String>, FilerError> {
    let now = domain::now();
    if let Some(cached) = store.provider_account(target.provider, &target.project, email).await? {
        if cached.cached_at > now - chrono::Duration::hours(CACHE_HOURS) {
            return Ok(cached.account_id);
        }
    }
    let found = client.find_user_by_email(email.as_str(), &target.project).await?;
    let entry = ProviderAccount {
        account_id: found.clone(),
        cached_at: now,
        ttl: (now + chrono::Duration::hours(CACHE_HOURS)).timestamp(),
    };
    if let Err(err) = store
        .cache_provider_account(target.provider, &target.project, email, &entry)
        .await
    {
        tracing::warn!(error = %err, "caching a provider account failed");
    }
    Ok(found)
}

/// Fisher-Yates with randomness from UUID v4 (already a dependency; no need for a RNG crate).
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (uuid::Uuid::new_v4().as_u128() % (i as u128 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::shuffle;

    #[test]
    fn shuffling_keeps_every_item_and_varies_the_order() {
        let mut orders = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let mut items: Vec<u32> = (0..5).collect();
            shuffle(&mut items);
            let mut sorted = items.clone();
            sorted.sort();
            assert_eq!(sorted, (0..5).collect::<Vec<_>>());
            orders.insert(items);
        }
        assert!(orders.len() > 5, "the first admin is not always the same");
    }
}
