//! The size bound of one expression, from the bounds of its parts.

use minijinja::machinery::ast::{self, BinOpKind, CallArg, Expr, UnaryOpKind};

use super::shape::{Shape, join};
use super::{Analyzer, Env, Refusal, filters};

impl Analyzer {
    /// The shape of `e`'s value; refused when it is not bounded or larger
    /// than the budget.
    pub(super) fn expr(&mut self, e: &Expr<'_>, env: &Env) -> Result<Shape, Refusal> {
        self.step()?;
        let (shape, what) = match e {
            Expr::Var(v) => (
                env.get(v.id).cloned().unwrap_or_else(Shape::undefined),
                "a variable",
            ),
            Expr::Const(c) => (constant(&c.value), "a literal"),
            Expr::Slice(s) => {
                for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(part, env)?;
                }
                (self.expr(&s.expr, env)?.part(), "a slice")
            }
            Expr::UnaryOp(u) => {
                let inner = self.expr(&u.expr, env)?;
                match u.op {
                    UnaryOpKind::Not => (Shape::bool(), "`not`"),
                    UnaryOpKind::Neg => (negated(&inner), "`-`"),
                }
            }
            Expr::BinOp(b) => return self.binop(b, env),
            Expr::Compare(c) => {
                self.expr(&c.expr, env)?;
                for op in &c.ops {
                    self.expr(&op.expr, env)?;
                }
                (Shape::bool(), "a comparison")
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr, env)?;
                let yes = self.expr(&i.true_expr, env)?;
                let no = match &i.false_expr {
                    Some(f) => self.expr(f, env)?,
                    None => Shape::undefined(),
                };
                (join(&yes, &no), "`if … else`")
            }
            Expr::Filter(f) => return self.filter(f, env),
            Expr::Test(t) => {
                self.expr(&t.expr, env)?;
                self.args(&t.args, env)?;
                (Shape::bool(), "a test")
            }
            Expr::GetAttr(g) => (self.expr(&g.expr, env)?.attr(g.name), "an attribute"),
            Expr::GetItem(g) => {
                let of = self.expr(&g.expr, env)?;
                let shape = match &g.subscript_expr {
                    Expr::Const(c) if c.value.as_str().is_some() && of.attrs.is_some() => {
                        of.attr(c.value.as_str().unwrap_or_default())
                    }
                    sub => {
                        self.expr(sub, env)?;
                        of.part()
                    }
                };
                (shape, "an item")
            }
            Expr::Call(c) => return self.call(c, env),
            Expr::List(l) => {
                let mut item = None::<Shape>;
                for e in &l.items {
                    let s = self.expr(e, env)?;
                    item = Some(item.map_or_else(|| s.clone(), |i| join(&i, &s)));
                }
                let count = l.items.len() as u64;
                (
                    Shape::seq(count, item.unwrap_or_else(Shape::undefined)),
                    "a list",
                )
            }
            Expr::Map(m) => {
                let mut size = 2u64;
                for e in m.keys.iter().chain(&m.values) {
                    size = size.saturating_add(self.expr(e, env)?.size.saturating_mul(6) + 32);
                }
                (Shape::any(size), "a map")
            }
        };
        self.within_budget(shape, what)
    }

    fn binop(&mut self, b: &ast::BinOp<'_>, env: &Env) -> Result<Shape, Refusal> {
        let l = self.expr(&b.left, env)?;
        let r = self.expr(&b.right, env)?;
        let (shape, what) = match b.op {
            BinOpKind::Eq
            | BinOpKind::Ne
            | BinOpKind::Lt
            | BinOpKind::Lte
            | BinOpKind::Gt
            | BinOpKind::Gte
            | BinOpKind::In => (Shape::bool(), "a comparison"),
            BinOpKind::ScAnd | BinOpKind::ScOr => (join(&l, &r), "`and`/`or`"),
            BinOpKind::Concat => (Shape::text(l.size.saturating_add(r.size)), "`~`"),
            BinOpKind::Add => (sum(&l, &r), "`+`"),
            BinOpKind::Sub => (
                arithmetic(&l, &r, l.int.zip(r.int).map(|(a, b)| a.saturating_add(b))),
                "`-`",
            ),
            BinOpKind::Mul => (self.product(&l, &r)?, "`*`"),
            BinOpKind::Div | BinOpKind::Pow => (Shape::number(), "arithmetic"),
            BinOpKind::FloorDiv | BinOpKind::Rem => (
                arithmetic(&l, &r, l.int.zip(r.int).map(|(a, _)| a)),
                "arithmetic",
            ),
        };
        self.within_budget(shape, what)
    }

    /// `*` repeats a string or a sequence: only a bounded integer count
    /// keeps that bounded.
    fn product(&mut self, l: &Shape, r: &Shape) -> Result<Shape, Refusal> {
        if let (Some(a), Some(b)) = (l.int, r.int) {
            return Ok(Shape::int(a.saturating_mul(b)));
        }
        if l.num && r.num {
            return Ok(Shape::number());
        }
        let repeated = |s: &Shape, n: u64| {
            let (count, item) = s.items();
            let out = Shape {
                size: s.size.saturating_mul(n),
                text: s.text,
                seq: Some(Box::new((count.saturating_mul(n), item))),
                ..Shape::any(0)
            };
            if s.text || s.seq.is_some() {
                out
            } else {
                // Perhaps a float: then a number.
                join(&out, &Shape::number())
            }
        };
        match (l.int, r.int) {
            (_, Some(n)) => Ok(repeated(l, n)),
            (Some(n), _) => Ok(repeated(r, n)),
            (None, None) => Err(Refusal::Unbounded(
                "`*` with a count that is not a bounded integer".into(),
            )),
        }
    }

    fn filter(&mut self, f: &ast::Filter<'_>, env: &Env) -> Result<Shape, Refusal> {
        let Some(input) = &f.expr else {
            return Err(Refusal::Unbounded("`{% filter %}`".into()));
        };
        let input = self.expr(input, env)?;
        let args = self.args(&f.args, env)?;
        match filters::apply(f.name, &input, &args) {
            Some(shape) => self.within_budget(shape, &format!("the filter `{}`", f.name)),
            None => Err(Refusal::Unbounded(format!(
                "the filter `{}` (allowed: {})",
                f.name,
                filters::ALLOWED.join(", ")
            ))),
        }
    }

    /// `range(...)` is the one function: its length must be bounded.
    fn call(&mut self, c: &ast::Call<'_>, env: &Env) -> Result<Shape, Refusal> {
        let name = match &c.expr {
            Expr::Var(v) => format!("`{}()`", v.id),
            Expr::GetAttr(g) => format!("the method `.{}()`", g.name),
            _ => "a call".to_string(),
        };
        if name != "`range()`" {
            return Err(Refusal::Unbounded(name));
        }
        let mut bounds = Vec::new();
        for a in &c.args {
            let CallArg::Pos(e) = a else {
                return Err(Refusal::Unbounded(
                    "`range()` with named or spread arguments".into(),
                ));
            };
            let Some(m) = self.expr(e, env)?.int else {
                return Err(Refusal::Unbounded(
                    "`range()` with a bound that is not a bounded integer".into(),
                ));
            };
            bounds.push(m);
        }
        // range(stop), range(start, stop[, step]): |step| ≥ 1.
        let (count, largest) = match bounds.as_slice() {
            [stop] => (*stop, *stop),
            [start, stop] | [start, stop, _] => (start.saturating_add(*stop), (*start).max(*stop)),
            _ => {
                return Err(Refusal::Unbounded(
                    "`range()` with no or too many arguments".into(),
                ));
            }
        };
        self.within_budget(Shape::seq(count, Shape::int(largest)), "`range()`")
    }

    /// Every argument's shape, in order.
    pub(super) fn args(&mut self, args: &[CallArg<'_>], env: &Env) -> Result<Vec<Shape>, Refusal> {
        args.iter()
            .map(|a| match a {
                CallArg::Pos(e) | CallArg::Kwarg(_, e) => self.expr(e, env),
                CallArg::PosSplat(_) | CallArg::KwargSplat(_) => Err(Refusal::Unbounded(
                    "spread arguments (`*args`, `**kwargs`)".into(),
                )),
            })
            .collect()
    }
}

