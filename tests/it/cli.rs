//! The `okrd` binary as a user runs it: `check`, `apply` (dry run, idempotent,
//! all or nothing) and `migrate`, on a SQLite file.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::daemon::{Launch, START_DEADLINE};

const GOOD: &str = r#"
[[periods]]
id = "2026-Q4"
start = "2026-10-01"
end = "2026-12-31"

[[teams]]
id = "acme"
name = "Acme"

[[objectives]]
id = "opex"
title = "Reduce cost of operations"
period = "2026-Q4"
team = "acme"

[[key_results]]
id = "calls"
objective = "opex"
team = "acme"
owner = "dana@acme.example"
title = "Fewer password reset calls"
kind = "decrease"
start = 1200
target = 600
"#;

/// Several mistakes, each on a known line.
const BAD: &str = r#"[[periods]]
id = "2026-Q4"
start = "2026-12-31"
end = "2026-10-01"

[[objectives]]
id = "opex"
title = "Reduce cost of operations"
period = "2026-Q4"
team = "nobody"

[[key_results]]
id = "calls"
objective = "opex"
team = "acme"
owner = "dana@acme.example"
title = "Fewer password reset calls"
kind = "decrease"
start = 600
target = 600
colour = "blue"
"#;

fn okrd(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_okrd"))
        .current_dir(dir)
        .env_remove("OKRD_CONFIG")
        .env(
            "OKRD_DATABASE__URL",
            format!("sqlite://{}", dir.join("okrd.db").display()),
        )
        .args(args)
        .output()
        .expect("okrd runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn check_names_every_mistake_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), BAD).unwrap();
    let out = okrd(dir.path(), &["check", "bad.toml"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // end before start (line 2-4), unknown team (line 10), start = target (19/20), unknown key (line 21).
    for (line, needle) in [
        ("bad.toml:", "end"),
        ("bad.toml:10:", "nobody"),
        ("bad.toml:21:", "colour"),
        ("bad.toml:", "target"),
        ("bad.toml:", "acme"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(line) && l.contains(needle)),
            "no `{line}…{needle}` line in:\n{err}"
        );
    }
    assert!(
        err.lines().filter(|l| l.starts_with("bad.toml:")).count() >= 5,
        "{err}"
    );
}

#[test]
fn check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), GOOD).unwrap();
    let out = okrd(dir.path(), &["check", "good.toml"]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("1 key results"), "{stdout}");
}

#[test]
fn apply_is_idempotent_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("okrs.toml"), GOOD).unwrap();

    let dry = okrd(dir.path(), &["apply", "--dry-run", "okrs.toml"]);
    let (stdout, err) = text(&dry);
    assert!(dry.status.success(), "{err}");
    assert!(stdout.contains("would create key_result calls"), "{stdout}");
    let again = okrd(dir.path(), &["apply", "--dry-run", "okrs.toml"]);
    assert!(
        text(&again).0.contains("would create key_result calls"),
        "the dry run wrote something"
    );

    let first = okrd(dir.path(), &["apply", "okrs.toml"]);
    let (stdout, err) = text(&first);
    assert!(first.status.success(), "{err}");
    assert!(stdout.contains("4 created"), "{stdout}");

    let second = okrd(dir.path(), &["apply", "okrs.toml"]);
    let (stdout, _) = text(&second);
    assert!(
        stdout.contains("0 created, 0 changed, 0 archived, 4 unchanged"),
        "{stdout}"
    );

    std::fs::write(
        dir.path().join("okrs.toml"),
        GOOD.replace("target = 600", "target = 500"),
    )
    .unwrap();
    let changed = okrd(dir.path(), &["apply", "--dry-run", "okrs.toml"]);
    let (stdout, _) = text(&changed);
    assert!(
        stdout.contains("would change key_result calls (target)"),
        "{stdout}"
    );
}

