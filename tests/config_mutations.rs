//! Bad input gets a clear error and never a panic: mutated versions of the documented example
//! (lines dropped, duplicated or swapped, values replaced, bytes inserted) always load or fail
//! with diagnostics that name the file and point inside it.

use l2tpagg::config::{self, EMBEDDED_DEFAULT};
use proptest::prelude::*;

/// Values that are wrong for most keys in interesting ways.
const ODD_VALUES: &[&str] = &[
    "0",
    "-1",
    "70000",
    "\"\"",
    "\"x\"",
    "\"0s\"",
    "\"1.5G\"",
    "[]",
    "{}",
    "true",
    "1.5",
    "\"999.1.1.1\"",
    "\"10.0.0.1/8\"",
    "\"*\"",
    "[\"a\", 1]",
    "{ time = \"0s\" }",
    "\"auto\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    DropLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceValue(usize, usize),
    InsertText(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DropLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::ReplaceValue(a, b)),
        (any::<usize>(), "[ -~\\n\\[\\]{}=\"'#é]{0,12}")
            .prop_map(|(a, s)| Mutation::InsertText(a, s)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DropLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::ReplaceValue(i, v) => {
                let l = &mut lines[i % n];
                if let Some(eq) = l.find(" = ") {
                    l.truncate(eq + 3);
                    l.push_str(ODD_VALUES[v % ODD_VALUES.len()]);
                }
            }
            Mutation::InsertText(i, s) => {
                let l = &mut lines[i % n];
                let mut at = i % (l.len() + 1);
                while !l.is_char_boundary(at) {
                    at -= 1;
                }
                l.insert_str(at, s);
            }
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_examples_never_panic_and_point_inside_the_file(
        mutations in proptest::collection::vec(mutation(), 1..6)
    ) {
        let text = apply(EMBEDDED_DEFAULT, &mutations);
        let line_count = text.lines().count() as u32 + 1;
        match config::load_str("m.toml", &text) {
            Ok(c) => {
                // A configuration that loads is usable: its subscriber lookups work.
                let _ = c.subscribers.get("user1");
            }
            Err(e) => {
                prop_assert!(!e.errors.is_empty());
                for d in e.errors.iter().chain(&e.warnings) {
                    prop_assert_eq!(&*d.file, "m.toml");
                    prop_assert!(!d.message.is_empty());
                    if let Some((line, col)) = d.position {
                        prop_assert!(line >= 1 && line <= line_count, "{}", d);
                        prop_assert!(col >= 1, "{}", d);
                    }
                    let shown = d.to_string();
                    prop_assert!(shown.starts_with("m.toml"), "{}", shown);
                    prop_assert!(!shown.contains('\n'), "{}", shown);
                }
            }
        }
    }
}
