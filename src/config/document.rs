//! A parsed TOML file that remembers where every key and value sits, so that both serde errors
//! and the validator's own errors can be reported as `FILE:LINE:COL: key.path: message`.
//!
//! Two tools live here:
//! - locating: byte span → key path (`lns.pools[1].ranges`) and key path → position;
//! - collecting deserialization: deserialize a section, and on each error record it, cut the
//!   offending key (or element) out of the tree and try again, so one bad value does not hide the
//!   next one. A field that was cut is not reported a second time as "missing".

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use super::error::{Diagnostic, LineIndex};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// Renders a key path the way an operator reads it: `a.b[2].c`. Keys that are not bare TOML keys
/// are quoted.
pub(crate) fn path_string(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if bare {
                    out.push_str(k);
                } else {
                    let _ = write!(out, "{k:?}");
                }
            }
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// Parses a dotted path of bare keys (`"lns.tun.mtu"`); used for fixed paths in the validator.
pub(crate) fn segs(path: &str) -> Vec<Seg> {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('.').map(Seg::from).collect()
}

/// A parsed file with its text and a span-aware tree.
pub(crate) struct Document<'t> {
    pub(crate) file: Arc<str>,
    pub(crate) text: &'t str,
    lines: LineIndex,
    pub(crate) root: Spanned<DeValue<'t>>,
    /// (span) → deepest key path with that value span; built on first use (only on errors).
    span_index: OnceLock<HashMap<(usize, usize), Vec<Seg>>>,
}

impl<'t> Document<'t> {
    /// Parses `text`; syntax errors come back as diagnostics (TOML parsing recovers and reports
    /// them all), together with whatever tree could be built.
    pub(crate) fn parse(file: Arc<str>, text: &'t str) -> (Self, Vec<Diagnostic>) {
        let (table, syntax_errors) = DeTable::parse_recoverable(text);
        let span = table.span();
        let doc = Document {
            file,
            text,
            lines: LineIndex::new(text),
            root: Spanned::new(span, DeValue::Table(table.into_inner())),
            span_index: OnceLock::new(),
        };
        let mut diags: Vec<Diagnostic> = syntax_errors
            .into_iter()
            .map(|e| {
                let offset = e.span().map(|s| s.start);
                // The tree around a syntax error is a guess; name only the table path, which the
                // headers fix, not array positions inside the broken value.
                let key = offset
                    .map(|o| {
                        let path = containing_path(&doc.root, o);
                        let keys: Vec<Seg> = path
                            .into_iter()
                            .take_while(|s| matches!(s, Seg::Key(_)))
                            .collect();
                        path_string(&keys)
                    })
                    .unwrap_or_default();
                doc.diagnostic(offset, key, format!("syntax error: {}", e.message().trim()))
            })
            .collect();
        diags.sort_by(|a, b| (a.position, &a.message).cmp(&(b.position, &b.message)));
        diags.dedup_by(|a, b| a.position == b.position && a.message == b.message);
        (doc, diags)
    }

    /// A diagnostic at a byte offset (or with no position).
    pub(crate) fn diagnostic(
        &self,
        offset: Option<usize>,
        key: String,
        message: String,
    ) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            position: offset.map(|o| self.lines.position(self.text, o)),
            key,
            message,
        }
    }

    /// The root table.
    pub(crate) fn root_table(&self) -> &DeTable<'t> {
        match self.root.get_ref() {
            DeValue::Table(t) => t,
            _ => unreachable!("a TOML document is a table"),
        }
    }

    /// The key path of the deepest node whose value span is exactly `span`.
    pub(crate) fn path_of_span(&self, span: &Range<usize>) -> Option<Vec<Seg>> {
        let index = self.span_index.get_or_init(|| {
            let mut map = HashMap::new();
            let mut path = Vec::new();
            index_spans(&self.root, &mut path, &mut map);
            map
        });
        index.get(&(span.start, span.end)).cloned()
    }

    /// Byte offset of the value at `path`, or of its deepest existing ancestor (a table header)
    /// when the key is absent because a default applies. `None` when nothing on the path exists.
    pub(crate) fn offset_of(&self, path: &[Seg]) -> Option<usize> {
        let mut node = &self.root;
        let mut best = None;
        for seg in path {
            let next = match (seg, node.get_ref()) {
                (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str()),
                (Seg::Index(i), DeValue::Array(a)) => a.get(*i),
                _ => None,
            };
            match next {
                Some(n) => {
                    node = n;
                    let s = n.span();
                    // Implicit tables (created by a dotted key or a nested header) carry an empty
                    // span; keep the last real position in that case.
                    if s.end > s.start || best.is_none() {
                        best = Some(s.start);
                    }
                }
                None => break,
            }
        }
        best
    }
}