#[test]
fn apply_of_a_bad_file_leaves_the_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("okrs.toml"), GOOD).unwrap();
    assert!(okrd(dir.path(), &["apply", "okrs.toml"]).status.success());

    std::fs::write(dir.path().join("okrs.toml"), BAD).unwrap();
    let out = okrd(dir.path(), &["apply", "okrs.toml"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("okrs.toml:21:") && err.contains("nothing applied"),
        "{err}"
    );

    std::fs::write(dir.path().join("okrs.toml"), GOOD).unwrap();
    let (stdout, _) = text(&okrd(dir.path(), &["apply", "--dry-run", "okrs.toml"]));
    assert!(
        stdout.contains("0 created, 0 changed, 0 archived, 4 unchanged"),
        "{stdout}"
    );
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = okrd(dir.path(), &["migrate"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(dir.path().join("okrd.db").exists());
}

#[test]
fn bad_config_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("okrd.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\nlisen = 1\n",
    )
    .unwrap();
    let out = okrd(dir.path(), &["check"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("okrd.toml:3:") && err.contains("lisen"),
        "{err}"
    );
}

#[test]
fn a_source_guard_that_cannot_hold_anything_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = "[okrs]\nfiles = [\"okrs.toml\"]\n[[sources]]\nname = \"x\"\nconnector = \"http_json\"\n\
               [sources.params]\nurl = \"http://127.0.0.1:9/\"\nvalue = \"$.v\"\n\
               [sources.guard]\nmin = 10\nmax = 1\nconfirm_after = 0\n";
    std::fs::write(dir.path().join("okrd.toml"), cfg).unwrap();
    std::fs::write(dir.path().join("okrs.toml"), GOOD).unwrap();
    let out = okrd(dir.path(), &["check"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("source `x`: guard.min (10) is above guard.max (1)"),
        "{err}"
    );
    // An unknown key in the table is named too.
    let cfg = cfg.replace("confirm_after = 0", "max_step = 2");
    std::fs::write(dir.path().join("okrd.toml"), cfg).unwrap();
    let (_, err) = text(&okrd(dir.path(), &["check"]));
    assert!(err.contains("max_step"), "{err}");
}

#[test]
fn unknown_connector_and_missing_source_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = "[okrs]\nfiles = [\"okrs.toml\"]\n[[sources]]\nname = \"x\"\nconnector = \"nope\"\n";
    std::fs::write(dir.path().join("okrd.toml"), cfg).unwrap();
    let okrs = format!("{GOOD}[key_results.source]\nuse = \"missing\"\n");
    std::fs::write(dir.path().join("okrs.toml"), okrs).unwrap();
    let out = okrd(dir.path(), &["check"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("okrd.toml:5: source `x`: unknown connector `nope`"),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("okrs.toml:")
            && l.contains("source `missing`, which is not configured")),
        "{err}"
    );
}

/// `okrd source test` against a mock: prints the value, or the failure with its reason; writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn source_test_fetches_once_and_prints_the_value_or_the_failure() {
    use wiremock::matchers::{header, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let mock = MockServer::start().await;
    Mock::given(path("/stats"))
        .and(header("authorization", "Bearer s3cr3t-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"visitors": "1234"})),
        )
        .mount(&mock)
        .await;
    Mock::given(path("/down"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&mock)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "Bearer s3cr3t-token").unwrap();
    let cfg = format!(
        "[okrs]\nfiles = [\"okrs.toml\"]\n\
         [[sources]]\nname = \"web\"\nconnector = \"http_json\"\n[sources.params]\nurl = \"{0}/stats\"\n\
         headers = {{ Authorization = {{ file = \"{1}\" }} }}\n\
         [[sources]]\nname = \"down\"\nconnector = \"http_json\"\n[sources.params]\nurl = \"{0}/down\"\nvalue = \"$.x\"\n",
        mock.uri(),
        dir.path().join("token").display()
    );
    std::fs::write(dir.path().join("okrd.toml"), cfg).unwrap();
    let okrs = format!(
        "{GOOD}[key_results.source]\nuse = \"web\"\nparams = {{ value = \"$.visitors\" }}\n"
    );
    std::fs::write(dir.path().join("okrs.toml"), okrs).unwrap();

    let d = dir.path().to_path_buf();
    let ok =
        tokio::task::spawn_blocking(move || okrd(&d, &["source", "test", "web", "--kr", "calls"]))
            .await
            .unwrap();
    let (stdout, err) = text(&ok);
    assert!(ok.status.success(), "{stdout}{err}");
    assert!(stdout.contains("value:     1234"), "{stdout}");
    assert!(!stdout.contains("s3cr3t"), "secret printed: {stdout}");

    let d = dir.path().to_path_buf();
    let down = tokio::task::spawn_blocking(move || okrd(&d, &["source", "test", "down"]))
        .await
        .unwrap();
    let (stdout, _) = text(&down);
    assert_eq!(down.status.code(), Some(1));
    assert!(stdout.contains("reason http_5xx"), "{stdout}");
    assert!(
        !dir.path().join("okrd.db").exists(),
        "source test wrote a database"
    );
}

#[tokio::test]
async fn serve_refuses_bad_okr_files_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = "[server]\nlisten = \"127.0.0.1:0\"\n[okrs]\nfiles = [\"okrs.toml\"]\n\
               [[sources]]\nname = \"web\"\nconnector = \"http_json\"\n[sources.params]\nurl = \"http://127.0.0.1:9/x\"\n";
    std::fs::write(dir.path().join("okrd.toml"), cfg).unwrap();
    // Valid as an OKR file; only the connector knows the JSONPath is broken.
    let okrs = format!(
        "{GOOD}[key_results.source]\nuse = \"web\"\nparams = {{ value = \"not a jsonpath\" }}\n"
    );
    std::fs::write(dir.path().join("okrs.toml"), okrs).unwrap();
    let db = format!("sqlite://{}", dir.path().join("okrd.db").display());
    let mut serve = Launch::serve(&dir.path().join("okrd.toml"))
        .env("OKRD_DATABASE__URL", &db)
        .spawn();
    let status = serve
        .wait_exit(START_DEADLINE, "refusing the OKR files")
        .await;
    let err = serve.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("okrs.toml:") && err.contains("key result `calls`"),
        "{err}"
    );
    assert!(
        !dir.path().join("okrd.db").exists(),
        "serve wrote to the database before refusing"
    );

    let apply = okrd(dir.path(), &["apply", "okrs.toml"]);
    let (_, err) = text(&apply);
    assert_eq!(apply.status.code(), Some(1), "{err}");
    assert!(err.contains("nothing applied"), "{err}");
}

