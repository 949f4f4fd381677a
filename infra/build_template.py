#!/usr/bin/env python3
"""`make package`: the deployable stack in infra/build/<stage>/ (sam.json + deployment.zip).

Needs no AWS account. Two steps:

1. `chalice package --stage <stage> --merge-template infra/resources.json <out>` makes the
   functions, the REST API and the WebSocket API, and merges in what Chalice does not make
   (infra/resources.json: the tables, the fan-out queue, the Lambda role, the named WebSocket
   routes, the site bucket and its CloudFront distribution, the outputs).
2. `wire()` below changes what Chalice generated but cannot be told to generate differently:
   - every function runs as LambdaRole (least privilege) instead of Chalice's DefaultRole,
     under the fixed name `<stack>-<LogicalId>`, with its own log group (retention);
   - the functions' environment names the real resources: Ref of the four tables and of the
     JWT secret's parameter name, FANOUT_QUEUE_URL, SITE_ORIGIN = the CloudFront domain;
   - the SQS event of the fan-out worker reads the stack's queue;
   - the REST stage and the WebSocket stage get throttling limits;
   - the WebSocket stage takes its name from infra/resources.json (Mappings); its deployment
     waits for every route, named ones included, and is made anew when a route changes;
   - the REST API is written out as RestApi + Deployment + Stage (see below).

Why the REST API names its function instead of referencing it: SITE_ORIGIN makes the
functions depend on the distribution, the distribution depends on its response headers
policy, whose CSP names the REST API; had the REST API referenced `${APIHandler.Arn}` (as
Chalice writes it), that would be a cycle. For the same reason the CORS preflight (a mock
integration inside the REST API's definition) reads the site origin from a stage variable:
the stage, not the API, depends on the distribution.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MERGE_TEMPLATE = ROOT / "infra" / "resources.json"
DEPS_CACHE = ROOT / "infra" / "build" / ".deps"
# The Lambda runtime the dependencies are fetched for (python3.11 runs on Amazon Linux 2, glibc 2.26).
LAMBDA_PYTHON = "3.11"
LAMBDA_PLATFORM = "manylinux2014_x86_64 manylinux_2_17_x86_64"

FUNCTION = "AWS::Serverless::Function"
WEBSOCKET_ROUTE = "AWS::ApiGatewayV2::Route"
# Logical id in the template -> the environment variable naming the table (as localserver/dynamo.py).
TABLE_VARIABLES = {"UsersTable": "USERS_TABLE", "RoomsTable": "ROOMS_TABLE",
                   "ConnectionsTable": "CONNECTIONS_TABLE", "MessagesTable": "MESSAGES_TABLE"}
# What exists only for the SQS fan-out; dropped when the app has no SQS handler.
FANOUT_RESOURCES = ("FanoutQueue", "FanoutDeadLetterQueue")
FANOUT_STATEMENTS = ("FanoutSend", "FanoutConsume")
WEBSOCKET_STAGE = {"Fn::FindInMap": ["Chat", "Websocket", "StageName"]}
# The REST API's Lambda integration, by name (see the module docstring).
REST_FUNCTION_ARN = ("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                     "${AWS::StackName}-APIHandler")
# The preflight answers with the stage's siteOrigin variable (the CloudFront origin).
PREFLIGHT_TEMPLATE = "#set($context.responseOverride.header.Access-Control-Allow-Origin = $stageVariables.siteOrigin)\n"
# API Gateway's own refusals, in the contract's error shape.
GATEWAY_RESPONSES = {
    "THROTTLED": ("429", "rate_limited", '"Too many requests; slow down and try again."'),
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found", '"No such endpoint."'),
    "REQUEST_TOO_LARGE": ("413", "too_large", '"The request is too large."'),
    "DEFAULT_4XX": (None, "invalid_request", "$context.error.messageString"),
    "DEFAULT_5XX": (None, "unavailable", '"The service is busy; try again shortly."'),
}


class TemplateError(RuntimeError):
    pass


# -- reading templates ---------------------------------------------------------------
def references(node) -> set[str]:
    """Every logical id or parameter a template fragment refers to (Ref, GetAtt, Sub);
    pseudo parameters (AWS::Region...) left out."""
    return {name for name in _references(node) if not name.startswith("AWS::")}


def _references(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else value.split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                for name in re.findall(r"\$\{([^!][^}]*)\}", text):
                    name = name.split(".")[0]
                    if name not in variables:
                        found.add(name)
                found |= _references(variables)
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def dependencies(template: dict) -> dict[str, set[str]]:
    """Resource -> the resources it needs first (references and DependsOn)."""
    resources = template["Resources"]
    graph = {}
    for logical_id, resource in resources.items():
        needs = references(resource.get("Properties", {}))
        depends_on = resource.get("DependsOn", [])
        needs |= set([depends_on] if isinstance(depends_on, str) else depends_on)
        graph[logical_id] = {name for name in needs if name in resources}
    return graph


def find_cycle(template: dict) -> list[str] | None:
    graph = dependencies(template)
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _replace_in_subs(node, old: str, new: str):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::Sub" and isinstance(value, str):
                node[key] = value.replace(old, new)
            elif key == "Fn::Sub" and isinstance(value, list):
                value[0] = value[0].replace(old, new)
            else:
                _replace_in_subs(value, old, new)
    elif isinstance(node, list):
        for item in node:
            _replace_in_subs(item, old, new)


# -- wiring ------------------------------------------------------------------------
def wire(template: dict, stage: str) -> dict:
    """Rewires Chalice's merged template in place (see the module docstring); returns it."""
    resources = template["Resources"]
    functions = {logical_id: resource for logical_id, resource in resources.items()
                 if resource["Type"] == FUNCTION}
    if "APIHandler" not in functions or "WebsocketMessage" not in functions:
        raise TemplateError("expected Chalice's APIHandler and WebsocketMessage functions")
    missing = [name for name in (*TABLE_VARIABLES, "LambdaRole", "SiteDistribution") if name not in resources]
    if missing:
        raise TemplateError(f"{MERGE_TEMPLATE.name} was not merged: missing {missing}")

    # The JWT secret's parameter name: the stage's JWT_SECRET_PARAM in .chalice/config.json.
    chalice_env = functions["APIHandler"]["Properties"].get("Environment", {}).get("Variables", {})
    parameter_name = chalice_env.get("JWT_SECRET_PARAM") or f"/chat/{stage}/jwt-secret"
    template["Parameters"]["JwtSecretParameterName"]["Default"] = parameter_name

    fanout = _wire_fanout(template, functions)
    environment = {variable: {"Ref": logical_id} for logical_id, variable in TABLE_VARIABLES.items()}
    environment["JWT_SECRET_PARAM"] = {"Ref": "JwtSecretParameterName"}
    environment["SITE_ORIGIN"] = {"Fn::Sub": "https://${SiteDistribution.DomainName}"}
    if fanout:
        environment["FANOUT_QUEUE_URL"] = {"Ref": "FanoutQueue"}

    for logical_id, function in functions.items():
        props = function["Properties"]
        props["FunctionName"] = {"Fn::Sub": f"${{AWS::StackName}}-{logical_id}"}
        props["Role"] = {"Fn::GetAtt": ["LambdaRole", "Arn"]}
        props.setdefault("Environment", {}).setdefault("Variables", {}).update(environment)
        log_group = f"{logical_id}LogGroup"
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{logical_id}"},
                           "RetentionInDays": {"Ref": "LogRetentionDays"}}}
        function["DependsOn"] = sorted(set(function.get("DependsOn", [])) | {log_group})
    if references(resources.pop("DefaultRole", {})) or "DefaultRole" in json.dumps(resources):
        raise TemplateError("something still uses Chalice's DefaultRole")

    _wire_rest_api(template)
    _wire_websocket_api(template)
    _fix_outputs(template)
    cycle = find_cycle(template)
    if cycle:
        raise TemplateError("circular dependency: " + " -> ".join(cycle))
    return template


