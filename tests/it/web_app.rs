//! The web app over HTTP (issue 13): the bottom-up workflow through its
//! forms, with the API's own permission checks and rules; CSRF; manual
//! check-ins moving the overview; sign-in by a trusted proxy's header;
//! what anonymous visitors see under each `status_page` setting; hostile
//! text staying text. The real-browser suite (`tests/browser/`) drives the
//! same pages in Chromium; these tests pin what a page says and refuses.

use serde_json::json;
use wiremock::MockServer;

use crate::support::api::{Api, Options, kr_body, start};
use crate::support::backends::{self, TestDb};
use crate::support::web::{Browser, Page};

async fn daemon(db: &TestDb, extra: &str) -> (Api, MockServer) {
    let web = MockServer::start().await;
    let url = format!("{}/stats", web.uri());
    let api = start(
        db,
        Options {
            source_url: &url,
            extra_config: extra,
        },
    )
    .await;
    (api, web)
}

async fn signed_in(api: &Api, token: &str) -> Browser {
    let mut b = Browser::new(&api.base);
    b.sign_in(token).await;
    b
}

#[track_caller]
fn see_other(page: &Page, to: &str) {
    assert_eq!(page.status, 303, "{}", page.text());
    let location = page.location.as_deref().unwrap_or_default();
    assert!(location.starts_with(to), "went to {location}, not {to}");
}

const DRAFT: [(&str, &str); 8] = [
    ("id", "signups"),
    ("title", "More sign-ups"),
    ("objective", "reach"),
    ("team", "growth"),
    ("owner", "kim@acme.example"),
    ("kind", "increase"),
    ("start", "0"),
    ("unit", "sign-ups"),
];

fn draft_with(target: &str) -> Vec<(&'static str, &str)> {
    let mut fields = DRAFT.to_vec();
    fields.push(("target", target));
    fields
}

