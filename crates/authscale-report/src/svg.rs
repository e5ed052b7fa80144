//! Small, dependency-free SVG charts: line charts (with optional dashed
//! model curves) and stacked bars. Output is deterministic text, so a
//! report from the same run is byte-for-byte the same.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 58.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// One line on a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Dashed, no markers: a model or a reference line.
    pub dashed: bool,
    /// Index into the palette, so a mode keeps its colour across charts.
    pub color: usize,
}

/// A chart with numeric axes.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// An x range to shade (a fault window), with its label.
    pub shade: Option<(f64, f64, String)>,
    /// 95% intervals drawn as vertical bars: (palette index, x, lo, hi).
    pub error_bars: Vec<(usize, f64, f64, f64)>,
}

/// "Nice" tick values covering [0, max].
fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| s * 5.0 >= max)
        .unwrap_or(10.0 * magnitude);
    let count = (max / step).ceil() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1000.0 {
        let k = format!("{:.1}", v / 1000.0);
        format!("{}k", k.trim_end_matches(".0"))
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A value under the pointer: three significant figures or whole units.
fn reading(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a marker shows under the pointer: as an SVG `<title>` (a browser's
/// tooltip) and as `data-value` (report.html's readout line).
fn value_title(text: &str) -> (String, String) {
    let text = escape(text);
    (
        format!(r#" data-value="{text}""#),
        format!("<title>{text}</title>"),
    )
}

fn frame(out: &mut String, title: &str, x_label: &str, y_label: &str) {
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        escape(title)
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        HEIGHT - 14.0,
        escape(x_label)
    );
    let _ = writeln!(
        out,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>"#,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        TOP + (HEIGHT - TOP - BOTTOM) / 2.0,
        escape(y_label)
    );
}

/// Horizontal grid lines with their labels.
fn y_grid(out: &mut String, ticks: &[f64], py: impl Fn(f64) -> f64) {
    for t in ticks {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#e0e0e0"/>"##,
            py(*t),
            WIDTH - RIGHT
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            py(*t) + 4.0,
            label(*t)
        );
    }
}

fn legend(out: &mut String, entries: &[(String, usize, bool)]) {
    for (i, (name, color, dashed)) in entries.iter().enumerate() {
        let y = TOP + 10.0 + i as f64 * 20.0;
        let x = WIDTH - RIGHT + 14.0;
        let dash = if *dashed {
            r#" stroke-dasharray="5,4""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="2.5"{dash}/>"#,
            x + 22.0,
            COLORS[color % COLORS.len()]
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            x + 28.0,
            y + 4.0,
            escape(name)
        );
    }
}

impl LineChart {
    pub fn render(&self) -> String {
        let x_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let y_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.error_bars.iter().map(|b| b.3))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let (xt, yt) = (ticks(x_max), ticks(y_max * 1.05));
        let (x_top, y_top) = (*xt.last().unwrap_or(&1.0), *yt.last().unwrap_or(&1.0));
        let px = |x: f64| LEFT + x / x_top * (WIDTH - LEFT - RIGHT);
        let py = |y: f64| HEIGHT - BOTTOM - y / y_top * (HEIGHT - TOP - BOTTOM);
        let mut out = String::new();
        frame(&mut out, &self.title, &self.x_label, &self.y_label);
        y_grid(&mut out, &yt, py);
        if let Some((from, to, what)) = &self.shade {
            let _ = writeln!(
                out,
                r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#f4c7c3" fill-opacity="0.6"/>"##,
                px(*from),
                (px(*to) - px(*from)).max(1.0),
                HEIGHT - TOP - BOTTOM
            );
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" font-size="11">{}</text>"#,
                px(*from) + 4.0,
                TOP + 14.0,
                escape(what)
            );
        }
        for t in &xt {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                px(*t),
                HEIGHT - BOTTOM + 18.0,
                label(*t)
            );
        }
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/>"#,
            HEIGHT - BOTTOM,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/>"#,
            HEIGHT - BOTTOM
        );
        for s in &self.series {
            let color = COLORS[s.color % COLORS.len()];
            let path: Vec<String> = s
                .points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
                .collect();
            let dash = if s.dashed {
                r#" stroke-dasharray="5,4""#
            } else {
                ""
            };
            let _ = writeln!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2.5"{dash}/>"#,
                path.join(" ")
            );
            if !s.dashed {
                for p in s.points.iter().filter(|p| p.1.is_finite()) {
                    let interval = self
                        .error_bars
                        .iter()
                        .find(|b| b.0 == s.color && b.1 == p.0)
                        .filter(|b| b.2.is_finite() && b.3.is_finite())
                        .map_or(String::new(), |b| {
                            format!(" [{}, {}]", reading(b.2), reading(b.3))
                        });
                    let (data, title) = value_title(&format!(
                        "{}, {} {}: {} {}{interval}",
                        s.name,
                        self.x_label,
                        label(p.0),
                        self.y_label,
                        reading(p.1)
                    ));
                    let _ = writeln!(
                        out,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"{data}>{title}</circle>"#,
                        px(p.0),
                        py(p.1)
                    );
                }
            }
        }
        for &(color, x, lo, hi) in &self.error_bars {
            if !(lo.is_finite() && hi.is_finite()) {
                continue;
            }
            let color = COLORS[color % COLORS.len()];
            let (x, top, bottom) = (px(x), py(hi), py(lo));
            let _ = writeln!(
                out,
                r#"<path d="M{x:.1},{top:.1}V{bottom:.1}M{:.1},{top:.1}H{:.1}M{:.1},{bottom:.1}H{:.1}" stroke="{color}" stroke-width="1.5" fill="none"/>"#,
                x - 4.0,
                x + 4.0,
                x - 4.0,
                x + 4.0
            );
        }
        let entries: Vec<(String, usize, bool)> = self
            .series
            .iter()
            .map(|s| (s.name.clone(), s.color, s.dashed))
            .collect();
        legend(&mut out, &entries);
        out.push_str("</svg>\n");
        out
    }
}

