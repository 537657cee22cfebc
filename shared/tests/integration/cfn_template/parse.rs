//! The parser of the YAML subset described in [`super`]: lines by indentation, then
//! mappings, sequences, scalars and tags.

use super::Yaml;

#[derive(Debug)]
struct Line {
    number: usize,
    indent: usize,
    text: String,
}

/// Parses the subset described at the top of this file.
pub fn parse(source: &str) -> Result<Yaml, String> {
    let mut lines = Vec::new();
    let raw: Vec<&str> = source.lines().collect();
    let mut i = 0;
    while i < raw.len() {
        let line = raw[i];
        let number = i + 1;
        i += 1;
        if line[..line.len() - line.trim_start().len()].contains('\t') {
            return Err(format!("line {number}: tab indentation"));
        }
        let text = strip_comment(line);
        let trimmed = text.trim_end();
        if trimmed.trim().is_empty() || trimmed.trim() == "---" {
            continue;
        }
        let indent = trimmed.len() - trimmed.trim_start().len();
        let content = trimmed.trim_start().to_owned();
        // A block scalar: fold its more-indented lines into one line (content is never
        // compared, only carried).
        if let Some(head) = block_scalar_head(&content) {
            let mut parts = Vec::new();
            while i < raw.len() {
                let next = raw[i];
                let next_indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && next_indent <= indent {
                    break;
                }
                parts.push(next.trim().to_owned());
                i += 1;
            }
            let folded = parts
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            lines.push(Line {
                number,
                indent,
                text: format!("{head}{}", quote(&folded)),
            });
            continue;
        }
        lines.push(Line {
            number,
            indent,
            text: content,
        });
    }
    let mut parser = Parser { lines, pos: 0 };
    if parser.lines.is_empty() {
        return Ok(Yaml::Null);
    }
    let indent = parser.lines[0].indent;
    let doc = parser.block(indent)?;
    if let Some(extra) = parser.lines.get(parser.pos) {
        return Err(format!("line {}: unexpected indentation", extra.number));
    }
    Ok(doc)
}

/// `key: >-` / `key: |` / `- |` → the part before the indicator.
fn block_scalar_head(content: &str) -> Option<String> {
    for indicator in [">-", ">", "|-", "|"] {
        if let Some(head) = content.strip_suffix(indicator)
            && (head.ends_with(": ") || head == "- ")
        {
            return Some(head.to_owned());
        }
    }
    None
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Drops a `#` comment (at the start or after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && (prev == ' ' || prev == '[' || prev == ',') => {
                quote = Some(c)
            }
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// The byte index of the `:` ending a mapping key, when the line is `key: ...` or `key:`.
fn key_colon(content: &str) -> Option<usize> {
    let first = content.chars().next()?;
    if matches!(first, '!' | '[' | '{' | '&' | '*' | '|' | '>') {
        return None;
    }
    if first == '"' || first == '\'' {
        let close = content[1..].find(first)? + 1;
        let after = &content[close + 1..];
        return (after == ":" || after.starts_with(": ")).then_some(close + 1);
    }
    let bytes = content.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' '))
}

struct Parser {
    lines: Vec<Line>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Line> {
        self.lines.get(self.pos)
    }

    /// The node whose first line is the current one, at exactly `indent`.
    fn block(&mut self, indent: usize) -> Result<Yaml, String> {
        let line = self.peek().ok_or("unexpected end of the template")?;
        if line.indent != indent {
            return Err(format!("line {}: unexpected indentation", line.number));
        }
        if line.text == "-" || line.text.starts_with("- ") {
            self.sequence(indent)
        } else if key_colon(&line.text).is_some() {
            self.mapping(indent)
        } else {
            let (number, text) = (line.number, line.text.clone());
            self.pos += 1;
            self.value_after(&text, number, indent)
        }
    }

