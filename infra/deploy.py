#!/usr/bin/env python3
"""`make deploy` and `make destroy`: the packaged stack (`make package`) in an AWS account.

deploy:  JWT secret in SSM (made once) -> code and template to the artifacts bucket ->
         CloudFormation change set, executed and waited for -> web/config.json from the
         stack's outputs -> web/ to the site bucket -> CloudFront invalidation -> smoke
         checks -> the site URL.
destroy: empties the site bucket, deletes the stack, then deletes the tables CloudFormation
         keeps (DeletionPolicy Retain) and the JWT secret only after a typed confirmation.

Needs AWS credentials (any the AWS SDK finds: environment, profile, SSO). Never run by tests.
"""
import argparse
import hashlib
import json
import mimetypes
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = ROOT / "web"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]  # AUTO_EXPAND: the SAM transform
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
# web/ files that are not for browsers.
NOT_PUBLISHED = {"package.json"}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".json": "application/json", ".svg": "image/svg+xml", ".ico": "image/x-icon",
                 ".png": "image/png", ".webmanifest": "application/manifest+json"}


def log(message: str) -> None:
    print(message, flush=True)


class DeployError(RuntimeError):
    pass


# -- pure parts (no AWS) --------------------------------------------------------------
def stack_name(stage: str) -> str:
    return f"chat-{stage}"


def site_config(outputs: dict) -> dict:
    """web/config.json: the site's /api (the REST stage) and its wss:// /ws (the WebSocket stage).
    Both must be on the site's own host: its CSP (connect-src 'self') allows no other."""
    api_url, websocket_url = outputs["RestApiUrl"].rstrip("/"), outputs["WebsocketUrl"].rstrip("/")
    if not api_url.startswith("https://") or not api_url.endswith("/api"):
        raise DeployError(f"unexpected RestApiUrl {api_url!r}")
    if websocket_url.removeprefix("wss://").split("/")[0] != api_url.removeprefix("https://").split("/")[0]:
        raise DeployError(f"WebsocketUrl {websocket_url!r} is not wss:// on the host of {api_url!r}")
    return {"apiUrl": api_url, "websocketUrl": websocket_url}


def site_files(web_dir: Path = WEB_DIR) -> list[tuple[str, Path, str]]:
    """(key, path, content type) of every file the site serves; config.json included."""
    files = []
    for path in sorted(web_dir.rglob("*")):
        relative = path.relative_to(web_dir)
        if not path.is_file() or path.name in NOT_PUBLISHED or any(
                part.startswith(".") or part == "node_modules" for part in relative.parts):
            continue
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or \
            "application/octet-stream"
        files.append((relative.as_posix(), path, content_type))
    return files


def with_code_location(template: dict, bucket: str, key: str) -> dict:
    """The template with every function's CodeUri pointing at the uploaded deployment.zip."""
    template = json.loads(json.dumps(template))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return template


def retained_tables(template: dict) -> list[str]:
    return sorted(logical_id for logical_id, resource in template["Resources"].items()
                  if resource["Type"] == "AWS::DynamoDB::Table" and resource.get("DeletionPolicy") == "Retain")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- AWS ------------------------------------------------------------------------------
class Aws:
    def __init__(self, region: str | None):
        import boto3
        self.session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
        if not self.session.region_name:
            self.session = boto3.session.Session(region_name="us-east-1")
        self.region = self.session.region_name
        self.account = self.client("sts").get_caller_identity()["Account"]

    def client(self, service: str):
        return self.session.client(service)


def ensure_secret(ssm, name: str) -> bool:
    """Creates the JWT secret (SecureString, 48 random bytes) unless it exists; True if made."""
    try:
        ssm.get_parameter(Name=name)
        return False
    except ssm.exceptions.ParameterNotFound:
        pass
    try:
        ssm.put_parameter(Name=name, Type="SecureString", Value=secrets.token_urlsafe(48), Overwrite=False,
                          Description="JWT signing secret of the chat app (made by infra/deploy.py)")
    except ssm.exceptions.ParameterAlreadyExists:
        return False
    return True


def artifacts_bucket(aws: Aws) -> str:
    """A private bucket for code and templates, one per account and region."""
    s3 = aws.client("s3")
    name = f"chat-artifacts-{aws.account}-{aws.region}"
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=aws.account)
        return name
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise
    options = {} if aws.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    s3.create_bucket(Bucket=name, **options)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    # CloudFormation reads the code only while deploying; a month covers a rollback's redeploy.
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
        "ID": "expire-artifacts", "Status": "Enabled", "Filter": {"Prefix": ""},
        "Expiration": {"Days": 30}}]})
    log(f"created the artifacts bucket {name}")
    return name