/// A literal's shape: its own size; an integer its magnitude.
fn constant(v: &minijinja::Value) -> Shape {
    if let Some(s) = v.as_str() {
        return Shape::text(s.len() as u64);
    }
    if v.is_number() {
        return match i128::try_from(v.clone()) {
            Ok(i) => u64::try_from(i.unsigned_abs()).map_or_else(|_| Shape::number(), Shape::int),
            Err(_) => Shape::number(),
        };
    }
    Shape::any(v.to_string().len() as u64)
}

/// `-x` is a number (negating anything else fails); an integer keeps its magnitude.
fn negated(s: &Shape) -> Shape {
    s.int.map_or_else(Shape::number, Shape::int)
}

/// `+` adds numbers, joins strings and concatenates sequences.
fn sum(l: &Shape, r: &Shape) -> Shape {
    if let (Some(a), Some(b)) = (l.int, r.int) {
        return Shape::int(a.saturating_add(b));
    }
    let (cl, il) = l.items();
    let (cr, ir) = r.items();
    let out = Shape {
        size: l.size.saturating_add(r.size),
        text: l.text && r.text,
        seq: Some(Box::new((cl.saturating_add(cr), join(&il, &ir)))),
        ..Shape::any(0)
    };
    if out.text {
        out
    } else {
        join(&out, &Shape::number())
    }
}

/// A numeric result: an integer of magnitude `int` when both sides are
/// bounded integers.
fn arithmetic(l: &Shape, r: &Shape, int: Option<u64>) -> Shape {
    match int {
        Some(m) if l.int.is_some() && r.int.is_some() => Shape::int(m),
        _ => Shape::number(),
    }
}
