//! Held values (README "Held values"), through the daemon on each backend:
//! a glitch is held and dismissed, a glitch is superseded by the next
//! normal value, a broken tracker's 0 never moves the KR however often it
//! comes, a held value a leader accepts counts, and a real change of level
//! is confirmed after `confirm_after` fetches.
//!
//! Fetches run through `POST /sources/web/run` on a manual clock moved a
//! minute between runs, so each is its own slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use okrd::clock::Clock as _;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::api::{Api, Options, kr_body, start};
use crate::support::backends;
use crate::support::sample;

/// Answers `{"visitors": <the value set last>}`.
struct Visitors(Arc<AtomicU64>);

impl Respond for Visitors {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let v = f64::from_bits(self.0.load(Ordering::SeqCst));
        ResponseTemplate::new(200).set_body_json(json!({ "visitors": v }))
    }
}

struct Held {
    api: Api,
    value: Arc<AtomicU64>,
    _upstream: MockServer,
}

impl Held {
    /// A daemon whose source `web` has `guard` and KR `visits` (increase
    /// 0 → 100, so a step over 100 is held by default) bound to it.
    async fn start(db: &backends::TestDb, guard: &str, kr_guard: Value) -> Held {
        let upstream = MockServer::start().await;
        // What a fetch right after approval finds: a normal value.
        let value = Arc::new(AtomicU64::new(10f64.to_bits()));
        Mock::given(method("GET"))
            .and(path("/v"))
            .respond_with(Visitors(value.clone()))
            .mount(&upstream)
            .await;
        let url = format!("{}/v", upstream.uri());
        let extra = format!("[sources.guard]\n{guard}\n");
        let api = start(
            db,
            Options {
                source_url: &url,
                extra_config: &extra,
            },
        )
        .await;
        let mut body = kr_body("visits", "reach", "growth", "kim@acme.example");
        body["source"] = json!({"use": "web"});
        if !kr_guard.is_null() {
            body["guard"] = kr_guard;
        }
        api.approved_kr(&api.tokens.growth, body).await;
        let held = Held {
            api,
            value,
            _upstream: upstream,
        };
        held.idle().await;
        held
    }

