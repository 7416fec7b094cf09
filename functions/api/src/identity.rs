//! Who is calling: the JWT claims API Gateway verified (or the local runner, for dev tokens),
//! resolved to a directory user.

use crate::error::{ApiError, ApiResult};
use crate::Api;
use grantdesk::domain::{self, Email, GroupId, User, UserId};
use grantdesk::store::StoreError;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// The caller, resolved against the directory.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The directory user.
    pub user: User,
    /// Org admin, by the directory or by `GRANTDESK_BOOTSTRAP_ADMINS`.
    pub is_admin: bool,
}

impl Caller {
    /// The caller's id.
    pub fn id(&self) -> &UserId {
        &self.user.id
    }
}

/// The verified claims of the request's JWT: `(email, name)`.
fn claims(req: &Request) -> ApiResult<(Email, Option<String>)> {
    let Some(RequestContext::ApiGatewayV2(context)) = req.request_context_ref() else {
        return Err(ApiError::unauthorized("no verified identity on the request"));
    };
    let jwt = context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .ok_or_else(|| ApiError::unauthorized("no verified identity on the request"))?;
    let email = jwt
        .claims
        .get("email")
        .ok_or_else(|| ApiError::unauthorized("the token has no email claim"))?;
    let email =
        Email::parse(email).map_err(|_| ApiError::unauthorized("the token's email claim is not an e-mail address"))?;
    let name = jwt
        .claims
        .get("name")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    Ok((email, name))
}

impl Api {
    /// Resolves the caller; a valid token for an unknown e-mail creates a non-admin user.
    pub(crate) async fn caller(&self, req: &Request) -> ApiResult<Caller> {
        let (email, name) = claims(req)?;
        let user = match self.store.user_by_email(&email).await? {
            Some(user) => user,
            None => {
                let name = name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_owned());
                let name = domain::directory::parse_name("name", &name).unwrap_or_else(|_| email.to_string());
                let user = User {
                    id: UserId::generate(),
                    email: email.clone(),
                    name,
                    is_admin: false,
                    created_at: domain::now(),
                };
                match self.store.create_user(&user).await {
                    Ok(()) => user,
                    // Two first calls at once: the other one created the user.
                    Err(StoreError::Conflict(_)) => self
                        .store
                        .user_by_email(&email)
                        .await?
                        .ok_or_else(|| ApiError::conflict("conflict", "the user is being created; retry"))?,
                    Err(err) => return Err(err.into()),
                }
            }
        };
        let is_admin = user.is_admin || self.config.bootstrap_admins.contains(&user.email);
        Ok(Caller { user, is_admin })
    }

    /// Refuses anyone but an org admin.
    pub(crate) fn require_admin(caller: &Caller) -> ApiResult<()> {
        if caller.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only org admins may do this"))
        }
    }

    /// Whether the caller is an org admin or a member of `group`.
    pub(crate) async fn admin_or_member(&self, caller: &Caller, group: Option<&GroupId>) -> ApiResult<bool> {
        if caller.is_admin {
            return Ok(true);
        }
        match group {
            Some(group) => Ok(self.store.is_member(group, caller.id()).await?),
            None => Ok(false),
        }
    }
}
