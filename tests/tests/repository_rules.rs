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
    for dir in ["shared", "json-api", "functions", "infra"] {
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

/// The function crates under `functions/`, by directory name.
fn function_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("functions"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn functions_are_wiring_over_the_use_cases() {
    let functions = function_crates();
    assert_eq!(functions.len(), 6, "{functions:?}");
    for function in &functions {
        let dir = workspace().join("functions").join(function);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for other in &functions {
            assert!(
                !manifest.contains(&format!("grantdesk-{other} =")),
                "functions/{function} depends on the function crate grantdesk-{other}"
            );
        }
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        let lines = main.lines().count();
        assert!(
            lines <= 40,
            "functions/{function}/src/main.rs is wiring only, not {lines} lines"
        );
    }
    // Failures become a 500 in one place per front door: its error.rs.
    let mut files = Vec::new();
    for dir in ["shared", "json-api", "functions"] {
        rust_files(&workspace().join(dir), &mut files);
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("StatusCode::INTERNAL_SERVER_ERROR") {
            assert!(
                file.file_name().is_some_and(|n| n == "error.rs"),
                "{} answers 500 itself; map the error in error.rs",
                file.display()
            );
        }
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
    for pattern in grantdesk::usecases::outbox::FILTER_PATTERNS {
        assert!(
            template.contains(&format!("- Pattern: '{pattern}'")),
            "template.yaml lacks filter {pattern}"
        );
    }
    assert_eq!(
        template.matches("- Pattern: '").count(),
        grantdesk::usecases::outbox::FILTER_PATTERNS.len()
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
            "shared/src/usecases/sync/poll.rs",
        ),
        (
            "FilingFailuresAlarm",
            "FilingFailures",
            "shared/src/usecases/outbox/propagation.rs",
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

/// template.yaml as CloudFormation deploys it: rendered by the SAM translator from the
/// project's pinned packages (`make venv`), as the Serverless transform does at deploy time.
fn rendered_template() -> serde_json::Value {
    let python = workspace().join(".venv/bin/python");
    assert!(python.exists(), "the SAM translator is in .venv/ (make venv)");
    let out = std::process::Command::new(python)
        .arg(workspace().join("infra/scripts/render-template.py"))
        .arg(workspace().join("template.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Serverless transform refuses the template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_rendered_template_has_its_alarms_throttles_destinations_and_policies() {
    use serde_json::{json, Value};
    let rendered = rendered_template();
    let resources = rendered["Resources"].as_object().unwrap();
    let of_type =
        |kind: &str| -> Vec<(&String, &Value)> { resources.iter().filter(|(_, r)| r["Type"] == kind).collect() };

    // Six functions, traced, with generated names.
    let functions = of_type("AWS::Lambda::Function");
    assert_eq!(functions.len(), 6);
    for (name, function) in &functions {
        assert_eq!(function["Properties"]["TracingConfig"]["Mode"], "Active", "{name}");
        assert!(
            function["Properties"].get("FunctionName").is_none(),
            "{name} has a generated name"
        );
        assert_eq!(function["Properties"]["Architectures"], json!(["arm64"]), "{name}");
    }

    // Every alarm notifies the topic when one is given.
    let alarms = of_type("AWS::CloudWatch::Alarm");
    assert_eq!(alarms.len(), 19);
    for (name, alarm) in &alarms {
        let actions = &alarm["Properties"]["AlarmActions"]["Fn::If"];
        assert_eq!(actions[0], "HasAlarmTopic", "{name}");
        assert_eq!(actions[1], json!([{"Ref": "AlarmTopicArn"}]), "{name}");
    }

    // Throttling on every route, tighter on the webhooks, and a JSON access log.
    let stages = of_type("AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1);
    let stage = &stages[0].1["Properties"];
    assert_eq!(
        stage["DefaultRouteSettings"],
        json!({"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50})
    );
    for route in ["POST /webhooks/{provider}", "POST /webhooks/slack"] {
        assert_eq!(
            stage["RouteSettings"][route],
            json!({"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10}),
            "{route}"
        );
    }
    let format: Value = serde_json::from_str(stage["AccessLogSettings"]["Format"].as_str().unwrap()).unwrap();
    assert!(format["status"].is_string() && format["route"].is_string());

    // Asynchronous failures of access-expiry and status-sync go to a queue after two retries.
    let invoke_configs = of_type("AWS::Lambda::EventInvokeConfig");
    let mut configured: Vec<&Value> = invoke_configs
        .iter()
        .map(|(_, c)| &c["Properties"]["FunctionName"]["Ref"])
        .collect();
    configured.sort_by_key(|v| v.to_string());
    assert_eq!(
        configured,
        [&json!("AccessExpiryFunction"), &json!("StatusSyncFunction")]
    );
    for (name, config) in &invoke_configs {
        let properties = &config["Properties"];
        assert_eq!(properties["MaximumRetryAttempts"], 2, "{name}");
        assert_eq!(
            properties["DestinationConfig"]["OnFailure"]["Destination"],
            json!({"Fn::GetAtt": ["AsyncFailureQueue", "Arn"]}),
            "{name}"
        );
    }

    // Policies: no grant nothing uses, PassRole only to Scheduler.
    let mut pass_roles = 0;
    for (name, role) in of_type("AWS::IAM::Role") {
        let text = role.to_string();
        assert!(!text.contains("dynamodb:ConditionCheckItem"), "{name}");
        assert!(!text.contains("dynamodb:Scan"), "{name}");
        for policy in role["Properties"]["Policies"].as_array().into_iter().flatten() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().into_iter().flatten() {
                let actions = statement["Action"].to_string();
                if actions.contains("iam:PassRole") {
                    pass_roles += 1;
                    assert_eq!(
                        statement["Condition"]["StringEquals"]["iam:PassedToService"], "scheduler.amazonaws.com",
                        "{name}"
                    );
                }
            }
        }
    }
    assert!(pass_roles >= 1, "a function passes the scheduler role");

    // The table is protected; the queues and log groups are kept.
    let table = &resources["Table"];
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    for (name, queue) in of_type("AWS::SQS::Queue") {
        assert_eq!(queue["DeletionPolicy"], "Retain", "{name}");
    }
    for (name, group) in of_type("AWS::Logs::LogGroup") {
        assert_eq!(group["DeletionPolicy"], "Retain", "{name}");
    }

    // The custom domain exists only when asked for, mapped to the API's stage.
    for name in ["HttpApiDomain", "HttpApiDomainMapping"] {
        assert_eq!(resources[name]["Condition"], "HasDomain", "{name}");
    }
    assert_eq!(
        resources["HttpApiDomainMapping"]["Properties"]["Stage"],
        json!({"Ref": stages[0].0})
    );
}