    /// One fetch of `v`, in a slot of its own; returns the stored check-in.
    /// A fetch that fails (the source's 2 s timeout on a loaded machine) is
    /// run again in the next slot.
    async fn fetch(&self, v: f64) -> Value {
        self.value.store(v.to_bits(), Ordering::SeqCst);
        let before = self.check_ins().await.len();
        let clock = self.api.clock.as_ref().unwrap();
        let mut source = Value::Null;
        for _attempt in 0..3 {
            clock.advance(Duration::from_secs(60));
            let slot = clock.now();
            let run = self
                .api
                .act("/sources/web/run", &self.api.tokens.admin)
                .await
                .expect(202);
            if run["started"] != json!(["visits"]) {
                // The first slot after approval may still be on its way.
                self.idle().await;
                continue;
            }
            for _ in 0..2000 {
                let all = self.check_ins().await;
                if all.len() > before {
                    return all[0].clone();
                }
                source = self
                    .api
                    .get("/sources/web", &self.api.tokens.admin)
                    .await
                    .expect(200);
                let failed_now = source["last_failure"]["at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t >= slot);
                if failed_now && source["running"] == false {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        panic!(
            "{}: the fetch of {v} stored nothing: {source}",
            self.api.backend
        );
    }

    /// One fetch of `v` that stores nothing: waits for the source's success count to grow.
    async fn run_once(&self, v: f64) {
        self.value.store(v.to_bits(), Ordering::SeqCst);
        let fetches = |m: &str| sample(m, "okr_source_fetches_total", &["source=\"web\""]);
        let before = fetches(&self.api.metrics().await);
        self.api
            .clock
            .as_ref()
            .unwrap()
            .advance(Duration::from_secs(60));
        self.idle().await;
        self.api
            .act("/sources/web/run", &self.api.tokens.admin)
            .await
            .expect(202);
        self.api
            .metrics_until("one more fetch", |m| fetches(m) > before)
            .await;
    }

    /// Waits until no fetch of `web` is in flight.
    async fn idle(&self) {
        for _ in 0..2000 {
            let source = self
                .api
                .get("/sources/web", &self.api.tokens.admin)
                .await
                .expect(200);
            if source["running"] == false {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{}: source web never went idle", self.api.backend);
    }

    /// The KR's check-ins, newest first.
    async fn check_ins(&self) -> Vec<Value> {
        let page = self
            .api
            .get("/key-results/visits/check-ins", &self.api.tokens.viewer)
            .await
            .expect(200);
        page["items"].as_array().unwrap().clone()
    }

    async fn kr(&self) -> Value {
        self.api
            .get("/key-results/visits", &self.api.tokens.viewer)
            .await
            .expect(200)
    }

    /// The KR once its value is `v`: what follows a stored check-in (a
    /// confirmation, a supersession) completes a moment after it.
    async fn kr_with_value(&self, v: f64) -> Value {
        let mut kr = Value::Null;
        for _ in 0..2000 {
            kr = self.kr().await;
            if kr["value"] == v {
                return kr;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{}: the KR never took {v}: {kr}", self.api.backend);
    }

    /// Waits for `/metrics` to show `held` for the KR, and returns it.
    async fn metrics_with_held(&self, held: f64) -> String {
        self.api
            .metrics_until(&format!("okr_key_result_held {held}"), |m| {
                sample(m, "okr_key_result_held", &["key_result=\"visits\""]) == Some(held)
            })
            .await
    }

    fn resolve(&self, check_in: &Value, how: &str) -> String {
        format!(
            "/key-results/visits/check-ins/{}/{how}",
            check_in["id"].as_i64().unwrap()
        )
    }
}

#[tokio::test]
async fn a_glitch_is_held_until_dismissed_and_a_broken_tracker_never_moves_the_kr() {
    for db in backends::databases().await {
        let h = Held::start(&db, "min = 1", Value::Null).await;
        let b = h.api.backend;
        let first = h.fetch(40.0).await;
        assert!(first.get("hold").is_none(), "{b}: {first}");
        h.fetch(45.0).await;
        h.kr_with_value(45.0).await;

        // A broken tracker: 0 is below `min`. Held however often it comes,
        // and stored once while it repeats (a stuck tracker would otherwise
        // add a row per fetch).
        let mut zeros = Vec::new();
        for v in [0.0, 0.5] {
            let c = h.fetch(v).await;
            assert_eq!(c["hold"], "held", "{b}: {c}");
            zeros.push(c);
        }
        for _ in 0..3 {
            h.run_once(0.5).await;
        }
        assert_eq!(
            h.check_ins().await[0]["id"],
            zeros[1]["id"],
            "{b}: not stored again"
        );
        let m = h.metrics_with_held(1.0).await;
        let mut kr = h.kr().await;
        for _ in 0..2000 {
            if kr["held"]["check_in"] == zeros[1]["id"] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            kr = h.kr().await;
        }
        assert_eq!(kr["value"], 45.0, "{b}: the KR never moved: {kr}");
        assert_eq!(kr["held"]["value"], 0.5, "{b}: {kr}");
        assert_eq!(kr["held"]["check_in"], zeros[1]["id"], "{b}: the newest");
        assert_eq!(
            sample(&m, "okr_key_result_value", &["key_result=\"visits\""]),
            Some(45.0),
            "{b}"
        );

        // Members may not resolve; leaders may, once.
        h.api
            .act(&h.resolve(&zeros[1], "dismiss"), &h.api.tokens.growth)
            .await
            .expect(403);
        let dismissed = h
            .api
            .act(&h.resolve(&zeros[1], "dismiss"), &h.api.tokens.leader)
            .await
            .expect(200);
        assert_eq!(dismissed["hold"], "dismissed", "{b}");
        h.api
            .act(&h.resolve(&zeros[1], "accept"), &h.api.tokens.leader)
            .await
            .problem(409, "dismissed");
        h.api
            .act(&h.resolve(&first, "accept"), &h.api.tokens.leader)
            .await
            .problem(409, "not held");
        h.api
            .act(
                "/key-results/visits/check-ins/999999/dismiss",
                &h.api.tokens.leader,
            )
            .await
            .expect(404);
        // The older zeros still wait.
        assert_eq!(h.kr().await["held"]["check_in"], zeros[0]["id"], "{b}");

        // The next normal value supersedes every zero still held.
        h.fetch(47.0).await;
        h.metrics_with_held(0.0).await;
        let kr = h.kr_with_value(47.0).await;
        assert!(kr.get("held").is_none(), "{b}: {kr}");
        let holds: Vec<Value> = h
            .check_ins()
            .await
            .iter()
            .take(5)
            .map(|c| c["hold"].clone())
            .collect();
        assert_eq!(
            holds,
            [
                Value::Null,
                json!("dismissed"),
                json!("superseded"),
                Value::Null,
                Value::Null
            ],
            "{b}"
        );

        // A step of more than |target − start| is held; the next normal
        // value supersedes it.
        let glitch = h.fetch(400.0).await;
        assert_eq!(glitch["hold"], "held", "{b}");
        assert_eq!(h.kr().await["value"], 47.0, "{b}");
        h.fetch(48.0).await;
        h.kr_with_value(48.0).await;

        // A held value a leader accepts counts at once.
        let jump = h.fetch(300.0).await;
        assert_eq!(h.kr().await["value"], 48.0, "{b}");
        let accepted = h
            .api
            .act(&h.resolve(&jump, "accept"), &h.api.tokens.admin)
            .await
            .expect(200);
        assert_eq!(accepted["hold"], "accepted", "{b}");
        let kr = h.kr().await;
        assert_eq!(
            (kr["value"].clone(), kr.get("held")),
            (json!(300.0), None),
            "{b}: {kr}"
        );
        let audit = h
            .api
            .get("/audit?entity_kind=check_in", &h.api.tokens.admin)
            .await
            .expect(200);
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["check_in.accept", "check_in.dismiss"], "{b}");

        // A person's value is never held, however far it jumps.
        let manual = h
            .api
            .post(
                "/key-results/visits/check-ins",
                &h.api.tokens.leader,
                json!({"value": 0, "note": "the site was down all day"}),
            )
            .await
            .expect(201);
        assert!(manual["check_in"].get("hold").is_none(), "{b}: {manual}");
        h.kr_with_value(0.0).await;
        h.api.stop().await;
    }
}

#[tokio::test]
async fn a_real_change_of_level_is_confirmed_after_confirm_after_fetches() {
    // The KR's own `confirm_after` (3) wins over its source's (5).
    for db in backends::databases().await {
        let h = Held::start(&db, "confirm_after = 5", json!({"confirm_after": 3})).await;
        let b = h.api.backend;
        h.fetch(20.0).await;
        // Traffic really jumps: 150 more, then noise around the new level.
        for (n, v) in [170.0, 175.0].into_iter().enumerate() {
            let c = h.fetch(v).await;
            assert_eq!(c["hold"], "held", "{b}: fetch {n}");
            assert_eq!(h.kr().await["value"], 20.0, "{b}");
        }
        h.fetch(172.0).await;
        h.kr_with_value(172.0).await;
        h.metrics_with_held(0.0).await;
        assert!(h.kr().await.get("held").is_none(), "{b}");
        let holds: Vec<Value> = h
            .check_ins()
            .await
            .iter()
            .take(4)
            .map(|c| c["hold"].clone())
            .collect();
        assert_eq!(
            holds,
            [
                json!("confirmed"),
                json!("confirmed"),
                json!("confirmed"),
                Value::Null
            ],
            "{b}"
        );
        // Counted from now on: the new level is the base of the next step.
        let c = h.fetch(180.0).await;
        assert!(c.get("hold").is_none(), "{b}: {c}");
        h.api.stop().await;
    }
}
