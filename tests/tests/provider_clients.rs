//! Every provider client operation against the sandbox servers, over real HTTP: idempotent
//! creates (also when the create's answer is lost), batch reads, rate limits, retries, wrong
//! credentials, closing, comments, user lookup and the ticket picker.

use grantdesk::domain::TicketState;
use grantdesk::providers::{
    AnyProvider, Credentials, HttpPolicy, NewTicket, ProviderErrorKind, ProviderHttp, StateOverrides, TicketProvider,
};
use grantdesk_local::sandbox::{
    Fault, FaultMatch, Sandboxes, JIRA_API_TOKEN, JIRA_EMAIL, LINEAR_API_KEY, SERVICENOW_PASSWORD, SERVICENOW_USERNAME,
};
use secrecy::SecretString;
use std::time::Duration;

fn http() -> ProviderHttp {
    ProviderHttp::new(HttpPolicy {
        timeout: Duration::from_secs(5),
        max_attempts: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        call_budget: Duration::from_secs(30),
    })
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn jira(sandboxes: &Sandboxes, token: &str) -> AnyProvider {
    let credentials = Credentials::Jira {
        email: JIRA_EMAIL.into(),
        api_token: secret(token),
    };
    AnyProvider::new(http(), sandboxes.jira.url(), credentials, StateOverrides::new())
}

fn linear(sandboxes: &Sandboxes, key: &str) -> AnyProvider {
    AnyProvider::new(
        http(),
        sandboxes.linear.url(),
        Credentials::Linear { api_key: secret(key) },
        StateOverrides::new(),
    )
}

fn servicenow(sandboxes: &Sandboxes, password: &str) -> AnyProvider {
    let credentials = Credentials::Servicenow {
        username: SERVICENOW_USERNAME.into(),
        password: secret(password),
    };
    AnyProvider::new(http(), sandboxes.servicenow.url(), credentials, StateOverrides::new())
}

fn ticket(key: &str, project: &str) -> NewTicket {
    NewTicket {
        idempotency_key: key.into(),
        project: project.into(),
        title: "Add Josh to My Role".into(),
        description: "Add Josh (josh@example.com) to My Role.\n\nUntil 2026-11-23T10:00:00Z.".into(),
        assignee: None,
        issue_type: None,
    }
}

fn count(requests: &[grantdesk_local::sandbox::SandboxRequest], method: &str, path_part: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == method && (r.path.contains(path_part) || r.body_text().contains(path_part)))
        .count()
}

#[tokio::test]
async fn jira_files_one_issue_per_change_with_an_adf_description_and_a_change_label() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let client = jira(&sandboxes, JIRA_API_TOKEN);
    let first = client.create_ticket(&ticket("chg_1", "OPS")).await.unwrap();
    assert_eq!(first.key, "OPS-1");
    let sent: Vec<String> = sandboxes
        .jira
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(sent, ["POST /rest/api/3/issue"], "one call, no search first");
    // Once Jira's search has caught up, the issue is found under its key (what the filer's
    // lease asks after a create whose outcome it does not know).
    assert!(client.search_lags());
    let lag = sandboxes.jira.with(|j, _| (j.search_lag, vec![])).await;
    tokio::time::sleep(lag).await;
    let again = client
        .find_filed("OPS", "chg_1")
        .await
        .unwrap()
        .expect("found once indexed");
    assert_eq!(again.key, first.key);
    assert_eq!(first.url, format!("{}/browse/OPS-1", sandboxes.jira.url()));
    let issues = sandboxes.jira.with(|jira, _| (jira.issues.clone(), vec![])).await;
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].description["type"], "doc");
    assert_eq!(issues[0].description["content"].as_array().unwrap().len(), 2);
    assert!(issues[0].labels.contains(&"grantdesk-chg_1".to_owned()));
}