    fn sequence(&mut self, indent: usize) -> Result<Yaml, String> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent != indent || !(line.text == "-" || line.text.starts_with("- ")) {
                break;
            }
            let number = line.number;
            let rest = line.text[1..].trim_start().to_owned();
            if rest.is_empty() {
                self.pos += 1;
                items.push(self.nested(indent, number)?);
            } else {
                // `- key: v` and `- scalar`: the rest is a line of its own, further in.
                let offset = line.text.len() - rest.len();
                let line = &mut self.lines[self.pos];
                line.indent = indent + offset;
                line.text = rest;
                items.push(self.block(indent + offset)?);
            }
        }
        Ok(Yaml::Seq(items))
    }

    fn mapping(&mut self, indent: usize) -> Result<Yaml, String> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent != indent {
                if line.indent > indent {
                    return Err(format!("line {}: unexpected indentation", line.number));
                }
                break;
            }
            let Some(colon) = key_colon(&line.text) else {
                if line.text.starts_with("- ") {
                    break;
                }
                return Err(format!("line {}: expected `key: value`", line.number));
            };
            let number = line.number;
            let key = unquote(line.text[..colon].trim(), number)?;
            let rest = line.text[colon + 1..].trim().to_owned();
            self.pos += 1;
            let value = if rest.is_empty() {
                match self.peek() {
                    Some(next) if next.indent > indent => {
                        let next_indent = next.indent;
                        self.block(next_indent)?
                    }
                    // `key:` with the list at the key's own indentation.
                    Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                        self.sequence(indent)?
                    }
                    _ => Yaml::Null,
                }
            } else {
                self.value_after(&rest, number, indent)?
            };
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(format!("line {number}: duplicate key {key:?}"));
            }
            entries.push((key, value));
        }
        Ok(Yaml::Map(entries))
    }

    /// The value written after `key:` or `- `: inline, or a lone tag over a nested block.
    fn value_after(&mut self, text: &str, number: usize, indent: usize) -> Result<Yaml, String> {
        if text.starts_with('!') && !text.contains(' ') {
            let inner = self.nested(indent, number)?;
            return Ok(Yaml::Tag(text.to_owned(), Box::new(inner)));
        }
        inline(text, number)
    }

    /// The more-indented block after line `number` (or the list at the same indentation).
    fn nested(&mut self, indent: usize, number: usize) -> Result<Yaml, String> {
        match self.peek() {
            Some(next) if next.indent > indent => {
                let next_indent = next.indent;
                self.block(next_indent)
            }
            Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                self.sequence(indent)
            }
            _ => Err(format!("line {number}: a nested block was expected")),
        }
    }
}

fn unquote(s: &str, number: usize) -> Result<String, String> {
    match inline(s, number)? {
        Yaml::Str(s) => Ok(s),
        other => Err(format!(
            "line {number}: a key must be a scalar, got {other:?}"
        )),
    }
}

/// A one-line value.
fn inline(text: &str, number: usize) -> Result<Yaml, String> {
    let text = text.trim();
    if let Some(tagged) = text.strip_prefix('!') {
        let (tag, rest) = tagged.split_once(' ').ok_or_else(|| {
            format!("line {number}: tag {text:?} needs a value or a nested block")
        })?;
        return Ok(Yaml::Tag(
            format!("!{tag}"),
            Box::new(inline(rest, number)?),
        ));
    }
    if text.starts_with('&') || text.starts_with('*') {
        return Err(format!(
            "line {number}: anchors and aliases are not supported"
        ));
    }
    if text == "{}" {
        return Ok(Yaml::Map(Vec::new()));
    }
    if text.starts_with('{') {
        return Err(format!("line {number}: flow mappings are not supported"));
    }
    if let Some(body) = text.strip_prefix('[') {
        let body = body
            .strip_suffix(']')
            .ok_or_else(|| format!("line {number}: a flow list must close on its line"))?;
        return split_flow(body, number)?
            .into_iter()
            .map(|item| inline(&item, number))
            .collect::<Result<Vec<_>, _>>()
            .map(Yaml::Seq);
    }
    if let Some(body) = text.strip_prefix('"') {
        let body = body
            .strip_suffix('"')
            .ok_or_else(|| format!("line {number}: unterminated double quote"))?;
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(other) => out.push(other),
                    None => return Err(format!("line {number}: dangling backslash")),
                }
            } else {
                out.push(c);
            }
        }
        return Ok(Yaml::Str(out));
    }
    if let Some(body) = text.strip_prefix('\'') {
        let body = body
            .strip_suffix('\'')
            .ok_or_else(|| format!("line {number}: unterminated single quote"))?;
        return Ok(Yaml::Str(body.replace("''", "'")));
    }
    if text == "~" || text == "null" {
        return Ok(Yaml::Null);
    }
    Ok(Yaml::Str(text.to_owned()))
}

/// Splits `a, !Ref b, [c, d]` at top-level commas.
fn split_flow(body: &str, number: usize) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in body.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                current.push(c);
            }
            (None, '[') => {
                depth += 1;
                current.push(c);
            }
            (None, ']') => {
                depth -= 1;
                current.push(c);
            }
            (None, ',') if depth == 0 => items.push(std::mem::take(&mut current)),
            (None, c) => current.push(c),
        }
    }
    if quote.is_some() || depth != 0 {
        return Err(format!("line {number}: unbalanced flow list"));
    }
    if !current.trim().is_empty() {
        items.push(current);
    }
    Ok(items.into_iter().map(|s| s.trim().to_owned()).collect())
}
