//! Templates and expressions compiled once and kept by their text (see
//! `connectors::kept`). A kept template is compiled by the one engine
//! (`ENV`) exactly as one compiled for a single use, so rendering, fuel and
//! errors are the same.

use std::sync::{Arc, LazyLock};

use minijinja::{Error, Expression, Template};

use super::ENV;
use crate::connectors::kept::Kept;

static TEMPLATES: LazyLock<Kept<Template<'static, 'static>>> = LazyLock::new(Kept::default);
static EXPRESSIONS: LazyLock<Kept<Expression<'static, 'static>>> = LazyLock::new(Kept::default);

/// Runs `f` with `source` compiled; an error is the compiler's, as
/// `ENV.template_from_str` gives it.
pub(crate) fn with_template<R>(
    source: &str,
    f: impl FnOnce(&Template<'_, '_>) -> R,
) -> Result<R, Error> {
    if let Some(t) = TEMPLATES.get(source) {
        return Ok(f(&t));
    }
    let once = ENV.template_from_str(source)?;
    // A compiled template borrows its text: a kept one keeps its own for
    // the process's life (the kept texts are bounded).
    let kept = TEMPLATES.keep_with(source, || {
        let text: &'static str = Box::leak(source.into());
        ENV.template_from_str(text).ok()
    });
    match kept {
        Some(t) => Ok(f(&t)),
        None => Ok(f(&once)),
    }
}

/// `source` compiled as an expression; an error is the compiler's, as
/// `ENV.compile_expression` gives it.
pub(crate) fn expression(source: &str) -> Result<Arc<Expression<'static, 'static>>, Error> {
    if let Some(e) = EXPRESSIONS.get(source) {
        return Ok(e);
    }
    let compiled = ENV.compile_expression_owned(source.to_string())?;
    Ok(EXPRESSIONS.keep(source, compiled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::kept::MAX_TEXT_BYTES;

    #[test]
    fn a_kept_template_renders_like_a_fresh_one_and_edits_are_new_entries() {
        let ctx = minijinja::context! { a => "x", b => "y" };
        let render = |s: &str| with_template(s, |t| t.render(&ctx).unwrap()).unwrap();
        assert_eq!(render("kept {{ a }}"), "kept x");
        assert!(TEMPLATES.get("kept {{ a }}").is_some());
        assert_eq!(render("kept {{ a }}"), "kept x");
        assert_eq!(render("kept {{ b }}"), "kept y");
        // Named `<string>` like a template compiled once: no HTML escaping.
        assert_eq!(render("<{{ '<' }}>.html"), "<<>.html");
    }

    #[test]
    fn errors_are_the_compilers_and_nothing_broken_is_kept() {
        let broken = "{{ a ";
        let fresh = ENV.template_from_str(broken).unwrap_err();
        let e = with_template(broken, |_| ()).unwrap_err();
        assert_eq!(e.to_string(), fresh.to_string());
        assert!(TEMPLATES.get(broken).is_none());
        assert!(expression("a +").is_err());
        assert!(EXPRESSIONS.get("a +").is_none());
    }

    #[test]
    fn long_texts_are_compiled_each_time_and_still_render() {
        let long = format!("{}{{{{ a }}}}", "z".repeat(MAX_TEXT_BYTES));
        let out = with_template(&long, |t| t.render(minijinja::context! { a => 1 }).unwrap());
        assert!(out.unwrap().ends_with("z1"));
        assert!(TEMPLATES.get(&long).is_none());
    }

    #[test]
    fn kept_expressions_evaluate_each_context() {
        let e = expression("n + 1").unwrap();
        assert_eq!(e.eval(minijinja::context! { n => 1 }).unwrap(), 2.into());
        let again = expression("n + 1").unwrap();
        assert!(Arc::ptr_eq(&e, &again));
        assert_eq!(
            again.eval(minijinja::context! { n => 5 }).unwrap(),
            6.into()
        );
    }
}
