//! A small PDF writer for letters: A4 pages of text in the standard Helvetica fonts
//! (WinAnsiEncoding, which covers French), and thin rules. Written here rather than pulled in:
//! a letter needs a few dozen lines of PDF, a layout engine would cost minutes of build.

use std::fmt::Write as _;

/// A4 in points.
pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;
const POINTS_PER_MM: f32 = 72.0 / 25.4;

/// A page being drawn: positions in millimetres from the top-left corner, as on a ruler.
#[derive(Debug, Default)]
pub struct Page {
    content: String,
}

impl Page {
    /// Writes `text` with its baseline at (`x`, `y`) mm from the top-left corner.
    pub fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold { "F2" } else { "F1" };
        let (px, py) = (x * POINTS_PER_MM, PAGE_HEIGHT - y * POINTS_PER_MM);
        let _ = writeln!(
            self.content,
            "BT /{font} {size} Tf {px:.2} {py:.2} Td {} Tj ET",
            literal(text)
        );
    }

    /// A horizontal rule from `x1` to `x2` mm, at `y` mm from the top.
    pub fn rule(&mut self, x1: f32, x2: f32, y: f32) {
        let py = PAGE_HEIGHT - y * POINTS_PER_MM;
        let _ = writeln!(
            self.content,
            "0.5 w {:.2} {py:.2} m {:.2} {py:.2} l S",
            x1 * POINTS_PER_MM,
            x2 * POINTS_PER_MM
        );
    }
}

/// Builds a PDF file from pages.
pub fn render(pages: &[Page], title: &str) -> Vec<u8> {
    // Objects: 1 catalog, 2 page tree, 3 and 4 fonts, 5 info, then a page and its content
    // stream for each page.
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        String::new(), // the page tree, once the page numbers are known
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        format!("<< /Title {} /Producer (espace-sante) >>", literal(title)),
    ];
    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        let page_number = objects.len() + 1;
        kids.push(format!("{page_number} 0 R"));
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
             /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            page_number + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{}endstream",
            page.content.len(),
            page.content
        ));
    }
    objects[1] = format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        pages.len()
    );

    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// A PDF literal string in WinAnsiEncoding; bytes beyond ASCII as octal escapes so that the
/// file stays ASCII. A character the encoding lacks becomes `?`.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                let byte = winansi(c).unwrap_or(b'?');
                let _ = write!(out, "\\{byte:03o}");
            }
        }
    }
    out.push(')');
    out
}

/// The WinAnsiEncoding byte of a character beyond ASCII.
fn winansi(c: char) -> Option<u8> {
    let special = match c {
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '›' => 0x9B,
        'œ' => 0x9C,
        'Ÿ' => 0x9F,
        _ => 0,
    };
    if special != 0 {
        return Some(special);
    }
    u8::try_from(u32::from(c)).ok().filter(|b| *b >= 0xA0)
}

/// Splits `text` into lines of at most `width` characters, at spaces where it can.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let needed = if line.is_empty() {
                word.chars().count()
            } else {
                line.chars().count() + 1 + word.chars().count()
            };
            if needed > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_escapes_and_encodes_french() {
        assert_eq!(literal("a(b)\\"), "(a\\(b\\)\\\\)");
        assert_eq!(literal("é"), "(\\351)");
        assert_eq!(literal("œ — €"), "(\\234 \\227 \\200)");
        assert_eq!(literal("漢"), "(\\077)");
    }

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_paragraphs() {
        assert_eq!(
            wrap("un deux trois quatre", 9),
            ["un deux", "trois", "quatre"]
        );
        assert_eq!(wrap("a\n\nb", 10), ["a", "", "b"]);
    }

    #[test]
    fn render_writes_a_cross_reference_table_that_points_at_objects() {
        let mut page = Page::default();
        page.text(20.0, 20.0, 12.0, true, "Relevé");
        let pdf = render(&[page], "test");
        let find = |needle: &[u8]| pdf.windows(needle.len()).position(|w| w == needle).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.4"));
        find(b"/Count 1");
        let tail = String::from_utf8_lossy(&pdf[find(b"startxref\n")..]).into_owned();
        let xref: usize = tail.lines().nth(1).unwrap().parse().unwrap();
        assert!(pdf[xref..].starts_with(b"xref"));
        let first = find(b"1 0 obj");
        find(format!("{first:010} 00000 n").as_bytes());
    }
}
