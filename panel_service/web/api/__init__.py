from typing import Any

from apiflask import APIBlueprint
from flask.blueprints import BlueprintSetupState

from panel_service.extensions import csrf

bp = APIBlueprint("api", __name__, url_prefix="/api/v1")
# The API authenticates with a bearer token in a header, which a browser never sends on its own,
# so cross-site request forgery has nothing to ride on; the web pages keep CSRF on every form.
csrf.exempt(bp)

# The one error shape of ARCHITECTURE §8, as the OpenAPI document describes every 4xx answer.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Field path (e.g. criteria.all[1].value) to what is wrong with it.",
                    "additionalProperties": {"type": "string"},
                },
            },
        }
    },
}


@bp.record_once
def _describe_errors(state: BlueprintSetupState) -> None:
    state.app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA
    state.app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA


from panel_service.web.api import views  # noqa: E402,F401  (views register on bp)
