//! A static bound on what a template can allocate, checked before it runs.
//!
//! minijinja's fuel bounds instructions, not memory: `{{ 'x' * 100000000 }}`
//! is one instruction. It has no allocation hook either, so the template is
//! parsed and every value it can build is bounded from its parts: variables
//! have known maximum sizes, literals their length, `~` and `+` add, `*`
//! repeats only by a bounded integer, allowed filters each have a rule
//! (`filters`), loops multiply their body by the length of what they
//! iterate, and a `set` in a loop must stop growing after a few rounds.
//! Whatever the analysis cannot bound (another filter or function, a
//! method, a macro, an include, a count that is not a constant) is refused.

mod expr;
mod filters;
mod shape;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use minijinja::machinery::ast::{self, Expr, Stmt};
use minijinja::machinery::{WhitespaceConfig, parse};

pub use shape::Shape;
use shape::join;

/// The variables a template sees, by name.
pub type Env = BTreeMap<String, Shape>;

/// Rounds a loop body with `set` is analysed before giving up on its
/// values settling: a `set` that keeps growing (`a = a ~ a`) never settles.
const MAX_ROUNDS: usize = 8;

/// Nodes visited in all: nested loops with `set` re-analyse their bodies.
const MAX_STEPS: u64 = 100_000;

/// Why a template is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The analysis cannot bound it; names the construct.
    Unbounded(String),
    /// Bounded, but some value may be larger than the budget.
    OverBudget { what: String, budget: u64 },
    /// Bounded, but its output may be larger than allowed.
    TooLong { limit: u64 },
    /// Too many nodes to analyse.
    TooComplex,
    /// Not a template minijinja can parse.
    Syntax(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unbounded(what) => {
                write!(f, "the template's output cannot be bounded: uses {what}")
            }
            Refusal::OverBudget { what, budget } => write!(
                f,
                "the template may build a value larger than {} KiB ({what})",
                budget / 1024
            ),
            Refusal::TooLong { limit } => {
                write!(
                    f,
                    "the template's output may be longer than {} KiB",
                    limit / 1024
                )
            }
            Refusal::TooComplex => write!(f, "the template is too complex to bound"),
            Refusal::Syntax(e) => write!(f, "invalid template: {e}"),
        }
    }
}

/// The limits a template is checked against, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Its output.
    pub output: u64,
    /// Any value it builds on the way.
    pub intermediate: u64,
}

/// The most bytes `source` can output with variables shaped like `vars`,
/// or why it is refused.
pub fn output_bound(source: &str, vars: &Env, limits: Limits) -> Result<u64, Refusal> {
    let whitespace = WhitespaceConfig {
        keep_trailing_newline: true,
        ..WhitespaceConfig::default()
    };
    let tree = parse(source, "<string>", Default::default(), whitespace)
        .map_err(|e| Refusal::Syntax(super::describe(&e)))?;
    let mut analyzer = Analyzer {
        steps: 0,
        budget: limits.intermediate,
    };
    let mut env = vars.clone();
    let out = analyzer.stmt(&tree, &mut env)?;
    if out > limits.output {
        return Err(Refusal::TooLong {
            limit: limits.output,
        });
    }
    Ok(out)
}

struct Analyzer {
    steps: u64,
    budget: u64,
}

