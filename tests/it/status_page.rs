//! Who may read the status page (issue 11, item 4): with the default
//! settings `/` refuses anonymous readers and shows nothing of the OKRs or
//! the sources; `public` shows every reader the failure *reasons* but their
//! messages only to admins; a token opens a private page through the
//! sign-in form (then a cookie) or a bearer header; `off` answers 404.
//!
//! The source fails with an answer that quotes an internal host, as an
//! exec's stderr or a database's error would: that quote is the failure's
//! message and must reach admins only.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::api::{Api, Options, kr_body, start};
use crate::support::backends::{self, TestDb};
use crate::support::web::Browser;

/// What the failing source's answer quotes, and so its failure's message.
const INTERNAL: &str = "deploy@db01.internal";

/// A daemon on `db` with `[server]` `extra` whose source `web` has failed
/// (reason `http_5xx`, a message quoting `INTERNAL`).
async fn daemon_with_a_failure(db: &TestDb, web: &MockServer, server: &str) -> Api {
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string(format!("ssh {INTERNAL}: permission denied")),
        )
        .mount(web)
        .await;
    let url = format!("{}/stats", web.uri());
    let extra = format!("[server]\n{server}\n");
    let api = start(
        db,
        Options {
            source_url: &url,
            extra_config: &extra,
        },
    )
    .await;
    let t = &api.tokens;
    let mut body = kr_body("visitors", "reach", "growth", "kim@acme.example");
    body["source"] = serde_json::json!({"use": "web"});
    api.approved_kr(&t.growth, body).await;
    for _ in 0..200 {
        let _ = api
            .call("POST", "/sources/web/run", Some(&t.admin), None)
            .await;
        let seen = api.get("/sources/web", &t.admin).await.expect(200);
        if seen["last_failure"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(INTERNAL))
        {
            return api;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the source's failure was never recorded");
}

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET path` with optional headers: status, body, `Set-Cookie`.
async fn get(api: &Api, path: &str, headers: &[(reqwest::header::HeaderName, &str)]) -> Page {
    let mut request = client().get(format!("{}{path}", api.base));
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    Page::of(request.send().await.unwrap()).await
}

/// `POST /sign-in` with the form field `token`, carrying the CSRF token
/// the form page gave (`Browser`).
async fn sign_in(api: &Api, token: &str) -> Page {
    let mut browser = Browser::new(&api.base);
    let page = browser.post("/sign-in", &[("token", token)]).await;
    Page {
        status: page.status,
        cookie: page
            .set_cookies
            .into_iter()
            .find(|c| c.starts_with("okrd_session=")),
        location: page.location,
        body: page.body,
    }
}

#[derive(Debug)]
struct Page {
    status: StatusCode,
    body: String,
    cookie: Option<String>,
    location: Option<String>,
}

impl Page {
    async fn of(r: reqwest::Response) -> Page {
        let header = |name| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (cookie, location) = (header(SET_COOKIE), header(LOCATION));
        Page {
            status: r.status(),
            cookie,
            location,
            body: r.text().await.unwrap(),
        }
    }

    /// The status page, with the failure's reason and nothing of its message.
    #[track_caller]
    fn shows_reasons_only(&self) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(
            self.body.contains("Reduce cost of operations"),
            "{}",
            self.body
        );
        assert!(self.body.contains("http_5xx"), "{}", self.body);
        assert!(
            !self.body.contains("db01"),
            "a message leaked: {}",
            self.body
        );
    }

    /// The sources page: the failure's reason and nothing of its message.
    #[track_caller]
    fn shows_reasons_only_of_sources(&self) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.contains("http_5xx"), "{}", self.body);
        assert!(
            !self.body.contains("db01"),
            "a message leaked: {}",
            self.body
        );
    }

    /// The sources page with the failure's message.
    #[track_caller]
    fn shows_messages(&self) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.contains("http_5xx"), "{}", self.body);
        assert!(self.body.contains(INTERNAL), "{}", self.body);
    }
}

#[tokio::test]
async fn by_default_the_page_needs_a_token_and_only_admins_see_messages() {
    let (db, web) = (backends::sqlite_db(), MockServer::start().await);
    let api = daemon_with_a_failure(&db, &web, "").await;
    let t = &api.tokens;

    // Anonymous: the sign-in form, nothing of the OKRs or the sources.
    let anonymous = get(&api, "/", &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(
        anonymous.body.contains(r#"action="/sign-in""#),
        "{}",
        anonymous.body
    );
    for leak in ["db01", "http_5xx", "Reduce cost of operations"] {
        assert!(!anonymous.body.contains(leak), "{leak}: {}", anonymous.body);
    }
    let form = get(&api, "/sign-in", &[]).await;
    assert_eq!(form.status, 200);
    assert!(!form.body.contains("db01") && !form.body.contains("http_5xx"));
    // A token that is not one, a revoked-looking one, a cookie of garbage.
    let forged = format!("{}x", t.viewer);
    for headers in [
        vec![(AUTHORIZATION, format!("Bearer {forged}"))],
        vec![(COOKIE, format!("okrd_session={forged}"))],
        vec![(COOKIE, "okrd_session=<script>".to_string())],
    ] {
        let headers: Vec<_> = headers
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str()))
            .collect();
        let page = get(&api, "/", &headers).await;
        assert_eq!(page.status, 401, "{headers:?}");
        assert!(!page.body.contains("db01"));
    }

    // The form: a wrong token gets the form again, without an echo.
    let wrong = sign_in(&api, &forged).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.cookie.is_none());
    assert!(!wrong.body.contains(&forged), "the token was echoed");
    // A viewer's token signs in: a cookie, then the page with reasons only.
    let signed_in = sign_in(&api, &t.viewer).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/"));
    let cookie = signed_in.cookie.expect("a session cookie");
    for attribute in ["okrd_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let viewer = get(&api, "/", &[(COOKIE, session.as_str())]).await;
    viewer.shows_reasons_only();
    assert!(
        viewer
            .body
            .contains("Signed in as <strong>vic</strong> (viewer)"),
        "{}",
        viewer.body
    );
    // A leader's bearer header: reasons only too. An admin's: the messages.
    let leader = format!("Bearer {}", t.leader);
    get(&api, "/", &[(AUTHORIZATION, leader.as_str())])
        .await
        .shows_reasons_only();
    get(&api, "/sources", &[(AUTHORIZATION, leader.as_str())])
        .await
        .shows_reasons_only_of_sources();
    let admin = format!("Bearer {}", t.admin);
    get(&api, "/", &[(AUTHORIZATION, admin.as_str())])
        .await
        .shows_reasons_only();
    get(&api, "/sources", &[(AUTHORIZATION, admin.as_str())])
        .await
        .shows_messages();
    let admin_session = sign_in(&api, &t.admin).await.cookie.unwrap();
    let admin_session = admin_session.split(';').next().unwrap();
    get(&api, "/sources", &[(COOKIE, admin_session)])
        .await
        .shows_messages();

    // Signing out (a form with its CSRF token) expires the cookie.
    let mut browser = Browser::new(&api.base);
    browser.sign_in(&t.viewer).await;
    assert_eq!(browser.get("/").await.status, 200);
    let out = browser.post("/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("okrd_session=") && c.contains("Max-Age=0"))
    );
    assert_eq!(browser.get("/").await.status, 401);
    api.stop().await;
}

#[tokio::test]
async fn a_public_page_shows_reasons_to_everyone_and_messages_to_admins() {
    let (db, web) = (backends::sqlite_db(), MockServer::start().await);
    let api = daemon_with_a_failure(&db, &web, "status_page = \"public\"").await;
    let anonymous = get(&api, "/", &[]).await;
    anonymous.shows_reasons_only();
    assert!(anonymous.body.contains(r#"href="/sign-in""#));
    get(&api, "/sources", &[])
        .await
        .shows_reasons_only_of_sources();
    let viewer = format!("Bearer {}", api.tokens.viewer);
    get(&api, "/sources", &[(AUTHORIZATION, viewer.as_str())])
        .await
        .shows_reasons_only_of_sources();
    let admin = format!("Bearer {}", api.tokens.admin);
    get(&api, "/sources", &[(AUTHORIZATION, admin.as_str())])
        .await
        .shows_messages();
    api.stop().await;
}

#[tokio::test]
async fn a_page_turned_off_is_not_found_even_for_admins() {
    let (db, web) = (backends::sqlite_db(), MockServer::start().await);
    let api = daemon_with_a_failure(&db, &web, "status_page = \"off\"").await;
    let admin = format!("Bearer {}", api.tokens.admin);
    for headers in [vec![], vec![(AUTHORIZATION, admin.as_str())]] {
        let page = get(&api, "/", &headers).await;
        assert_eq!(page.status, 404, "{}", page.body);
        assert!(!page.body.contains("db01") && !page.body.contains("http_5xx"));
    }
    assert_eq!(get(&api, "/sign-in", &[]).await.status, 404);
    // The rest of the server is unaffected.
    assert_eq!(get(&api, "/healthz", &[]).await.status, 200);
    api.stop().await;
}
