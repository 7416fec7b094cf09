//! A small page listing the sandbox providers' tickets and the sandbox Slack's messages, where a
//! person moves a ticket to done or canceled as they would in the real tool; the sandbox then
//! sends its signed webhook to grantdesk.

use crate::sandbox::slack::SlackSandbox;
use crate::sandbox::Sandboxes;
use grantdesk::domain::TicketState;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row(provider: &str, key: &str, title: &str, state: &str) -> String {
    let buttons: String = ["in_progress", "done", "canceled"]
        .iter()
        .map(|s| {
            format!(
                r#"<form method="post" action="/move?provider={provider}&key={key}&state={s}"><button>{label}</button></form>"#,
                key = escape(key),
                label = s.replace('_', " ")
            )
        })
        .collect();
    format!(
        "<tr><td>{provider}</td><td>{}</td><td>{}</td><td>{}</td><td class=b>{buttons}</td></tr>",
        escape(key),
        escape(title),
        escape(state)
    )
}

async fn render(sandboxes: &Sandboxes) -> String {
    let mut rows = String::new();
    for (key, title, state) in sandboxes
        .jira
        .with(|j, _| {
            (
                j.issues
                    .iter()
                    .map(|i| (i.key.clone(), i.summary.clone(), i.status.name.clone()))
                    .collect::<Vec<_>>(),
                vec![],
            )
        })
        .await
    {
        rows.push_str(&row("jira", &key, &title, &state));
    }
    let linear = sandboxes
        .linear
        .with(|l, _| {
            let states: Vec<(String, String, String)> = l
                .issues
                .iter()
                .map(|i| {
                    let state = l
                        .teams
                        .iter()
                        .flat_map(|t| t.states.iter())
                        .find(|s| s.0 == i.state_id)
                        .map(|s| s.1.clone())
                        .unwrap_or_default();
                    (i.identifier.clone(), i.title.clone(), state)
                })
                .collect();
            (states, vec![])
        })
        .await;
    for (key, title, state) in linear {
        rows.push_str(&row("linear", &key, &title, &state));
    }
    let records = sandboxes
        .servicenow
        .with(|s, _| {
            let all: Vec<(String, String, String)> = ["incident", "sc_task"]
                .iter()
                .flat_map(|t| s.tables.get(*t).cloned().unwrap_or_default())
                .map(|r| {
                    (
                        r.get("number").cloned().unwrap_or_default(),
                        r.get("short_description").cloned().unwrap_or_default(),
                        r.get("state").cloned().unwrap_or_default(),
                    )
                })
                .collect();
            (all, vec![])
        })
        .await;
    for (key, title, state) in records {
        rows.push_str(&row("servicenow", &key, &title, &format!("state {state}")));
    }
    let slack = sandboxes.slack.with(|s, _| (slack_html(s), vec![])).await;
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>grantdesk sandbox providers</title>
<style>body{{font-family:sans-serif;margin:2em}}td{{padding:4px 8px;border-bottom:1px solid #ddd}}td.b form{{display:inline}}</style></head>
<body><h1>Sandbox tickets</h1><p>Moving a ticket sends the provider's signed webhook to grantdesk.</p>
<table><tr><th>provider</th><th>key</th><th>title</th><th>state</th><th>move to</th></tr>{rows}</table>
<h2>Sandbox Slack</h2><p>Direct messages from grantdesk's bot. A button sends the signed interaction Slack would send, as the person the message is for.</p>{slack}</body></html>"#
    )
}

/// The workspace's messages (with their buttons) and open modals.
fn slack_html(slack: &SlackSandbox) -> String {
    let mut html = String::from("<ul class=slack>");
    for m in &slack.messages {
        let to = slack.email(&m.user).unwrap_or_else(|| m.user.clone());
        let kind = if m.ephemeral {
            "only they see this"
        } else if m.updated {
            "updated"
        } else {
            "direct message"
        };
        let buttons: String = m
            .buttons()
            .iter()
            .map(|(action, label, _)| {
                format!(
                    r#"<form method="post" action="/slack/click?ts={ts}&action={action}&user={user}"><button>{label}</button></form>"#,
                    ts = escape(&m.ts),
                    action = escape(action),
                    user = escape(&m.user),
                    label = escape(label),
                )
            })
            .collect();
        html.push_str(&format!(
            "<li><b>to {}</b> <i>({kind})</i><br>{}<div class=b>{buttons}</div></li>",
            escape(&to),
            escape(&shown_text(m)).replace('\n', "<br>")
        ));
    }
    html.push_str("</ul>");
    for v in slack.views.iter().filter(|v| v.open) {
        let who = slack.email(&v.user).unwrap_or_else(|| v.user.clone());
        let title = v.view["title"]["text"].as_str().unwrap_or("Dialog");
        let error = v
            .errors
            .as_object()
            .and_then(|e| e.values().next())
            .and_then(|e| e.as_str())
            .unwrap_or("");
        html.push_str(&format!(
            r#"<section class=modal><h3>{title} (open for {who})</h3><p class=err>{error}</p><form method="post" action="/slack/submit?view={id}"><label for="comment-{id}">Comment</label><br><textarea id="comment-{id}" name="comment" rows=3 cols=50></textarea><br><button>{submit}</button></form></section>"#,
            title = escape(title),
            who = escape(&who),
            error = escape(error),
            id = escape(&v.id),
            submit = escape(v.view["submit"]["text"].as_str().unwrap_or("Submit")),
        ));
    }
    html
}

/// What Slack would show of a message: its sections' and contexts' text (mrkdwn entities
/// decoded, links as their labels), else its fallback text.
fn shown_text(message: &crate::sandbox::slack::SlackMessage) -> String {
    let mut parts = Vec::new();
    for block in message.blocks.as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("section") => parts.extend(block["text"]["text"].as_str().map(str::to_owned)),
            Some("context") => parts.extend(
                block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["text"].as_str().map(str::to_owned)),
            ),
            _ => {}
        }
    }
    if parts.is_empty() {
        return message.text.clone();
    }
    let text = parts.join("\n");
    // `<url|label>` shows as its label.
    let mut shown = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find('<') {
        shown.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => {
                let link = &rest[start + 1..start + end];
                shown.push_str(link.split_once('|').map_or(link, |(_, label)| label));
                rest = &rest[start + end + 1..];
            }
            None => {
                shown.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    shown.push_str(rest);
    // The `*bold*` markers are dropped.
    shown
        .replace('*', "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn back() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert("location", "/".parse().expect("valid header"));
    response
}

async fn answer(req: Request<Incoming>, sandboxes: Arc<Sandboxes>) -> Response<Full<Bytes>> {
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if req.method() == hyper::Method::POST && req.uri().path() == "/slack/click" {
        let (ts, action, user) = (param("ts"), param("action"), param("user"));
        sandboxes
            .slack
            .with(|s, secret| ((), s.click(&ts, &action, &user, secret)))
            .await;
        return back();
    }
    if req.method() == hyper::Method::POST && req.uri().path() == "/slack/submit" {
        let view = param("view");
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let comment = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == "comment")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        sandboxes
            .slack
            .with(|s, secret| ((), s.submit(&view, &comment, secret)))
            .await;
        let answer = sandboxes.slack.webhook_answers().last().cloned().unwrap_or_default();
        sandboxes
            .slack
            .with(|s, _| (s.submission_answered(&view, &answer), vec![]))
            .await;
        return back();
    }
    if req.method() == hyper::Method::POST && req.uri().path() == "/move" {
        let params: Vec<(String, String)> = req
            .uri()
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let state = match get("state").as_str() {
            "done" => TicketState::Done,
            "canceled" => TicketState::Canceled,
            "in_progress" => TicketState::InProgress,
            _ => TicketState::Open,
        };
        let key = get("key");
        let moved = match get("provider").as_str() {
            "jira" => sandboxes.jira.with(|j, s| j.set_state(&key, state, s)).await,
            "linear" => sandboxes.linear.with(|l, s| l.set_state(&key, state, s)).await,
            "servicenow" => sandboxes.servicenow.with(|sn, s| sn.set_state(&key, state, s)).await,
            _ => false,
        };
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = if moved {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::NOT_FOUND
        };
        response
            .headers_mut()
            .insert("location", "/".parse().expect("valid header"));
        return response;
    }
    let mut response = Response::new(Full::new(Bytes::from(render(&sandboxes).await)));
    response.headers_mut().insert(
        "content-type",
        "text/html; charset=utf-8".parse().expect("valid header"),
    );
    response
}

/// Serves the page on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, sandboxes: Arc<Sandboxes>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sandboxes = sandboxes.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let sandboxes = sandboxes.clone();
                // In a task of its own: a browser that leaves the page before the answer must
                // not cancel a webhook half sent.
                let work = tokio::spawn(answer(req, sandboxes));
                async move {
                    Ok::<_, Infallible>(work.await.unwrap_or_else(|_| {
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        response
                    }))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
