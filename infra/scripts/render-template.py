#!/usr/bin/env python3
"""Renders template.yaml to the CloudFormation that the Serverless transform makes of it, with the
SAM translator from the project's pinned packages, and prints it as JSON. The repository's tests
read the rendered resources (alarms, throttles, destinations, policies).

Usage: .venv/bin/python infra/scripts/render-template.py [template.yaml]
"""

import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policies, so none need looking up in IAM."""

    def load(self):
        return {}


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    # The translator fills pseudo parameters (AWS::Region, ...) from the session; no AWS call.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # `sam package` uploads each function's code and puts its S3 address in CodeUri before the
    # transform sees it; do the same with made-up addresses.
    for name, resource in template["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://grantdesk-artifacts/{name}.zip"
    parameters = {
        "BootstrapAdmins": "admin@example.com",
        "OidcIssuer": "https://idp.example.com",
        "OidcClientId": "grantdesk",
    }
    rendered = transform(template, parameters, NoManagedPolicies())
    json.dump(rendered, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
