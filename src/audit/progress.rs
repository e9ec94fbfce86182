//! Progress and timings on stderr: stage lines when stderr is a terminal, timings with `-v`,
//! nothing with `-q`. Data never goes here.

use std::io::IsTerminal;
use std::time::Instant;

use super::settings::Verbosity;

pub struct Progress {
    show_stages: bool,
    show_timings: bool,
    started: Instant,
    stage_started: Instant,
    stage: &'static str,
}

impl Progress {
    pub fn new(verbosity: Verbosity) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Progress {
            show_stages: verbosity == Verbosity::Verbose
                || (verbosity == Verbosity::Normal && terminal),
            show_timings: verbosity == Verbosity::Verbose,
            started: Instant::now(),
            stage_started: Instant::now(),
            stage: "",
        }
    }

    /// Starts a stage, ending the previous one.
    pub fn stage(&mut self, stage: &'static str, detail: &str) {
        self.finish_stage();
        self.stage = stage;
        self.stage_started = Instant::now();
        if self.show_stages {
            eprintln!("{stage}: {detail}");
        }
    }

    /// Whether stage lines are shown: details that cost work to gather are gathered only then.
    pub fn shows_stages(&self) -> bool {
        self.show_stages
    }

    /// A line about the current stage (rows read, files written).
    pub fn note(&self, detail: &str) {
        if self.show_stages {
            eprintln!("  {detail}");
        }
    }

    fn finish_stage(&mut self) {
        if self.show_timings && !self.stage.is_empty() {
            eprintln!(
                "  {} took {:.2}s",
                self.stage,
                self.stage_started.elapsed().as_secs_f64()
            );
        }
        self.stage = "";
    }

    pub fn done(&mut self) {
        self.finish_stage();
        if self.show_timings {
            eprintln!("total {:.2}s", self.started.elapsed().as_secs_f64());
        }
    }
}
