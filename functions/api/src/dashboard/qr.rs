//! QR codes of short links, as SVG (the `qrcode` crate draws them).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The QR code of `url` as an SVG document, or `None` if it is too long for one (a short link
/// never is).
pub(crate) fn svg_of(url: &str, label: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build();
    // Named for screen readers: the SVG is an image of `label`.
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let svg = image.find("<svg").map_or(image.as_str(), |at| &image[at..]);
    Some(svg.replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{label}" "#),
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_link_makes_a_labelled_svg() {
        let svg = svg_of("https://go.example/summer", "QR code of go.example/summer").unwrap();
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("QR code of go.example/summer"));
        assert!(svg.contains("<path") || svg.contains("<rect"));
    }
}