#[tokio::test]
async fn a_lost_create_response_still_yields_exactly_one_ticket_in_every_provider() {
    let sandboxes = Sandboxes::start().await.unwrap();
    sandboxes
        .jira
        .inject(FaultMatch::on("POST", "/rest/api/3/issue"), Fault::LoseResponse);
    let client = jira(&sandboxes, JIRA_API_TOKEN);
    let lost = client.create_ticket(&ticket("chg_lost", "OPS")).await.unwrap_err();
    assert_eq!(lost.kind, ProviderErrorKind::Unavailable, "{lost}");
    assert_eq!(sandboxes.jira.with(|j, _| (j.issues.len(), vec![])).await, 1);
    // Jira's search lags the create: the issue is not found at once, which is why the filer
    // waits and searches again before it would create a second one (tests/ticket_filing.rs).
    assert_eq!(client.find_filed("OPS", "chg_lost").await.unwrap(), None);
    let lag = sandboxes.jira.with(|j, _| (j.search_lag, vec![])).await;
    tokio::time::sleep(lag).await;
    let found = client
        .find_filed("OPS", "chg_lost")
        .await
        .unwrap()
        .expect("found once indexed");
    assert_eq!(found.key, "OPS-1");

    sandboxes
        .linear
        .inject(FaultMatch::on("POST", "mutation IssueCreate"), Fault::LoseResponse);
    let created = linear(&sandboxes, LINEAR_API_KEY)
        .create_ticket(&ticket("chg_lost", "ENG"))
        .await
        .unwrap();
    assert_eq!(created.key, "ENG-1");
    let again = linear(&sandboxes, LINEAR_API_KEY)
        .create_ticket(&ticket("chg_lost", "ENG"))
        .await
        .unwrap();
    assert_eq!(
        again.remote_id, created.remote_id,
        "the client-chosen id makes the retry find the first issue"
    );
    assert_eq!(sandboxes.linear.with(|l, _| (l.issues.len(), vec![])).await, 1);

    sandboxes
        .servicenow
        .inject(FaultMatch::on("POST", "/api/now/table/incident"), Fault::LoseResponse);
    let client = servicenow(&sandboxes, SERVICENOW_PASSWORD);
    let created = client.create_ticket(&ticket("chg_lost", "incident")).await.unwrap();
    assert!(
        created.key.starts_with("INC"),
        "the consistent query right after the loss finds it"
    );
    assert!(!client.search_lags());
    let again = client.find_filed("incident", "chg_lost").await.unwrap().expect("found");
    assert_eq!(again.remote_id, created.remote_id);
    let incidents = sandboxes
        .servicenow
        .with(|s, _| (s.tables["incident"].clone(), vec![]))
        .await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["correlation_id"], "chg_lost");
}

#[tokio::test]
async fn jira_reads_250_issues_in_3_calls_and_leaves_out_missing_ones() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let ids: Vec<String> = sandboxes
        .jira
        .with(|j, _| {
            for i in 0..250 {
                j.add_issue("OPS", &format!("issue {i}"));
            }
            (j.issues.iter().map(|i| i.id.clone()).collect(), vec![])
        })
        .await;
    sandboxes.jira.clear_requests();
    let mut wanted = ids.clone();
    wanted.push("999999".into());
    let read = jira(&sandboxes, JIRA_API_TOKEN).read_tickets(&wanted).await.unwrap();
    assert_eq!(read.len(), 250);
    assert!(read.iter().all(|t| t.state == TicketState::Open));
    assert_eq!(
        count(&sandboxes.jira.requests(), "POST", "/issue/bulkfetch"),
        3,
        "one bulkfetch per 100"
    );
}

