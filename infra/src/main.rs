//! `grantdesk-local`: run the whole stack on this machine, or mint a dev token.
//!
//! ```text
//! grantdesk-local dev [--port 3000]
//! grantdesk-local token --email josh@example.com [--name Josh] [--ttl-minutes 60]
//! ```

use grantdesk_local::demo::{self, DemoSetup};
use grantdesk_local::dev_token::DevTokenSecret;
use grantdesk_local::emulator::{Emulator, Endpoints};
use grantdesk_local::sandbox::{self, Sandboxes};
use grantdesk_local::sandbox_page;
use grantdesk_local::seed;
use grantdesk_local::stack::ExternalOidc;
use grantdesk_local::{LocalStack, StackOptions};
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage:
  grantdesk-local dev [--port PORT] [--sandbox-port PORT] [--no-demo]
  grantdesk-local token --email EMAIL [--name NAME] [--ttl-minutes MINUTES]
  grantdesk-local bench [--out DIR] [--release-dir DIR]

environment:
  GRANTDESK_LOCAL_JWT_SECRET   secret dev tokens are signed with (required, 16+ characters)
  GRANTDESK_BOOTSTRAP_ADMINS   comma-separated e-mails of org admins (dev default: alice@example.com)
  AWS_ENDPOINT_URL_DYNAMODB    with AWS_ENDPOINT_URL: use emulators already running there instead of
  AWS_ENDPOINT_URL             starting DynamoDB Local (DynamoDB and its stream) and moto (the rest)
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
    let page_port: u16 = match flag(args, "--sandbox-port") {
        Some(text) => text.parse().map_err(|_| "--sandbox-port must be a port number")?,
        None => port.saturating_add(1),
    };
    let secret = secret()?;
    // Keep the emulator handle alive for the whole session.
    let (endpoints, _emulator) = match given_endpoints() {
        Some(endpoints) => (endpoints, None),
        None => {
            let emulator = Emulator::start()?;
            (emulator.endpoints().clone(), Some(emulator))
        }
    };
    let bootstrap_admins = std::env::var("GRANTDESK_BOOTSTRAP_ADMINS").unwrap_or_else(|_| seed::ADMIN_EMAIL.into());
    let table = std::env::var("GRANTDESK_TABLE").unwrap_or_else(|_| "grantdesk-local".into());
    let sandboxes = Arc::new(Sandboxes::start().await?);
    let stack = LocalStack::start(StackOptions {
        endpoints: endpoints.clone(),
        table,
        port,
        bootstrap_admins,
        secret: secret.clone(),
        poll_stream: true,
        sync_every: Some(sync_interval()?),
        oidc: external_oidc()?,
    })
    .await?;
    let setup = if no_demo(args) {
        None
    } else {
        Some(demo::set_up(&stack, &sandboxes, &secret).await?)
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", page_port))
        .await
        .map_err(|e| format!("listening on 127.0.0.1:{page_port}: {e}"))?;
    let page = format!("http://127.0.0.1:{page_port}");
    tokio::spawn(sandbox_page::serve(listener, sandboxes.clone()));
    match &setup {
        Some(setup) => print_walkthrough(&stack.api_url, &endpoints, &page, setup, &sandboxes),
        None => println!(
            "grantdesk is running at {} (DynamoDB Local {}, AWS emulator {}, sandbox page {page}); no demo data.",
            stack.api_url, endpoints.dynamodb, endpoints.aws
        ),
    }
    tokio::select! {
        stopped = tokio::signal::ctrl_c() => {
            stopped.map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
            println!("stopping");
            Ok(())
        }
        failure = stack.failure() => Err(format!("the local stack stopped: {failure}")),
    }
}

async fn bench(args: &[String]) -> Result<(), String> {
    let out = std::path::PathBuf::from(flag(args, "--out").unwrap_or_else(|| ".".into()));
    let release = std::path::PathBuf::from(flag(args, "--release-dir").unwrap_or_else(|| "target/release".into()));
    let emulator = Emulator::start()?;
    let figures = grantdesk_local::bench::run(&out, &emulator, &release).await?;
    for f in &figures {
        println!(
            "{:<45} {:<60} {:>10.2} {:<8} target {:<30} {}",
            f.measure,
            f.subject,
            f.value,
            f.unit,
            f.target,
            if f.met { "ok" } else { "MISSED" }
        );
    }
    println!("wrote {}/BENCHMARKS.md and benchmarks.json", out.display());
    Ok(())
}

/// Emulators the person runs already: `AWS_ENDPOINT_URL_DYNAMODB` (DynamoDB and its stream) and
/// `AWS_ENDPOINT_URL` (everything else), both set.
fn given_endpoints() -> Option<Endpoints> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Endpoints {
        dynamodb: var("AWS_ENDPOINT_URL_DYNAMODB")?,
        aws: var("AWS_ENDPOINT_URL")?,
    })
}

