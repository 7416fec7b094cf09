//! Every refusal the console shows, in one place: what the API answered when it refused, the
//! console's own failures, and the status each page is served with.

use grantdesk::store::StoreError;
use lambda_http::http::StatusCode;
use serde_json::Value;

/// Why a page could not be served as asked.
#[derive(Clone, Debug)]
pub(crate) struct Refused {
    /// The API's status (or the console's own, for its failures).
    pub status: StatusCode,
    /// The API's error code.
    pub code: String,
    /// What to tell the person.
    pub message: String,
}

impl Refused {
    /// The API's error answer `body`, sent with `status`.
    pub fn from_api(status: StatusCode, body: &Value) -> Self {
        Self {
            status,
            code: body["error"]["code"].as_str().unwrap_or("error").to_owned(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("the request failed")
                .to_owned(),
        }
    }

    /// Nothing by that name.
    pub fn not_found(message: String) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found".into(),
            message,
        }
    }

    /// The console could not build its call to the API.
    pub fn unbuilt(message: &str) -> Self {
        tracing::error!(%message, "building an API request");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".into(),
            message: "the console could not build its call".into(),
        }
    }

    /// The API answered a shape the console does not read.
    pub fn unreadable(err: &serde_json::Error) -> Self {
        tracing::error!(error = %err, "the API answered a shape the console does not read");
        Self {
            status: StatusCode::BAD_GATEWAY,
            code: "unreadable".into(),
            message: "the console could not read the API's answer".into(),
        }
    }

    /// A read of the console's own (the pickers) failed.
    pub fn store(err: StoreError) -> Self {
        tracing::error!(error = %err, "a console read failed");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable".into(),
            message: "grantdesk could not read its data; try again".into(),
        }
    }

    /// The status of the page that says so: 401, 403 and 404 keep theirs, a failure is 502
    /// (the console's call failed), any other refusal 422.
    pub fn page_status(&self) -> StatusCode {
        match self.status {
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED => self.status,
            status if status.is_server_error() => StatusCode::BAD_GATEWAY,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// What the page says.
    pub fn page_message(self) -> String {
        match self.status {
            StatusCode::FORBIDDEN => format!("You may not see this page: {}.", self.message),
            _ => self.message,
        }
    }
}
