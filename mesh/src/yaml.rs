//! YAML with positions: documents become `serde_json::Value`s plus a span
//! index from each node's path to its line and column.
//!
//! Validation findings must point at individual nodes (an unknown field, a bad
//! weight), not only at parse errors, so we build our own tree from the
//! parser's spanned events instead of using a serde YAML deserializer that
//! forgets where things were. Paths use the same spelling as
//! `serde_path_to_error` (`spec.http[0].route[1].weight`), so a typed
//! deserialization error can be traced back to its line.
//!
//! Input is untrusted (the console API parses whatever a client sends), so
//! parsing is bounded: the events are pulled in a loop rather than through
//! the parser's recursive loader, nesting is limited in every style, alias
//! expansion has a budget (the "billion laughs" file is refused, as
//! Kubernetes refuses it), and the text itself has a size limit. The limits
//! are [`MAX_INPUT_BYTES`], [`MAX_DOCUMENTS`], [`MAX_DEPTH`] and
//! [`MAX_ALIAS_EXPANSION`].

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, SpannedEventReceiver};
use serde_json::{Map, Number, Value};

/// The largest YAML text accepted, in bytes: Kubernetes' API server takes
/// request bodies of at most 3 MiB; 4 MiB leaves room for multi-resource
/// files and stays under the console API's message limit.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;

/// The most (non-empty) documents one text may hold. Each becomes a
/// resource and findings of its own; 20,000 is twice the largest
/// configurations `istioctl analyze` is typically run on, and keeps the
/// findings of a file of tiny documents within bounds.
pub const MAX_DOCUMENTS: usize = 20_000;

/// The deepest nesting of mappings and sequences accepted, in any style.
/// Istio resources need fewer than 20 levels; deeper trees would overflow
/// the stack of the recursive serde code that reads them.
pub const MAX_DEPTH: usize = 64;

/// How much YAML aliases may copy into a stream, counted as nodes plus the
/// bytes of their strings. Anchors and aliases are legitimate, but each
/// alias is expanded by copying, so an alias bomb (aliases of lists of
/// aliases) would otherwise grow exponentially.
pub const MAX_ALIAS_EXPANSION: u64 = 100_000;

/// A line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What the parser said.
    pub message: String,
    /// A size, nesting or alias limit was passed: the text may be valid
    /// YAML, but meshcon will not read that much of it.
    pub limit: bool,
}

/// One YAML document: its value and where each node of it was.
#[derive(Debug, Clone)]
pub struct Document {
    /// The content as JSON values (YAML 1.2 core schema for plain scalars).
    pub value: Value,
    /// Node positions by path.
    pub spans: SpanIndex,
    /// Where the document starts.
    pub start: Pos,
}

/// Positions of the nodes of one document, by path.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl SpanIndex {
    /// The position of the value at `path` ("" is the document root).
    pub fn value(&self, path: &str) -> Option<Pos> {
        self.values.get(path).copied()
    }

    /// The position of the key that introduces `path`, falling back to the value.
    pub fn key(&self, path: &str) -> Option<Pos> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }

    /// The positions under `prefix` (`items[2]`), re-rooted so that `prefix`
    /// is the new document root: how the items of a `kind: List` become
    /// documents of their own with their real positions.
    pub fn subtree(&self, prefix: &str) -> SpanIndex {
        let pick = |m: &HashMap<String, Pos>| -> HashMap<String, Pos> {
            m.iter()
                .filter_map(|(k, v)| {
                    let rest = k.strip_prefix(prefix)?;
                    let rest = match rest.strip_prefix('.') {
                        Some(r) => r,
                        None if rest.is_empty() || rest.starts_with('[') => rest,
                        None => return None,
                    };
                    Some((rest.to_string(), *v))
                })
                .collect()
        };
        SpanIndex {
            values: pick(&self.values),
            keys: pick(&self.keys),
        }
    }

    /// The best position for `path`: its key, else the nearest ancestor's.
    pub fn nearest(&self, path: &str) -> Pos {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.key(&p) {
                return pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.value("").unwrap_or_default(),
            }
        }
    }
}