/// `GRANTDESK_OIDC_ISSUER`, `GRANTDESK_OIDC_CLIENT_ID` and `GRANTDESK_OIDC_CLIENT_SECRET`: sign
/// in with that provider instead of the sandbox one (all three, or none).
fn external_oidc() -> Result<Option<ExternalOidc>, String> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (
        var("GRANTDESK_OIDC_ISSUER"),
        var("GRANTDESK_OIDC_CLIENT_ID"),
        var("GRANTDESK_OIDC_CLIENT_SECRET"),
    ) {
        (None, None, None) => Ok(None),
        (Some(issuer), Some(client_id), Some(client_secret)) => Ok(Some(ExternalOidc {
            issuer,
            client_id,
            client_secret,
        })),
        _ => Err("GRANTDESK_OIDC_ISSUER, GRANTDESK_OIDC_CLIENT_ID and GRANTDESK_OIDC_CLIENT_SECRET go together: set all three or none".into()),
    }
}

fn no_demo(args: &[String]) -> bool {
    args.iter().any(|a| a == "--no-demo")
}

fn print_walkthrough(api: &str, endpoints: &Endpoints, page: &str, setup: &DemoSetup, sandboxes: &Sandboxes) {
    let demo = &setup.demo;
    println!(
        r#"
open {api}/console/ in a browser: grantdesk is running.
  Sign in at the sandbox identity provider as Josh to ask for access, as Riley Reviewer to review
  it and watch My Role's Users tab, as Alice Admin for Inventory, Settings and Integrations. A
  second browser profile (or a private window) keeps two people signed in side by side.

  API                 {api}   (contract: {api}/openapi.json; webhooks at {api}/webhooks/...)
  OpenID provider     {api}/oidc   (sandbox; its access tokens work for the API too)
  sandbox tickets     {page}   (move a ticket to done: the provider's signed webhook follows;
                                 the sandbox Slack's messages, where Riley can Approve or Deny)
  DynamoDB Local      {dynamodb}
  AWS emulator        {aws}   (EventBridge, Scheduler, Secrets Manager)
  sandbox Jira        {jira}   (user {jira_email}, API token {jira_token}, project OPS)
  sandbox Linear      {linear}   (API key {linear_key}, team ENG)
  sandbox ServiceNow  {servicenow}   (user {sn_user}, password {sn_password})

The demo: org admin {admin}; Riley ({reviewer}) administers and reviews "My Role", which files a Jira
ticket when someone is added or removed; "Prod DB" requires a linked Linear ticket; every request
files an audit ticket in ServiceNow; reviewers hear about requests in the sandbox Slack.
Josh ({josh}) has just asked for an hour of "My Role": request {request}.

The same over the JSON API (in another terminal, from the project folder):

  ADMIN=$(make -s token EMAIL={admin}); RILEY=$(make -s token EMAIL={reviewer}); JOSH=$(make -s token EMAIL={josh})

  curl -s "{api}/requests?review=pending" -H "Authorization: Bearer $RILEY"          # Riley's queue (and the Slack message on {page})
  curl -s -X POST {api}/requests/{request}/approve -H "Authorization: Bearer $RILEY"    # files OPS-3 in Jira, assigned to Riley or Alice
  curl -s {api}/resources/{my_role}/users -H "Authorization: Bearer $RILEY"            # Josh: active, expiry, pending_manual_propagation, OPS-3
  # On {page}, move OPS-3 to done: Josh's line turns "completed" within a second.
  curl -s {api}/requests/{request} -H "Authorization: Bearer $JOSH"                     # grant and the ServiceNow audit ticket

  # A request that must link a ticket: pick one, then link it
  curl -s "{api}/tickets/search?provider=linear&q=ENG-1" -H "Authorization: Bearer $JOSH"
  curl -s -X POST {api}/requests -H "Authorization: Bearer $JOSH"        -d '{{"resource_id":"{prod_db}","reason":"ENG-1","duration_minutes":120,"linked_ticket":{{"provider":"linear","key":"ENG-1"}}}}'
  # After approval, moving ENG-1 to done on {page} revokes that access.

  curl -s -X DELETE {api}/resources/{my_role}/users/{josh_id} -H "Authorization: Bearer $ADMIN" -w '%{{http_code}}
'   # files a removal ticket
  curl -s -X POST {api}/resources/{my_role}/sync -H "Authorization: Bearer $RILEY"     # "sync now"

Refused on purpose: Josh approving his own request (403), 481 minutes on My Role (422), approving
twice (409), Prod DB without a linked ticket (422), linking OPS-2, which is done (422).
Stop with Ctrl-C."#,
        dynamodb = endpoints.dynamodb,
        aws = endpoints.aws,
        admin = demo.admin.email,
        reviewer = demo.reviewer.email,
        josh = demo.josh.email,
        josh_id = demo.josh.id,
        my_role = demo.my_role,
        prod_db = setup.prod_db,
        request = setup.josh_request,
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
        Some("bench") => bench(&args[1..]).await,
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