fn index_spans<'t>(
    node: &Spanned<DeValue<'t>>,
    path: &mut Vec<Seg>,
    map: &mut HashMap<(usize, usize), Vec<Seg>>,
) {
    let span = node.span();
    // Pre-order: children overwrite their parent when spans coincide (an array of tables shares
    // its span with its first element), so the deepest node wins.
    map.insert((span.start, span.end), path.clone());
    match node.get_ref() {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                path.push(Seg::Key(k.get_ref().to_string()));
                index_spans(v, path, map);
                path.pop();
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                index_spans(v, path, map);
                path.pop();
            }
        }
        _ => {}
    }
}

fn span_contains(s: &Range<usize>, offset: usize) -> bool {
    s.start <= offset && (offset < s.end || (s.start == s.end && s.start == offset))
}

/// Whether `offset` lies in the node or anywhere below it. Needed because a `[table]` header's span
/// covers only the header, not the keys written under it.
fn contains_deep(node: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    let s = node.span();
    if s.end > s.start && span_contains(&s, offset) {
        return true;
    }
    match node.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .any(|(k, v)| span_contains(&k.span(), offset) || contains_deep(v, offset)),
        DeValue::Array(a) => a.iter().any(|v| contains_deep(v, offset)),
        _ => false,
    }
}

/// The path to the innermost key or value containing `offset`.
fn containing_path(node: &Spanned<DeValue<'_>>, offset: usize) -> Vec<Seg> {
    let mut path = Vec::new();
    let mut node = node;
    loop {
        let next = match node.get_ref() {
            DeValue::Table(t) => t.iter().find_map(|(k, v)| {
                if span_contains(&k.span(), offset) {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    None
                } else if contains_deep(v, offset) {
                    Some((Seg::Key(k.get_ref().to_string()), v))
                } else {
                    None
                }
            }),
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .find(|(_, v)| contains_deep(v, offset))
                .map(|(i, v)| (Seg::Index(i), v)),
            _ => None,
        };
        match next {
            Some((seg, child)) => {
                path.push(seg);
                node = child;
            }
            None => return path,
        }
    }
}

enum Pruned {
    /// Something below was cut out; this node stays.
    Below,
    /// The error is about this node itself: its parent must drop it.
    This,
}

/// Cuts the innermost key or element containing `offset` out of the tree.
/// `cut_keys` remembers (table span, key) pairs, so that a later "missing field" error for a key
/// we cut is recognised as a consequence, not a new problem.
fn prune(
    node: &mut Spanned<DeValue<'_>>,
    offset: usize,
    cut_keys: &mut Vec<(Range<usize>, String)>,
) -> Pruned {
    let node_span = node.span();
    match node.get_mut() {
        DeValue::Table(t) => {
            let mut target: Option<(String, bool)> = None;
            for (k, v) in t.iter() {
                if span_contains(&k.span(), offset) {
                    target = Some((k.get_ref().to_string(), true));
                    break;
                }
                if contains_deep(v, offset) {
                    target = Some((k.get_ref().to_string(), false));
                    break;
                }
            }
            let Some((key, on_key)) = target else {
                return Pruned::This;
            };
            let remove = on_key
                || match t.get_mut(key.as_str()) {
                    Some(child) => matches!(prune(child, offset, cut_keys), Pruned::This),
                    None => true,
                };
            if remove {
                t.remove(key.as_str());
                cut_keys.push((node_span, key));
            }
            Pruned::Below
        }
        DeValue::Array(a) => {
            let Some(i) = a.iter().position(|v| contains_deep(v, offset)) else {
                return Pruned::This;
            };
            if matches!(prune(&mut a.as_mut()[i], offset, cut_keys), Pruned::This) {
                let old = std::mem::replace(a, DeArray::new());
                for (j, v) in old.into_iter().enumerate() {
                    if j != i {
                        a.push(v);
                    }
                }
            }
            Pruned::Below
        }
        _ => Pruned::This,
    }
}

/// The result of a collecting deserialization.
pub(crate) struct Collected<T> {
    /// The value, if one could be built (possibly without the parts that were in error).
    pub(crate) value: Option<T>,
    /// False when anything was cut out: references into this part must not be reported as
    /// unknown, since the referenced item may be the one that was cut.
    pub(crate) complete: bool,
}

/// Upper bound on errors collected from one section; beyond it the section is given up.
const MAX_ERRORS_PER_SECTION: usize = 200;

