//! A few SVG primitives, enough for the report's charts, written as text. Every string that
//! came from data (family and model names) goes through `escape`.

use std::fmt::Write;

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Maps a data interval onto a pixel interval, linearly or on a log10 scale.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub from: (f64, f64),
    pub to: (f64, f64),
    pub log: bool,
}

impl Scale {
    pub fn linear(from: (f64, f64), to: (f64, f64)) -> Scale {
        Scale {
            from,
            to,
            log: false,
        }
    }

    pub fn log(from: (f64, f64), to: (f64, f64)) -> Scale {
        Scale {
            from: (from.0.log10(), from.1.log10()),
            to,
            log: true,
        }
    }

    /// The pixel position of `v` (clamped to the interval).
    pub fn at(&self, v: f64) -> f64 {
        let v = if self.log { v.max(1e-300).log10() } else { v };
        let t = ((v - self.from.0) / (self.from.1 - self.from.0)).clamp(0.0, 1.0);
        self.to.0 + t * (self.to.1 - self.to.0)
    }
}

/// An SVG document being drawn.
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    pub fn new(width: f64, height: f64) -> Svg {
        Svg {
            width,
            height,
            body: String::new(),
        }
    }

    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{width}"/>"#,
            a.0, a.1, b.0, b.1
        );
    }

    pub fn dashed_line(&mut self, a: (f64, f64), b: (f64, f64), stroke: &str) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="1" stroke-dasharray="4 3"/>"#,
            a.0, a.1, b.0, b.1
        );
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64) {
        let mut p = String::new();
        for (x, y) in points {
            let _ = write!(p, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            self.body,
            r#"<polyline points="{p}" fill="none" stroke="{stroke}" stroke-width="{width}"/>"#
        );
    }

    /// A rectangle with an optional hover text.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, title: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}">"#,
            w.max(0.0),
            h.max(0.0)
        );
        if let Some(t) = title {
            let _ = write!(self.body, "<title>{}</title>", escape(t));
        }
        self.body.push_str("</rect>\n");
    }

    pub fn circle(&mut self, at: (f64, f64), r: f64, fill: &str, title: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}" stroke="black" stroke-width="1"><title>{}</title></circle>"#,
            at.0,
            at.1,
            escape(title)
        );
    }

    /// Text; `anchor` is start, middle or end.
    pub fn text(&mut self, at: (f64, f64), text: &str, size: f64, anchor: &str) {
        self.text_coloured(at, text, size, anchor, "black");
    }

    pub fn text_coloured(
        &mut self,
        at: (f64, f64),
        text: &str,
        size: f64,
        anchor: &str,
        fill: &str,
    ) {
        let _ = writeln!(
            self.body,
            r#"<text x="{:.1}" y="{:.1}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">{}</text>"#,
            at.0,
            at.1,
            escape(text)
        );
    }

    /// Text turned 90 degrees counter-clockwise (for a y-axis title or column labels).
    pub fn vertical_text(&mut self, at: (f64, f64), text: &str, size: f64, anchor: &str) {
        let _ = writeln!(
            self.body,
            r#"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="{size}" text-anchor="{anchor}">{}</text>"#,
            at.0,
            at.1,
            escape(text)
        );
    }

    pub fn finish(self) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">
<rect width="{w}" height="{h}" fill="white"/>
{body}</svg>"#,
            w = self.width,
            h = self.height,
            body = self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_data() {
        assert_eq!(
            escape(r#"<script>"a"&'b'"#),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;"
        );
    }

    #[test]
    fn scales_map_ends_and_clamp() {
        let s = Scale::log((1e-4, 1.0), (0.0, 400.0));
        assert!((s.at(1e-4) - 0.0).abs() < 1e-9);
        assert!((s.at(1e-2) - 200.0).abs() < 1e-9);
        assert_eq!(s.at(0.0), 0.0);
        let l = Scale::linear((0.0, 1.0), (300.0, 100.0));
        assert_eq!(l.at(0.5), 200.0);
        assert_eq!(l.at(2.0), 100.0);
    }
}