#[tokio::test]
async fn jira_honours_retry_after_and_retries_server_errors_within_bounds() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let key = sandboxes
        .jira
        .with(|j, _| (j.add_issue("OPS", "rate limited"), vec![]))
        .await;
    let client = jira(&sandboxes, JIRA_API_TOKEN);
    let id = client.find_ticket(&key).await.unwrap().unwrap().remote_id;
    sandboxes.jira.clear_requests();

    sandboxes.jira.inject(
        FaultMatch::on("POST", "bulkfetch"),
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
    );
    sandboxes.jira.inject(
        FaultMatch::on("POST", "bulkfetch"),
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    );
    let read = client.read_tickets(std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(
        count(&sandboxes.jira.requests(), "POST", "bulkfetch"),
        3,
        "429, then 500, then success"
    );

    for _ in 0..4 {
        sandboxes.jira.inject(
            FaultMatch::on("POST", "bulkfetch"),
            Fault::Status {
                status: 503,
                retry_after: None,
            },
        );
    }
    let err = client.read_tickets(&[id]).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable);
    assert_eq!(err.status, Some(503));
    assert!(err.to_string().contains("reading 1 Jira issues in jira: 503"), "{err}");

    sandboxes.jira.inject(
        FaultMatch::any(),
        Fault::Status {
            status: 429,
            retry_after: Some(3600),
        },
    );
    let err = client.find_ticket(&key).await.unwrap_err();
    assert_eq!(
        err.kind,
        ProviderErrorKind::RateLimited,
        "a Retry-After beyond the bound is not waited out"
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_without_leaking_them() {
    let sandboxes = Sandboxes::start().await.unwrap();
    for (client, leaked) in [
        (jira(&sandboxes, "wrong-jira-token"), "wrong-jira-token"),
        (linear(&sandboxes, "lin_api_wrong"), "lin_api_wrong"),
        (linear(&sandboxes, &format!("Bearer {LINEAR_API_KEY}")), LINEAR_API_KEY),
        (servicenow(&sandboxes, "wrong-password"), "wrong-password"),
    ] {
        let err = client.check_connection(None).await.unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::Unauthorized, "{err}");
        assert!(!err.to_string().contains(leaked));
        assert!(!format!("{client:?}").contains(leaked), "Debug output hides the secret");
    }
    assert!(jira(&sandboxes, JIRA_API_TOKEN)
        .check_connection(Some("OPS"))
        .await
        .is_ok());
    let missing = jira(&sandboxes, JIRA_API_TOKEN)
        .check_connection(Some("NOPE"))
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ProviderErrorKind::NotFound);
    assert!(linear(&sandboxes, LINEAR_API_KEY)
        .check_connection(Some("ENG"))
        .await
        .is_ok());
    assert_eq!(
        linear(&sandboxes, LINEAR_API_KEY)
            .check_connection(Some("OPS"))
            .await
            .unwrap_err()
            .kind,
        ProviderErrorKind::NotFound
    );
    assert!(servicenow(&sandboxes, SERVICENOW_PASSWORD)
        .check_connection(Some("sc_task"))
        .await
        .is_ok());
}

#[tokio::test]
async fn jira_closes_through_a_done_transition_comments_in_adf_and_maps_overrides() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let client = jira(&sandboxes, JIRA_API_TOKEN);
    let created = client.create_ticket(&ticket("chg_close", "OPS")).await.unwrap();
    client.comment(created.handle(), "Approved by Riley.").await.unwrap();
    client.close(created.handle(), "Access expired.").await.unwrap();
    let issue = sandboxes.jira.with(|j, _| (j.issues[0].clone(), vec![])).await;
    assert_eq!(issue.status.category, "done");
    assert_eq!(issue.comments.len(), 2);
    assert_eq!(
        issue.comments[0]["content"][0]["content"][0]["text"],
        "Approved by Riley."
    );
    let read = client
        .read_tickets(std::slice::from_ref(&created.remote_id))
        .await
        .unwrap();
    assert_eq!(read[0].state, TicketState::Done);
    client.close(created.handle(), "again").await.unwrap();
    assert_eq!(
        sandboxes.jira.with(|j, _| (j.issues[0].comments.len(), vec![])).await,
        2,
        "closing a closed issue does nothing"
    );

    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::Canceled, s))
        .await;
    let overrides = StateOverrides::from([("Won't Do".to_owned(), TicketState::Canceled)]);
    let credentials = Credentials::Jira {
        email: JIRA_EMAIL.into(),
        api_token: secret(JIRA_API_TOKEN),
    };
    let with_overrides = AnyProvider::new(http(), sandboxes.jira.url(), credentials, overrides);
    assert_eq!(
        with_overrides.find_ticket("OPS-1").await.unwrap().unwrap().state,
        TicketState::Canceled
    );
}