/// `s` with control characters (C0, DEL, C1) and Unicode direction
/// overrides written as Rust escapes (`\u{1b}`, `\0`, `\n`), so text from
/// the input cannot move the cursor, recolour or hide part of a message.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters a terminal acts on or that reorder the text around them.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Appends a map key to a path.
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Appends a sequence index to a path.
pub fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// Parses every document of a (multi-document) YAML text. Empty documents are
/// skipped, as `kubectl apply` does. Input beyond the limits above is
/// refused with a message that names the limit.
pub fn parse_documents(src: &str) -> Result<Vec<Document>, YamlError> {
    if src.len() > MAX_INPUT_BYTES {
        return Err(YamlError {
            limit: true,
            pos: Pos { line: 1, col: 1 },
            message: format!(
                "the input is {} bytes; meshcon reads at most {MAX_INPUT_BYTES} bytes ({} MiB) of YAML at once; split it into several files",
                src.len(),
                MAX_INPUT_BYTES / (1024 * 1024)
            ),
        });
    }
    let mut builder = Builder::default();
    // Pulling events one by one keeps the parser's own recursion (its
    // loader descends once per nesting level) out of the picture, so the
    // depth limit is checked before the stack could run out.
    for event in Parser::new_from_str(src) {
        let (ev, span) = event.map_err(|e| YamlError {
            limit: e.info() == "recursion limit exceeded",
            pos: Pos {
                line: e.marker().line() as u32,
                col: e.marker().col() as u32 + 1,
            },
            // The scanner stops flow collections at 255 levels, possibly
            // before the events reach the builder's own limit.
            message: if e.info() == "recursion limit exceeded" {
                too_deep_message()
            } else {
                e.info().to_string()
            },
        })?;
        builder.on_event(ev, span);
        if let Some(err) = builder.fatal.take() {
            return Err(err);
        }
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder
        .docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .collect())
}

/// Parses a text that must hold exactly one document (an empty text is `null`).
pub fn parse_one(src: &str) -> Result<Document, YamlError> {
    let mut docs = parse_documents(src)?;
    match docs.len() {
        0 => Ok(Document {
            value: Value::Null,
            spans: SpanIndex::default(),
            start: Pos { line: 1, col: 1 },
        }),
        1 => Ok(docs.remove(0)),
        _ => Err(YamlError {
            limit: false,
            pos: docs[1].start,
            message: "expected a single YAML document, found several".into(),
        }),
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line() as u32,
        col: span.start.col() as u32 + 1,
    }
}

enum Frame {
    Seq {
        items: Vec<Value>,
        path: String,
        anchor: usize,
        /// Nodes plus string bytes so far, what an alias of it would copy.
        weight: u64,
    },
    Map {
        entries: Map<String, Value>,
        path: String,
        pending_key: Option<(String, Pos)>,
        anchor: usize,
        /// Nodes plus string bytes so far, keys included.
        weight: u64,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Document>,
    stack: Vec<Frame>,
    spans: SpanIndex,
    /// Anchored values of the current document and their weights.
    anchors: HashMap<usize, (Value, u64)>,
    doc_start: Pos,
    root: Option<Value>,
    /// The first mistake that still lets parsing go on (a duplicate key).
    error: Option<YamlError>,
    /// A limit was passed: parsing stops at once.
    fatal: Option<YamlError>,
    /// What aliases have copied so far, against [`MAX_ALIAS_EXPANSION`].
    expanded: u64,
}

impl Builder {
    /// The path the next value will have, or `None` if it is a map key.
    fn next_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Seq { items, path, .. }) => Some(join_index(path, items.len())),
            Some(Frame::Map {
                path, pending_key, ..
            }) => pending_key.as_ref().map(|(k, _)| join_key(path, k)),
        }
    }

    fn push_value(&mut self, value: Value, value_weight: u64, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), value_weight));
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, weight, .. }) => {
                *weight += value_weight;
                items.push(value);
            }
            Some(Frame::Map {
                entries,
                pending_key,
                path,
                weight,
                ..
            }) => match pending_key.take() {
                Some((k, kpos)) => {
                    if entries.contains_key(&k) && self.error.is_none() {
                        self.error = Some(YamlError {
                            limit: false,
                            pos: kpos,
                            message: format!("duplicate key '{k}' in {}", describe(path)),
                        });
                    }
                    *weight += value_weight + k.len() as u64;
                    entries.insert(k, value);
                }
                None => {
                    // A complex (non-scalar) map key: YAML allows it, Istio never uses it.
                    if self.error.is_none() {
                        self.error = Some(YamlError {
                            limit: false,
                            pos: self.spans.value(path).unwrap_or_default(),
                            message: "a mapping or sequence cannot be used as a key".into(),
                        });
                    }
                }
            },
        }
    }

    /// Refuses a mapping or sequence that would nest deeper than [`MAX_DEPTH`].
    fn too_deep(&mut self, pos: Pos) -> bool {
        if self.stack.len() < MAX_DEPTH {
            return false;
        }
        self.fatal = Some(YamlError {
            limit: true,
            pos,
            message: too_deep_message(),
        });
        true
    }

    /// The value an alias stands for, if the expansion budget allows the copy.
    fn expand_alias(&mut self, id: usize, pos: Pos) -> Option<(Value, u64)> {
        let Some((value, weight)) = self.anchors.get(&id) else {
            self.fatal = Some(YamlError {
                limit: false,
                pos,
                message: "this alias refers to an anchor of another document; an alias can only repeat an anchor of its own document".into(),
            });
            return None;
        };
        self.expanded = self.expanded.saturating_add(*weight);
        if self.expanded > MAX_ALIAS_EXPANSION {
            self.fatal = Some(YamlError {
                limit: true,
                pos,
                message: format!(
                    "YAML aliases expand to more than {MAX_ALIAS_EXPANSION} nodes and characters (each alias copies its anchor's content; aliases of lists of aliases grow exponentially); meshcon refuses such input, as Kubernetes does: write the content out, or use fewer aliases"
                ),
            });
            return None;
        }
        Some((value.clone(), *weight))
    }
}