def upload(s3, bucket: str, key: str, data: bytes) -> None:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=data)


def stack_status(cfn, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def failure_reasons(cfn, name: str, since: float) -> list[str]:
    reasons = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=name):
        for event in page["StackEvents"]:
            if event["Timestamp"].timestamp() < since:
                return reasons
            if event["ResourceStatus"].endswith("_FAILED"):
                reasons.append(f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}")
    return reasons


def deploy_stack(aws: Aws, name: str, stage: str, template_url: str, parameters: dict) -> None:
    cfn = aws.client("cloudformation")
    status = stack_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(f"{name} failed to create and was rolled back; `make destroy STAGE={stage}`, "
                          "then deploy again")
    if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"{name} is busy ({status}); wait for it to finish")
    kind = "UPDATE" if status and status != "REVIEW_IN_PROGRESS" else "CREATE"
    change_set = f"deploy-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.time()
    cfn.create_change_set(
        StackName=name, ChangeSetName=change_set, ChangeSetType=kind, TemplateURL=template_url,
        Capabilities=CAPABILITIES,
        Parameters=[{"ParameterKey": key, "ParameterValue": str(value)} for key, value in parameters.items()],
        Tags=[{"Key": "app", "Value": "chat"}, {"Key": "stage", "Value": stage}])
    from botocore.exceptions import WaiterError
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except WaiterError:  # the reason is on the change set
        described = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        if any(text in reason for text in NO_CHANGES):
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
            log(f"{name}: no changes")
            return
        raise DeployError(f"change set failed: {reason}") from None
    log(f"{name}: {kind.lower()} in progress (CloudFront can take 5-15 minutes on the first deploy)")
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    except WaiterError:
        reasons = failure_reasons(cfn, name, started)
        raise DeployError(f"{name} did not deploy ({stack_status(cfn, name)}); CloudFormation rolled back:\n  "
                          + "\n  ".join(reasons or ["see the stack's events"])) from None
    log(f"{name}: {stack_status(cfn, name)}")


def stack_outputs(cfn, name: str) -> dict:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def sync_site(s3, bucket: str, web_dir: Path = WEB_DIR) -> int:
    """Uploads web/ (each file revalidated by browsers: no-cache) and deletes what is gone."""
    files = site_files(web_dir)
    for key, path, content_type in files:
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type,
                      CacheControl="no-cache")
    wanted = {key for key, _, _ in files}
    stale = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
             for obj in page.get("Contents", []) if obj["Key"] not in wanted]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in stale[start:start + 1000]]})
    return len(files)


def invalidate(cloudfront, distribution_id: str) -> None:
    invalidation = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time())})["Invalidation"]
    cloudfront.get_waiter("invalidation_completed").wait(
        DistributionId=distribution_id, Id=invalidation["Id"], WaiterConfig={"Delay": 10, "MaxAttempts": 60})


def _request(url: str, method: str = "GET", headers: dict | None = None):
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def smoke_check(outputs: dict) -> list[str]:
    """What a browser needs from the deployed stack; returns the problems found."""
    problems = []
    site, api = outputs["SiteUrl"].rstrip("/"), outputs["RestApiUrl"].rstrip("/")
    status, headers, _ = _request(site + "/")
    if status != 200 or "connect-src" not in (headers.get("Content-Security-Policy") or ""):
        problems.append(f"GET {site}/ answered {status} without the CSP")
    status, _, body = _request(site + "/config.json")
    if status != 200 or json.loads(body or b"{}").get("apiUrl") != api:
        problems.append(f"{site}/config.json does not point at {api}")
    # Through CloudFront to the REST stage: the app's own 401, in the contract's JSON shape.
    status, _, body = _request(api + "/chatrooms")
    if status != 401 or b'"error"' not in body:
        problems.append(f"GET {api}/chatrooms without a token answered {status} {body[:200]!r}, not the API's 401")
    return problems