#[tokio::test]
async fn jira_finds_users_and_open_tickets() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let riley = sandboxes
        .jira
        .with(|j, _| {
            let riley = j.add_user("riley@example.com", "Riley", false);
            j.add_user("hidden@example.com", "Hidden", true);
            j.add_issue("OPS", "Database access for Josh");
            j.add_issue("OPS", "Unrelated");
            let done = j.add_issue("OPS", "Database migration");
            j.set_state(&done, TicketState::Done, None);
            (riley, vec![])
        })
        .await;
    let client = jira(&sandboxes, JIRA_API_TOKEN);
    assert_eq!(
        client.find_user_by_email("Riley@Example.com", "OPS").await.unwrap(),
        Some(riley.clone())
    );
    let hidden = sandboxes
        .jira
        .with(|j, _| (j.users[1].account_id.clone(), vec![]))
        .await;
    assert_eq!(
        client.find_user_by_email("hidden@example.com", "OPS").await.unwrap(),
        Some(hidden),
        "a hidden e-mail still finds the one assignable person it belongs to"
    );
    assert_eq!(
        client.find_user_by_email("nobody@example.com", "OPS").await.unwrap(),
        None
    );
    sandboxes
        .jira
        .with(|j, _| {
            j.users[0].not_assignable_in.push("OPS".into());
            ((), vec![])
        })
        .await;
    assert_eq!(
        client.find_user_by_email("riley@example.com", "OPS").await.unwrap(),
        None,
        "only people who may be assigned in the project"
    );
    // Jira refuses an assignee who may not be assigned: the ticket is filed unassigned, and says so.
    let mut refused = ticket("chg_refused", "OPS");
    refused.assignee = Some(riley);
    let filed = client.create_ticket(&refused).await.unwrap();
    assert!(filed.assignee_refused);
    let stored = sandboxes
        .jira
        .with(move |j, _| {
            let assignee = j.issues.iter().find(|i| i.key == filed.key).unwrap().assignee.clone();
            j.issues.retain(|i| i.key != filed.key);
            (assignee, vec![])
        })
        .await;
    assert_eq!(stored, None);
    let ops = ["OPS".to_owned()];
    let found = client.search_open("database", &ops, 10).await.unwrap();
    assert_eq!(
        found.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
        ["OPS-1"],
        "closed issues are left out"
    );
    assert_eq!(
        client.search_open("ops-2", &ops, 10).await.unwrap()[0].title,
        "Unrelated"
    );
    assert!(client.find_ticket("OPS-99").await.unwrap().is_none());
    assert!(client.search_open("OPS-3", &ops, 10).await.unwrap().is_empty());
    assert!(
        client.search_open("database", &[], 10).await.unwrap().is_empty(),
        "no project, no search"
    );
    assert!(client
        .search_open("ops-2", &["SEC".to_owned()], 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn linear_creates_reads_comments_and_closes_through_the_spec_operations() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let riley = sandboxes
        .linear
        .with(|l, _| (l.add_user("riley@example.com", "Riley"), vec![]))
        .await;
    let client = linear(&sandboxes, LINEAR_API_KEY);
    assert_eq!(
        client.find_user_by_email("RILEY@example.com", "ENG").await.unwrap(),
        Some(riley.clone())
    );
    assert_eq!(
        client.find_user_by_email("nobody@example.com", "ENG").await.unwrap(),
        None
    );
    let mut new = ticket("chg_lin", "ENG");
    new.assignee = Some(riley.clone());
    let created = client.create_ticket(&new).await.unwrap();
    assert_eq!(created.key, "ENG-1");
    assert_eq!(created.state, TicketState::Open);
    assert_eq!(client.create_ticket(&new).await.unwrap().remote_id, created.remote_id);

    client.comment(created.handle(), "Approved by Riley.").await.unwrap();
    client.comment(created.handle(), "Approved by Riley.").await.unwrap();
    let issue = sandboxes.linear.with(|l, _| (l.issues[0].clone(), vec![])).await;
    assert_eq!(issue.assignee_id, Some(riley));
    assert_eq!(issue.comments.len(), 1, "a retried comment is not posted twice");

    assert_eq!(
        client.search_open("eng-1", &["ENG".to_owned()], 5).await.unwrap().len(),
        1
    );
    // Words from the title, in the searchable teams only.
    sandboxes
        .linear
        .with(|l, _| {
            let mut sec = l.teams[0].clone();
            sec.key = "SEC".into();
            sec.id = "team-sec".into();
            l.teams.push(sec);
            l.add_issue("SEC", "Add Josh to the payroll system");
            ((), vec![])
        })
        .await;
    let by_text = client.search_open("add josh", &["ENG".to_owned()], 5).await.unwrap();
    assert_eq!(
        by_text.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
        ["ENG-1"],
        "text search, outside SEC"
    );
    client.close(created.handle(), "Access ended.").await.unwrap();
    let read = client
        .read_tickets(std::slice::from_ref(&created.remote_id))
        .await
        .unwrap();
    assert_eq!(read[0].state, TicketState::Done);
    assert!(client
        .search_open("ENG-1", &["ENG".to_owned()], 5)
        .await
        .unwrap()
        .is_empty());
    assert!(
        client
            .search_open("add josh", &["ENG".to_owned()], 5)
            .await
            .unwrap()
            .is_empty(),
        "closed issues are left out of text search"
    );
    assert!(client.find_ticket("ENG-404").await.unwrap().is_none());

    let requests = sandboxes.linear.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some(LINEAR_API_KEY)),
        "the key is sent bare"
    );
    let names = [
        "IssueCreate",
        "IssuesByIds",
        "Issue(",
        "UsersByEmail",
        "Teams",
        "WorkflowStatesByTeam",
        "CommentCreate",
        "IssueUpdateState",
        "SearchOpenIssues",
    ];
    for request in &requests {
        let body = request.json();
        let query = body["query"].as_str().unwrap();
        assert!(
            names.iter().any(|n| query.contains(n)),
            "only spec operations are sent: {query}"
        );
    }
}

