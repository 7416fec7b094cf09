//! `grantdesk-local`: run the whole stack on this machine, or mint a dev token.
//!
//! ```text
//! grantdesk-local dev [--port 3000]
//! grantdesk-local token --email josh@example.com [--name Josh] [--ttl-minutes 60]
//! ```

use grantdesk_local::dev_token::DevTokenSecret;
use grantdesk_local::emulator::Emulator;
use grantdesk_local::sandbox::{self, Sandboxes};
use grantdesk_local::seed::{self, Demo};
use grantdesk_local::{LocalStack, StackOptions};
use std::process::ExitCode;

const USAGE: &str = "usage:
  grantdesk-local dev [--port PORT]
  grantdesk-local token --email EMAIL [--name NAME] [--ttl-minutes MINUTES]

environment:
  GRANTDESK_LOCAL_JWT_SECRET   secret dev tokens are signed with (required, 16+ characters)
  GRANTDESK_BOOTSTRAP_ADMINS   comma-separated e-mails of org admins (dev default: alice@example.com)
  AWS_ENDPOINT_URL             use an AWS emulator already running there instead of starting one
  GRANTDESK_TABLE              table name (default grantdesk-local)";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn secret() -> Result<DevTokenSecret, String> {
    let text = std::env::var("GRANTDESK_LOCAL_JWT_SECRET")
        .map_err(|_| "environment variable GRANTDESK_LOCAL_JWT_SECRET is required but not set".to_owned())?;
    DevTokenSecret::new(&text).map_err(|e| format!("GRANTDESK_LOCAL_JWT_SECRET: {e}"))
}

fn token(args: &[String]) -> Result<(), String> {
    let email = flag(args, "--email").ok_or("token needs --email")?;
    let name = flag(args, "--name").unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let ttl: i64 = match flag(args, "--ttl-minutes") {
        Some(text) => text.parse().map_err(|_| "--ttl-minutes must be a whole number")?,
        None => 60,
    };
    println!("{}", secret()?.mint(&email, &name, ttl * 60));
    Ok(())
}

/// `GRANTDESK_SYNC_INTERVAL_SECONDS`, default 120 (the template's `rate(2 minutes)`).
fn sync_interval() -> Result<std::time::Duration, String> {
    match std::env::var("GRANTDESK_SYNC_INTERVAL_SECONDS") {
        Ok(text) => text
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| "GRANTDESK_SYNC_INTERVAL_SECONDS must be a whole number of seconds above 0".to_owned()),
        Err(_) => Ok(std::time::Duration::from_secs(120)),
    }
}

async fn dev(args: &[String]) -> Result<(), String> {
    let port: u16 = match flag(args, "--port") {
        Some(text) => text.parse().map_err(|_| "--port must be a port number")?,
        None => 3000,
    };
    let secret = secret()?;
    // Keep the emulator handle alive for the whole session.
    let (endpoint, _emulator) = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let emulator = Emulator::start(0)?;
            (emulator.endpoint().to_owned(), Some(emulator))
        }
    };
    let bootstrap_admins = std::env::var("GRANTDESK_BOOTSTRAP_ADMINS").unwrap_or_else(|_| seed::ADMIN_EMAIL.into());
    let table = std::env::var("GRANTDESK_TABLE").unwrap_or_else(|_| "grantdesk-local".into());
    let sandboxes = Sandboxes::start().await?;
    let stack = LocalStack::start(StackOptions {
        endpoint: endpoint.clone(),
        table,
        port,
        bootstrap_admins,
        secret,
        poll_stream: true,
        sync_every: Some(sync_interval()?),
        slack_api_url: sandboxes.slack_api_url(),
    })
    .await?;
    let demo = seed::seed(&stack.store).await?;
    seed::seed_sandboxes(&sandboxes).await;
    print_walkthrough(&stack.api_url, &endpoint, &demo, &sandboxes);
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
    println!("stopping");
    Ok(())
}

fn print_walkthrough(api: &str, endpoint: &str, demo: &Demo, sandboxes: &Sandboxes) {
    let admin = &demo.admin.email;
    let reviewer = &demo.reviewer.email;
    let josh = &demo.josh.email;
    let resource = &demo.my_role;
    println!(
        r#"
grantdesk is running.
  API               {api}   (contract: {api}/openapi.json)
  AWS emulator      {endpoint}
  sandbox Jira      {jira}   (user {jira_email}, API token {jira_token}, project OPS)
  sandbox Linear    {linear}   (API key {linear_key}, team ENG)
  sandbox ServiceNow {servicenow}   (user {sn_user}, password {sn_password})
Seeded: org admin {admin}, reviewer {reviewer} (admin of "My Role"), requester {josh},
        app "AWS" {app}, resource "My Role" {resource} (at most 480 minutes).

Try it (in another terminal, from the project folder):

  ADMIN=$(make -s token EMAIL={admin}); RILEY=$(make -s token EMAIL={reviewer}); JOSH=$(make -s token EMAIL={josh})

  # Josh asks for an hour of My Role
  curl -s -X POST {api}/requests -H "Authorization: Bearer $JOSH" \
       -d '{{"resource_id":"{resource}","reason":"on-call","duration_minutes":60}}'
  # Riley sees it waiting and approves it (use the id from the answer above)
  curl -s "{api}/requests?review=pending" -H "Authorization: Bearer $RILEY"
  curl -s -X POST {api}/requests/REQUEST_ID/approve -H "Authorization: Bearer $RILEY" -d '{{}}'
  # Josh is on the Users tab with his expiry
  curl -s {api}/resources/{resource}/users -H "Authorization: Bearer $ADMIN"
  # ...and an admin removes him
  curl -s -X DELETE {api}/resources/{resource}/users/{josh_id} -H "Authorization: Bearer $ADMIN" -w '%{{http_code}}\n'

  # Connect the sandbox Jira, pick a ticket, and link it to a request
  curl -s -X PUT {api}/integrations/jira -H "Authorization: Bearer $ADMIN" \
       -d '{{"base_url":"{jira}","email":"{jira_email}","api_token":"{jira_token}","webhook_secret":"dev-jira-webhook-secret","project":"OPS"}}'
  curl -s "{api}/tickets/search?provider=jira&q=database" -H "Authorization: Bearer $JOSH"
  curl -s -X POST {api}/requests -H "Authorization: Bearer $JOSH" \
       -d '{{"resource_id":"{resource}","reason":"OPS-1","duration_minutes":60,"linked_ticket":{{"provider":"jira","key":"OPS-1"}}}}'

Refused on purpose: Josh approving his own request (403), 481 minutes (422), approving twice (409),
linking OPS-2, which is done (422).
Stop with Ctrl-C."#,
        app = demo.app,
        josh_id = demo.josh.id,
        jira = sandboxes.jira.url(),
        linear = sandboxes.linear.url(),
        servicenow = sandboxes.servicenow.url(),
        jira_email = sandbox::JIRA_EMAIL,
        jira_token = sandbox::JIRA_API_TOKEN,
        linear_key = sandbox::LINEAR_API_KEY,
        sn_user = sandbox::SERVICENOW_USERNAME,
        sn_password = sandbox::SERVICENOW_PASSWORD,
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => {
            lambda_http::tracing::init_default_subscriber();
            dev(&args[1..]).await
        }
        Some("token") => token(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