fn too_deep_message() -> String {
    format!(
        "mappings and sequences nest deeper than {MAX_DEPTH} levels here; meshcon accepts at most {MAX_DEPTH} (Istio resources need fewer than 20): check the indentation, or flatten the data"
    )
}

fn describe(path: &str) -> String {
    if path.is_empty() {
        "the document".to_string()
    } else {
        format!("'{path}'")
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, ev: Event<'input>, span: Span) {
        let pos = pos_of(&span);
        match ev {
            Event::DocumentStart(_) => {
                self.spans = SpanIndex::default();
                self.anchors.clear();
                self.root = None;
                self.doc_start = pos;
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                // Empty documents are skipped later anyway; keeping them would
                // let a file of `---` lines fill memory.
                if value.is_null() {
                    return;
                }
                if self.docs.len() == MAX_DOCUMENTS {
                    self.fatal = Some(YamlError {
                        limit: true,
                        pos: self.doc_start,
                        message: format!(
                            "the input holds more than {MAX_DOCUMENTS} documents; meshcon reads at most {MAX_DOCUMENTS} at once: split it into several files"
                        ),
                    });
                    return;
                }
                self.docs.push(Document {
                    value,
                    spans: std::mem::take(&mut self.spans),
                    start: self.doc_start,
                });
            }
            Event::Scalar(text, style, anchor, _tag) => {
                // A scalar in key position of a map becomes the pending key.
                if let Some(Frame::Map {
                    pending_key, path, ..
                }) = self.stack.last_mut()
                {
                    if pending_key.is_none() {
                        let key = text.to_string();
                        self.spans.keys.insert(join_key(path, &key), pos);
                        *pending_key = Some((key, pos));
                        return;
                    }
                }
                if let Some(path) = self.next_path() {
                    self.spans.values.insert(path, pos);
                }
                let weight = 1 + text.len() as u64;
                let value = scalar_value(&text, style);
                self.push_value(value, weight, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                if self.too_deep(pos) {
                    return;
                }
                let path = self.next_path().unwrap_or_default();
                self.spans.values.insert(path.clone(), pos);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                    weight: 1,
                });
            }
            Event::MappingStart(anchor, _) => {
                if self.too_deep(pos) {
                    return;
                }
                let path = self.next_path().unwrap_or_default();
                self.spans.values.insert(path.clone(), pos);
                self.stack.push(Frame::Map {
                    entries: Map::new(),
                    path,
                    pending_key: None,
                    anchor,
                    weight: 1,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, weight) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        weight,
                        ..
                    }) => (Value::Array(items), anchor, weight),
                    Some(Frame::Map {
                        entries,
                        anchor,
                        weight,
                        ..
                    }) => (Value::Object(entries), anchor, weight),
                    None => return,
                };
                self.push_value(value, weight, anchor);
            }
            Event::Alias(id) => {
                let Some((value, weight)) = self.expand_alias(id, pos) else {
                    return;
                };
                if let Some(Frame::Map { pending_key, .. }) = self.stack.last() {
                    if pending_key.is_none() {
                        if let Value::String(k) = value {
                            if let Some(Frame::Map {
                                pending_key, path, ..
                            }) = self.stack.last_mut()
                            {
                                self.spans.keys.insert(join_key(path, &k), pos);
                                *pending_key = Some((k, pos));
                            }
                        }
                        return;
                    }
                }
                if let Some(path) = self.next_path() {
                    self.spans.values.insert(path, pos);
                }
                self.push_value(value, weight, 0);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

/// Resolves a scalar by the YAML 1.2 core schema: only plain scalars can be
/// null, booleans or numbers; quoted ones are always strings.
fn scalar_value(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return Value::Number(n);
    }
    let looks_float = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_float {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<Number> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if neg {
        text.parse::<i64>().ok().map(Number::from)
    } else {
        digits.parse::<u64>().ok().map(Number::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_nodes_are_recorded() {
        let src = "apiVersion: v1\nspec:\n  http:\n  - route:\n    - destination:\n        host: reviews\n      weight: 90\n";
        let docs = parse_documents(src).expect("parses");
        assert_eq!(docs.len(), 1);
        let spans = &docs[0].spans;
        assert_eq!(
            spans.key("spec.http[0].route[0].weight").map(|p| p.line),
            Some(7)
        );
        assert_eq!(
            spans.value("spec.http[0].route[0].destination.host"),
            Some(Pos { line: 6, col: 15 })
        );
        assert_eq!(docs[0].value["spec"]["http"][0]["route"][0]["weight"], 90);
    }

    #[test]
    fn multi_document_streams_skip_empty_documents() {
        let src = "---\na: 1\n---\n---\nb: 'x'\n...\n";
        let docs = parse_documents(src).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value["b"], "x");
        assert_eq!(docs[1].start.line, 4);
    }

    #[test]
    fn core_schema_scalars() {
        let doc = parse_one("a: true\nb: '5'\nc: 5\nd: 1.5\ne: ~\nf: 10s\ng: -3").expect("parses");
        let v = &doc.value;
        assert_eq!(v["a"], true);
        assert_eq!(v["b"], "5");
        assert_eq!(v["c"], 5);
        assert_eq!(v["d"], 1.5);
        assert!(v["e"].is_null());
        assert_eq!(v["f"], "10s");
        assert_eq!(v["g"], -3);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse_documents("a: [1, 2\nb: 3\n").expect_err("unclosed flow sequence");
        assert!(err.pos.line >= 1, "{err}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse_documents("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(err.pos.line, 3);
        assert!(err.message.contains("duplicate key 'a'"), "{err}");
    }

    #[test]
    fn nearest_falls_back_to_ancestors() {
        let doc = parse_one("spec:\n  hosts:\n  - a\n").expect("parses");
        assert_eq!(doc.spans.nearest("spec.hosts[0].missing").line, 3);
        assert_eq!(doc.spans.nearest("spec.nothere").line, 1);
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let doc = parse_one("a: &x {k: 1}\nb: *x\n").expect("parses");
        assert_eq!(doc.value["b"]["k"], 1);
    }

    #[test]
    fn deep_nesting_is_refused_in_every_style() {
        let block = format!("{}x\n", "- ".repeat(5000));
        let flow = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let maps: String = (0..200)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect();
        let mixed = format!("a: {}1{}\n", "[{b: ".repeat(100), "}]".repeat(100));
        for src in [block, flow, maps, mixed] {
            let err = parse_documents(&src).expect_err("too deep");
            assert!(err.message.contains("deeper than 64 levels"), "{err}");
        }
        let ok = format!("{}x\n", "- ".repeat(MAX_DEPTH));
        parse_documents(&ok).expect("64 levels are fine");
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 \"lol\"\n");
        for i in 1..9 {
            let list = vec![format!("*a{}", i - 1); 10].join(",");
            src.push_str(&format!("a{i}: &a{i} [{list}]\n"));
        }
        let err = parse_documents(&src).expect_err("alias bomb");
        assert!(err.message.contains("aliases expand"), "{err}");
        assert!(err.pos.line <= 9, "{err}");
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let src = "#".repeat(MAX_INPUT_BYTES + 1);
        let err = parse_documents(&src).expect_err("too big");
        assert!(err.message.contains("at most 4194304 bytes"), "{err}");
    }

    #[test]
    fn document_count_is_bounded() {
        parse_documents(&"---\n".repeat(500_000)).expect("empty documents cost nothing");
        let err = parse_documents(&"x\n---\n".repeat(MAX_DOCUMENTS + 1)).expect_err("too many");
        assert!(err.message.contains("more than 20000 documents"), "{err}");
        assert_eq!(err.pos.line, 2 * MAX_DOCUMENTS as u32, "{err}");
    }

    #[test]
    fn aliases_to_other_documents_are_refused() {
        let err = parse_documents("a: &x 1\n---\nb: *x\n").expect_err("cross-document alias");
        assert!(err.message.contains("another document"), "{err}");
    }
}
