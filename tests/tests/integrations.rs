//! Connecting providers, the ticket picker and linked tickets, over HTTP against the sandbox
//! providers.

use grantdesk::domain::TicketState;
use grantdesk_e2e::{TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::{
    Sandboxes, JIRA_API_TOKEN, JIRA_EMAIL, LINEAR_API_KEY, SERVICENOW_PASSWORD, SERVICENOW_USERNAME,
};
use reqwest::Method;
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "jira-webhook-secret-value";

fn jira_body(sandboxes: &Sandboxes, token: &str) -> Value {
    json!({"base_url": sandboxes.jira.url(), "email": JIRA_EMAIL, "api_token": token, "webhook_secret": WEBHOOK_SECRET, "project": "OPS"})
}

async fn connect_jira(stack: &TestStack, sandboxes: &Sandboxes) {
    let reply = stack
        .call(
            ADMIN,
            Method::PUT,
            "/integrations/jira",
            Some(jira_body(sandboxes, JIRA_API_TOKEN)),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn connecting_checks_credentials_first_and_never_shows_or_tables_a_secret() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();

    let wrong = stack
        .call(
            ADMIN,
            Method::PUT,
            "/integrations/jira",
            Some(jira_body(&sandboxes, "wrong-token")),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (422, "invalid_credentials"),
        "{:?}",
        wrong.body
    );
    assert!(!wrong.body.to_string().contains("wrong-token"));
    assert_eq!(
        stack.get(ADMIN, "/integrations").await.body["items"],
        json!([]),
        "nothing saved"
    );

    let mut unknown_project = jira_body(&sandboxes, JIRA_API_TOKEN);
    unknown_project["project"] = json!("NOPE");
    let reply = stack
        .call(ADMIN, Method::PUT, "/integrations/jira", Some(unknown_project))
        .await;
    assert_eq!((reply.status, reply.code()), (422, "project_not_found"));

    let mut plain_http = jira_body(&sandboxes, JIRA_API_TOKEN);
    plain_http["base_url"] = json!("http://acme.atlassian.net");
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/jira", Some(plain_http))
            .await
            .code(),
        "invalid_base_url"
    );
    let mut no_token = jira_body(&sandboxes, JIRA_API_TOKEN);
    no_token.as_object_mut().unwrap().remove("api_token");
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/jira", Some(no_token))
            .await
            .status,
        400
    );
    assert_eq!(
        stack
            .call(
                ADMIN,
                Method::PUT,
                "/integrations/github",
                Some(json!({"webhook_secret": "x"}))
            )
            .await
            .status,
        404
    );
    assert_eq!(
        stack
            .call(
                RILEY,
                Method::PUT,
                "/integrations/jira",
                Some(jira_body(&sandboxes, JIRA_API_TOKEN))
            )
            .await
            .status,
        403
    );

    let connected = stack
        .call(
            ADMIN,
            Method::PUT,
            "/integrations/jira",
            Some(jira_body(&sandboxes, JIRA_API_TOKEN)),
        )
        .await;
    assert_eq!(connected.status, 200, "{:?}", connected.body);
    assert_eq!(connected.body["provider"], "jira");
    assert_eq!(connected.body["base_url"], sandboxes.jira.url());
    assert_eq!(connected.body["health"]["ok"], true);
    let listed = stack.get(ADMIN, "/integrations").await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    for text in [connected.body.to_string(), listed.body.to_string()] {
        assert!(
            !text.contains(JIRA_API_TOKEN) && !text.contains(WEBHOOK_SECRET),
            "secrets never leave: {text}"
        );
    }

    let dynamodb = grantdesk_local::stack::dynamodb_client(&stack.stack.endpoints.dynamodb);
    let item = dynamodb
        .get_item()
        .table_name(&stack.stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("INTEGRATION#jira".into()),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("INTEGRATION".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the integration is recorded");
    assert!(
        !format!("{item:?}").contains(JIRA_API_TOKEN),
        "the token is not in the table"
    );
    let secrets = grantdesk::secrets::SecretStore::new(
        grantdesk_local::stack::secretsmanager_client(&stack.stack.endpoints.aws),
        format!("{}/", stack.stack.table),
    );
    let stored = secrets.integration("jira").await.unwrap().expect("secrets stored");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&stored.credential), JIRA_API_TOKEN);

    let gone = stack.call(ADMIN, Method::DELETE, "/integrations/jira", None).await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        stack
            .call(ADMIN, Method::DELETE, "/integrations/jira", None)
            .await
            .status,
        404
    );
    assert!(
        secrets.integration("jira").await.unwrap().is_none(),
        "secrets deleted too"
    );
    let reconnected = stack
        .call(
            ADMIN,
            Method::PUT,
            "/integrations/jira",
            Some(jira_body(&sandboxes, JIRA_API_TOKEN)),
        )
        .await;
    assert_eq!(
        reconnected.status, 200,
        "reconnecting restores the deleted secret: {:?}",
        reconnected.body
    );
    assert!(secrets.integration("jira").await.unwrap().is_some());
}

