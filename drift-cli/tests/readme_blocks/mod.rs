//! The repository's README.md and its fenced blocks, for the tests that run
//! its examples as written (include with `mod readme_blocks;`).
#![allow(dead_code)]

/// The README's text.
pub fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("read README.md")
}

/// The blocks fenced as ```` ```info ```` (the info string exactly) in the
/// README section `heading` (up to the next heading of its level or
/// above), in order.
pub fn blocks<'a>(readme: &'a str, heading: &str, info: &str) -> Vec<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut found = Vec::new();
    let mut in_section = false;
    let mut fence: Option<(bool, usize)> = None; // (wanted, start of its text)
    let mut offset = 0;
    for line in readme.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let text = line.trim_end();
        if let Some((wanted, from)) = fence {
            if text == "```" {
                if wanted && in_section {
                    found.push(&readme[from..start]);
                }
                fence = None;
            }
            continue;
        }
        if let Some(opened) = text.strip_prefix("```") {
            fence = Some((opened == info, offset));
            continue;
        }
        let hashes = text.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && text[hashes..].starts_with(' ') {
            if text == heading {
                in_section = true;
            } else if hashes <= level {
                in_section = false;
            }
        }
    }
    assert!(
        readme.lines().any(|l| l.trim_end() == heading),
        "README has no section {heading:?}"
    );
    found
}

/// The first shell block of the README section `heading`.
pub fn shell_block<'a>(readme: &'a str, heading: &str) -> &'a str {
    blocks(readme, heading, "sh")
        .first()
        .copied()
        .unwrap_or_else(|| panic!("README section {heading:?} has no shell block"))
}
