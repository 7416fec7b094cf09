//! Rules about the code itself that a reviewer would otherwise have to remember.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_code_scans_the_table() {
    let mut files = Vec::new();
    for dir in ["shared", "functions", "infra"] {
        rust_files(&workspace().join(dir), &mut files);
    }
    assert!(files.len() > 10, "found the sources");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(".scan()"),
            "{} calls Scan; every access pattern must be a Get, Query or transaction",
            file.display()
        );
    }
}

#[test]
fn the_template_declares_every_index_the_store_uses() {
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    for index in grantdesk::store::keys::INDEXES {
        assert!(
            template.contains(&format!("IndexName: {index}")),
            "template.yaml lacks index {index}"
        );
        assert!(
            template.contains(&format!("AttributeName: {index}pk")),
            "template.yaml lacks {index}pk"
        );
        assert!(
            template.contains(&format!("AttributeName: {index}sk")),
            "template.yaml lacks {index}sk"
        );
    }
    assert!(template.contains("StreamViewType: NEW_AND_OLD_IMAGES"));
}

#[test]
fn the_template_filters_the_stream_exactly_as_the_local_runner_does() {
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    for pattern in grantdesk_ticket_filer::FILTER_PATTERNS {
        assert!(
            template.contains(&format!("- Pattern: '{pattern}'")),
            "template.yaml lacks filter {pattern}"
        );
    }
    assert_eq!(
        template.matches("- Pattern: '").count(),
        grantdesk_ticket_filer::FILTER_PATTERNS.len()
    );
}

#[test]
fn the_template_serves_the_console_without_the_jwt_authorizer_and_with_the_same_issuer() {
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    let console = &template[template.find("  ConsoleFunction:").expect("a console function")..];
    let console = &console[..console.find("\n  FilerLogGroup:").unwrap()];
    assert!(console.contains("Binary: console"));
    assert!(console.contains("Path: /console/{proxy+}") && console.contains("Authorizer: NONE"));
    assert!(console.contains("GRANTDESK_OIDC_ISSUER: !Ref OidcIssuer"));
    assert!(console.contains("GRANTDESK_OIDC_CLIENT_ID: !Ref OidcClientId"));
    assert!(template.contains("issuer: !Ref OidcIssuer") && template.contains("- !Ref OidcClientId"));
    assert!(
        template.contains("GenerateStringKey: session_key"),
        "the session key is generated"
    );
}

#[test]
fn the_template_alarms_throttles_and_catches_asynchronous_failures() {
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    // A resource's block: from `  Name:` to the next line indented by exactly two spaces.
    let section = |name: &str| {
        let start = template
            .find(&format!("\n  {name}:\n"))
            .unwrap_or_else(|| panic!("no {name}"))
            + 1;
        let lines: Vec<&str> = template[start..].lines().collect();
        let end = lines
            .iter()
            .skip(1)
            .position(|l| l.starts_with("  ") && !l.starts_with("   "))
            .map_or(lines.len(), |p| p + 1);
        lines[..end].join("\n")
    };
    for function in ["StatusSyncFunction", "AccessExpiryFunction"] {
        let block = section(function);
        assert!(
            block.contains("EventInvokeConfig:") && block.contains("Destination: !GetAtt AsyncFailureQueue.Arn"),
            "{function} sends failed asynchronous invocations to a queue"
        );
    }
    assert!(
        !template.contains("ReservedConcurrentExecutions"),
        "no reserved concurrency"
    );
    assert!(
        !template.contains("dynamodb:ConditionCheckItem"),
        "no grant that no function uses"
    );
    assert!(
        !template.contains("FunctionName: !Sub"),
        "function names do not limit the stack name"
    );
    assert!(template.contains("iam:PassedToService: scheduler.amazonaws.com"));
    assert!(template.contains("DeletionProtectionEnabled: true"));
    assert!(template.contains("Tracing: Active"));
    assert!(section("HttpApi").contains("ThrottlingRateLimit: 50"));
    assert!(section("HttpApi").contains("\"POST /webhooks/{provider}\":"));
    assert!(section("HttpApi").contains("AccessLogSettings:"));
    let alarms = template.matches("Type: AWS::CloudWatch::Alarm").count();
    assert_eq!(
        alarms, 19,
        "errors and throttles of six functions, iterator age, sync duration, three queues, provider reads and filings"
    );
    // The provider alarms watch metrics the functions write (EMF lines, shared/src/metrics.rs).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (alarm, metric, writer) in [
        (
            "ProviderReadFailuresAlarm",
            "ProviderReadFailures",
            "functions/status-sync/src/lib.rs",
        ),
        (
            "FilingFailuresAlarm",
            "FilingFailures",
            "functions/ticket-filer/src/lib.rs",
        ),
    ] {
        assert!(
            section(alarm).contains(&format!("MetricName: {metric}"))
                && section(alarm).contains("Namespace: grantdesk"),
            "{alarm} watches {metric}"
        );
        let code = std::fs::read_to_string(root.join(writer)).unwrap();
        assert!(code.contains(&format!("(\"{metric}\", ")), "{writer} writes {metric}");
    }
    for queue in ["FilerFailureQueue", "ExpiryDeadLetterQueue", "AsyncFailureQueue"] {
        assert!(
            template.contains(&format!("QueueName\n          Value: !GetAtt {queue}.QueueName")),
            "{queue} alarmed"
        );
        assert!(section(queue).contains("DeletionPolicy: Retain"), "{queue} kept");
    }
}
