//! The progress bar of `pagecast get`, drawn on standard error by `indicatif`.

use indicatif::{ProgressBar, ProgressStyle};
use pagecast_http::client::Progress;

/// A bar with bytes, rate and ETA when the length is known; a spinner when it is not.
#[derive(Default)]
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// Shows one report of the download.
    pub fn show(&mut self, progress: Progress) {
        match progress {
            Progress::Started { from, total } => {
                let bar = match total {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "{percent:>3}% [{bar:30}] {bytes} of {total_bytes}  {bytes_per_sec}  ETA {eta}",
                        )
                        .expect("the template is valid")
                        .progress_chars("=> "),
                    ),
                    None => ProgressBar::no_length().with_style(
                        ProgressStyle::with_template("{bytes}  {bytes_per_sec}")
                            .expect("the template is valid"),
                    ),
                };
                // The rate counts this run's bytes, not the part already on disk.
                bar.set_position(from);
                bar.reset_eta();
                self.bar = Some(bar);
            }
            Progress::At(at) => {
                if let Some(bar) = &self.bar {
                    bar.set_position(at);
                }
            }
        }
    }

    /// Leaves the finished bar on its line.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.abandon();
        }
    }
}
