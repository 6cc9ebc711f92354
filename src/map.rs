//! A mesh drawn as boxes and links in the terminal: a layered layout
//! (each box one layer right of its furthest caller, callers' rows ordering
//! their callees', regions stacked as bands), links drawn as text. The
//! console's map of the live mesh and the practice diagram to label are
//! both drawn here.
//!
//! A box is a cell (3 columns: a sidecar, a gateway, a slot to label) and
//! an optional name. A link is the text drawn along it (`════▶`, `═[B]▶`,
//! `─ 10/s 0% ─▶`); between boxes on one row it is drawn as given, to a
//! box on another row it turns down or up in the gap before the callee.

/// One box.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The cell, three columns wide (`[A]`, ` · `, `e-w`).
    pub cell: String,
    /// The name beside the cell, if any.
    pub name: Option<String>,
    /// A second line under the name (figures), if any.
    pub detail: Option<String>,
    /// The band (region) it belongs to.
    pub band: usize,
}

/// One link, from caller to callee.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Index of the caller in [`Spec::nodes`].
    pub from: usize,
    /// Index of the callee.
    pub to: usize,
    /// The text along the link, ending in its arrow head.
    pub art: String,
}

/// What to draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// Text before the first box on the top row (`client ─HTTPS▶ `).
    pub entry: String,
    /// The boxes.
    pub nodes: Vec<Node>,
    /// The links.
    pub links: Vec<Link>,
    /// A box over the top row's boxes, with an arrow into each (a control plane).
    pub over: Option<String>,
    /// A bracket under the boxes (a data plane).
    pub under: Option<String>,
    /// Band titles, drawn as separators between bands (none for one band).
    pub bands: Vec<String>,
    /// Lines under everything, indented like the boxes.
    pub notes: Vec<String>,
}

fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// The lines of a box: three, or four with a detail line.
fn boxed(n: &Node) -> Vec<String> {
    match &n.name {
        Some(name) => {
            let inner = width(name).max(n.detail.as_deref().map_or(0, width)) + 2;
            let pad = |t: &str| format!(" {t}{} ", " ".repeat(inner - 2 - width(t)));
            let bar = "─".repeat(inner);
            let mut out = vec![
                format!("┌───┬{bar}┐"),
                format!("│{}│{}│", n.cell, pad(name)),
            ];
            if let Some(d) = &n.detail {
                out.push(format!("│   │{}│", pad(d)));
            }
            out.push(format!("└───┴{bar}┘"));
            out
        }
        None => vec![
            "┌───┐".to_string(),
            format!("│{}│", n.cell),
            "└───┘".to_string(),
        ],
    }
}

/// A grid of cells that knows wide characters take two columns.
struct Canvas {
    rows: Vec<Vec<String>>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            rows: vec![vec![" ".to_string(); w]; h],
        }
    }

    fn put(&mut self, x: usize, y: usize, s: &str) {
        let Some(row) = self.rows.get_mut(y) else {
            return;
        };
        let mut x = x;
        for ch in s.chars() {
            let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
            if w == 0 {
                continue;
            }
            if x >= row.len() {
                return;
            }
            row[x] = ch.to_string();
            // A wide character covers the next column too.
            for k in 1..w {
                if let Some(c) = row.get_mut(x + k) {
                    c.clear();
                }
            }
            x += w;
        }
    }

    fn lines(self) -> Vec<String> {
        self.rows
            .into_iter()
            .map(|r| r.concat().trim_end().to_string())
            .collect()
    }
}