/// Stacked bars: one bar per category, one stack segment per part.
#[derive(Debug, Clone)]
pub struct StackedBars {
    pub title: String,
    pub y_label: String,
    pub parts: Vec<String>,
    /// (category, value per part).
    pub bars: Vec<(String, Vec<f64>)>,
}

impl StackedBars {
    pub fn render(&self) -> String {
        let y_max = self
            .bars
            .iter()
            .map(|b| b.1.iter().sum::<f64>())
            .fold(0.0, f64::max);
        let yt = ticks(y_max * 1.05);
        let y_top = *yt.last().unwrap_or(&1.0);
        let py = |y: f64| HEIGHT - BOTTOM - y / y_top * (HEIGHT - TOP - BOTTOM);
        let mut out = String::new();
        frame(&mut out, &self.title, "", &self.y_label);
        y_grid(&mut out, &yt, py);
        let slot = (WIDTH - LEFT - RIGHT) / self.bars.len().max(1) as f64;
        for (i, (name, values)) in self.bars.iter().enumerate() {
            let x = LEFT + i as f64 * slot + slot * 0.15;
            let mut base = 0.0;
            for (j, v) in values.iter().enumerate() {
                let (y0, y1) = (py(base), py(base + v));
                let part = self.parts.get(j).map_or("", String::as_str);
                let (data, title) =
                    value_title(&format!("{name}, {part}: {} {}", reading(*v), self.y_label));
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="{}"{data}>{title}</rect>"#,
                    slot * 0.7,
                    (y0 - y1).max(0.0),
                    COLORS[(j + 2) % COLORS.len()]
                );
                base += v;
            }
            let cx = x + slot * 0.35;
            let cy = HEIGHT - BOTTOM + 14.0;
            let _ = writeln!(
                out,
                r#"<text x="{cx:.1}" y="{cy:.1}" text-anchor="end" font-size="10" transform="rotate(-35 {cx:.1} {cy:.1})">{}</text>"#,
                escape(name)
            );
        }
        let _ = writeln!(
            out,
            r#"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/>"#,
            HEIGHT - BOTTOM,
            WIDTH - RIGHT
        );
        let entries: Vec<(String, usize, bool)> = self
            .parts
            .iter()
            .enumerate()
            .map(|(j, p)| (p.clone(), j + 2, false))
            .collect();
        legend(&mut out, &entries);
        out.push_str("</svg>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(9.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(17_386.0).last().copied(), Some(20_000.0));
        assert!(ticks(0.0).len() >= 2);
    }

    #[test]
    fn charts_are_well_formed_svg() {
        let chart = LineChart {
            title: "t <x>".into(),
            x_label: "N".into(),
            y_label: "req/s".into(),
            series: vec![Series {
                name: "a".into(),
                points: vec![(1.0, 10.0), (2.0, 20.0)],
                dashed: false,
                color: 0,
            }],
            shade: Some((1.2, 1.5, "fault".into())),
            error_bars: vec![(0, 2.0, 18.0, 22.0)],
        };
        let svg = chart.render();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;x&gt;") && svg.contains("<polyline"));
        // Each marker says its value, with its interval where it has one.
        assert!(
            svg.contains(r#"data-value="a, N 2: req/s 20.0 [18.0, 22.0]"><title>a, N 2: req/s 20.0 [18.0, 22.0]</title></circle>"#),
            "{svg}"
        );
        assert!(svg.contains("<title>a, N 1: req/s 10.0</title>"), "{svg}");
        let bars = StackedBars {
            title: "b".into(),
            y_label: "µs".into(),
            parts: vec!["x".into()],
            bars: vec![("c".into(), vec![1.0])],
        };
        assert!(
            bars.render()
                .contains("<title>c, x: 1.00 µs</title></rect>")
        );
    }
}