#[test]
fn apply_is_the_same_however_the_path_is_spelled_and_archives_what_a_file_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let two = format!(
        "{GOOD}\n[[key_results]]\nid = \"second\"\nobjective = \"opex\"\nteam = \"acme\"\nowner = \"sam@acme.example\"\ntitle = \"Second\"\nkind = \"at_least\"\ntarget = 3\n"
    );
    std::fs::write(dir.path().join("okrs.toml"), &two).unwrap();
    assert!(okrd(dir.path(), &["apply", "okrs.toml"]).status.success());
    let (stdout, _) = text(&okrd(dir.path(), &["apply", "--dry-run", "./okrs.toml"]));
    assert!(
        stdout.contains("0 created, 0 changed, 0 archived, 5 unchanged"),
        "{stdout}"
    );

    std::fs::write(dir.path().join("okrs.toml"), GOOD).unwrap();
    let (stdout, _) = text(&okrd(dir.path(), &["apply", "./okrs.toml"]));
    assert!(stdout.contains("archived key_result second"), "{stdout}");

    // A file that now declares nothing archives what it managed.
    std::fs::write(dir.path().join("okrs.toml"), "").unwrap();
    let (stdout, _) = text(&okrd(dir.path(), &["apply", "okrs.toml"]));
    assert!(
        stdout.contains("archived key_result calls") && stdout.contains("archived objective opex"),
        "{stdout}"
    );
}

/// The examples the README points to stay valid.
#[test]
fn the_shipped_examples_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_okrd"))
        .current_dir(root)
        .env_remove("OKRD_CONFIG")
        .args(["check", "--config", "examples/okrd.toml"])
        .output()
        .unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}{err}");
    assert!(
        stdout.contains("4 sources") && stdout.contains("4 key results"),
        "{stdout}"
    );
    // Secrets that are not set here are warnings, named by their variable.
    assert!(
        err.contains("PROMETHEUS_TOKEN") && err.contains("PLAUSIBLE_API_KEY"),
        "{err}"
    );
}

/// `okrd token create` prints the token and nothing else on stdout; `list`
/// never shows a token; `revoke` takes the id or the whole token.
#[test]
fn token_commands_make_list_and_revoke_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("okrs.toml"), GOOD).unwrap();
    let config = "[database]\nurl = \"sqlite://okrd.db\"\n";
    std::fs::write(dir.path().join("okrd.toml"), config).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--config", "okrd.toml"];
        all.extend_from_slice(args);
        okrd(dir.path(), &all)
    };
    assert!(run(&["apply", "okrs.toml"]).status.success());

    let out = run(&[
        "token", "create", "--role", "member", "--team", "acme", "--name", "dana",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim_end();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(token.starts_with("okrd_") && token.len() > 40, "{token}");
    let id = token.split('_').nth(1).unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not shown again"));

    let list = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert!(
        list.contains(id) && list.contains("member") && list.contains("dana"),
        "{list}"
    );
    assert!(!list.contains(token), "{list}");

    for (args, says) in [
        (
            vec!["token", "create", "--role", "root"],
            "unknown role `root`",
        ),
        (vec!["token", "create", "--role", "member"], "needs --team"),
        (
            vec!["token", "create", "--role", "member", "--team", "acm"],
            "did you mean `acme`",
        ),
        (
            vec!["token", "create", "--role", "admin", "--team", "acme"],
            "member tokens only",
        ),
        (vec!["token", "revoke", "nope"], "no token with id `nope`"),
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }

    let out = run(&["token", "revoke", token]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    let row = list.lines().find(|l| l.starts_with(id)).unwrap();
    assert!(!row.trim_end().ends_with('-'), "revoked time shown: {row}");
    let again = run(&["token", "revoke", id]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"));
}
