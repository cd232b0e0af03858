//! Progress bars on stderr (indicatif hides them when stderr is not a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps counted in `unit` (e.g. `chunks`), labelled `msg`.
pub(crate) fn bar(len: u64, msg: &str, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let template = format!(
        "{{msg:>14}} [{{bar:40.cyan/blue}}] {{pos}}/{{len}} {unit} ({{elapsed_precise}}, eta {{eta}})"
    );
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(msg.to_owned());
    pb
}

/// A spinner for a step whose length is unknown.
pub(crate) fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed_precise})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
