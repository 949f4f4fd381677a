"""What the stack declares in infra/resources.json, read in one place.

The deployable template, the local server, the tests and the benchmarks all take the
tables, the environment variables that name them and the WebSocket route keys from here,
so each of those facts is written once: in the template itself.
"""
import json
from functools import cache
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "resources.json"
TABLE = "AWS::DynamoDB::Table"
WEBSOCKET_ROUTE = "AWS::ApiGatewayV2::Route"
# CreateTable takes these properties of AWS::DynamoDB::Table as they are written.
_CREATE_TABLE_PROPERTIES = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")


@cache
def template() -> dict:
    return json.loads(TEMPLATE.read_text())


def _resources(kind: str) -> dict[str, dict]:
    return {logical_id: resource for logical_id, resource in template()["Resources"].items()
            if resource["Type"] == kind}


def table_variables() -> dict[str, str]:
    """Environment variable -> logical id of the table it names (USERS_TABLE -> UsersTable),
    as the functions' Globals declare them."""
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    tables = _resources(TABLE)
    return {name: value["Ref"] for name, value in variables.items()
            if isinstance(value, dict) and value.get("Ref") in tables}


def table_definitions() -> dict[str, dict]:
    """CreateTable arguments (without TableName) per logical id."""
    return {logical_id: {key: resource["Properties"][key] for key in _CREATE_TABLE_PROPERTIES
                         if key in resource["Properties"]}
            for logical_id, resource in _resources(TABLE).items()}


def route_keys() -> frozenset[str]:
    """The named WebSocket routes; any other action goes to $default, as API Gateway does."""
    return frozenset(resource["Properties"]["RouteKey"] for resource in _resources(WEBSOCKET_ROUTE).values())