#[tokio::test]
async fn a_linked_ticket_must_be_connected_exist_and_be_open() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    let (open, done) = sandboxes
        .jira
        .with(|jira, _| {
            let open = jira.add_issue("OPS", "Database access for Josh");
            let done = jira.add_issue("OPS", "Old work");
            jira.set_state(&done, TicketState::Done, None);
            ((open, done), vec![])
        })
        .await;
    let request = |key: &str| json!({"resource_id": demo.resource, "duration_minutes": 60, "linked_ticket": {"provider": "jira", "key": key}});

    let unconnected = stack.post(JOSH, "/requests", request(&open)).await;
    assert_eq!(
        (unconnected.status, unconnected.code()),
        (422, "integration_not_connected")
    );
    connect_jira(&stack, &sandboxes).await;
    let missing = stack.post(JOSH, "/requests", request("OPS-404")).await;
    assert_eq!((missing.status, missing.code()), (422, "linked_ticket_not_found"));
    let closed = stack.post(JOSH, "/requests", request(&done)).await;
    assert_eq!((closed.status, closed.code()), (422, "linked_ticket_closed"));
    assert_eq!(
        stack.get(JOSH, "/requests").await.body["items"],
        json!([]),
        "refusals stored nothing"
    );

    let created = stack.post(JOSH, "/requests", request(&open)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["linked_ticket"]["key"], open.as_str());
    assert_eq!(created.body["linked_ticket"]["state"], "open");
    assert_eq!(
        created.body["linked_ticket"]["url"],
        format!("{}/browse/{open}", sandboxes.jira.url())
    );
    let id = created.str("id");
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{id}/approve"), json!({}))
            .await
            .status,
        200
    );
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"][0]["linked_ticket"]["key"], open.as_str());

    sandboxes.jira.inject(
        grantdesk_local::sandbox::FaultMatch::any(),
        grantdesk_local::sandbox::Fault::Status {
            status: 401,
            retry_after: None,
        },
    );
    let failing = stack.post(JOSH, "/requests", request(&open)).await;
    assert_eq!((failing.status, failing.code()), (502, "provider_failed"));
}

