//! CSV export of audit records (RFC 4180: CRLF line ends, quotes doubled inside quoted fields).

use app::api::AuditRecord;

const HEADER: &[&str] = &[
    "seq",
    "at",
    "actor",
    "action",
    "target",
    "outcome",
    "rule",
    "request_id",
    "client_addr",
    "detail",
    "hash",
];

/// The records as a CSV document with a header row.
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut out = String::new();
    push_row(&mut out, HEADER.iter().map(|h| h.to_string()));
    for r in records {
        push_row(
            &mut out,
            [
                r.seq.to_string(),
                r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                r.actor.clone(),
                r.action.clone(),
                r.target.clone(),
                r.outcome.clone(),
                r.rule.clone().unwrap_or_default(),
                r.request_id.clone().unwrap_or_default(),
                r.client_addr.clone().unwrap_or_default(),
                r.detail.to_string(),
                r.hash.clone(),
            ]
            .into_iter(),
        );
    }
    out
}

fn push_row(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Quote fields that need it, and neutralise spreadsheet formulas (CSV injection).
        let risky = field.starts_with(['=', '+', '-', '@']);
        let field = if risky { format!("'{field}") } else { field };
        if field.contains([',', '"', '\r', '\n']) || risky {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&field);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_formulas_are_escaped() {
        let mut out = String::new();
        push_row(
            &mut out,
            [
                "a,b".to_string(),
                "say \"hi\"".to_string(),
                "=SUM(A1)".to_string(),
                "plain".to_string(),
            ]
            .into_iter(),
        );
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",\"'=SUM(A1)\",plain\r\n");
    }
}
