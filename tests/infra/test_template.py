"""The packaged stack (make package): valid, wired to the code, private and throttled."""
import copy
import graphlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import stack
from infra.stack import FUNCTION, references

ROOT = Path(__file__).resolve().parents[2]
# AWS's managed CloudFront policies for an API Gateway origin: nothing cached, every viewer
# header (Authorization and the WebSocket handshake's included) and query string forwarded, but
# not Host, which API Gateway needs to be its own.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# What the app may install in Lambda: well under Lambda's 50 MB (zipped) / 250 MB (unpacked) limits.
MAX_ZIP_BYTES = 10 * 1024 * 1024


def resources_of(template, kind):
    return {logical_id: resource for logical_id, resource in template["Resources"].items()
            if resource["Type"] == kind}


def cfn_lint_command() -> list[str]:
    beside_python = Path(sys.executable).parent / "cfn-lint"
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("cfn-lint")
    assert found, "cfn-lint is not installed (requirements-dev.txt)"
    return [found]


def test_the_packaged_template_passes_cfn_lint(template_path):
    # No rule is ignored: any error or warning fails.
    result = subprocess.run([*cfn_lint_command(), "--format", "parseable", str(template_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_has_no_dependency_cycle(template):
    # cfn-lint does not see cycles through SAM resources or Globals: the graph is checked here.
    graphlib.TopologicalSorter(stack.dependencies(template)).prepare()


def test_a_cycle_through_the_site_would_be_found(template):
    # The trap: the distribution fronts the REST API, whose definition references its function;
    # a function naming the distribution (say a SITE_ORIGIN for CORS) closes the circle.
    broken = copy.deepcopy(template)
    broken["Globals"]["Function"]["Environment"]["Variables"]["SITE_ORIGIN"] = {
        "Fn::Sub": "https://${SiteDistribution.DomainName}"}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(stack.dependencies(broken)).prepare()


# -- the tables ------------------------------------------------------------------------
def test_the_tables_are_those_of_resources_json(template, merge_template):
    """infra/resources.json is the one definition: packaged as written, read by the local server."""
    assert set(stack.table_definitions()) == {"UsersTable", "RoomsTable", "ConnectionsTable", "MessagesTable"}
    for logical_id in stack.table_definitions():
        assert template["Resources"][logical_id] == merge_template["Resources"][logical_id]


@pytest.mark.parametrize("logical_id", ["UsersTable", "RoomsTable", "MessagesTable"])
def test_durable_tables_are_kept_and_recoverable(template, logical_id):
    table = template["Resources"][logical_id]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"


def test_connections_expire(template):
    table = template["Resources"]["ConnectionsTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


# -- the functions -------------------------------------------------------------------
def test_every_function_is_wired_to_the_stack(template, merge_template):
    functions = resources_of(template, FUNCTION)
    assert set(functions) == {"APIHandler", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect",
                              "FanoutWorker"}
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {variable: value["Ref"] for variable, value in shared.items()
            if variable.endswith("_TABLE")} == stack.table_variables()
    assert set(stack.table_variables().values()) == set(stack.table_definitions())
    for logical_id, function in functions.items():
        props = function["Properties"]
        own = props.get("Environment", {}).get("Variables", {})
        # SAM merges Globals into each function, the function's own value winning.
        assert not set(own) & set(shared), (logical_id, "hides a Globals variable")
        env = {**shared, **own}
        assert env["JWT_SECRET_PARAM"] == {"Ref": "JwtSecretParameterName"}
        assert env["FANOUT_QUEUE_URL"] == {"Ref": "FanoutQueue"}
        assert "JWT_SECRET" not in env and "SITE_ORIGIN" not in env
        # Chalice's DefaultRole, its trust and policies replaced by those of resources.json.
        assert props["Role"] == {"Fn::GetAtt": ["DefaultRole", "Arn"]}
        assert props["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{logical_id}"}
        assert function["DependsOn"] == [f"{logical_id}LogGroup"]
        log_group = template["Resources"][f"{logical_id}LogGroup"]["Properties"]
        assert log_group == {"LogGroupName": {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{logical_id}"},
                             "RetentionInDays": {"Ref": "LogRetentionDays"}}
    assert template["Resources"]["DefaultRole"] == merge_template["Resources"]["DefaultRole"]
    assert len(resources_of(template, "AWS::IAM::Role")) == 1


def test_the_jwt_secret_parameter_is_the_stage_one(template):
    assert template["Parameters"]["JwtSecretParameterName"]["Default"] == "/chat/dev/jwt-secret"


def test_the_fanout_worker_reads_the_stack_queue(template):
    sqs_events = [event for function in resources_of(template, FUNCTION).values()
                  for event in function["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]
    # Chalice names the queue after app.py's FANOUT_QUEUE; the whole intrinsic is replaced, not merged.
    assert [event["Properties"]["Queue"] for event in sqs_events] == [{"Fn::Sub": "${FanoutQueue.Arn}"}]
    queue = template["Resources"]["FanoutQueue"]["Properties"]
    # Lambda requires the visibility timeout to cover the function's timeout.
    timeout = max(function["Properties"]["Timeout"] for function in resources_of(template, FUNCTION).values())
    assert queue["VisibilityTimeout"] >= timeout


def test_the_lambda_package_is_small_and_has_no_boto3(package_dir):
    requirements = (ROOT / "requirements.txt").read_text().lower()
    assert not re.search(r"^\s*(boto3|botocore)\b", requirements, re.MULTILINE)
    zip_path = package_dir / "deployment.zip"
    with zipfile.ZipFile(zip_path) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
        unpacked = sum(info.file_size for info in archive.infolist())
    assert {"app.py", "chalicelib"} <= top
    assert not top & {"boto3", "botocore", "s3transfer", "moto", "pytest"}
    assert zip_path.stat().st_size < MAX_ZIP_BYTES
    assert unpacked < 250 * 1024 * 1024


# -- WebSocket routes ------------------------------------------------------------------
def test_the_named_routes_reach_the_message_handler(template):
    from app import app
    routes = {resource["Properties"]["RouteKey"]: (logical_id, resource["Properties"])
              for logical_id, resource in resources_of(template, "AWS::ApiGatewayV2::Route").items()}
    assert set(routes) == {"$connect", "$disconnect", "$default"} | stack.route_keys()
    assert stack.route_keys() == {"join", "leave", "send", "dm", "history", "typing", "ping"}

    message_target = routes["$default"][1]["Target"]
    assert message_target == {"Fn::Join": ["/", ["integrations", {"Ref": "WebsocketMessageAPIIntegration"}]]}
    integration = template["Resources"]["WebsocketMessageAPIIntegration"]["Properties"]
    assert references(integration["IntegrationUri"]) == {"WebsocketMessage"}
    handler = template["Resources"]["WebsocketMessage"]["Properties"]["Handler"]
    assert handler == app.websocket_handlers["$default"].handler_string
    for route in stack.route_keys():
        props = routes[route][1]
        assert props["ApiId"] == {"Ref": "WebsocketAPI"}
        assert props["Target"] == message_target, route

    # The deployment snapshot must come after every route, the named ones included.
    [(deployment_id, deployment)] = resources_of(template, "AWS::ApiGatewayV2::Deployment").items()
    assert set(deployment["DependsOn"]) == {logical_id for logical_id, _ in routes.values()}
    stage = template["Resources"]["WebsocketAPIStage"]["Properties"]
    assert stage["DeploymentId"] == {"Ref": deployment_id}


# -- throttling --------------------------------------------------------------------------
def _parameter_default(template, value):
    assert set(value) == {"Ref"}
    default = template["Parameters"][value["Ref"]]["Default"]
    assert 0 < default <= 10_000
    return default


def test_the_rest_stage_is_throttled(template):
    api = template["Resources"]["RestAPI"]
    assert api["Type"] == "AWS::Serverless::Api" and api["Properties"]["StageName"] == "api"
    [settings] = api["Properties"]["MethodSettings"]
    assert settings["ResourcePath"] == "/*" and settings["HttpMethod"] == "*"
    assert _parameter_default(template, settings["ThrottlingRateLimit"]) <= _parameter_default(
        template, settings["ThrottlingBurstLimit"])


def test_the_websocket_stage_is_throttled(template):
    stage = template["Resources"]["WebsocketAPIStage"]["Properties"]
    settings = stage["DefaultRouteSettings"]
    assert _parameter_default(template, settings["ThrottlingRateLimit"]) <= _parameter_default(
        template, settings["ThrottlingBurstLimit"])


def test_api_gateway_refusals_use_the_contract_shape(template):
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert definition["paths"], "the merge kept Chalice's routes"
    responses = definition["x-amazon-apigateway-gateway-responses"]
    assert responses["THROTTLED"]["statusCode"] == "429"
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert responses["REQUEST_TOO_LARGE"]["statusCode"] == "413"
    for response in responses.values():
        body = response["responseTemplates"]["application/json"]
        assert body.startswith('{"error": {"code": "') and '"message": ' in body
    assert '"code": "rate_limited"' in responses["THROTTLED"]["responseTemplates"]["application/json"]


# -- the site ------------------------------------------------------------------------------
def test_the_site_bucket_is_private(template):
    bucket = template["Resources"]["SiteBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert "WebsiteConfiguration" not in bucket
    statements = template["Resources"]["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [statement for statement in statements if statement["Effect"] == "Allow"]
    assert len(allows) == 1
    [allow] = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    assert references(allow["Condition"]) == {"SiteDistribution"}


def test_the_site_is_served_over_https_through_origin_access_control(template):
    config = template["Resources"]["SiteDistribution"]["Properties"]["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    origin = origins["site"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == "site"
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "SiteHeadersPolicy"}
    oac = template["Resources"]["SiteOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3"


def test_the_site_serves_both_apis_from_its_own_origin(template):
    """/api/* goes to the REST stage `api`, /ws to the WebSocket stage: the path CloudFront
    forwards is the stage's path, so the browser talks to one origin and needs no CORS."""
    resources = template["Resources"]
    config = resources["SiteDistribution"]["Properties"]["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    behaviors = {str(behavior["PathPattern"]): behavior for behavior in config["CacheBehaviors"]}
    websocket_path = {"Fn::Sub": ["/${Stage}", {"Stage": {"Fn::FindInMap": ["Chat", "Websocket", "StageName"]}}]}
    assert set(behaviors) == {"/api/*", str(websocket_path)}
    for path, api, origin_id in (("/api/*", "RestAPI", "rest-api"), (str(websocket_path), "WebsocketAPI",
                                                                       "websocket-api")):
        behavior = behaviors[path]
        assert behavior["TargetOriginId"] == origin_id
        assert behavior["ViewerProtocolPolicy"] == "https-only"
        assert behavior["CachePolicyId"] == CACHING_DISABLED
        assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
        origin = origins[origin_id]
        assert origin["DomainName"] == {"Fn::Sub": f"${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"}
        assert "OriginPath" not in origin
        assert origin["CustomOriginConfig"] == {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}
    assert {"POST", "PUT", "DELETE"} <= set(behaviors["/api/*"]["AllowedMethods"])
    assert resources["RestAPI"]["Properties"]["StageName"] == "api"
    assert resources["WebsocketAPIStage"]["Properties"]["StageName"] == websocket_path["Fn::Sub"][1]["Stage"]
    # Behind its own distribution the REST API needs no edge-optimized one of API Gateway's.
    assert resources["RestAPI"]["Properties"]["EndpointConfiguration"] == "REGIONAL"


def test_the_site_sends_the_security_headers(template):
    headers = template["Resources"]["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]
    assert headers["ContentSecurityPolicy"]["ContentSecurityPolicy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    assert headers["ContentSecurityPolicy"]["Override"] is True
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}


def test_the_rest_api_has_no_cors(template):
    """Same origin: no preflight route, no Access-Control-* header, nothing naming localhost."""
    definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert not [path for path, operations in definition["paths"].items() if "options" in operations]
    assert "Access-Control-" not in str(definition)
    assert "localhost" not in str(template)


def test_the_outputs_give_what_deploy_needs(template):
    outputs = template["Outputs"]
    stage = {"Fn::FindInMap": ["Chat", "Websocket", "StageName"]}
    assert outputs["RestApiUrl"]["Value"] == {"Fn::Sub": "https://${SiteDistribution.DomainName}/api"}
    assert outputs["WebsocketUrl"]["Value"] == {
        "Fn::Sub": ["wss://${SiteDistribution.DomainName}/${Stage}", {"Stage": stage}]}
    assert outputs["SiteUrl"]["Value"] == {"Fn::Sub": "https://${SiteDistribution.DomainName}"}
    assert {"SiteBucketName", "SiteDistributionId"} <= set(outputs)
    # Chalice's own output names the WebSocket API after the REST stage; resources.json corrects it.
    assert outputs["WebsocketConnectEndpointURL"]["Value"] == {
        "Fn::Sub": ["wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}", {"Stage": stage}]}
