"""Runs SAM's own transform (the samtranslator package) on template.yaml for
each stage and prints the CloudFormation results as one JSON object by stage.

Usage: python3 sam_transform.py TEMPLATE < PARAMS
PARAMS is a JSON object: name -> {parameter: value}, one transform each; the
pseudo parameter CodeUri, if given, is every function's code location, or a
JSON object of them by logical id.

The AWS::LanguageExtensions transform runs only in CloudFormation, so its one job
here, the table's conditional DeletionPolicy, is resolved to Retain beforehand. The
code location is a placeholder: sam build and sam package fill it in.
"""
import copy
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class ManagedPolicies:
    """The managed policies SAM attaches by name, without asking IAM."""

    def load(self):
        base = "arn:aws:iam::aws:policy/"
        return {
            "AWSLambdaBasicExecutionRole": base + "service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": base + "AWSXrayWriteOnlyAccess",
            "AWSCodeDeployRoleForLambda": base + "service-role/AWSCodeDeployRoleForLambda",
        }


def main():
    with open(sys.argv[1]) as f:
        tpl = yaml_parse(f.read())
    tpl["Transform"] = "AWS::Serverless-2016-10-31"
    for res in tpl["Resources"].values():
        for attr in ("DeletionPolicy", "UpdateReplacePolicy"):
            if isinstance(res.get(attr), dict):
                res[attr] = "Retain"
        if res.get("Type") == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = "s3://bucket/key"
    tpl.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    out = {}
    for name, params in json.load(sys.stdin).items():
        t = copy.deepcopy(tpl)
        code = params.pop("CodeUri", "s3://bucket/key")
        codes = json.loads(code) if code.startswith("{") else {}
        for rid, res in t["Resources"].items():
            if res.get("Type") == "AWS::Serverless::Function":
                res["Properties"]["CodeUri"] = codes.get(rid, code)
        out[name] = transform(t, params, ManagedPolicies())
    json.dump(out, sys.stdout, default=str)


main()