#[tokio::test]
async fn a_member_drafts_and_proposes_and_a_leader_reviews_in_the_browser() {
    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "").await;
    let t = &api.tokens;
    let mut kim = signed_in(&api, &t.growth).await;

    let form = kim.get("/key-results/new").await;
    assert_eq!(form.status, 200, "{}", form.text());
    assert!(form.body.contains(r#"action="/key-results""#) && form.body.contains(r#"name="csrf""#));

    // A bad value: the API's check, shown next to the field, what was typed kept.
    let refused = kim.post("/key-results", &draft_with("lots")).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.body.contains(r#"id="target-error""#),
        "{}",
        refused.body
    );
    assert!(
        refused.text().contains("Enter a number"),
        "{}",
        refused.text()
    );
    assert!(refused.body.contains(r#"aria-invalid="true""#));
    assert!(
        refused.body.contains(r#"value="More sign-ups""#),
        "the title was lost"
    );
    api.get("/key-results/signups", &t.growth).await.expect(404);

    let saved = kim.post("/key-results", &draft_with("100")).await;
    see_other(&saved, "/key-results/signups?done=created");
    let draft = api.get("/key-results/signups", &t.growth).await.expect(200);
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["target"], 100.0);
    let proposed = kim
        .post("/key-results/signups/workflow", &[("action", "propose")])
        .await;
    see_other(&proposed, "/key-results/signups?done=propose");

    // The leader's queue lists it; changes need a comment.
    let mut lee = signed_in(&api, &t.leader).await;
    let queue = lee.get("/review").await;
    assert_eq!(queue.status, 200);
    assert!(
        queue.body.contains(r#"data-kr="signups""#),
        "{}",
        queue.text()
    );
    let bare = lee
        .post(
            "/key-results/signups/workflow",
            &[("action", "request-changes"), ("back", "review")],
        )
        .await;
    assert_eq!(bare.status, 422, "{}", bare.text());
    assert!(
        bare.text().contains("`comment` is required"),
        "{}",
        bare.text()
    );
    let sent_back = lee
        .post(
            "/key-results/signups/workflow",
            &[
                ("action", "request-changes"),
                ("back", "review"),
                ("comment", "Aim for 200"),
            ],
        )
        .await;
    see_other(&sent_back, "/review?done=request-changes");
    let page = kim.get("/key-results/signups").await;
    assert!(page.text().contains("Aim for 200"), "{}", page.text());
    assert!(page.body.contains(r#"href="/key-results/signups/edit""#));

    // The member edits and proposes again; the leader approves.
    let mut edit = draft_with("200");
    edit.retain(|(name, _)| *name != "id");
    see_other(
        &kim.post("/key-results/signups/edit", &edit).await,
        "/key-results/signups?done=edited",
    );
    see_other(
        &kim.post("/key-results/signups/workflow", &[("action", "propose")])
            .await,
        "/key-results/signups",
    );
    let approved = lee
        .post("/key-results/signups/workflow", &[("action", "approve")])
        .await;
    see_other(&approved, "/key-results/signups?done=approve");
    let kr = api.get("/key-results/signups", &t.growth).await.expect(200);
    assert_eq!(
        (kr["state"].as_str(), kr["target"].as_f64()),
        (Some("approved"), Some(200.0))
    );

    // Every step is the API's own: reviewed and audited as the people who did it.
    let reviews = api
        .get("/key-results/signups/reviews", &t.viewer)
        .await
        .expect(200);
    let actors: Vec<&str> = reviews["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert!(
        actors
            .iter()
            .filter(|a| a.starts_with("kim (token"))
            .count()
            == 2,
        "{actors:?}"
    );
    assert!(
        actors
            .iter()
            .filter(|a| a.starts_with("lee (token"))
            .count()
            == 2,
        "{actors:?}"
    );
    let audit = api
        .get("/audit?entity_kind=key_result&entity_id=signups", &t.admin)
        .await
        .expect(200);
    assert!(audit.to_string().contains("kim (token"), "{audit}");
    api.stop().await;
}

#[tokio::test]
async fn permissions_are_the_apis_own() {
    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "").await;
    let t = &api.tokens;
    let mut kim = Browser::new(&api.base);
    kim.sign_in(&t.growth).await;
    see_other(
        &kim.post("/key-results", &draft_with("100")).await,
        "/key-results/signups",
    );

    // A member of another team: the API's refusal, word for word.
    let mut dana = signed_in(&api, &t.auth).await;
    let refused = dana
        .post("/key-results/signups/workflow", &[("action", "propose")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains("acts for team `auth`"),
        "{}",
        refused.text()
    );
    // A member cannot review.
    let review = kim
        .post("/key-results/signups/workflow", &[("action", "approve")])
        .await;
    assert_eq!(review.status, 403, "{}", review.text());
    assert_eq!(kim.get("/review").await.status, 403);

    // A viewer reads, sees no forms, and cannot write.
    let mut vic = signed_in(&api, &t.viewer).await;
    let page = vic.get("/key-results/signups").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("/workflow\"") && !page.body.contains("/check-ins\""),
        "{}",
        page.body
    );
    let write = vic
        .post("/key-results/signups/workflow", &[("action", "archive")])
        .await;
    assert_eq!(write.status, 403);
    assert!(
        write.text().contains("viewer tokens can only read"),
        "{}",
        write.text()
    );
    assert_eq!(
        api.get("/key-results/signups", &t.viewer).await.expect(200)["state"],
        "draft"
    );

    // Without a session a form only leads to the sign-in form.
    let mut nobody = Browser::new(&api.base);
    let anonymous = nobody
        .post("/key-results/signups/workflow", &[("action", "propose")])
        .await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.body.contains(r#"action="/sign-in""#));
    api.stop().await;
}

#[tokio::test]
async fn forms_without_their_csrf_token_change_nothing() {
    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "").await;
    let mut kim = signed_in(&api, &api.tokens.growth).await;
    let token = kim.cookie("okrd_csrf").unwrap().to_string();

    let mut missing = draft_with("100");
    let none = kim.post_as_is("/key-results", &missing).await;
    assert_eq!(none.status, 403, "{}", none.text());
    assert!(none.text().contains("security token"), "{}", none.text());
    missing.push(("csrf", "0123456789abcdef0123456789abcdef"));
    assert_eq!(kim.post_as_is("/key-results", &missing).await.status, 403);
    // The right token, but the browser says another site sent the form.
    let mut right = draft_with("100");
    right.push(("csrf", &token));
    kim.headers
        .push(("sec-fetch-site".into(), "cross-site".into()));
    assert_eq!(kim.post_as_is("/key-results", &right).await.status, 403);
    kim.headers.clear();
    api.get("/key-results/signups", &api.tokens.growth)
        .await
        .expect(404);
    // Signing out and in are forms too.
    assert_eq!(kim.post_as_is("/sign-out", &[]).await.status, 403);
    assert_eq!(kim.get("/").await.status, 200, "still signed in");
    let mut other = Browser::new(&api.base);
    let sign_in = other
        .post_as_is("/sign-in", &[("token", &api.tokens.growth)])
        .await;
    assert_eq!(sign_in.status, 403);
    // With its token the same form goes through.
    see_other(
        &kim.post_as_is("/key-results", &right).await,
        "/key-results/signups",
    );
    api.stop().await;
}

#[tokio::test]
async fn a_manual_check_in_moves_the_objective_on_the_overview() {
    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "").await;
    let t = &api.tokens;
    api.approved_kr(
        &t.growth,
        kr_body("signups", "reach", "growth", "kim@acme.example"),
    )
    .await;
    let mut kim = signed_in(&api, &t.growth).await;
    let progress = |page: &Page| -> f64 {
        let at = page
            .body
            .find(r#"data-objective="reach""#)
            .expect("the objective is on the overview");
        let rest = &page.body[at..];
        let p = rest.find("data-progress=\"").unwrap() + "data-progress=\"".len();
        rest[p..p + 6].trim_end_matches('"').parse().unwrap()
    };
    let before = kim.get("/").await;
    assert_eq!(progress(&before), 0.0, "{}", before.text());
    let page = kim.get("/key-results/signups").await;
    assert!(
        page.body
            .contains(r#"action="/key-results/signups/check-ins""#),
        "no check-in form"
    );

    let bad = kim
        .post("/key-results/signups/check-ins", &[("value", "many")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains(r#"id="value-error""#), "{}", bad.text());
    let done = kim
        .post(
            "/key-results/signups/check-ins",
            &[
                ("value", "50"),
                ("note", "first week's count"),
                ("confidence", "0.8"),
            ],
        )
        .await;
    see_other(&done, "/key-results/signups?done=checked-in");
    let after = kim.get("/").await;
    assert!((progress(&after) - 0.5).abs() < 1e-3, "{}", after.text());
    let page = kim.get("/key-results/signups").await.text();
    assert!(
        page.contains("manual, by kim") && page.contains("first week's count"),
        "{page}"
    );
    api.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_names_the_visitor_and_nobody_else_can() {
    let db = backends::sqlite_db();
    let trusted = "[server.proxy_auth]\nheader = \"X-Forwarded-Email\"\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n";
    let (api, _web) = daemon(&db, trusted).await;
    let mut kim = Browser::new(&api.base);
    kim.headers.push(("x-forwarded-email".into(), "kim".into()));
    let page = kim.get("/").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text()
            .contains("Signed in as kim (member, team growth)"),
        "{}",
        page.text()
    );
    assert!(
        !page.body.contains(r#"action="/sign-out""#),
        "the proxy signs out, not okrd"
    );
    // The proxy's visitor writes as the token named so, through the same checks.
    see_other(
        &kim.post("/key-results", &draft_with("100")).await,
        "/key-results/signups",
    );
    let mut nobody = Browser::new(&api.base);
    nobody.headers.push((
        "x-forwarded-email".into(),
        "mallory@elsewhere.example".into(),
    ));
    assert_eq!(nobody.get("/").await.status, 401);
    api.stop().await;

    // From an address that is not the proxy's, the header means nothing.
    let db = backends::sqlite_db();
    let elsewhere =
        "[server.proxy_auth]\nheader = \"X-Forwarded-Email\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n";
    let (api, _web) = daemon(&db, elsewhere).await;
    let mut forged = Browser::new(&api.base);
    forged
        .headers
        .push(("x-forwarded-email".into(), "lee".into()));
    assert_eq!(forged.get("/").await.status, 401);
    assert_eq!(forged.get("/review").await.status, 401);
    api.stop().await;
}

#[tokio::test]
async fn anonymous_visitors_see_what_the_setting_allows() {
    let pages = [
        "/",
        "/sources",
        "/key-results/calls",
        "/teams/acme",
        "/objectives/opex",
    ];
    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "[server]\nstatus_page = \"public\"\n").await;
    let mut anyone = Browser::new(&api.base);
    for path in pages {
        let page = anyone.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        assert!(
            !page.body.contains(r#"method="post""#),
            "{path} shows a form: {}",
            page.body
        );
    }
    assert!(
        anyone
            .get("/key-results/calls")
            .await
            .text()
            .contains("Fewer calls to the call center")
    );
    assert_eq!(anyone.get("/review").await.status, 403);
    assert!(
        !anyone
            .get("/key-results/new")
            .await
            .body
            .contains(r#"action="/key-results""#)
    );
    api.stop().await;

    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "").await;
    let mut anyone = Browser::new(&api.base);
    for path in pages.iter().chain(&["/review", "/key-results/new"]) {
        let page = anyone.get(path).await;
        assert_eq!(page.status, 401, "{path}");
        assert!(
            !page.text().contains("Reduce cost of operations"),
            "{path} leaked"
        );
    }
    api.stop().await;

    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "[server]\nstatus_page = \"off\"\n").await;
    let mut admin = Browser::new(&api.base);
    admin.headers.push((
        "authorization".into(),
        format!("Bearer {}", api.tokens.admin),
    ));
    for path in pages {
        assert_eq!(admin.get(path).await.status, 404, "{path}");
    }
    api.stop().await;
}

#[tokio::test]
async fn hostile_text_stays_text_on_every_page() {
    let db = backends::sqlite_db();
    let (api, _web) = daemon(&db, "").await;
    let t = &api.tokens;
    let mut body = kr_body("x", "reach", "growth", "<img src=x onerror=alert(1)>");
    body["title"] = json!("<script>alert('title')</script>");
    body["unit"] = json!("</svg><script>");
    api.approved_kr(&t.growth, body).await;
    let mut lee = signed_in(&api, &t.leader).await;
    for path in [
        "/",
        "/key-results/x",
        "/objectives/reach",
        "/teams/growth",
        "/sources",
    ] {
        let page = lee.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        for raw in ["<script>alert", "<img src=x", "</svg><script>"] {
            assert!(!page.body.contains(raw), "{path} carries {raw}");
        }
        assert!(
            page.body.contains("&lt;script&gt;") || path == "/sources",
            "{path}"
        );
    }
    let odd = lee.get("/key-results/%3Cb%3Ebold").await;
    assert_eq!(odd.status, 404);
    assert!(!odd.body.contains("<b>bold"), "{}", odd.body);
    api.stop().await;
}

#[tokio::test]
async fn a_big_overview_shows_each_objectives_worst_krs_and_links_to_the_rest() {
    use crate::support::api::start_with;
    use chrono::{TimeZone, Utc};
    // 250 KRs over 5 objectives of team `growth`, 50 each.
    let mut okrs = String::from(
        "[[periods]]\nid = \"2026-Q4\"\nstart = \"2026-10-01\"\nend = \"2026-12-31\"\n\
         [[teams]]\nid = \"growth\"\nname = \"Growth\"\n[[teams]]\nid = \"auth\"\nname = \"Auth\"\n",
    );
    for o in 0..5 {
        okrs.push_str(&format!(
            "[[objectives]]\nid = \"o{o}\"\ntitle = \"Grow area {}\"\nperiod = \"2026-Q4\"\nteam = \"growth\"\n",
            ["north", "south", "east", "west", "centre"][o]
        ));
        for k in 0..50 {
            let team = if k == 0 { "auth" } else { "growth" };
            okrs.push_str(&format!(
                "[[key_results]]\nid = \"o{o}-k{k}\"\nobjective = \"o{o}\"\nteam = \"{team}\"\nowner = \"o{o}k{k}@acme.example\"\n\
                 title = \"KR {k} of {o}\"\nkind = \"increase\"\nstart = 0\ntarget = 100\n"
            ));
        }
    }
    let db = backends::sqlite_db();
    let web = MockServer::start().await;
    let url = format!("{}/stats", web.uri());
    let at = Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap();
    let opts = Options {
        source_url: &url,
        extra_config: "",
    };
    let limits = [
        ("OKRD_OKRS__MAX_KRS_PER_OBJECTIVE_PER_TEAM", "100"),
        ("OKRD_OKRS__MAX_KRS_PER_OWNER_PER_PERIOD", "100"),
    ];
    let api = start_with(&db, opts, &okrs, at, &limits).await;
    let mut lee = signed_in(&api, &api.tokens.leader).await;
    let page = lee.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<li class=\"kr\"").count(),
        25,
        "5 per objective"
    );
    assert!(
        page.body
            .contains(r#"<a href="/objectives/o3">and 45 more key results</a>"#),
        "{}",
        page.text()
    );
    assert!(page.body.len() < 100 * 1024, "{} bytes", page.body.len());
    // Filtered down under the limit, every KR shows.
    let auth = lee.get("/?period=2026-Q4&team=auth").await;
    assert_eq!(
        auth.body.matches("<li class=\"kr\"").count(),
        5,
        "{}",
        auth.text()
    );
    assert!(!auth.body.contains("more key results"));
    api.stop().await;
}
