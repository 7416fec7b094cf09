//! A small WebDriver client for the console's browser tests: Debian's ChromeDriver driving
//! Debian's Chromium, headless, each session in its own new profile. Elements are found by what
//! a person sees: a button's or link's text, a field's label.

use base64::Engine;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running ChromeDriver. Dropping it stops the driver and its browsers.
pub struct Driver {
    url: String,
    process: Child,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    /// Starts ChromeDriver on a free port. Panics, saying how to install them, when Chromium or
    /// ChromeDriver is missing.
    pub async fn start() -> Self {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: run infra/scripts/install-chromium.sh (make test does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let driver = Self {
            url: format!("http://127.0.0.1:{port}"),
            process,
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(reply) = driver.http.get(format!("{}/status", driver.url)).send().await {
                if reply.status().is_success() {
                    return driver;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    /// A new headless browser with an empty profile of its own.
    pub async fn browser(&self) -> Browser {
        let profile = std::env::temp_dir().join(format!("grantdesk-chromium-{}", uuid_like()));
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let reply: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .expect("creating a browser session")
            .json()
            .await
            .expect("a session reply");
        let id = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_owned();
        Browser {
            base: format!("{}/session/{id}", self.url),
            http: self.http.clone(),
            profile,
        }
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One browser window.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    profile: std::path::PathBuf,
}

/// An element on the page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// XPath string literal for `text` (which may hold either quote).
fn literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

impl Browser {
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} answered unreadably: {e}"));
        reply["value"].clone()
    }

    async fn try_command(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, String> {
        let value = self.command(method, path, Some(body)).await;
        match value.get("error") {
            Some(error) => Err(format!("{error}: {}", value["message"])),
            None => Ok(value),
        }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The address of the page.
    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.command(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the page's body.
    pub async fn text(&self) -> String {
        let body = self.find("//body").await.expect("a page has a body");
        self.text_of(&body).await
    }

    /// The visible text of `element`.
    pub async fn text_of(&self, element: &Element) -> String {
        self.command(reqwest::Method::GET, &format!("/element/{}/text", element.0), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element at `xpath`, waiting up to 5 s for it.
    pub async fn find(&self, xpath: &str) -> Option<Element> {
        for _ in 0..50 {
            if let Some(found) = self.find_now(xpath).await {
                return Some(found);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// The element at `xpath`, if it is there now.
    pub async fn find_now(&self, xpath: &str) -> Option<Element> {
        let found = self
            .try_command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "xpath", "value": xpath}),
            )
            .await
            .ok()?;
        found[ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// The first button whose text or accessible label is `name`.
    pub async fn button(&self, name: &str) -> Element {
        let xpath = format!("//button[normalize-space()={n} or @aria-label={n}]", n = literal(name));
        self.find(&xpath)
            .await
            .unwrap_or_else(|| panic!("no button {name:?} on {}", self.url_now()))
    }

    /// The first link whose text or accessible label is `name`.
    pub async fn link(&self, name: &str) -> Element {
        let xpath = format!("//a[normalize-space()={n} or @aria-label={n}]", n = literal(name));
        self.find(&xpath).await.unwrap_or_else(|| panic!("no link {name:?}"))
    }

    /// The control the label `label` names.
    pub async fn field(&self, label: &str) -> Element {
        let xpath = format!(
            "//*[@id=//label[normalize-space()={l}]/@for] | //label[normalize-space()={l}]//input",
            l = literal(label)
        );
        self.find(&xpath)
            .await
            .unwrap_or_else(|| panic!("no field labelled {label:?}"))
    }

    fn url_now(&self) -> &str {
        &self.base
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) {
        let result = self
            .try_command(
                reqwest::Method::POST,
                &format!("/element/{}/click", element.0),
                json!({}),
            )
            .await;
        result.unwrap_or_else(|e| panic!("click: {e}"));
    }

    /// Types `text` into `element`.
    pub async fn type_into(&self, element: &Element, text: &str) {
        let result = self
            .try_command(
                reqwest::Method::POST,
                &format!("/element/{}/value", element.0),
                json!({"text": text}),
            )
            .await;
        result.unwrap_or_else(|e| panic!("typing: {e}"));
    }

    /// Empties the field `element`.
    pub async fn clear(&self, element: &Element) {
        let result = self
            .try_command(
                reqwest::Method::POST,
                &format!("/element/{}/clear", element.0),
                json!({}),
            )
            .await;
        result.unwrap_or_else(|e| panic!("clearing: {e}"));
    }

    /// Chooses the option with text `option` in the select `element`.
    pub async fn choose(&self, element: &Element, option: &str) {
        let id = element.0.clone();
        let option = self
            .try_command(
                reqwest::Method::POST,
                &format!("/element/{id}/element"),
                json!({"using": "xpath", "value": format!(".//option[normalize-space()={}]", literal(option))}),
            )
            .await
            .unwrap_or_else(|e| panic!("no option {option:?}: {e}"));
        let option = Element(option[ELEMENT].as_str().unwrap_or_default().to_owned());
        self.click(&option).await;
    }

    /// Whether `element` is displayed.
    pub async fn displayed(&self, element: &Element) -> bool {
        self.command(reqwest::Method::GET, &format!("/element/{}/displayed", element.0), None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// The value of attribute `name` of `element`.
    pub async fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Runs `script` in the page and returns its result.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The value of cookie `name`.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let value = self
            .command(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await;
        value["value"].as_str().map(str::to_owned)
    }

    /// Sets cookie `name` for the console's path on the current site.
    pub async fn set_cookie(&self, name: &str, value: &str) {
        self.command(
            reqwest::Method::POST,
            "/cookie",
            Some(json!({"cookie": {"name": name, "value": value, "path": "/console/", "httpOnly": true}})),
        )
        .await;
    }

    /// A PNG screenshot of the window, written to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let data = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("creating the screenshot folder");
        }
        std::fs::write(path, png).expect("writing a screenshot");
    }

    /// Waits up to `seconds` for the page's text to contain `text`, reloading every half
    /// second when `reload`.
    pub async fn wait_for_text(&self, text: &str, seconds: u64, reload: bool) -> bool {
        for _ in 0..seconds * 2 {
            if self.text().await.contains(text) {
                return true;
            }
            if reload {
                self.command(reqwest::Method::POST, "/refresh", Some(json!({}))).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        false
    }

    /// Waits up to `seconds` for an element at `xpath`, reloading the page every half second.
    pub async fn wait_for_element(&self, xpath: &str, seconds: u64) -> Option<Element> {
        for _ in 0..seconds * 2 {
            if let Some(found) = self.find_now(xpath).await {
                return Some(found);
            }
            self.command(reqwest::Method::POST, "/refresh", Some(json!({}))).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        None
    }

    /// Ends the session (and its browser) and removes its profile.
    pub async fn close(self) {
        self.command(reqwest::Method::DELETE, "", None).await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
