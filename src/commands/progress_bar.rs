//! `okrd backfill`'s progress: a bar redrawn in place with `\r` when
//! stderr is a terminal; plain lines on stdout otherwise (logs, pipes,
//! CI), a line per KR started and per failed day.

use std::io::Write as _;

use chrono::NaiveDate;

use crate::backfill::{DayResult, Progress};
use crate::binding::Binding;

/// Width of the bar, in cells.
const WIDTH: usize = 30;

pub struct ProgressBar {
    /// Redraw a bar on stderr (a terminal), or print lines.
    tty: bool,
    /// KRs to go through, and which one this is (1-based).
    key_results: usize,
    current: usize,
    to_fetch: usize,
    done: usize,
    drawn: bool,
}

impl ProgressBar {
    pub fn new(tty: bool, key_results: usize) -> ProgressBar {
        ProgressBar {
            tty,
            key_results,
            current: 0,
            to_fetch: 0,
            done: 0,
            drawn: false,
        }
    }

    /// The next KR begins (whether or not it has days to fetch).
    pub fn next_key_result(&mut self) {
        self.current += 1;
        self.to_fetch = 0;
        self.done = 0;
    }

    /// Prints a line for people on stdout, below the bar (which is cleared).
    pub fn line(&mut self, text: &str) {
        self.clear();
        println!("{text}");
    }

    /// Removes the bar, so the terminal is left as it was.
    pub fn clear(&mut self) {
        if self.tty && self.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }

    fn draw(&mut self, kr: &str) {
        if !self.tty {
            return;
        }
        eprint!("\r\x1b[2K{}", self.text(kr));
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }
}

impl ProgressBar {
    /// The bar as drawn: which KR of how many, and its days done.
    fn text(&self, kr: &str) -> String {
        let filled = (self.done.min(self.to_fetch) * WIDTH)
            .checked_div(self.to_fetch)
            .unwrap_or(WIDTH);
        format!(
            "[{}/{}] {kr} [{}{}] {}/{} days",
            self.current,
            self.key_results,
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            self.done,
            self.to_fetch
        )
    }
}

impl Progress for ProgressBar {
    fn started(&mut self, binding: &Binding, to_fetch: usize) {
        self.to_fetch = to_fetch;
        self.done = 0;
        if self.tty {
            self.draw(&binding.key_result);
        } else {
            println!(
                "{} ({}): fetching {to_fetch} past days",
                binding.key_result, binding.source
            );
        }
    }

    fn day(&mut self, binding: &Binding, day: NaiveDate, result: DayResult<'_>) {
        self.done += 1;
        if let DayResult::Failed(e) = result {
            self.line(&format!(
                "{} ({}): {day}: failed: {e}",
                binding.key_result, binding.source
            ));
        }
        self.draw(&binding.key_result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_the_days_done() {
        let mut bar = ProgressBar::new(true, 3);
        bar.next_key_result();
        bar.to_fetch = 46;
        bar.done = 23;
        assert_eq!(
            bar.text("signups"),
            format!(
                "[1/3] signups [{}{}] 23/46 days",
                "#".repeat(15),
                "-".repeat(15)
            )
        );
        bar.next_key_result();
        assert_eq!(
            bar.text("nps"),
            format!("[2/3] nps [{}] 0/0 days", "#".repeat(30))
        );
    }
}