/// Deserializes `value` (found at `base` in `doc`) into `T`, collecting every serde error with its
/// position and key path instead of stopping at the first.
pub(crate) fn deserialize_collect<T: DeserializeOwned>(
    doc: &Document<'_>,
    value: &Spanned<DeValue<'_>>,
    base: &[Seg],
    out: &mut Vec<Diagnostic>,
) -> Collected<T> {
    // The pruned copy is made only once an error needs cutting out: the common, valid case
    // deserializes straight from one clone.
    let mut tree: Option<Spanned<DeValue<'_>>> = None;
    let mut cut_keys: Vec<(Range<usize>, String)> = Vec::new();
    let mut complete = true;
    for _ in 0..MAX_ERRORS_PER_SECTION {
        let attempt = tree.as_ref().unwrap_or(value).clone();
        let err = match T::deserialize(ValueDeserializer::from(attempt)) {
            Ok(v) => {
                return Collected {
                    value: Some(v),
                    complete,
                };
            }
            Err(e) => e,
        };
        complete = false;
        let Some(span) = err.span() else {
            out.push(doc.diagnostic(
                Some(value.span().start),
                path_string(base),
                err.message().to_owned(),
            ));
            return Collected {
                value: None,
                complete,
            };
        };
        // The path comes from the untouched value: after earlier cuts, indices in `tree` have
        // shifted, and the operator counts entries in the file.
        let rel = containing_path(value, span.start);
        let tree = tree.get_or_insert_with(|| value.clone());
        let whole = matches!(prune(tree, span.start, &mut cut_keys), Pruned::This);
        let consequence = err
            .message()
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
            .is_some_and(|field| cut_keys.iter().any(|(s, k)| *s == span && k == field));
        if !consequence {
            let mut path = base.to_vec();
            path.extend(rel);
            out.push(doc.diagnostic(Some(span.start), path_string(&path), tidy(err.message())));
        }
        if whole {
            return Collected {
                value: None,
                complete,
            };
        }
    }
    out.push(doc.diagnostic(
        Some(value.span().start),
        path_string(base),
        format!("too many errors; gave up on this section after {MAX_ERRORS_PER_SECTION}"),
    ));
    Collected {
        value: None,
        complete: false,
    }
}

/// serde's messages are good; this only rewords the two an operator meets most.
fn tidy(message: &str) -> String {
    let m = message.trim();
    if let Some(rest) = m.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once("`, expected ") {
            return format!("unknown key `{field}`, expected {expected}");
        }
        if let Some(field) = rest.strip_suffix("`, there are no fields") {
            return format!("unknown key `{field}`; this table takes no keys");
        }
    }
    if let Some(field) = m
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("missing required key `{field}`");
    }
    m.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        #[serde(default)]
        a: u32,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        #[serde(default)]
        n: u8,
    }

    fn collect(text: &str) -> (Option<Section>, Vec<String>) {
        let (doc, syntax) = Document::parse("t.toml".into(), text);
        assert!(syntax.is_empty(), "{syntax:?}");
        let section = doc.root_table().get("s").unwrap().clone();
        let mut out = Vec::new();
        let c: Collected<Section> = deserialize_collect(&doc, &section, &segs("s"), &mut out);
        (c.value, out.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn collects_every_error_in_a_section() {
        let text = "[s]\na = \"x\"\nzz = 1\n[[s.items]]\nname = \"a\"\nn = 300\n[[s.items]]\nn = 1\n[[s.items]]\nname = \"c\"\n";
        let (v, errs) = collect(text);
        assert_eq!(
            errs,
            vec![
                "t.toml:2:5: s.a: invalid type: string \"x\", expected u32",
                "t.toml:6:5: s.items[0].n: invalid value: integer `300`, expected u8",
                "t.toml:7:1: s.items[1]: missing required key `name`",
                "t.toml:3:1: s.zz: unknown key `zz`, expected `a` or `items`",
            ]
        );
        // The value that survives holds what was valid.
        let v = v.unwrap();
        assert_eq!(v.items.len(), 2);
        assert_eq!(v.items[1].name, "c");
    }

    #[test]
    fn a_cut_required_key_is_not_reported_twice() {
        let (_, errs) = collect("[s]\nitems = [{ name = 5 }]\n");
        assert_eq!(
            errs,
            vec!["t.toml:2:19: s.items[0].name: invalid type: integer `5`, expected a string"]
        );
    }

    #[test]
    fn spans_map_back_to_paths() {
        let text = "[s]\nitems = [{ name = \"q\" }, { name = \"r\" }]\n";
        let (doc, _) = Document::parse("t.toml".into(), text);
        let start = text.find("\"r\"").unwrap();
        let path = doc.path_of_span(&(start..start + 3)).unwrap();
        assert_eq!(path_string(&path), "s.items[1].name");
        assert_eq!(doc.offset_of(&path), Some(start));
        assert_eq!(doc.offset_of(&segs("s.missing")), Some(0));
        assert_eq!(doc.offset_of(&segs("nothing.here")), None);
        assert_eq!(
            path_string(&[Seg::from("a b"), Seg::from(3usize)]),
            "\"a b\"[3]"
        );
    }
}
