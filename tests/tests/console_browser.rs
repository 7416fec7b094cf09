//! The console in headless Chromium, driven by what people see: Josh signs in at the sandbox
//! provider and requests "My Role"; Riley, in another browser profile, approves, opens the Users
//! tab and the ticket's dialog, follows its link, moves the ticket to done on the sandbox page,
//! sees the green "completed" icon, presses Sync now and denies another request with a comment;
//! Josh gets the 403 page for admin pages; Alice's admin pages. Screenshots of each main page go
//! to `docs/console/`.

use grantdesk_e2e::browser::{Browser, Driver};
use grantdesk_e2e::DemoStack;
use std::path::PathBuf;

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/console")
        .join(format!("{name}.png"))
}

async fn sign_in(browser: &Browser, console: &str, who: &str) {
    browser.open(console).await;
    browser.click(&browser.link("Sign in").await).await;
    assert!(browser.wait_for_text("Sandbox identity provider", 5, false).await);
    browser.click(&browser.button(&format!("Sign in as {who}")).await).await;
    assert!(
        browser.wait_for_text("Sign out", 5, false).await,
        "{who} is signed in: {}",
        browser.text().await
    );
}

fn futures_text(browser: &Browser, element: &grantdesk_e2e::browser::Element) -> String {
    futures::executor::block_on(browser.text_of(element))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_goes_from_josh_to_riley_to_a_completed_change_in_the_browser() {
    let DemoStack {
        sandboxes,
        stack,
        setup,
        page: sandbox_page,
    } = DemoStack::start().await;
    let console = format!("{}/console/", stack.stack.api_url);
    let driver = Driver::start().await;

    // Josh: signed out, then signed in at the sandbox provider; he asks for My Role.
    let josh = driver.browser().await;
    josh.open(&console).await;
    assert_eq!(josh.title().await, "Sign in · grantdesk");
    josh.screenshot(&shot("sign-in")).await;
    sign_in(&josh, &console, "Josh").await;
    assert_eq!(josh.title().await, "My requests · grantdesk");
    assert!(
        josh.find_now("//nav//a[normalize-space()='Inventory']").await.is_none(),
        "no admin links for Josh"
    );
    josh.choose(&josh.field("Resource").await, "My Role").await;
    josh.type_into(&josh.field("Reason").await, "checking the browser path")
        .await;
    // More than My Role allows first: the API's refusal shows next to the field.
    let duration = josh.field("Duration (minutes)").await;
    josh.type_into(&duration, "100000").await;
    josh.click(&josh.button("Request access").await).await;
    let refusal = josh
        .find("//p[@id='duration_minutes-error']")
        .await
        .expect("the refusal next to the duration");
    assert!(
        josh.text_of(&refusal).await.contains("480"),
        "{}",
        josh.text_of(&refusal).await
    );
    let duration = josh.field("Duration (minutes)").await;
    josh.clear(&duration).await;
    josh.type_into(&duration, "60").await;
    josh.screenshot(&shot("request-access")).await;
    josh.click(&josh.button("Request access").await).await;
    assert!(
        josh.wait_for_text("Requested.", 5, false).await,
        "{}",
        josh.text().await
    );
    let request_url = josh.url().await;
    let request = request_url
        .split("/console/requests/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .expect("the request's page")
        .to_owned();
    assert!(josh.text().await.contains("pending"));
    // A request that must link a ticket, picked by searching as one types.
    josh.click(&josh.link("My requests").await).await;
    josh.choose(&josh.field("Resource").await, "Prod DB").await;
    josh.type_into(&josh.field("Reason").await, "ENG-1 needs a look at the data")
        .await;
    josh.type_into(&josh.field("Duration (minutes)").await, "120").await;
    josh.choose(&josh.field("Ticket system").await, "Linear").await;
    josh.type_into(&josh.field("Ticket").await, "ENG-1").await;
    let suggestion = josh
        .find("//datalist[@id='ticket-options']/option[@value='ENG-1']")
        .await;
    let status = josh.find("//p[@id='ticket-picker-status']").await.unwrap();
    let suggestion =
        suggestion.unwrap_or_else(|| panic!("the picker suggests ENG-1; it says {:?}", futures_text(&josh, &status)));
    assert!(josh
        .attribute(&suggestion, "label")
        .await
        .unwrap_or_default()
        .starts_with("ENG-1: "));
    josh.click(&josh.button("Request access").await).await;
    assert!(
        josh.wait_for_text("Requested.", 5, false).await,
        "{}",
        josh.text().await
    );
    let linked = josh.link("ENG-1").await;
    assert!(
        josh.attribute(&linked, "href")
            .await
            .unwrap_or_default()
            .contains("ENG-1"),
        "the linked ticket's link"
    );

    josh.open(&format!("{console}inventory")).await;
    assert_eq!(josh.title().await, "Not allowed · grantdesk", "admin pages are refused");
    assert!(josh.text().await.contains("only org admins"), "{}", josh.text().await);
    josh.screenshot(&shot("not-allowed")).await;

    // Riley, in another profile: the review queue, Approve.
    let riley = driver.browser().await;
    sign_in(&riley, &console, "Riley Reviewer").await;
    riley.click(&riley.link("Reviews").await).await;
    assert!(riley.wait_for_text("checking the browser path", 5, false).await);
    assert!(
        riley.text().await.contains("on-call this week"),
        "the demo's request waits too"
    );
    riley.screenshot(&shot("reviews")).await;
    let approve = riley
        .find("//tr[td[contains(., 'checking the browser path')]]//button[normalize-space()='Approve']")
        .await
        .expect("Approve on Josh's new request");
    riley.click(&approve).await;
    assert!(
        riley.wait_for_text("Approved.", 5, false).await,
        "{}",
        riley.text().await
    );
    assert!(riley.url().await.contains(&request));
    assert!(riley.text().await.contains("approved"));

    // The Users tab: Josh's line, pending, with the Jira ticket's key.
    riley.click(&riley.link("My Role").await).await;
    assert!(riley.wait_for_text("OPS-3", 20, true).await, "{}", riley.text().await);
    assert!(riley
        .find_now("//span[@role='img' and @aria-label='pending']")
        .await
        .is_some());
    riley.screenshot(&shot("users-tab-pending")).await;
    riley.click(&riley.button("OPS-3").await).await;
    let dialog = riley.find("//dialog[@open]").await.expect("the ticket dialog opens");
    assert!(riley.displayed(&dialog).await);
    let link = riley.link("Open OPS-3 in Jira").await;
    let href = riley.attribute(&link, "href").await.expect("a link to the ticket");
    assert_eq!(href, format!("{}/browse/OPS-3", sandboxes.jira.url()));
    riley.screenshot(&shot("ticket-dialog")).await;
    riley.click(&riley.button("Close").await).await;
    let users_tab = riley.url().await;
    riley.open(&href).await;
    assert!(
        riley.wait_for_text("Add Josh to My Role", 5, false).await,
        "{}",
        riley.text().await
    );

    // Done on the sandbox page: the webhook marks the change completed.
    riley.open(&sandbox_page).await;
    let done = riley
        .find("//tr[td[normalize-space()='OPS-3']]//button[normalize-space()='done']")
        .await
        .expect("OPS-3 on the sandbox page");
    riley.click(&done).await;
    riley
        .wait_for_element(
            "//tr[td[normalize-space()='OPS-3'] and td[normalize-space()='Done']]",
            10,
        )
        .await
        .expect("OPS-3 done on the sandbox page");
    riley.open(&users_tab).await;
    assert!(
        riley
            .wait_for_element("//span[@role='img' and @aria-label='completed']", 20)
            .await
            .is_some(),
        "the green completed icon"
    );
    riley.screenshot(&shot("users-tab-completed")).await;
    riley.click(&riley.button("Sync now").await).await;
    assert!(
        riley.wait_for_text("Sync requested", 5, false).await,
        "{}",
        riley.text().await
    );

    // Deny the demo's request, with a comment.
    riley.click(&riley.link("Reviews").await).await;
    let comment = riley
        .find(&format!("//input[@id='comment-{}']", setup.josh_request))
        .await
        .expect("the demo request's comment field");
    riley.type_into(&comment, "use the shared on-call role instead").await;
    let deny = riley
        .find("//tr[td[contains(., 'on-call this week')]]//button[normalize-space()='Deny']")
        .await
        .unwrap();
    riley.click(&deny).await;
    assert!(riley.wait_for_text("Denied.", 5, false).await, "{}", riley.text().await);
    let text = riley.text().await;
    assert!(
        text.contains("denied") && text.contains("use the shared on-call role instead"),
        "{text}"
    );
    riley.screenshot(&shot("request")).await;
    let denied = stack
        .get("riley@example.com", &format!("/requests/{}", setup.josh_request))
        .await;
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(
        denied.body["decision"]["comment"],
        "use the shared on-call role instead"
    );
    riley.open(&format!("{console}settings")).await;
    assert_eq!(riley.title().await, "Not allowed · grantdesk", "Riley is no org admin");

    // Josh sees his request approved, with its grant.
    josh.open(&request_url).await;
    assert!(josh.wait_for_text("approved", 5, true).await);
    assert!(josh.text().await.contains("active"), "{}", josh.text().await);
    josh.click(&josh.button("Sign out").await).await;
    assert!(josh.wait_for_text("You have signed out.", 5, false).await);
    josh.open(&format!("{console}requests")).await;
    assert!(
        josh.wait_for_text("Sandbox identity provider", 5, false).await,
        "signed out means signed out"
    );

    // Alice, the org admin: Inventory, a resource's configuration, Settings, Integrations.
    let alice = driver.browser().await;
    sign_in(&alice, &console, "Alice Admin").await;
    alice.click(&alice.link("Inventory").await).await;
    assert!(alice.wait_for_text("Prod DB", 5, false).await);
    alice.screenshot(&shot("inventory")).await;
    alice.click(&alice.link("Edit Prod DB").await).await;
    assert!(
        alice
            .wait_for_text("Must link ticket that auto-expires access", 5, false)
            .await
    );
    assert!(alice.text().await.contains("Ticket provider for access propagation"));
    alice.screenshot(&shot("edit-resource")).await;
    alice.click(&alice.link("Settings").await).await;
    assert!(
        alice
            .wait_for_text("Create audit ticket for all access requests", 5, false)
            .await
    );
    alice.screenshot(&shot("settings")).await;
    alice.click(&alice.link("Integrations").await).await;
    assert!(alice.wait_for_text("Healthy", 5, false).await, "{}", alice.text().await);
    assert_eq!(
        alice.text().await.matches("Healthy").count(),
        4,
        "Jira, Linear, ServiceNow and Slack"
    );
    alice.screenshot(&shot("integrations")).await;
    // A wrong bot token is refused with Slack's reason, and Slack stays connected as it was.
    let reconnect = alice
        .find("//summary[normalize-space()='Reconnect Slack']")
        .await
        .unwrap();
    alice.click(&reconnect).await;
    alice.type_into(&alice.field("Bot token").await, "xoxb-wrong").await;
    alice.type_into(&alice.field("Signing secret").await, "whatever").await;
    alice.click(&alice.button("Connect Slack").await).await;
    assert!(
        alice
            .wait_for_text("Slack refused the bot token (invalid_auth)", 5, false)
            .await,
        "{}",
        alice.text().await
    );
    assert_eq!(alice.text().await.matches("Healthy").count(), 4);

    for browser in [josh, riley, alice] {
        browser.close().await;
    }
}
