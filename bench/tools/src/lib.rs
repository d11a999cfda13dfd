//! What the benchmark binaries share: writing their section of BENCHMARKS.md.

use std::path::Path;

pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Replaces (or appends) one `## ` section of the benchmarks file.
pub fn write_section(path: &Path, heading: &str, section: &str) -> Result<(), AnyError> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let out = match text.find(&format!("{heading}\n")) {
        Some(start) => {
            let after = start + heading.len();
            let end = text[after..]
                .find("\n## ")
                .map(|i| after + i + 1)
                .unwrap_or(text.len());
            match &text[end..] {
                "" => format!("{}{}\n", &text[..start], section.trim_end()),
                tail => format!("{}{}\n\n{}", &text[..start], section.trim_end(), tail),
            }
        }
        None => format!("{}\n\n{}", text.trim_end(), section),
    };
    std::fs::write(path, out)?;
    Ok(())
}
