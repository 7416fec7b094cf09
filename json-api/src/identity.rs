//! Who is calling: the JWT claims API Gateway verified (or the local runner, for dev tokens),
//! resolved to a directory user.

use crate::error::{ApiError, ApiResult};
use crate::Api;
use grantdesk::domain::{self, Email, GroupId, IdentityBinding, User, UserId};
use grantdesk::store::keys::{self, Keys};
use grantdesk::store::{Member, StoreError};
use lambda_http::http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::BTreeSet;

/// The caller, resolved against the directory.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The directory user.
    pub user: User,
    /// Org admin, by the directory or by `GRANTDESK_BOOTSTRAP_ADMINS`.
    pub is_admin: bool,
    /// The groups the user belongs to, read with the user.
    pub groups: BTreeSet<GroupId>,
}

impl Caller {
    /// The caller's id.
    pub fn id(&self) -> &UserId {
        &self.user.id
    }

    /// The caller as the use cases see them.
    pub fn principal(&self) -> grantdesk::usecases::authorization::Principal {
        grantdesk::usecases::authorization::Principal {
            user_id: self.user.id.clone(),
            org_admin: self.is_admin,
            via: None,
            groups: Some(self.groups.clone()),
        }
    }

    /// The caller with every group they are in, for the rules in
    /// [`grantdesk::usecases::authorization`] (no look-up: the groups came with the user).
    pub fn actor(&self) -> grantdesk::usecases::authorization::Actor {
        grantdesk::usecases::authorization::Actor {
            principal: self.principal(),
            groups: self.groups.clone(),
        }
    }
}

/// What the request's verified JWT says about the caller.
struct Claims {
    email: Email,
    name: Option<String>,
    account: IdentityBinding,
}

/// The verified claims of the request's JWT. A token whose `email_verified` is false (boolean
/// or string, as API Gateway passes claims) is refused.
fn claims(req: &Request) -> ApiResult<Claims> {
    let Some(RequestContext::ApiGatewayV2(context)) = req.request_context_ref() else {
        return Err(ApiError::unauthorized("no verified identity on the request"));
    };
    let jwt = context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .ok_or_else(|| ApiError::unauthorized("no verified identity on the request"))?;
    let claim = |name: &str| jwt.claims.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    if claim("email_verified").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "email_not_verified",
            "the identity provider has not verified this token's e-mail address",
        ));
    }
    let email = claim("email").ok_or_else(|| ApiError::unauthorized("the token has no email claim"))?;
    let email =
        Email::parse(email).map_err(|_| ApiError::unauthorized("the token's email claim is not an e-mail address"))?;
    let subject = claim("sub").ok_or_else(|| ApiError::unauthorized("the token has no sub claim"))?;
    Ok(Claims {
        name: claim("name").map(str::to_owned),
        account: IdentityBinding {
            issuer: claim("iss").unwrap_or_default().to_owned(),
            subject: subject.to_owned(),
        },
        email,
    })
}

fn identity_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "identity_mismatch",
        "this e-mail address belongs to another identity-provider account; an org admin can clear the binding",
    )
}

impl Api {
    /// Resolves the caller: the directory user with the token's e-mail, bound to the token's
    /// `iss` and `sub` by the first token accepted for it. A valid token for an unknown e-mail
    /// creates a non-admin user, bound to that token.
    ///
    /// The user's item (with their groups) is read in one `BatchGetItem` with the records the
    /// route names in `wanted`; the answer is the API over a store holding those reads.
    pub(crate) async fn caller(
        &self,
        req: &Request,
        wanted: &(dyn Fn(&UserId) -> Vec<Keys> + Sync),
    ) -> ApiResult<(Caller, Api)> {
        let Claims { email, name, account } = claims(req)?;
        // Two attempts: a concurrent first call may create or bind the user between our read
        // and our write; the second read sees what it wrote.
        for _ in 0..2 {
            let (found, api) = match self.store.user_id_by_email(&email).await? {
                Some(id) => {
                    let mut reads = vec![keys::user_key(&id)];
                    reads.extend(wanted(&id));
                    let api = self.over(self.store.prefetch(&reads).await?);
                    let found = api.store.member(&id).await?;
                    if found.is_none() {
                        // The id this process remembered names nobody: ask the claim again.
                        self.store.facts().forget_user(&email);
                        continue;
                    }
                    (found, api)
                }
                None => (None, self.clone()),
            };
            let (user, groups) = match found {
                Some(Member { user: record, groups }) => match &record.value.identity {
                    Some(bound) if *bound == account => (record.value, groups),
                    Some(_) => return Err(identity_mismatch()),
                    None => {
                        let mut user = record.value.clone();
                        user.identity = Some(account.clone());
                        match api.store.replace_user(&record, &user).await {
                            Ok(()) => (user, groups),
                            Err(StoreError::Conflict(_)) => continue,
                            Err(err) => return Err(err.into()),
                        }
                    }
                },
                None => {
                    let fallback = email.as_str().split('@').next().unwrap_or_default().to_owned();
                    let name = domain::directory::parse_name("name", name.as_deref().unwrap_or(&fallback))
                        .unwrap_or_else(|_| email.to_string());
                    let user = User {
                        id: UserId::generate(),
                        email: email.clone(),
                        name,
                        is_admin: false,
                        created_at: domain::now(),
                        identity: Some(account.clone()),
                    };
                    match api.store.create_user(&user).await {
                        Ok(()) => (user, BTreeSet::new()),
                        Err(StoreError::Conflict(_)) => continue,
                        Err(err) => return Err(err.into()),
                    }
                }
            };
            let is_admin = grantdesk::usecases::authorization::org_admin(&user, &self.config.bootstrap_admins);
            return Ok((Caller { user, is_admin, groups }, api));
        }
        Err(ApiError::conflict("conflict", "the user is being created; retry"))
    }

    /// Refuses anyone but an org admin.
    pub(crate) fn require_admin(caller: &Caller) -> ApiResult<()> {
        Ok(grantdesk::usecases::authorization::administer_org(&caller.actor())?)
    }
}