#[tokio::test]
async fn linear_rate_limits_are_retried_and_batches_are_bounded() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let ids: Vec<String> = sandboxes
        .linear
        .with(|l, _| {
            for i in 0..250 {
                l.add_issue("ENG", &format!("issue {i}"));
            }
            (l.issues.iter().map(|i| i.id.clone()).collect(), vec![])
        })
        .await;
    sandboxes.linear.clear_requests();
    sandboxes
        .linear
        .inject(FaultMatch::on("POST", "IssuesByIds"), Fault::GraphqlRateLimited);
    let read = linear(&sandboxes, LINEAR_API_KEY).read_tickets(&ids).await.unwrap();
    assert_eq!(read.len(), 250);
    assert_eq!(
        count(&sandboxes.linear.requests(), "POST", "IssuesByIds"),
        4,
        "3 batches of 100 and one retried rate limit"
    );
}

#[tokio::test]
async fn servicenow_reads_in_batches_closes_both_tables_and_searches() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let client = servicenow(&sandboxes, SERVICENOW_PASSWORD);
    let agent = sandboxes
        .servicenow
        .with(|s, _| (s.add_user("riley@example.com", "Riley"), vec![]))
        .await;
    assert_eq!(
        client
            .find_user_by_email("riley@example.com", "incident")
            .await
            .unwrap(),
        Some(agent.clone())
    );
    let mut new = ticket("chg_sn", "incident");
    new.assignee = Some(agent.clone());
    let incident = client.create_ticket(&new).await.unwrap();
    let task = client.create_ticket(&ticket("chg_sn2", "sc_task")).await.unwrap();
    assert!(task.key.starts_with("SCTASK"));
    assert!(incident.url.contains("incident.do%3Fsys_id%3D"));

    sandboxes.servicenow.clear_requests();
    let read = client
        .read_tickets(&[
            incident.remote_id.clone(),
            task.remote_id.clone(),
            "incident:ffff".into(),
        ])
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(
        count(&sandboxes.servicenow.requests(), "GET", "/api/now/table/"),
        2,
        "one sys_idIN query per table"
    );
    assert!(
        sandboxes
            .servicenow
            .requests()
            .iter()
            .all(|r| r.param("sysparm_fields").is_some()),
        "fields are always named"
    );

    assert_eq!(
        client.find_ticket(&incident.key).await.unwrap().unwrap().remote_id,
        incident.remote_id
    );
    let tables = ["incident".to_owned(), "sc_task".to_owned()];
    assert_eq!(client.search_open("add josh", &tables, 10).await.unwrap().len(), 2);
    assert_eq!(
        client.search_open("add josh", &tables[..1], 10).await.unwrap().len(),
        1,
        "only the tables asked for"
    );
    client.comment(incident.handle(), "Approved.").await.unwrap();
    client.close(incident.handle(), "Access ended.").await.unwrap();
    client.close(task.handle(), "").await.unwrap();
    let (incidents, tasks) = sandboxes
        .servicenow
        .with(|s, _| ((s.tables["incident"].clone(), s.tables["sc_task"].clone()), vec![]))
        .await;
    assert_eq!(incidents[0]["state"], "6");
    assert_eq!(incidents[0]["close_notes"], "Access ended.");
    assert_eq!(incidents[0]["assigned_to"], agent);
    assert_eq!(tasks[0]["state"], "3");
    let states: Vec<TicketState> = client
        .read_tickets(&[incident.remote_id, task.remote_id])
        .await
        .unwrap()
        .iter()
        .map(|t| t.state)
        .collect();
    assert_eq!(states, [TicketState::Done, TicketState::Done]);
    assert!(client.search_open("add josh", &tables, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn servicenow_never_takes_someone_elses_incident_for_its_own() {
    let sandboxes = Sandboxes::start().await.unwrap();
    // An incident that was there before grantdesk: no correlation_id at all.
    let theirs = sandboxes
        .servicenow
        .with(|s, _| (s.add_ticket("incident", "Database is slow"), vec![]))
        .await;
    let client = servicenow(&sandboxes, SERVICENOW_PASSWORD);
    let ours = client
        .create_ticket(&ticket("grantdesk-req_1", "incident"))
        .await
        .unwrap();
    assert_ne!(ours.key, theirs, "a new incident, not the one that was there");
    let again = client.find_filed("incident", "grantdesk-req_1").await.unwrap();
    assert_eq!(again.map(|t| t.key), Some(ours.key), "and found as ours afterwards");
    let count = sandboxes
        .servicenow
        .with(|s, _| (s.tables["incident"].len(), vec![]))
        .await;
    assert_eq!(count, 2);
}

#[tokio::test]
async fn jira_cuts_long_summaries_and_reads_again_what_bulkfetch_could_not() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let client = jira(&sandboxes, JIRA_API_TOKEN);
    let mut long = ticket("chg_long", "OPS");
    long.title = "x".repeat(300);
    let created = client
        .create_ticket(&long)
        .await
        .expect("a 300-character title is cut, not refused");
    let summary = sandboxes.jira.with(|j, _| (j.issues[0].summary.clone(), vec![])).await;
    assert_eq!(summary.chars().count(), 255);
    assert!(summary.ends_with('…'));

    // A retriable error for one read: read again, found.
    let id = created.remote_id.clone();
    sandboxes
        .jira
        .with(|j, _| (j.issue_errors.insert(id.clone(), 1), vec![]))
        .await;
    let read = client
        .read_tickets(std::slice::from_ref(&created.remote_id))
        .await
        .unwrap();
    assert_eq!(read.len(), 1, "an issue in issueErrors is not gone");
    // Errors that persist fail the read instead of passing the issue off as deleted.
    let id = created.remote_id.clone();
    sandboxes
        .jira
        .with(|j, _| (j.issue_errors.insert(id.clone(), 10), vec![]))
        .await;
    let err = client
        .read_tickets(std::slice::from_ref(&created.remote_id))
        .await
        .unwrap_err();
    assert_eq!(err.kind, grantdesk::providers::ProviderErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn servicenow_resolves_incidents_with_the_integrations_close_code() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let client = servicenow(&sandboxes, SERVICENOW_PASSWORD).with_close_code(Some("Workaround provided"));
    let filed = client
        .create_ticket(&ticket("grantdesk-req_9", "incident"))
        .await
        .unwrap();
    client
        .close(filed.handle(), "The access request has ended.")
        .await
        .unwrap();
    let code = sandboxes
        .servicenow
        .with(move |s, _| {
            let record = s.tables["incident"]
                .iter()
                .find(|r| r.get("number") == Some(&filed.key))
                .unwrap();
            (record.get("close_code").cloned(), vec![])
        })
        .await;
    assert_eq!(code.as_deref(), Some("Workaround provided"));
}