def _wire_fanout(template: dict, functions: dict) -> bool:
    resources = template["Resources"]
    sqs_events = [event for function in functions.values()
                  for event in function["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]
    if sqs_events:
        for event in sqs_events:
            event["Properties"]["Queue"] = {"Fn::GetAtt": ["FanoutQueue", "Arn"]}
        return True
    # No SQS handler in app.py: nothing may send to or read a queue.
    for name in FANOUT_RESOURCES:
        resources.pop(name, None)
    policy = resources["LambdaRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") not in FANOUT_STATEMENTS]
    template["Outputs"] = {key: value for key, value in template["Outputs"].items()
                           if not references(value) & set(FANOUT_RESOURCES)}
    return False


def _wire_rest_api(template: dict) -> None:
    """Replaces Chalice's AWS::Serverless::Api by the RestApi, Deployment and Stage it stands for.

    Written out, the stage (which reads the site origin) is a resource of its own, so every
    tool sees the same dependency graph as CloudFormation after the SAM transform (cfn-lint
    validates SAM resources without expanding them and would see a cycle through the API)."""
    resources = template["Resources"]
    sam_api = resources.pop("RestAPI")
    if sam_api["Type"] != "AWS::Serverless::Api":
        raise TemplateError("expected Chalice's RestAPI to be an AWS::Serverless::Api")
    props = sam_api["Properties"]
    body = props["DefinitionBody"]
    _replace_in_subs(body, "${APIHandler.Arn}", REST_FUNCTION_ARN)
    if references(body) & {"APIHandler"}:
        raise TemplateError("the REST API definition still references APIHandler")
    for operations in body["paths"].values():
        integration = operations.get("options", {}).get("x-amazon-apigateway-integration", {})
        if integration.get("type") != "mock":
            continue
        default = integration["responses"]["default"]
        default.get("responseParameters", {}).pop("method.response.header.Access-Control-Allow-Origin", None)
        default["responseTemplates"] = {"application/json": PREFLIGHT_TEMPLATE}
    gateway_responses = {}
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        response = {"responseTemplates": {
            "application/json": f'{{"error": {{"code": "{code}", "message": {message}}}}}'}}
        if status:
            response["statusCode"] = status
        gateway_responses[response_type] = response
    body["x-amazon-apigateway-gateway-responses"] = gateway_responses

    endpoint_type = props.get("EndpointConfiguration", "EDGE")
    resources["RestAPI"] = {"Type": "AWS::ApiGateway::RestApi", "Properties": {
        "Name": {"Fn::Sub": "${AWS::StackName}-rest-api"},
        "EndpointConfiguration": {"Types": [endpoint_type if isinstance(endpoint_type, str)
                                            else endpoint_type["Type"]]},
        "Body": body}}
    # A deployment is a snapshot: a new logical id whenever the definition changes makes
    # CloudFormation create a new one and move the stage to it (what SAM does).
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
    deployment = f"RestAPIDeployment{digest}"
    resources[deployment] = {"Type": "AWS::ApiGateway::Deployment", "Properties": {
        "RestApiId": {"Ref": "RestAPI"}, "Description": f"definition {digest}"}}
    resources["RestAPIStage"] = {"Type": "AWS::ApiGateway::Stage", "Properties": {
        "RestApiId": {"Ref": "RestAPI"},
        "DeploymentId": {"Ref": deployment},
        "StageName": props["StageName"],
        "Variables": {"siteOrigin": {"Fn::Sub": "https://${SiteDistribution.DomainName}"}},
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*",
                            "ThrottlingRateLimit": {"Ref": "RestThrottleRateLimit"},
                            "ThrottlingBurstLimit": {"Ref": "RestThrottleBurstLimit"}}]}}