# -- commands ---------------------------------------------------------------------------
def deploy(args) -> int:
    build_dir = Path(args.build_dir or ROOT / "infra" / "build" / args.stage)
    template_path, zip_path = build_dir / "sam.json", build_dir / "deployment.zip"
    if not template_path.exists() or not zip_path.exists():
        raise DeployError(f"no package in {build_dir}: run `make package STAGE={args.stage}` first")
    template = json.loads(template_path.read_text())
    aws = Aws(args.region)
    name = args.stack_name or stack_name(args.stage)
    log(f"deploying {name} to account {aws.account}, region {aws.region}")

    secret_name = template["Parameters"]["JwtSecretParameterName"]["Default"]
    if ensure_secret(aws.client("ssm"), secret_name):
        log(f"created the JWT secret {secret_name} (SecureString)")

    s3 = aws.client("s3")
    bucket = artifacts_bucket(aws)
    code = zip_path.read_bytes()
    code_key = f"{name}/{_sha256(code)}.zip"
    upload(s3, bucket, code_key, code)
    body = json.dumps(with_code_location(template, bucket, code_key), indent=1).encode()
    template_key = f"{name}/{_sha256(body)}.template.json"
    upload(s3, bucket, template_key, body)
    template_url = f"https://{bucket}.s3.{aws.region}.amazonaws.com/{template_key}"

    parameters = dict(item.split("=", 1) for item in args.parameter)
    deploy_stack(aws, name, args.stage, template_url, parameters)
    outputs = stack_outputs(aws.client("cloudformation"), name)

    config = site_config(outputs)
    (WEB_DIR / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    log(f"wrote web/config.json: {config}")
    count = sync_site(s3, outputs["SiteBucketName"])
    log(f"uploaded {count} files to s3://{outputs['SiteBucketName']}")
    invalidate(aws.client("cloudfront"), outputs["SiteDistributionId"])
    log("invalidated the CloudFront cache")

    if not args.no_smoke:
        problems = smoke_check(outputs)
        for problem in problems:
            log(f"SMOKE CHECK FAILED: {problem}")
        if problems:
            return 1
    log(f"\nREST API:  {config['apiUrl']}\nWebSocket: {config['websocketUrl']}\n\nThe chat is at {outputs['SiteUrl']}")
    return 0


def destroy(args) -> int:
    aws = Aws(args.region)
    name = args.stack_name or stack_name(args.stage)
    cfn = aws.client("cloudformation")
    if stack_status(cfn, name) is None:
        log(f"{name} does not exist in account {aws.account}, region {aws.region}")
        return 0
    log(f"destroying {name} in account {aws.account}, region {aws.region}")
    template = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    template = json.loads(template) if isinstance(template, str) else template
    physical = {resource["LogicalResourceId"]: resource["PhysicalResourceId"]
                for resource in cfn.describe_stack_resources(StackName=name)["StackResources"]}
    parameters = {item["ParameterKey"]: item.get("ParameterValue")
                  for item in cfn.describe_stacks(StackName=name)["Stacks"][0].get("Parameters", [])}

    s3 = aws.client("s3")
    if physical.get("SiteBucket"):
        try:
            emptied = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=physical["SiteBucket"]):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=physical["SiteBucket"], Delete={"Objects": keys})
                    emptied += len(keys)
            log(f"emptied s3://{physical['SiteBucket']} ({emptied} files)")
        except s3.exceptions.NoSuchBucket:
            pass

    cfn.delete_stack(StackName=name)
    log(f"{name}: deleting (CloudFront takes a while to disable and delete)")
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 240})
    log(f"{name}: deleted")

    bucket = f"chat-artifacts-{aws.account}-{aws.region}"
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{name}/"):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        if not s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount"):
            s3.delete_bucket(Bucket=bucket)
    except s3.exceptions.NoSuchBucket:
        pass

    tables = [physical[logical_id] for logical_id in retained_tables(template) if logical_id in physical]
    secret = parameters.get("JwtSecretParameterName")
    if not tables:
        return 0
    log("\nCloudFormation kept these tables (DeletionPolicy Retain), with every user, room and message:")
    for table in tables:
        log(f"  {table}")
    try:
        answer = input(f"Type the stack name ({name}) to delete them and the JWT secret {secret}, "
                       "or anything else to keep them: ")
    except EOFError:
        answer = ""
    if answer.strip() != name:
        log("Kept the tables and the JWT secret.")
        return 0
    dynamodb = aws.client("dynamodb")
    for table in tables:
        dynamodb.delete_table(TableName=table)
    for table in tables:
        dynamodb.get_waiter("table_not_exists").wait(TableName=table)
        log(f"deleted table {table}")
    if secret:
        ssm = aws.client("ssm")
        try:
            ssm.delete_parameter(Name=secret)
            log(f"deleted the JWT secret {secret}")
        except ssm.exceptions.ParameterNotFound:
            pass
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--stack-name", help="default chat-<stage>")
    parser.add_argument("--region", help="default: the AWS SDK's (AWS_REGION, profile), else us-east-1")
    parser.add_argument("--build-dir", help="default infra/build/<stage>")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="a stack parameter, e.g. RestThrottleRateLimit=200 (repeatable)")
    parser.add_argument("--no-smoke", action="store_true", help="skip the checks against the deployed URLs")
    args = parser.parse_args(argv)
    try:
        return deploy(args) if args.command == "deploy" else destroy(args)
    except DeployError as error:
        log(f"make {args.command}: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
