//! How a transfer report is printed by `gitblixt mirror …`: one line per ref, then a summary.

use super::{RefOutcome, RefResult, TransferReport};

const NULL: &str = "0000000";

fn short(id: &Option<String>) -> &str {
    match id {
        Some(id) => id.get(..7).unwrap_or(id),
        None => NULL,
    }
}

/// `created refs/heads/x 0000000..1a2b3c4`, with the remote's reason for rejected refs.
pub fn ref_line(r: &RefResult) -> String {
    let base = format!("{} {} {}..{}", r.outcome.label(), r.name, short(&r.old), short(&r.new));
    match (&r.outcome, &r.note) {
        (RefOutcome::Rejected(reason), _) => format!("{base} ({reason})"),
        (_, Some(note)) => format!("{base} ({note})"),
        _ => base,
    }
}

/// The per-ref lines (changed refs; unchanged ones only when nothing changed) and the summary.
pub fn render(report: &TransferReport) -> String {
    let mut out = String::new();
    let changed: Vec<&RefResult> = report.changed().collect();
    for r in &changed {
        out.push_str(&ref_line(r));
        out.push('\n');
    }
    let unchanged = report.refs.len() - changed.len();
    out.push_str(&format!(
        "{} changed, {} unchanged, {} rejected; {} objects, {} bytes, {:.2} s\n",
        changed.len() - report.rejected().count(),
        unchanged,
        report.rejected().count(),
        report.objects,
        report.bytes,
        report.seconds
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_git() {
        let r = RefResult {
            name: "refs/heads/x".into(),
            old: None,
            new: Some("1a2b3c4d5e".into()),
            outcome: RefOutcome::Created,
            kept: None,
            note: None,
        };
        assert_eq!(ref_line(&r), "created refs/heads/x 0000000..1a2b3c4");
        let r = RefResult {
            name: "refs/heads/main".into(),
            old: Some("aaaaaaaaaa".into()),
            new: Some("bbbbbbbbbb".into()),
            outcome: RefOutcome::Rejected("pre-receive hook declined".into()),
            kept: None,
            note: None,
        };
        assert_eq!(ref_line(&r), "rejected refs/heads/main aaaaaaa..bbbbbbb (pre-receive hook declined)");
    }
}
