//! Counts as CloudWatch metrics, written as embedded-metric-format (EMF) log lines: one JSON
//! object per line on standard output, from which CloudWatch Logs makes metrics without a
//! `PutMetricData` call. Each line is in the namespace [`NAMESPACE`], with the dimension sets
//! `[FunctionName]` (what the template's alarms watch) and `[FunctionName, Provider]`.
//!
//! | metric | written by | per |
//! |---|---|---|
//! | `TicketsRead` | status sync | provider, run |
//! | `TicketsChanged` | status sync | provider, run |
//! | `TicketsMissing` | status sync | provider, run |
//! | `ProviderReadFailures` | status sync | provider, run (1 when the provider could not be read) |
//! | `TicketsFiled` | ticket filer | propagation ticket filed |
//! | `FilingFailures` | ticket filer | propagation ticket that cannot be filed (refused, or its retries used up) |

use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};

/// The CloudWatch namespace of grantdesk's metrics.
pub const NAMESPACE: &str = "grantdesk";

/// Where metric lines go.
#[derive(Clone, Debug)]
pub enum Metrics {
    /// Standard output, where Lambda's log agent takes them to CloudWatch Logs.
    Stdout {
        /// The function's name (Lambda's `AWS_LAMBDA_FUNCTION_NAME`).
        function: String,
    },
    /// Kept in memory (the local stack), for inspection.
    Kept {
        /// The function's name in the lines.
        function: String,
        /// The lines written so far.
        lines: Arc<Mutex<Vec<Value>>>,
    },
}

impl Metrics {
    /// Standard output, named after the running Lambda function (`local` outside Lambda).
    pub fn lambda() -> Self {
        Self::Stdout {
            function: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned()),
        }
    }

    /// Lines kept in memory under `function`.
    pub fn kept(function: &str) -> Self {
        Self::Kept {
            function: function.to_owned(),
            lines: Arc::default(),
        }
    }

    /// The lines kept so far (none for standard output).
    pub fn lines(&self) -> Vec<Value> {
        match self {
            Self::Stdout { .. } => Vec::new(),
            Self::Kept { lines, .. } => lines.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Writes one line of `counts` for `provider`.
    pub fn counts(&self, provider: &str, counts: &[(&str, u64)]) {
        let (function, kept) = match self {
            Self::Stdout { function } => (function, None),
            Self::Kept { function, lines } => (function, Some(lines)),
        };
        let line = emf_line(function, provider, counts, chrono::Utc::now().timestamp_millis());
        match kept {
            Some(lines) => lines.lock().unwrap_or_else(|p| p.into_inner()).push(line),
            None => {
                use std::io::Write;
                // One write of the whole line, so it never interleaves with other log lines.
                let text = format!("{line}\n");
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            }
        }
    }
}

/// One EMF object: `counts` of `function` for `provider`, at `timestamp_ms`.
pub fn emf_line(function: &str, provider: &str, counts: &[(&str, u64)], timestamp_ms: i64) -> Value {
    let definitions: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"], ["FunctionName", "Provider"]],
                "Metrics": definitions,
            }],
        }),
    );
    line.insert("FunctionName".into(), json!(function));
    line.insert("Provider".into(), json!(provider));
    for (name, value) in counts {
        line.insert((*name).to_owned(), json!(value));
    }
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_count_and_carries_its_value_and_dimensions() {
        let line = emf_line(
            "sync-fn",
            "jira",
            &[("TicketsRead", 250), ("TicketsChanged", 3)],
            1_700_000_000_000,
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "grantdesk");
        assert_eq!(
            directive["Dimensions"],
            json!([["FunctionName"], ["FunctionName", "Provider"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "TicketsRead", "Unit": "Count"}, {"Name": "TicketsChanged", "Unit": "Count"}])
        );
        // Every dimension and metric named in the directive is a member of the line itself, as
        // the specification requires.
        assert_eq!(line["FunctionName"], "sync-fn");
        assert_eq!(line["Provider"], "jira");
        assert_eq!(line["TicketsRead"], 250);
        assert_eq!(line["TicketsChanged"], 3);
        assert!(!line.to_string().contains('\n'), "one line");
    }

    #[test]
    fn kept_lines_are_returned_in_order() {
        let metrics = Metrics::kept("filer");
        metrics.counts("jira", &[("TicketsFiled", 1)]);
        metrics.counts("linear", &[("FilingFailures", 1)]);
        let lines = metrics.lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0]["Provider"].as_str(), lines[0]["TicketsFiled"].as_u64()),
            (Some("jira"), Some(1))
        );
        assert_eq!(lines[1]["FunctionName"], "filer");
        assert_eq!(lines[1]["FilingFailures"], 1);
    }
}
