"""The packaged stack (make package): valid, wired to the code, private and throttled."""
import copy
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.build_template import TABLE_VARIABLES, find_cycle, references
from localserver.dynamo import TABLES
from localserver.gateway import NAMED_ROUTES

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "AWS::Serverless::Function"
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
    assert find_cycle(template) is None


def test_a_cycle_through_the_site_would_be_found(template):
    # The trap the build avoids: the REST API referencing its function, whose SITE_ORIGIN
    # names the distribution, whose headers policy names the REST API.
    broken = copy.deepcopy(template)
    broken["Resources"]["RestAPI"]["Properties"]["Description"] = {"Fn::GetAtt": ["APIHandler", "Arn"]}
    assert find_cycle(broken) is not None


# -- the tables ------------------------------------------------------------------------
def test_the_tables_are_those_of_resources_json(template, merge_template):
    """infra/resources.json is the one definition: packaged as written, read by the local server."""
    for logical_id in TABLES:
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
def test_every_function_is_wired_to_the_stack(template):
    functions = resources_of(template, FUNCTION)
    assert {"APIHandler", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect"} <= set(functions)
    for logical_id, function in functions.items():
        props = function["Properties"]
        env = props["Environment"]["Variables"]
        for table, variable in TABLE_VARIABLES.items():
            assert env[variable] == {"Ref": table}, (logical_id, variable)
        assert env["JWT_SECRET_PARAM"] == {"Ref": "JwtSecretParameterName"}
        assert env["SITE_ORIGIN"] == {"Fn::Sub": "https://${SiteDistribution.DomainName}"}
        assert "JWT_SECRET" not in env
        assert props["Role"] == {"Fn::GetAtt": ["LambdaRole", "Arn"]}
        assert props["FunctionName"] == {"Fn::Sub": f"${{AWS::StackName}}-{logical_id}"}
        assert f"{logical_id}LogGroup" in function["DependsOn"]
    assert "DefaultRole" not in template["Resources"]


def test_the_jwt_secret_parameter_is_the_stage_one(template):
    assert template["Parameters"]["JwtSecretParameterName"]["Default"] == "/chat/dev/jwt-secret"


def test_the_fanout_worker_reads_the_stack_queue(template):
    sqs_events = [(logical_id, event) for logical_id, function in resources_of(template, FUNCTION).items()
                  for event in function["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]
    if not sqs_events:
        assert "FanoutQueue" not in template["Resources"]
        return
    for logical_id, event in sqs_events:
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["FanoutQueue", "Arn"]}
    queue = template["Resources"]["FanoutQueue"]["Properties"]
    # Lambda requires the visibility timeout to cover the function's timeout.
    timeout = max(function["Properties"]["Timeout"] for function in resources_of(template, FUNCTION).values())
    assert queue["VisibilityTimeout"] >= timeout
    for function in resources_of(template, FUNCTION).values():
        assert function["Properties"]["Environment"]["Variables"]["FANOUT_QUEUE_URL"] == {"Ref": "FanoutQueue"}


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
    assert set(routes) == {"$connect", "$disconnect", "$default"} | NAMED_ROUTES
    assert NAMED_ROUTES == {"join", "leave", "send", "dm", "history", "typing", "ping"}

    message_target = routes["$default"][1]["Target"]
    assert message_target == {"Fn::Join": ["/", ["integrations", {"Ref": "WebsocketMessageAPIIntegration"}]]}
    integration = template["Resources"]["WebsocketMessageAPIIntegration"]["Properties"]
    assert references(integration["IntegrationUri"]) == {"WebsocketMessage"}
    handler = template["Resources"]["WebsocketMessage"]["Properties"]["Handler"]
    assert handler == app.websocket_handlers["$default"].handler_string
    for route in NAMED_ROUTES:
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
    stage = template["Resources"]["RestAPIStage"]["Properties"]
    assert stage["RestApiId"] == {"Ref": "RestAPI"} and stage["StageName"] == "api"
    [settings] = stage["MethodSettings"]
    assert settings["ResourcePath"] == "/*" and settings["HttpMethod"] == "*"
    assert _parameter_default(template, settings["ThrottlingRateLimit"]) <= _parameter_default(
        template, settings["ThrottlingBurstLimit"])


def test_the_websocket_stage_is_throttled(template):
    stage = template["Resources"]["WebsocketAPIStage"]["Properties"]
    settings = stage["DefaultRouteSettings"]
    assert _parameter_default(template, settings["ThrottlingRateLimit"]) <= _parameter_default(
        template, settings["ThrottlingBurstLimit"])


def test_api_gateway_refusals_use_the_contract_shape(template):
    responses = template["Resources"]["RestAPI"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert responses["THROTTLED"]["statusCode"] == "429"
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
    [origin] = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "SiteHeadersPolicy"}
    assert config.get("CacheBehaviors", []) == []
    oac = template["Resources"]["SiteOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3"


def test_the_site_sends_the_security_headers(template):
    headers = template["Resources"]["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]
    text, variables = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    assert variables == {"Stage": {"Fn::FindInMap": ["Chat", "Websocket", "StageName"]}}
    websocket_url = "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
    rest_origin = "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    assert text == ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                    f"connect-src 'self' {websocket_url} {rest_origin}; "
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    assert headers["ContentSecurityPolicy"]["Override"] is True
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}


def test_the_rest_api_allows_only_the_site_origin(template):
    """CORS: the preflight answers with the stage's siteOrigin (the CloudFront origin), the
    functions with SITE_ORIGIN; nothing is left pointing at localhost."""
    body = template["Resources"]["RestAPI"]["Properties"]["Body"]
    preflights = [ops["options"]["x-amazon-apigateway-integration"] for ops in body["paths"].values()
                  if "options" in ops]
    assert preflights
    for integration in preflights:
        response = integration["responses"]["default"]
        assert "method.response.header.Access-Control-Allow-Origin" not in response["responseParameters"]
        assert "$stageVariables.siteOrigin" in response["responseTemplates"]["application/json"]
    assert "localhost" not in str(template)
    stage = template["Resources"]["RestAPIStage"]["Properties"]
    assert stage["Variables"] == {"siteOrigin": {"Fn::Sub": "https://${SiteDistribution.DomainName}"}}


def test_the_rest_api_names_its_function_instead_of_referencing_it(template):
    # Referencing APIHandler would close the cycle described in infra/build_template.py.
    assert "APIHandler" not in references(template["Resources"]["RestAPI"])
    uris = re.findall(r"functions/([^/]+)/invocations", str(template["Resources"]["RestAPI"]))
    assert uris and set(uris) == {
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-APIHandler"}


def test_the_outputs_give_what_deploy_needs(template):
    outputs = template["Outputs"]
    assert outputs["RestApiUrl"]["Value"] == {
        "Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}
    assert outputs["WebsocketUrl"]["Value"]["Fn::Sub"][0].startswith("wss://${WebsocketAPI}.")
    assert outputs["SiteUrl"]["Value"] == {"Fn::Sub": "https://${SiteDistribution.DomainName}"}
    assert {"SiteBucketName", "SiteDistributionId"} <= set(outputs)
    stage_name = template["Resources"]["WebsocketAPIStage"]["Properties"]["StageName"]
    assert stage_name == outputs["WebsocketUrl"]["Value"]["Fn::Sub"][1]["Stage"]