#[tokio::test]
async fn the_ticket_picker_searches_connected_providers_for_open_tickets() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    sandboxes
        .jira
        .with(|jira, _| {
            jira.add_issue("OPS", "Database access for Josh");
            let done = jira.add_issue("OPS", "Database cleanup");
            jira.set_state(&done, TicketState::Done, None);
            jira.projects.push("SEC".into());
            jira.add_issue("SEC", "Database breach, confidential");
            ((), vec![])
        })
        .await;
    let incident = sandboxes
        .servicenow
        .with(|sn, _| (sn.add_ticket("incident", "Database is slow"), vec![]))
        .await;
    connect_jira(&stack, &sandboxes).await;
    let unscoped = stack.get(JOSH, "/tickets/search?provider=jira&q=database").await;
    assert_eq!(
        unscoped.body["items"],
        json!([]),
        "no project is configured yet: the picker searches nothing, though the account sees OPS and SEC"
    );
    // OPS becomes a propagation target; SEC never does.
    stack.propagate_to_jira(&demo.resource, true, false).await;
    let servicenow = json!({"base_url": sandboxes.servicenow.url(), "username": SERVICENOW_USERNAME, "password": SERVICENOW_PASSWORD, "webhook_secret": "sn-secret", "searchable_projects": ["incident"]});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/servicenow", Some(servicenow))
            .await
            .status,
        200
    );

    let jira_only = stack.get(JOSH, "/tickets/search?provider=jira&q=database").await;
    assert_eq!(jira_only.status, 200, "{:?}", jira_only.body);
    let keys: Vec<&str> = jira_only.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["OPS-1"], "SEC-1 matches too, but SEC is not searchable");
    assert_eq!(
        stack.get(JOSH, "/tickets/search?provider=jira&q=SEC-1").await.body["items"],
        json!([]),
        "not by key either"
    );
    let listed = stack.get(ADMIN, "/integrations").await;
    let servicenow_view = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "servicenow")
        .cloned()
        .unwrap();
    assert_eq!(servicenow_view["searchable_projects"], json!(["incident"]));
    let bad = json!({"base_url": sandboxes.servicenow.url(), "username": SERVICENOW_USERNAME, "password": SERVICENOW_PASSWORD, "webhook_secret": "sn-secret", "searchable_projects": ["sys_user"]});
    let refused = stack
        .call(ADMIN, Method::PUT, "/integrations/servicenow", Some(bad))
        .await;
    assert_eq!((refused.status, refused.code()), (400, "invalid_body"));
    let jira_close = json!({"base_url": sandboxes.jira.url(), "email": grantdesk_local::sandbox::JIRA_EMAIL, "api_token": grantdesk_local::sandbox::JIRA_API_TOKEN, "webhook_secret": "s", "close_code": "Done"});
    let refused = stack
        .call(ADMIN, Method::PUT, "/integrations/jira", Some(jira_close))
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "invalid_body"),
        "close_code is ServiceNow's"
    );
    let with_code = json!({"base_url": sandboxes.servicenow.url(), "username": SERVICENOW_USERNAME, "password": SERVICENOW_PASSWORD, "webhook_secret": "sn-secret", "searchable_projects": ["incident"], "close_code": "Workaround provided"});
    let connected = stack
        .call(ADMIN, Method::PUT, "/integrations/servicenow", Some(with_code))
        .await;
    assert_eq!(connected.status, 200, "{:?}", connected.body);
    assert_eq!(connected.body["close_code"], "Workaround provided");
    assert_eq!(jira_only.body["items"][0]["title"], "Database access for Josh");
    assert_eq!(jira_only.body["items"][0]["state"], "open");
    let everywhere = stack.get(JOSH, "/tickets/search?q=database").await;
    let providers: Vec<&str> = everywhere.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["jira", "servicenow"]);
    assert_eq!(everywhere.body["items"][1]["key"], incident.as_str());
    assert_eq!(
        stack.get(JOSH, "/tickets/search?provider=jira").await.code(),
        "invalid_query"
    );
    assert_eq!(
        stack.get(JOSH, "/tickets/search?provider=linear&q=x").await.code(),
        "integration_not_connected"
    );
    assert_eq!(
        stack.get(JOSH, "/tickets/search?provider=github&q=x").await.code(),
        "invalid_provider"
    );
    let linear = json!({"base_url": sandboxes.linear.url(), "api_key": LINEAR_API_KEY, "webhook_secret": "lin_wh_x", "project": "ENG"});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/linear", Some(linear))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn jira_issue_types_are_checked_when_connecting_and_when_a_target_names_one() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;

    // A project without the default "Task": connecting with it says so and saves nothing.
    sandboxes
        .jira
        .with(|j, _| {
            j.issue_types = vec!["Bug".into(), "Story".into(), "Sub-task".into()];
            ((), vec![])
        })
        .await;
    let body = json!({"base_url": sandboxes.jira.url(), "email": grantdesk_local::sandbox::JIRA_EMAIL, "api_token": grantdesk_local::sandbox::JIRA_API_TOKEN, "webhook_secret": "s", "project": "OPS"});
    let refused = stack
        .call(ADMIN, Method::PUT, "/integrations/jira", Some(body.clone()))
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.code(), "invalid_target");
    let message = refused.body["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("no issue type 'Task'") && message.contains("Bug, Story") && !message.contains("Sub-task"),
        "{message}"
    );
    assert_eq!(stack.get(ADMIN, "/integrations").await.body["items"], json!([]));

    sandboxes
        .jira
        .with(|j, _| {
            j.issue_types = vec!["Task".into(), "Access request".into()];
            ((), vec![])
        })
        .await;
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/jira", Some(body))
            .await
            .status,
        200
    );
    let path = format!("/resources/{}", demo.resource);
    let target = |issue_type: &str| json!({"ticket_propagation": {"enabled_on_grant": true, "enabled_on_revocation": false, "provider": "jira", "project": "OPS", "issue_type": issue_type}});
    let unknown = stack.call(ADMIN, Method::PATCH, &path, Some(target("Epic"))).await;
    assert_eq!(unknown.status, 422, "{:?}", unknown.body);
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Task, Access request"),
        "{:?}",
        unknown.body
    );
    let linear = json!({"ticket_propagation": {"enabled_on_grant": true, "enabled_on_revocation": false, "provider": "linear", "project": "ENG", "issue_type": "Task"}});
    let not_jira = stack.call(ADMIN, Method::PATCH, &path, Some(linear)).await;
    assert_eq!(not_jira.status, 422, "{:?}", not_jira.body);
    assert_eq!(not_jira.code(), "invalid_target");

    let saved = stack
        .call(ADMIN, Method::PATCH, &path, Some(target(" Access request ")))
        .await;
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(saved.body["ticket_propagation"]["issue_type"], "Access request");
    stack.approved_request(&demo, json!({"duration_minutes": 30})).await;
    let filed_as = grantdesk_e2e::eventually("the ticket to be filed", || async {
        let sent = sandboxes.jira.requests();
        let create = sent
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/rest/api/3/issue"))?;
        Some(create.json()["fields"]["issuetype"]["name"].clone())
    })
    .await;
    assert_eq!(filed_as, "Access request");

    let audit =
        json!({"audit_tickets": {"enabled": true, "provider": "jira", "project": "OPS", "issue_type": "Story"}});
    let refused = stack.call(ADMIN, Method::PUT, "/settings", Some(audit)).await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("audit_tickets: "),
        "{:?}",
        refused.body
    );
}