def _wire_websocket_api(template: dict) -> None:
    resources = template["Resources"]
    stage = resources["WebsocketAPIStage"]["Properties"]
    stage["StageName"] = WEBSOCKET_STAGE
    stage["DefaultRouteSettings"] = {"ThrottlingRateLimit": {"Ref": "WebsocketThrottleRateLimit"},
                                     "ThrottlingBurstLimit": {"Ref": "WebsocketThrottleBurstLimit"}}
    routes = sorted(logical_id for logical_id, resource in resources.items()
                    if resource["Type"] == WEBSOCKET_ROUTE)
    integrations = sorted(logical_id for logical_id, resource in resources.items()
                          if resource["Type"] == "AWS::ApiGatewayV2::Integration")
    # A deployment is a snapshot, and CloudFormation updates a deployment's description in
    # place: a new logical id whenever a route or integration changes makes it deploy anew.
    snapshot = json.dumps({name: resources[name]["Properties"] for name in routes + integrations}, sort_keys=True)
    digest = hashlib.sha256(snapshot.encode()).hexdigest()[:10]
    deployment = resources.pop("WebsocketAPIDeployment")
    deployment["DependsOn"] = routes
    deployment["Properties"]["Description"] = f"routes {digest}"
    resources[f"WebsocketAPIDeployment{digest}"] = deployment
    stage["DeploymentId"] = {"Ref": f"WebsocketAPIDeployment{digest}"}
    if "WebsocketAPIDeployment" in references(template):
        raise TemplateError("something still refers to WebsocketAPIDeployment")


