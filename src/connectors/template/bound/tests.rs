//! The bound refuses every memory bomb and accepts the templates okrd's
//! users and catalog write.

use super::*;
use crate::connectors::template::variables::shapes;

const LIMITS: Limits = Limits {
    output: 64 * 1024,
    intermediate: 1024 * 1024,
};

fn bound(t: &str) -> Result<u64, Refusal> {
    output_bound(t, &shapes(), LIMITS)
}

fn refused(t: &str) -> Refusal {
    match bound(t) {
        Ok(n) => panic!("`{t}` accepted with a bound of {n} bytes"),
        Err(r) => r,
    }
}

/// The forms of issue 11's template bomb, and their cousins.
#[test]
fn memory_bombs_are_refused() {
    for bomb in [
        "{{ 'x' * 100000000 }}",
        "{% set a = 'x' * 100000000 %}{% set a = a ~ a %}{{ a }}",
        "{% set a = 'x' * 100000 %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}",
        "{% set a = 'xx' %}{% for i in range(40) %}{% set a = a ~ a %}{% endfor %}{{ a }}",
        "{% set a = 'xx' %}{% for i in range(40) %}{% set a = a + a %}{% endfor %}",
        "{{ range(100000) | join('xxxxxxxxxx') }}",
        "{{ range(100000) | join(',') }}",
        "{{ 'x' | indent(100000000) }}",
        "{{ 'x' | center(100000000) }}",
        "{{ ('x' * 1000) | replace('x', 'y' * 1000) }}",
        "{{ period.id * 100000 }}",
        "{{ [period.id] * 100000 }}",
        "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * (2 ** 40) }}",
        "{{ 'x' * ('9' | int) }}",
        "{{ 'x' * 1e9 }}",
        "{% set n = 1000000 %}{{ 'x' * n }}",
        "{{ lipsum(100000) }}",
        "{{ 'x'.upper() }}",
        "{% set ns = namespace(a='x') %}{% for i in range(40) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}",
        "{{ range(today | int) }}",
        "{% for i in range(10) recursive %}{{ loop(range(10)) }}{% endfor %}",
        "{% filter upper %}x{% endfilter %}",
        "{% set a %}{{ 'x' * 100000 }}{% endset %}{{ a }}",
    ] {
        refused(bomb);
    }
}

#[test]
fn refusals_name_what_cannot_be_bounded() {
    let r = refused("{{ 'x' | indent(100000000) }}").to_string();
    assert!(
        r.starts_with("the template's output cannot be bounded: uses the filter `indent`"),
        "{r}"
    );
    let r = refused("{{ lipsum(100000) }}").to_string();
    assert!(r.contains("uses `lipsum()`"), "{r}");
    let r = refused("{{ 'x' * (2 ** 40) }}").to_string();
    assert!(r.contains("`*` with a count"), "{r}");
    let r = refused("{% set a = 'xx' %}{% for i in range(40) %}{% set a = a ~ a %}{% endfor %}")
        .to_string();
    assert!(r.contains("grows with every iteration"), "{r}");
    assert_eq!(
        refused("{{ 'x' * 100000000 }}"),
        Refusal::OverBudget {
            what: "`*`".into(),
            budget: 1024 * 1024
        }
    );
    assert_eq!(
        refused("{{ 'x' * 100000 }}"),
        Refusal::TooLong { limit: 64 * 1024 }
    );
}

/// Every template form in the README, docs, examples and tests, and the
/// catalog manifests' (which see params as variables).
#[test]
fn the_repositorys_templates_are_accepted() {
    for t in [
        "{{ period.start }}",
        "{{ period.end }}",
        "{{ period.id }}/{{ key_result.id }}",
        "{{ today }}",
        "{{ now }}",
        "{{ period.start | unix }}",
        "{{ period.start | unix_ms }}",
        "{{ now | unix }}",
        "{{ 'a b&c' | urlencode }}",
        "{{ 'user@example.com' | after('@') }}",
        "{{ 'user@example.com' | before('@') }}",
        "{{ 'key:' | b64 }}",
        "{% if true %}{{ period.start }}{% endif %}",
        "{{ '{{' }}",
        "https://x/api?from={{ period.start }}&to={{ today }}&q={{ key_result.id | urlencode }}",
        "{{ status | default('') }}",
        "{% if status is defined %}{{ status }}{% else %}open{% endif %}",
        "{{ talk | before('.') | urlencode }}",
        "{{ date_range[0] }}",
        "{{ period.end_ts - 1 }}",
        "{{ period.start_ts * 1000 }}",
        "{{ period.end_ts * 1000 - 1 }}",
        "{{ params.period }}",
    ] {
        if let Err(e) = bound(t) {
            panic!("`{t}` refused: {e}");
        }
    }
    assert_eq!(bound("{{ today }}").unwrap(), 16);
    assert_eq!(bound("a{{ key_result.id }}").unwrap(), 1 + 128);
}

#[test]
fn bounded_loops_and_sets_are_accepted_with_their_bound() {
    assert_eq!(
        bound("{% for i in range(100) %}{{ i }},{% endfor %}").unwrap(),
        100 * (4 + 1)
    );
    assert_eq!(
        bound("{% for d in [period.start, period.end] %}{{ d }};{% endfor %}").unwrap(),
        2 * 17
    );
    // A `set` in a loop that does not grow settles.
    assert_eq!(
        bound("{% for i in range(3) %}{% set x = i ~ '-' %}{{ x }}{% endfor %}").unwrap(),
        3 * 3
    );
    // A `set` after the loop does not see the loop's.
    assert!(
        bound("{% set a = 'ab' %}{% for i in range(2) %}{% set a = today %}{% endfor %}{{ a }}")
            .is_ok()
    );
    assert_eq!(bound("{% set a = 'x' * 100 %}{{ a ~ a }}").unwrap(), 200);
    assert_eq!(
        bound("{% if today %}{{ 'x' * 10 }}{% else %}{{ 'y' * 20 }}{% endif %}").unwrap(),
        20
    );
    // Nested loops multiply.
    assert_eq!(
        bound("{% for a in range(10) %}{% for b in range(10) %}x{% endfor %}{% endfor %}").unwrap(),
        100
    );
    // A loop body with no output runs out of fuel instead, and allocates nothing.
    assert_eq!(
        bound("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}")
            .unwrap(),
        0
    );
}

#[test]
fn syntax_errors_are_not_refusals_of_size() {
    assert!(matches!(bound("{{ period.start "), Err(Refusal::Syntax(_))));
}

#[test]
fn a_template_too_complex_to_analyse_is_refused() {
    // Each loop sets a new name, so each is analysed twice per entry.
    let nest = 30;
    let open: String = (0..nest)
        .map(|k| format!("{{% for i in range(1) %}}{{% set a{k} = i %}}"))
        .collect();
    let t = format!("{open}x{}", "{% endfor %}".repeat(nest));
    assert_eq!(bound(&t), Err(Refusal::TooComplex));
}