impl Analyzer {
    fn step(&mut self) -> Result<(), Refusal> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Refusal::TooComplex);
        }
        Ok(())
    }

    fn within_budget(&self, shape: Shape, what: &str) -> Result<Shape, Refusal> {
        if shape.size > self.budget {
            return Err(Refusal::OverBudget {
                what: what.to_string(),
                budget: self.budget,
            });
        }
        Ok(shape)
    }

    /// Output bytes of a run of statements; `env` becomes what follows them.
    fn block(&mut self, stmts: &[Stmt<'_>], env: &mut Env) -> Result<u64, Refusal> {
        let mut out = 0u64;
        for s in stmts {
            out = out.saturating_add(self.stmt(s, env)?);
            // The output is a string that grows as it is written.
            self.within_budget(Shape::text(out), "the output")?;
        }
        Ok(out)
    }

    fn stmt(&mut self, s: &Stmt<'_>, env: &mut Env) -> Result<u64, Refusal> {
        self.step()?;
        match s {
            Stmt::Template(t) => self.block(&t.children, env),
            Stmt::EmitExpr(e) => Ok(self.expr(&e.expr, env)?.size),
            Stmt::EmitRaw(r) => Ok(r.raw.len() as u64),
            Stmt::IfCond(c) => {
                self.expr(&c.expr, env)?;
                let mut yes = env.clone();
                let mut no = env.clone();
                let out = self
                    .block(&c.true_body, &mut yes)?
                    .max(self.block(&c.false_body, &mut no)?);
                *env = join_env(&yes, &no);
                Ok(out)
            }
            Stmt::ForLoop(f) => self.for_loop(f, env),
            Stmt::WithBlock(w) => {
                let mut inner = env.clone();
                for (target, value) in &w.assignments {
                    let shape = self.expr(value, &inner)?;
                    assign(target, shape, &mut inner)?;
                }
                self.block(&w.body, &mut inner)
            }
            Stmt::Set(set) => {
                let shape = self.expr(&set.expr, env)?;
                assign(&set.target, shape, env)?;
                Ok(0)
            }
            Stmt::SetBlock(set) => {
                if set.filter.is_some() {
                    return Err(Refusal::Unbounded("`{% set %}` with a filter".into()));
                }
                let out = self.block(&set.body, &mut env.clone())?;
                assign(&set.target, Shape::text(out), env)?;
                Ok(0)
            }
            Stmt::AutoEscape(_) => Err(Refusal::Unbounded("`{% autoescape %}`".into())),
            Stmt::FilterBlock(_) => Err(Refusal::Unbounded("`{% filter %}`".into())),
            Stmt::Do(_) => Err(Refusal::Unbounded("`{% do %}`".into())),
            #[allow(unreachable_patterns)]
            _ => Err(Refusal::Unbounded(
                "a block other than `if`, `for`, `set` and `with` (macro, call, include, import, extends)"
                    .into(),
            )),
        }
    }

    /// The body's output times the iterations. minijinja keeps a `set` in
    /// the body from one iteration to the next (not after the loop), so
    /// the body is analysed until the variables it sets stop growing.
    fn for_loop(&mut self, f: &ast::ForLoop<'_>, env: &mut Env) -> Result<u64, Refusal> {
        if f.recursive {
            return Err(Refusal::Unbounded("a recursive loop".into()));
        }
        let (count, item) = self.expr(&f.iter, env)?.items();
        let mut inner = env.clone();
        assign(&f.target, item.clone(), &mut inner)?;
        inner.insert("loop".into(), loop_object(count, &item));
        let mut body_out = None;
        for _ in 0..MAX_ROUNDS {
            if let Some(filter) = &f.filter_expr {
                self.expr(filter, &inner)?;
            }
            let mut after = inner.clone();
            let out = self.block(&f.body, &mut after)?;
            let next = join_env(&inner, &after);
            if next == inner {
                body_out = Some(out);
                break;
            }
            inner = next;
        }
        let Some(body_out) = body_out else {
            return Err(Refusal::Unbounded(
                "`{% set %}` in a loop whose value grows with every iteration".into(),
            ));
        };
        let else_out = self.block(&f.else_body, &mut env.clone())?;
        let out = count.saturating_mul(body_out).saturating_add(else_out);
        self.within_budget(Shape::text(out), "a loop's output")?;
        Ok(out)
    }
}

/// The `loop` variable inside a loop of `count` iterations.
fn loop_object(count: u64, item: &Shape) -> Shape {
    Shape::object([
        ("index", Shape::int(count)),
        ("index0", Shape::int(count)),
        ("revindex", Shape::int(count)),
        ("revindex0", Shape::int(count)),
        ("length", Shape::int(count)),
        ("first", Shape::bool()),
        ("last", Shape::bool()),
        ("depth", Shape::int(1)),
        ("depth0", Shape::int(1)),
        ("previtem", item.clone()),
        ("nextitem", item.clone()),
    ])
}

/// `set` or loop targets: a name, or names unpacked from the value.
fn assign(target: &Expr<'_>, shape: Shape, env: &mut Env) -> Result<(), Refusal> {
    match target {
        Expr::Var(v) => {
            env.insert(v.id.to_string(), shape);
            Ok(())
        }
        Expr::List(l) => {
            let part = shape.part();
            for t in &l.items {
                assign(t, part.clone(), env)?;
            }
            Ok(())
        }
        _ => Err(Refusal::Unbounded(
            "`{% set %}` on an attribute (a namespace)".into(),
        )),
    }
}

/// Variables after either of two branches.
fn join_env(a: &Env, b: &Env) -> Env {
    let mut out = a.clone();
    for (k, v) in b {
        let merged = out.get(k).map_or_else(|| v.clone(), |old| join(old, v));
        out.insert(k.clone(), merged);
    }
    out
}