def _fix_outputs(template: dict) -> None:
    # Chalice names the WebSocket stage after the REST one; point its output at the real stage.
    outputs = template["Outputs"]
    if "WebsocketConnectEndpointURL" in outputs:
        outputs["WebsocketConnectEndpointURL"]["Value"] = outputs["WebsocketUrl"]["Value"]


# -- packaging -----------------------------------------------------------------------
def lambda_dependencies() -> Path:
    """requirements.txt installed for Lambda (CPython 3.11 on Amazon Linux 2, x86_64), made
    once per requirements.txt in infra/build/.deps: packaging is offline after the first run."""
    requirements = ROOT / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes() + LAMBDA_PLATFORM.encode()).hexdigest()[:16]
    target = DEPS_CACHE / key
    if (target / ".complete").exists():
        return target
    partial = DEPS_CACHE / f"{key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--target", str(partial), "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
               "--only-binary=:all:", "--no-compile", "-r", str(requirements)]
    for platform in LAMBDA_PLATFORM.split():
        command += ["--platform", platform]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise TemplateError("could not download the Lambda dependencies (the first `make package` after a "
                            f"change to requirements.txt needs PyPI):\n{result.stdout}{result.stderr}")
    shutil.rmtree(partial / "bin", ignore_errors=True)  # console scripts: of no use in Lambda
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def stage_project(stage_dir: Path, dependencies: Path) -> None:
    """What Chalice packages (app.py, chalicelib/, .chalice/*.json), with the dependencies as
    its vendor/ folder and no requirements.txt, so that Chalice itself never runs pip."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    stage_dir.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", stage_dir / "app.py")
    shutil.copytree(ROOT / "chalicelib", stage_dir / "chalicelib", ignore=ignore)
    (stage_dir / ".chalice").mkdir()
    for config_file in (ROOT / ".chalice").glob("*.json"):
        shutil.copy2(config_file, stage_dir / ".chalice" / config_file.name)
    shutil.copytree(dependencies, stage_dir / "vendor", ignore=shutil.ignore_patterns(".complete"))


def chalice_package(stage: str, out_dir: Path) -> None:
    dependencies = lambda_dependencies()
    # Packaging calls no AWS API; Chalice only builds a client to learn the region. Dummy
    # credentials keep botocore from probing profiles and the instance metadata service.
    env = {key: value for key, value in os.environ.items()
           if key not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")}
    env.update(AWS_ACCESS_KEY_ID="packaging", AWS_SECRET_ACCESS_KEY="packaging", AWS_EC2_METADATA_DISABLED="true")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chat-package-") as temporary:
        project = Path(temporary) / "project"
        stage_project(project, dependencies)
        command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
                   "--project-dir", str(project), "package", "--stage", stage,
                   "--merge-template", str(MERGE_TEMPLATE), str(out_dir)]
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise TemplateError(f"chalice package failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def build(stage: str, out_dir: Path) -> Path:
    """Packages the stage into out_dir; returns the path of the wired template."""
    chalice_package(stage, out_dir)
    template_path = out_dir / "sam.json"
    template = json.loads(template_path.read_text())
    wire(template, stage)
    template_path.write_text(json.dumps(template, indent=2) + "\n")
    return template_path


def zip_summary(zip_path: Path) -> dict:
    with zipfile.ZipFile(zip_path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
        top = sorted({info.filename.split("/")[0] for info in archive.infolist()})
    return {"bytes": zip_path.stat().st_size, "unpacked_bytes": unpacked, "top_level": top}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", help="output folder (default infra/build/<stage>)")
    args = parser.parse_args(argv)
    out_dir = Path(args.out) if args.out else ROOT / "infra" / "build" / args.stage
    try:
        template_path = build(args.stage, out_dir.resolve())
    except TemplateError as error:
        print(f"make package: {error}", file=sys.stderr)
        return 1
    summary = zip_summary(template_path.parent / "deployment.zip")
    print(f"{template_path.relative_to(ROOT) if template_path.is_relative_to(ROOT) else template_path}: "
          f"deployment.zip {summary['bytes'] / 1e6:.2f} MB ({summary['unpacked_bytes'] / 1e6:.1f} MB unpacked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