/// Each node's layer: one right of its furthest caller.
fn layers(spec: &Spec) -> Vec<usize> {
    let n = spec.nodes.len();
    let mut layer = vec![0usize; n];
    // Longest path by relaxation; a cycle stops after n rounds.
    for _ in 0..n {
        let mut changed = false;
        for l in &spec.links {
            if l.from < n && l.to < n && l.from != l.to && layer[l.to] < layer[l.from] + 1 {
                layer[l.to] = layer[l.from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// Draws `spec`, line by line.
pub fn draw(spec: &Spec) -> Vec<String> {
    let n = spec.nodes.len();
    if n == 0 {
        return Vec::new();
    }
    let layer = layers(spec);
    let depth = layer.iter().copied().max().unwrap_or(0) + 1;
    let bands = spec.nodes.iter().map(|x| x.band).max().unwrap_or(0) + 1;
    // Rows: per layer, by band, then by the mean row of the callers.
    let mut row = vec![0usize; n];
    let mut band_rows = vec![0usize; bands];
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, l) in layer.iter().enumerate() {
        order[*l].push(i);
    }
    for (l, members) in order.iter_mut().enumerate() {
        let mean = |i: usize| -> f64 {
            let callers: Vec<usize> = spec
                .links
                .iter()
                .filter(|k| k.to == i && k.from < n && layer[k.from] < l)
                .map(|k| row[k.from])
                .collect();
            if callers.is_empty() {
                i as f64
            } else {
                callers.iter().sum::<usize>() as f64 / callers.len() as f64
            }
        };
        let mut keyed: Vec<(usize, f64, usize)> = members
            .iter()
            .map(|&i| (spec.nodes[i].band, mean(i), i))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut k_in_band = vec![0usize; bands];
        for (band, _, i) in &keyed {
            row[*i] = k_in_band[*band];
            k_in_band[*band] += 1;
        }
        for b in 0..bands {
            band_rows[b] = band_rows[b].max(k_in_band[b]);
        }
        *members = keyed.into_iter().map(|k| k.2).collect();
    }
    // A row index across bands.
    let mut band_start = vec![0usize; bands];
    for b in 1..bands {
        band_start[b] = band_start[b - 1] + band_rows[b - 1];
    }
    let grow = |i: usize| band_start[spec.nodes[i].band] + row[i];
    let separators = !spec.bands.is_empty() && bands > 1;
    // Lines: the box over takes 3, each row 3 plus a blank line, a band
    // separator 1, the bracket 1.
    let top = if spec.over.is_some() { 3 } else { 0 };
    // With bands, a title line above the first; the others' titles sit on
    // the blank line between rows.
    let first_title = usize::from(separators);
    // Rows as tall as the tallest box, and a blank line.
    let pitch = if spec.nodes.iter().any(|x| x.detail.is_some()) {
        5
    } else {
        4
    };
    let y_of = |r: usize| -> usize { top + first_title + r * pitch };
    let y_box = |i: usize| y_of(grow(i));
    let boxes: Vec<Vec<String>> = spec.nodes.iter().map(boxed).collect();
    // Columns: each layer as wide as its widest box, then a gap as wide as
    // the widest link leaving it (plus room to turn for other rows).
    let entry = width(&spec.entry);
    let mut x_layer = vec![entry; depth];
    let mut w_layer = vec![0usize; depth];
    for i in 0..n {
        w_layer[layer[i]] = w_layer[layer[i]].max(width(&boxes[i][0]));
    }
    for l in 1..depth {
        let leaving: Vec<&Link> = spec
            .links
            .iter()
            .filter(|k| k.from < n && layer[k.from] == l - 1)
            .collect();
        let turns = leaving
            .iter()
            .any(|k| k.to < n && grow(k.to) != grow(k.from));
        let gap =
            leaving.iter().map(|k| width(&k.art)).max().unwrap_or(5) + if turns { 2 } else { 0 };
        x_layer[l] = x_layer[l - 1] + w_layer[l - 1] + gap;
    }
    let total_rows = band_start[bands - 1] + band_rows[bands - 1];
    let right = (0..n)
        .map(|i| x_layer[layer[i]] + width(&boxes[i][0]))
        .max()
        .unwrap_or(entry);
    let width_all = right + 1;
    let height = y_of(total_rows.max(1)) + 1;
    let mut c = Canvas::new(width_all, height);
    // Band lines first: a link crossing one is drawn over it.
    if separators {
        for (b, start) in band_start.iter().enumerate() {
            let y = if b == 0 { top } else { y_of(*start) - 1 };
            let title = spec.bands.get(b).map(String::as_str).unwrap_or("");
            let text = format!("┄┄ {title} ");
            let rest = width_all.saturating_sub(entry + width(&text));
            c.put(entry, y, &format!("{text}{}", "┄".repeat(rest)));
        }
    }
    // Links first: boxes are drawn over any line that reaches them. A
    // caller's links to other rows share one trunk, right of its layer.
    for a in 0..n {
        let out: Vec<&Link> = spec
            .links
            .iter()
            .filter(|k| k.from == a && k.to < n && k.to != a)
            .collect();
        if out.is_empty() {
            continue;
        }
        let ax = x_layer[layer[a]] + width(&boxes[a][0]);
        let ay = y_box(a) + 1;
        let trunk = x_layer[layer[a]] + w_layer[layer[a]] + 1;
        let mut same_row = false;
        let (mut lo, mut hi) = (ay, ay);
        for k in &out {
            let (bx, by) = (x_layer[layer[k.to]], y_box(k.to) + 1);
            let art = width(&k.art);
            let start = bx.saturating_sub(art);
            if by == ay {
                same_row = true;
                c.put(ax, ay, &"─".repeat(start.saturating_sub(ax)));
            } else {
                c.put(ax, ay, &"─".repeat(trunk.saturating_sub(ax)));
                c.put(trunk + 1, by, &"─".repeat(start.saturating_sub(trunk + 1)));
                lo = lo.min(by);
                hi = hi.max(by);
            }
            c.put(start, by, &k.art);
        }
        if lo == hi {
            continue;
        }
        for y in lo..=hi {
            let branch = out.iter().any(|k| y_box(k.to) + 1 == y);
            let ch = if y == ay {
                match (same_row, lo < ay, hi > ay) {
                    (true, true, true) => "┼",
                    (true, false, _) => "┬",
                    (true, true, false) => "┴",
                    (false, true, true) => "┤",
                    (false, false, _) => "┐",
                    (false, true, false) => "┘",
                }
            } else if y == lo {
                "┌"
            } else if y == hi {
                "└"
            } else if branch {
                "├"
            } else {
                "│"
            };
            c.put(trunk, y, ch);
        }
    }
    for i in 0..n {
        let (x, y) = (x_layer[layer[i]], y_box(i));
        for (k, line) in boxes[i].iter().enumerate() {
            c.put(x, y + k, line);
        }
    }
    if !spec.entry.is_empty() {
        if let Some(first) = (0..n).find(|&i| grow(i) == 0 && layer[i] == 0) {
            c.put(0, y_box(first) + 1, &spec.entry);
        }
    }
    let inner = right.saturating_sub(entry + 2);
    let frame = |label: &str, open: char, close: char| {
        let lw = width(label);
        let left = inner.saturating_sub(lw) / 2;
        let right_fill = inner.saturating_sub(lw + left);
        format!(
            "{}{open}{}{label}{}{close}",
            " ".repeat(entry),
            "─".repeat(left),
            "─".repeat(right_fill)
        )
    };
    let mut lines = Vec::new();
    if let Some(label) = &spec.over {
        // An arrow into each box of the top row.
        let ticks: Vec<usize> = (0..n)
            .filter(|&i| grow(i) == 0)
            .map(|i| x_layer[layer[i]] + 2)
            .collect();
        let mut bottom: Vec<char> = format!("{}└{}┘", " ".repeat(entry), "─".repeat(inner))
            .chars()
            .collect();
        let mut arrows: Vec<char> = vec![' '; width_all];
        for t in &ticks {
            if let Some(x) = bottom.get_mut(*t) {
                *x = '┬';
            }
            if let Some(x) = arrows.get_mut(*t) {
                *x = '▼';
            }
        }
        lines.push(frame(&format!(" {label} "), '┌', '┐'));
        lines.push(bottom.into_iter().collect());
        lines.push(
            arrows
                .into_iter()
                .collect::<String>()
                .trim_end()
                .to_string(),
        );
    }
    let mut body = c.lines();
    body.drain(..top.min(body.len()));
    // Rows end at the last box's bottom line.
    let last = y_of(total_rows.max(1) - 1) + pitch - 1 - top;
    body.truncate(last);
    lines.extend(body);
    if let Some(label) = &spec.under {
        lines.push(frame(&format!(" {label} "), '└', '┘'));
    }
    for note in &spec.notes {
        lines.push(format!("{}{note}", " ".repeat(entry)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cell: &str, name: Option<&str>, band: usize) -> Node {
        Node {
            cell: cell.into(),
            name: name.map(str::to_string),
            detail: None,
            band,
        }
    }

    fn link(from: usize, to: usize, art: &str) -> Link {
        Link {
            from,
            to,
            art: art.into(),
        }
    }

    #[test]
    fn a_chain_is_one_row_with_its_links_between_the_boxes() {
        let spec = Spec {
            entry: "client ─HTTPS▶ ".into(),
            nodes: vec![
                node("[A]", None, 0),
                node(" · ", Some("web"), 0),
                node(" · ", Some("api"), 0),
            ],
            links: vec![link(0, 1, "════▶"), link(1, 2, "═[B]▶")],
            over: Some("[C]".into()),
            under: Some("[D]".into()),
            ..Default::default()
        };
        let lines = draw(&spec);
        assert_eq!(
            lines,
            vec![
                "               ┌─────────────── [C] ───────────────┐",
                "               └─┬─────────┬───────────────┬───────┘",
                "                 ▼         ▼               ▼",
                "               ┌───┐     ┌───┬─────┐     ┌───┬─────┐",
                "client ─HTTPS▶ │[A]│════▶│ · │ web │═[B]▶│ · │ api │",
                "               └───┘     └───┴─────┘     └───┴─────┘",
                "               └─────────────── [D] ───────────────┘",
            ]
        );
    }

    #[test]
    fn fan_out_takes_rows_and_bands_are_stacked() {
        let spec = Spec {
            nodes: vec![
                node("igw", None, 0),
                node(" · ", Some("front"), 0),
                node(" · ", Some("auth"), 0),
                node(" · ", Some("billing"), 1),
            ],
            links: vec![
                link(0, 1, "─▶"),
                link(1, 2, "─ 10/s ─▶"),
                link(1, 3, "─ 5/s ⇄ ─▶"),
            ],
            bands: vec!["eu".into(), "us".into()],
            ..Default::default()
        };
        let text = draw(&spec).join("\n");
        for name in ["front", "auth", "billing", "┄┄ us", "10/s", "5/s ⇄"] {
            assert!(text.contains(name), "{name} in\n{text}");
        }
        // billing, in the second band, is drawn below auth.
        let line_of = |s: &str| text.lines().position(|l| l.contains(s));
        assert!(line_of("billing") > line_of("auth"), "\n{text}");
        assert!(line_of("┄┄ us") > line_of("auth"), "\n{text}");
        assert!(line_of("┄┄ us") < line_of("billing"), "\n{text}");
    }
}
