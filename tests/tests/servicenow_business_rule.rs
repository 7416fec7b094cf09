//! The shipped ServiceNow Business Rule, run under Node.js with ServiceNow's APIs stood in for:
//! what it sends verifies with grantdesk's own webhook check, non-ASCII text included, and it
//! never waits for the answer.

use grantdesk::domain::TicketProviderKind;
use lambda_http::http::HeaderMap;
use serde_json::Value;

/// ServiceNow's objects as far as the rule uses them. `generateMac` signs the data as Java
/// would with a Latin-1 default charset: only ASCII data is signed the same in every charset.
const STUBS: &str = r#"
const crypto = require('crypto');
var sent = {headers: {}, waited: false};
var gs = { getProperty: function (n) { return {'x_grantdesk.webhook_url': 'https://grantdesk.example/webhooks/servicenow', 'x_grantdesk.webhook_secret': 's3cret'}[n]; },
           error: function (m) { throw new Error(m); }, warn: function () {} };
function GlideDateTime() {} GlideDateTime.prototype.getNumericValue = function () { return Date.now(); };
var GlideStringUtil = { base64Encode: function (s) { return Buffer.from(s, 'utf8').toString('base64'); } };
function GlideCertificateEncryption() {}
GlideCertificateEncryption.prototype.generateMac = function (key, alg, data) {
  return crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(Buffer.from(data, 'latin1')).digest('base64');
};
var sn_ws = { RESTMessageV2: function () {
  this.setEndpoint = function (u) { sent.url = u; }; this.setHttpMethod = function (m) { sent.method = m; };
  this.setRequestHeader = function (k, v) { sent.headers[k] = v; }; this.setRequestBody = function (b) { sent.body = b; };
  this.setHttpTimeout = function () {};
  this.executeAsync = function () { return { waitForResponse: function () { sent.waited = true; }, getStatusCode: function () { return 200; } }; };
} };
var values = {sys_id: 'abc123', number: 'INC0010002', state: '6', correlation_id: 'grantdesk-req_1',
  short_description: 'Zugriff für Jösé auf „Prod DB“ 🚀', sys_updated_on: '2026-12-01 10:00:00'};
var current = { getValue: function (n) { return values[n]; }, getTableName: function () { return 'incident'; } };
var previous = {};
"#;

#[test]
fn the_business_rule_signs_exactly_the_bytes_it_sends_and_does_not_wait() {
    let rule = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/servicenow/grantdesk_webhook_business_rule.js"),
    )
    .unwrap();
    let script = format!("{STUBS}\n{rule}\nconsole.log(JSON.stringify(sent));");
    let output = std::process::Command::new("node")
        .args(["-e", &script])
        .output()
        .expect("Node.js runs the rule (it is needed for DynamoDB Local already)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sent["waited"], false, "the rule never holds up the agent's save");
    assert_eq!(sent["headers"]["Content-Type"], "application/json; charset=utf-8");
    let body = sent["body"].as_str().unwrap();
    assert!(body.is_ascii(), "{body}");
    let record: Value = serde_json::from_str(body).unwrap();
    assert_eq!(record["short_description"], "Zugriff für Jösé auf „Prod DB“ 🚀");

    let mut headers = HeaderMap::new();
    for name in ["X-Grantdesk-Timestamp", "X-Grantdesk-Signature"] {
        headers.insert(name, sent["headers"][name].as_str().unwrap().parse().unwrap());
    }
    let verified = grantdesk_webhook_intake::verify(
        TicketProviderKind::Servicenow,
        &headers,
        body.as_bytes(),
        "s3cret",
        chrono::Utc::now().timestamp_millis(),
    )
    .expect("grantdesk accepts what the rule sends");
    assert_eq!(verified.remote_id.as_deref(), Some("incident:abc123"));
}
